"""LRS client keys expire (AUTH-08): xapi_client.expires_at.

Existing clients get created_at + 365 days; a client created more than 365 days ago gets now + 365 days
instead, so that no integration stops working the moment this migration runs (an administrator can revoke
or renew it on the clients page).

Revision ID: xapi_0002
Revises: xapi_0001
"""
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "xapi_0002"
down_revision = "xapi_0001"
branch_labels = None
depends_on = None

DAYS = timedelta(days=365)


def upgrade():
    with op.batch_alter_table("xapi_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
    conn = op.get_bind()
    client = sa.table("xapi_client", sa.column("id", sa.Integer), sa.column("created_at", sa.DateTime),
                      sa.column("expires_at", sa.DateTime))
    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, like lms.timeutil.utcnow
    for cid, created in conn.execute(sa.select(client.c.id, client.c.created_at)).all():
        expires = (created or now) + DAYS
        if expires <= now:
            expires = now + DAYS
        conn.execute(client.update().where(client.c.id == cid).values(expires_at=expires))
    with op.batch_alter_table("xapi_client", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(), nullable=False)


def downgrade():
    with op.batch_alter_table("xapi_client", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
