"""Notice consent and lawful basis per person (PI-02): table privacy_record.

People already in the database were entered by their organization before such records existed: each
gets a `basis` row (`hr_management`, source `migration`), so the record says how and when it was made.
Everyone still sees the privacy notice at their next login and agrees to it (a `consent` row).

Revision ID: core_0004
Revises: core_0003
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "core_0004"
down_revision = "core_0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('privacy_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('notice_version', sa.String(length=32), nullable=True),
    sa.Column('basis', sa.String(length=32), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['user.id'], name=op.f('fk_privacy_record_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_privacy_record_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_record'))
    )
    op.create_index(op.f('ix_privacy_record_user_id'), 'privacy_record', ['user_id'], unique=False)
    now = datetime.now(UTC).replace(tzinfo=None)
    op.execute(sa.text(
        "INSERT INTO privacy_record (user_id, kind, basis, source, at) "
        "SELECT id, 'basis', 'hr_management', 'migration', :now FROM \"user\"").bindparams(now=now))


def downgrade():
    op.drop_index(op.f('ix_privacy_record_user_id'), table_name='privacy_record')
    op.drop_table('privacy_record')
