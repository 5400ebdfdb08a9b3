"""store tables

Revision ID: 0001_store
Revises: 
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001_store'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('store_products',
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('brand', sa.String(length=255), nullable=True),
    sa.Column('category', sa.String(length=512), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('image', sa.String(length=1024), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('popularity', sa.Float(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('product_id')
    )
    op.create_table('store_users',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('zip', sa.String(length=20), nullable=False),
    sa.Column('address', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('store_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_store_users_email'), ['email'], unique=False)
        batch_op.create_index('ix_store_users_name_zip', ['last_name', 'first_name', 'zip'], unique=False)

    op.create_table('store_orders',
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('address', sa.JSON(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('fulfillments', sa.JSON(), nullable=False),
    sa.Column('payment_history', sa.JSON(), nullable=False),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['store_users.user_id'], ),
    sa.PrimaryKeyConstraint('order_id')
    )
    with op.batch_alter_table('store_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_store_orders_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_store_orders_user_id'), ['user_id'], unique=False)

    op.create_table('store_payment_methods',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('balance', sa.Float(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['store_users.user_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('store_payment_methods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_store_payment_methods_user_id'), ['user_id'], unique=False)

    op.create_table('store_variants',
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('price', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['store_products.product_id'], ),
    sa.PrimaryKeyConstraint('item_id')
    )
    with op.batch_alter_table('store_variants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_store_variants_product_id'), ['product_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('store_variants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_store_variants_product_id'))

    op.drop_table('store_variants')
    with op.batch_alter_table('store_payment_methods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_store_payment_methods_user_id'))

    op.drop_table('store_payment_methods')
    with op.batch_alter_table('store_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_store_orders_user_id'))
        batch_op.drop_index(batch_op.f('ix_store_orders_status'))

    op.drop_table('store_orders')
    with op.batch_alter_table('store_users', schema=None) as batch_op:
        batch_op.drop_index('ix_store_users_name_zip')
        batch_op.drop_index(batch_op.f('ix_store_users_email'))

    op.drop_table('store_users')
    op.drop_table('store_products')
