"""Ways in: API keys, SMTP users, idempotency keys; where a message came from.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("source", sa.String(8), nullable=False, server_default="cli"))
        batch.add_column(sa.Column("submitter", sa.String(128), nullable=True))
        batch.add_column(sa.Column("notify", sa.String(16), nullable=True))
        batch.add_column(sa.Column("tags", sa.Text, nullable=True))
        batch.add_column(sa.Column("meta", sa.Text, nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("notified", sa.Boolean, nullable=False, server_default=sa.false())
        )
        # a submitted message keeps its own Message-ID, which may exceed 255 characters
        batch.alter_column("header_message_id", type_=sa.Text, existing_nullable=False)
    op.create_table(
        "api_keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("lanes", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )
    op.create_table(
        "smtp_users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("lanes", sa.Text, nullable=False),
        sa.Column("notify", sa.String(16), nullable=False, server_default="none"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )
    op.create_table(
        "idempotency",
        sa.Column("id", ID, primary_key=True),
        sa.Column("principal", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("principal", "key", name="uq_idempotency_key"),
    )
    op.create_index("ix_idempotency_created", "idempotency", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency")
    op.drop_table("smtp_users")
    op.drop_table("api_keys")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("notified")
        batch.alter_column("header_message_id", type_=sa.String(255), existing_nullable=False)
    with op.batch_alter_table("messages") as batch:
        for column in ("meta", "tags", "notify", "submitter", "source"):
            batch.drop_column(column)
