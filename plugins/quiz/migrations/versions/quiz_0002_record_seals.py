"""Record integrity (PI-04): a `seal` column (HMAC-SHA256, lms.integrity) on quiz_attempt and quiz_answer.

Existing rows stay unsealed (the key is not available to migrations): run
`flask lms integrity-check --seal-missing` once after this upgrade.

Revision ID: quiz_0002
Revises: quiz_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "quiz_0002"
down_revision = "quiz_0001"
branch_labels = None
depends_on = ("core_0007",)

TABLES = ("quiz_attempt", "quiz_answer")


def upgrade():
    for table in TABLES:
        op.add_column(table, sa.Column("seal", sa.String(length=64), nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("seal")
