"""Feedback: token keys, inbound reports and provider events; renamed bounce classes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
RENAMED = (("spam_block", "spam_content"), ("policy_block", "policy"))


def upgrade() -> None:
    op.create_table(
        "token_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("retired_at", sa.Float, nullable=True),
    )
    op.create_table(
        "feedback",
        sa.Column("id", ID, primary_key=True),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("delivery_id", ID, nullable=True),
        sa.Column("relay", sa.String(64), nullable=True),
        sa.Column("recipient", sa.String(512), nullable=True),
        sa.Column("bounce_class", sa.String(32), nullable=False),
        sa.Column("code", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("diagnostic", sa.Text, nullable=False, server_default=""),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=True),
    )
    op.create_index("ix_feedback_delivery", "feedback", ["delivery_id"])
    op.create_index("ix_feedback_received", "feedback", ["received_at"])
    for table in ("deliveries", "attempts"):
        for old, new in RENAMED:
            op.execute(f"UPDATE {table} SET bounce_class = '{new}' WHERE bounce_class = '{old}'")


def downgrade() -> None:
    for table in ("deliveries", "attempts"):
        for old, new in RENAMED:
            op.execute(f"UPDATE {table} SET bounce_class = '{old}' WHERE bounce_class = '{new}'")
    op.drop_index("ix_feedback_received", "feedback")
    op.drop_index("ix_feedback_delivery", "feedback")
    op.drop_table("feedback")
    op.drop_table("token_keys")
