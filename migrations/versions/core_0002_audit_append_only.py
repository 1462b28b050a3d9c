"""audit_log is append-only in the database itself (LOG-02).

Triggers refuse every UPDATE of `audit_log` and every DELETE that no row of `audit_purge_permit`
covers; a permit whose cutoff is less than 180 days old (by the database clock) is refused, and
permits cannot be changed. `flask lms audit-purge` is the one route that deletes: it inserts a
permit, deletes a prefix of the chain older than the cutoff and removes the permit in one
transaction, and writes an `audit.purge` row.

A table owner or superuser can still drop or disable the triggers; the hash chain
(`flask lms audit-check`) finds what they change. On PostgreSQL run the application as a role that
does not own the tables (`flask lms audit-grants`).

Revision ID: core_0002
Revises: core_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None

MIN_DAYS = 180  # 网络安全法 第二十一条: network logs are kept at least six months

SQLITE_UP = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    WHEN NOT EXISTS (SELECT 1 FROM audit_purge_permit p WHERE OLD.id < p.below_id AND OLD.at < p.cutoff)
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused (only flask lms audit-purge removes whole days beyond the retention period)'); END""",
    f"""CREATE TRIGGER audit_purge_permit_retention BEFORE INSERT ON audit_purge_permit
    WHEN NEW.cutoff > strftime('%Y-%m-%d %H:%M:%f', 'now', '-{MIN_DAYS} days')
    BEGIN SELECT RAISE(ABORT, 'audit purge refused: rows younger than {MIN_DAYS} days are kept'); END""",
    """CREATE TRIGGER audit_purge_permit_no_update BEFORE UPDATE ON audit_purge_permit
    BEGIN SELECT RAISE(ABORT, 'audit purge permits cannot be changed'); END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_purge_permit_no_update",
    "DROP TRIGGER IF EXISTS audit_purge_permit_retention",
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
    "DROP TRIGGER IF EXISTS audit_log_no_update",
]

PG_UP = [
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND EXISTS (
            SELECT 1 FROM audit_purge_permit p WHERE OLD.id < p.below_id AND OLD.at < p.cutoff
        ) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING HINT = 'only flask lms audit-purge removes whole days beyond the retention period';
    END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    f"""CREATE FUNCTION audit_purge_permit_check() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            RAISE EXCEPTION 'audit purge permits cannot be changed';
        END IF;
        IF NEW.cutoff > (now() AT TIME ZONE 'UTC') - interval '{MIN_DAYS} days' THEN
            RAISE EXCEPTION 'audit purge refused: rows younger than {MIN_DAYS} days are kept';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER audit_purge_permit_check BEFORE INSERT OR UPDATE ON audit_purge_permit
    FOR EACH ROW EXECUTE FUNCTION audit_purge_permit_check()""",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS audit_purge_permit_check ON audit_purge_permit",
    "DROP FUNCTION IF EXISTS audit_purge_permit_check()",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_append_only()",
]


def upgrade():
    op.create_table('audit_purge_permit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('below_id', sa.Integer(), nullable=False),
    sa.Column('cutoff', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_purge_permit'))
    )
    dialect = op.get_bind().dialect.name
    for sql in SQLITE_UP if dialect == "sqlite" else PG_UP if dialect == "postgresql" else []:
        op.execute(sql)


def downgrade():
    dialect = op.get_bind().dialect.name
    for sql in SQLITE_DOWN if dialect == "sqlite" else PG_DOWN if dialect == "postgresql" else []:
        op.execute(sql)
    op.drop_table('audit_purge_permit')
