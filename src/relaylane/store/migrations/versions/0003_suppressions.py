"""Suppressions: the ledger, and what deliveries are matched on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("recipient_key", sa.String(512), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("suppressed_by", ID, nullable=True))
    # Existing rows: ASCII case-folding (lower) is what SQL offers; relaylane case-folds
    # in Python for new rows, which differs only for non-ASCII local parts.
    op.execute("UPDATE deliveries SET recipient_key = lower(recipient)")
    op.create_index("ix_deliveries_recipient_key", "deliveries", ["recipient_key"])
    op.create_table(
        "suppressions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("address_key", sa.String(512), nullable=False),
        sa.Column("address", sa.String(512), nullable=False),
        sa.Column("scope_kind", sa.String(8), nullable=False),
        sa.Column("scope_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("delivery_id", ID, nullable=True),
        sa.UniqueConstraint("address_key", "scope_kind", "scope_name", name="uq_suppression"),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_index("ix_deliveries_recipient_key", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("suppressed_by")
        batch.drop_column("recipient_key")
