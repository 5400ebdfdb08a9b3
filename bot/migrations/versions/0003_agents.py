"""support agent accounts

Revision ID: 0003_agents
Revises: 0001_store
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_agents"
down_revision = "0001_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("agents")
