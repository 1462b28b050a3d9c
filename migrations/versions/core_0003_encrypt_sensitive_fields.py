"""Encrypt phone numbers and TOTP secrets at rest (PI-03).

`user.phone`, `user.totp_secret` and `user_session.totp_pending_secret` become TEXT columns holding
`enc1:<key id>:<AES-GCM>` values (lms.accounts.crypto) written with the application's DATA_KEY: each
existing value is encrypted here, and downgrading decrypts them back. Run it with the same DATA_KEY
the application will use (in the embedded default: instance/data_key, made on first start).

Each column is replaced by a new one (add, copy, drop, rename), which SQLite (3.35+) and PostgreSQL
both do in place, without rebuilding the `user` table that so many others reference.

Revision ID: core_0003
Revises: core_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None

# (table, column, length of the clear-text column it replaces)
FIELDS = [("user", "phone", 32), ("user", "totp_secret", 64), ("user_session", "totp_pending_secret", 64)]


def _keyring():
    from flask import current_app

    from lms.accounts.crypto import keyring

    return keyring(current_app)


def _replace(table: str, column: str, new_type, convert) -> None:
    conn = op.get_bind()
    tmp = f"{column}_new"
    op.add_column(table, sa.Column(tmp, new_type, nullable=True))
    t = sa.table(table, sa.column("id", sa.Integer), sa.column(column, sa.Text), sa.column(tmp, sa.Text))
    rows = conn.execute(sa.select(t.c.id, t.c[column]).where(t.c[column].is_not(None))).all()
    stmt = t.update().where(t.c.id == sa.bindparam("row_id")).values({tmp: sa.bindparam("value")})
    for start in range(0, len(rows), 1000):
        conn.execute(stmt, [{"row_id": i, "value": convert(v)} for i, v in rows[start:start + 1000]])
    op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    op.execute(f'ALTER TABLE "{table}" RENAME COLUMN "{tmp}" TO "{column}"')


def upgrade():
    ring = _keyring()
    for table, column, _length in FIELDS:
        purpose = f"{table}.{column}"

        def seal(value, purpose=purpose):
            return value if value.startswith("enc1:") else ring.encrypt(value, purpose)

        _replace(table, column, sa.Text(), seal)


def downgrade():
    ring = _keyring()
    for table, column, length in reversed(FIELDS):
        purpose = f"{table}.{column}"
        _replace(table, column, sa.String(length=length), lambda v, purpose=purpose: ring.decrypt(v, purpose))
