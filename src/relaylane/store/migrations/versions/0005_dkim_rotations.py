"""DKIM key rotations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dkim_rotations",
        sa.Column("id", ID, primary_key=True),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("old_selector", sa.String(63), nullable=True),
        sa.Column("new_selector", sa.String(63), nullable=False),
        sa.Column("key_file", sa.Text, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("switched_at", sa.Float, nullable=True),
        sa.UniqueConstraint("domain", "new_selector", name="uq_dkim_rotation_selector"),
    )


def downgrade() -> None:
    op.drop_table("dkim_rotations")
