"""Limits shared by every worker: slot allotments, relay connection slots and each
relay x provider pair's adaptive rate.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "limit_allotments",
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("slot_start", sa.Float, nullable=False),
        sa.Column("slot_end", sa.Float, nullable=False),
        sa.Column("granted", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", "slot_start", name="pk_limit_allotments"),
    )
    op.create_index("ix_limit_allotments_end", "limit_allotments", ["slot_end"])
    op.create_table(
        "relay_slots",
        sa.Column("relay", sa.String(64), nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("holder", sa.String(160), nullable=True),
        sa.Column("expires", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("relay", "slot", name="pk_relay_slots"),
    )
    op.create_table(
        "pair_rates",
        sa.Column("relay", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("relay", "provider", name="pk_pair_rates"),
    )


def downgrade() -> None:
    op.drop_table("pair_rates")
    op.drop_table("relay_slots")
    op.drop_index("ix_limit_allotments_end", "limit_allotments")
    op.drop_table("limit_allotments")
