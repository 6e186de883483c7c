"""Operating relaylane: the audit log, lane pauses, quotas per API key and SMTP user,
running processes (with the hash of their configuration), a pruned-body mark, and who
holds a delivery an operator held.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", ID, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("target", sa.String(255), nullable=False, server_default=""),
        sa.Column("args", sa.Text, nullable=False, server_default="{}"),
        sa.Column("effect", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_audit_at", "audit_log", ["at"])
    op.create_index("ix_audit_action", "audit_log", ["action", "at"])
    op.create_table(
        "lane_states",
        sa.Column("lane", sa.String(64), primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    for table in ("api_keys", "smtp_users"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("hourly_quota", sa.Integer, nullable=True))
            batch.add_column(sa.Column("daily_quota", sa.Integer, nullable=True))
    op.create_table(
        "quota_counts",
        sa.Column("principal", sa.String(160), nullable=False),
        sa.Column("period", sa.String(4), nullable=False),
        sa.Column("period_start", sa.Float, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("principal", "period", "period_start", name="pk_quota_counts"),
    )
    op.create_table(
        "processes",
        sa.Column("id", sa.String(96), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("config_loaded_at", sa.Float, nullable=False),
        sa.Column("claimed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("sent", sa.BigInteger, nullable=False, server_default="0"),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("pruned_at", sa.Float, nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("held_by", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("held_by")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("pruned_at")
    op.drop_table("processes")
    op.drop_table("quota_counts")
    for table in ("smtp_users", "api_keys"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("daily_quota")
            batch.drop_column("hourly_quota")
    op.drop_table("lane_states")
    op.drop_index("ix_audit_action", "audit_log")
    op.drop_index("ix_audit_at", "audit_log")
    op.drop_table("audit_log")
