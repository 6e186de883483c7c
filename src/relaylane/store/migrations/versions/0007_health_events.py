"""Metric buckets, relay health and its events, the webhook outbox, and each delivery's
provider group and drained-from relay.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("provider", sa.String(128), nullable=True))
        batch.add_column(sa.Column("avoid_relay", sa.String(64), nullable=True))
    op.create_index("ix_deliveries_relay_state", "deliveries", ["relay", "state"])
    op.create_table(
        "metric_buckets",
        sa.Column("relay", sa.String(64), nullable=False),
        sa.Column("resolution", sa.String(6), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("provider", sa.String(128), nullable=False),
        sa.Column("lane", sa.String(64), nullable=False),
        sa.Column("campaign", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(48), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "relay",
            "resolution",
            "start",
            "provider",
            "lane",
            "campaign",
            "metric",
            name="pk_metric_buckets",
        ),
    )
    op.create_index("ix_metric_buckets_lane", "metric_buckets", ["lane", "resolution", "start"])
    op.create_index("ix_metric_buckets_start", "metric_buckets", ["resolution", "start"])
    op.create_table(
        "relay_health",
        sa.Column("relay", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(128), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("until", sa.Float, nullable=True),
        sa.Column("cool_down", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("relay", "provider", name="pk_relay_health"),
    )
    op.create_table(
        "health_events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("relay", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(128), nullable=False),
        sa.Column("from_state", sa.String(12), nullable=False),
        sa.Column("to_state", sa.String(12), nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_index("ix_health_events_relay_at", "health_events", ["relay", "at"])
    op.create_table(
        "event_outbox",
        sa.Column("id", ID, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("due_at", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires", sa.Float, nullable=True),
        sa.Column("delivered_at", sa.Float, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_event_outbox_due", "event_outbox", ["endpoint", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_event_outbox_due", "event_outbox")
    op.drop_table("event_outbox")
    op.drop_index("ix_health_events_relay_at", "health_events")
    op.drop_table("health_events")
    op.drop_table("relay_health")
    op.drop_index("ix_metric_buckets_start", "metric_buckets")
    op.drop_index("ix_metric_buckets_lane", "metric_buckets")
    op.drop_table("metric_buckets")
    op.drop_index("ix_deliveries_relay_state", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("avoid_relay")
        batch.drop_column("provider")
