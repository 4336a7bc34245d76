"""orders by company and capture time: the dashboard's figures read a window of recent orders

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_created", "orders", ["company_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_created", table_name="orders")
