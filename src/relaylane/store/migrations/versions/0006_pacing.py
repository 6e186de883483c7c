"""Pacing counters, adaptive-backoff events, warm-up progress, and a send's own timing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("not_before", sa.Float, nullable=True))
        batch.add_column(sa.Column("send_window", sa.String(128), nullable=True))
    op.create_table(
        "pacing_counts",
        sa.Column("relay", sa.String(64), nullable=False),
        sa.Column("path", sa.String(320), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Float, nullable=False),
        sa.Column("sent", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("relay", "path", "period", "period_start", name="pk_pacing_counts"),
    )
    op.create_table(
        "pacing_events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("relay", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("rate", sa.Float, nullable=True),
        sa.Column("until", sa.Float, nullable=True),
        sa.Column("cause", sa.Text, nullable=False),
    )
    op.create_index("ix_pacing_events_relay_at", "pacing_events", ["relay", "at"])
    op.create_table(
        "warmup_paths",
        sa.Column("relay", sa.String(64), nullable=False),
        sa.Column("path", sa.String(320), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("relay", "path", name="pk_warmup_paths"),
    )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("send_window")
        batch.drop_column("not_before")
    op.drop_table("warmup_paths")
    op.drop_index("ix_pacing_events_relay_at", "pacing_events")
    op.drop_table("pacing_events")
    op.drop_table("pacing_counts")
