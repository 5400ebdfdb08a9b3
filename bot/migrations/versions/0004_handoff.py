"""conversation ownership (handoff state) and agents' internal notes

Revision ID: 0004_handoff
Revises: 0001_store
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_handoff"
down_revision = "0001_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_ownership",
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    op.create_index("ix_conversation_ownership_mode", "conversation_ownership", ["mode"])
    op.create_index("ix_conversation_ownership_agent", "conversation_ownership", ["agent"])
    op.create_table(
        "agent_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agent_notes_conversation_id", "agent_notes", ["conversation_id"])


def downgrade() -> None:
    op.drop_table("agent_notes")
    op.drop_table("conversation_ownership")
