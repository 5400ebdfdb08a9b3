"""the shopper's language on each conversation (ConversationState.language, also kept in its state)

Existing conversations get "en", as their state (without a language) reads.

Revision ID: 0006_conversation_language
Revises: 0002_conversations
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_conversation_language"
down_revision = "0002_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), server_default="en", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("language")
