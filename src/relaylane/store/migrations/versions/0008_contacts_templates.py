"""Contacts, lists and their members, and versioned templates (campaigns groundwork).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("email", sa.String(512), nullable=False),
        sa.Column("email_key", sa.String(512), nullable=False, unique=True),
        sa.Column("attributes", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "lists",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("double_opt_in", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "list_members",
        sa.Column("list_id", ID, sa.ForeignKey("lists.id"), nullable=False),
        sa.Column("contact_id", ID, sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subscribed_at", sa.Float, nullable=True),
        sa.Column("source", sa.String(128), nullable=True),
        sa.Column("added_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("list_id", "contact_id", name="pk_list_members"),
    )
    op.create_index("ix_list_members_contact", "list_members", ["contact_id"])
    op.create_table(
        "templates",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_template_version"),
    )


def downgrade() -> None:
    op.drop_table("templates")
    op.drop_index("ix_list_members_contact", "list_members")
    op.drop_table("list_members")
    op.drop_table("lists")
    op.drop_table("contacts")
