"""Record integrity (PI-04): a `seal` column (HMAC-SHA256, lms.integrity) on credit_entry, enrollment and
lesson_progress.

Existing rows stay unsealed (the key is not available to migrations): run
`flask lms integrity-check --seal-missing` once after this upgrade.

Revision ID: core_0007
Revises: core_0006
"""
import sqlalchemy as sa
from alembic import op

revision = "core_0007"
down_revision = "core_0006"
branch_labels = None
depends_on = None

TABLES = ("credit_entry", "enrollment", "lesson_progress")


def upgrade():
    for table in TABLES:
        op.add_column(table, sa.Column("seal", sa.String(length=64), nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("seal")
