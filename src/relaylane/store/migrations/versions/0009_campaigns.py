"""Campaigns, their deliveries (one per campaign x contact) and tracking events.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("list_id", ID, sa.ForeignKey("lists.id"), nullable=False),
        sa.Column("segment", sa.Text, nullable=True),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("template_version", sa.Integer, nullable=True),
        sa.Column("lane", sa.String(64), nullable=False),
        sa.Column("from_header", sa.Text, nullable=False),
        sa.Column("reply_to", sa.Text, nullable=True),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("send_window", sa.String(128), nullable=True),
        sa.Column("not_before", sa.Float, nullable=True),
        sa.Column("max_per_hour", sa.Integer, nullable=True),
        sa.Column("tracking", sa.Boolean, nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("changed_at", sa.Float, nullable=True),  # its last state change
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("cursor", ID, nullable=False, server_default="0"),
        sa.Column("fed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("hour_start", sa.Float, nullable=True),
        sa.Column("hour_fed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("audience", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_contact", ID, nullable=False, server_default="0"),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("campaign_id", ID, nullable=True))
        batch.add_column(sa.Column("contact_id", ID, nullable=True))
    op.create_index(
        "uq_deliveries_campaign_contact", "deliveries", ["campaign_id", "contact_id"], unique=True
    )
    op.create_table(
        "tracking_events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("delivery_id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=True),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("relay", sa.String(64), nullable=True),
        sa.Column("url", sa.Text, nullable=True),
    )
    op.create_index("ix_tracking_campaign", "tracking_events", ["campaign_id", "kind"])
    op.create_index("ix_tracking_contact", "tracking_events", ["contact_id", "at"])
    op.create_index("ix_tracking_delivery", "tracking_events", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_tracking_delivery", "tracking_events")
    op.drop_index("ix_tracking_contact", "tracking_events")
    op.drop_index("ix_tracking_campaign", "tracking_events")
    op.drop_table("tracking_events")
    op.drop_index("uq_deliveries_campaign_contact", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("contact_id")
        batch.drop_column("campaign_id")
    op.drop_table("campaigns")
