"""The first schema: messages, deliveries and attempts.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", ID, primary_key=True),
        sa.Column("ref", sa.String(32), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("lane", sa.String(64), nullable=False),
        sa.Column("mail_from", sa.String(512), nullable=False),
        sa.Column("from_domain", sa.String(255), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("smtputf8", sa.Boolean, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", ID, primary_key=True),
        sa.Column("message_id", ID, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("lane", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(512), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("due_at", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("relay", sa.String(64), nullable=True),
        sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires", sa.Float, nullable=True),
        sa.Column("lease_token", sa.Integer, nullable=False, server_default="0"),
        sa.Column("header_message_id", sa.String(255), nullable=False),
        sa.Column("header_prefix", sa.LargeBinary, nullable=False),
        sa.Column("last_code", sa.Integer, nullable=True),
        sa.Column("last_reply", sa.Text, nullable=True),
        sa.Column("bounce_class", sa.String(32), nullable=True),
        sa.Column("relay_queue_id", sa.String(255), nullable=True),
        sa.Column("sent_at", sa.Float, nullable=True),
    )
    op.create_index("ix_deliveries_claim", "deliveries", ["lane", "due_at"])
    op.create_index("ix_deliveries_lease", "deliveries", ["lease_expires"])
    op.create_index("ix_deliveries_state", "deliveries", ["state", "lane"])
    op.create_index("ix_deliveries_message", "deliveries", ["message_id"])
    op.create_table(
        "attempts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("delivery_id", ID, sa.ForeignKey("deliveries.id"), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("relay", sa.String(64), nullable=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("code", sa.Integer, nullable=True),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("bounce_class", sa.String(32), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("failover", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("stale", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("worker", sa.String(128), nullable=True),
    )
    op.create_index("ix_attempts_delivery", "attempts", ["delivery_id"])
    op.create_index("ix_attempts_relay_at", "attempts", ["relay", "at"])


def downgrade() -> None:
    op.drop_table("attempts")
    op.drop_table("deliveries")
    op.drop_table("messages")
