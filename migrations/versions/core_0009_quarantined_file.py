"""Malware-scan quarantine (UP-09): quarantined_file, uploads a scan did not pass, kept aside for an administrator.

Revision ID: core_0009
Revises: core_0008
"""
import sqlalchemy as sa
from alembic import op

revision = 'core_0009'
down_revision = 'core_0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('quarantined_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('signature', sa.String(length=255), nullable=True),
    sa.Column('scanner', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('uploader_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_quarantined_file_decided_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['uploader_id'], ['user.id'], name=op.f('fk_quarantined_file_uploader_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_file'))
    )
    with op.batch_alter_table('quarantined_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_file_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantined_file_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantined_file_uploader_id'), ['uploader_id'], unique=False)



def downgrade():
    with op.batch_alter_table('quarantined_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_file_uploader_id'))
        batch_op.drop_index(batch_op.f('ix_quarantined_file_status'))
        batch_op.drop_index(batch_op.f('ix_quarantined_file_kind'))

    op.drop_table('quarantined_file')
