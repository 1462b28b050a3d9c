"""Per-user upload quota (UP-02): each accepted upload names the original it became.

An upload counts against its uploader's quota while it is being received, and once accepted while its
video keeps that original (as `original_key` or `previous_original_key`). Existing accepted uploads
are matched to their video's originals: the newest accepted upload of a video to `original_key`, the
one before it to `previous_original_key` (the order in which finish_upload keeps them).

Revision ID: microlecture_0002
Revises: microlecture_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "microlecture_0002"
down_revision = "microlecture_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("microlecture_upload", sa.Column("stored_key", sa.String(length=255), nullable=True))
    conn = op.get_bind()
    up = sa.table("microlecture_upload", sa.column("id", sa.Integer), sa.column("video_id", sa.Integer),
                  sa.column("state", sa.String), sa.column("stored_key", sa.String))
    video = sa.table("microlecture_video", sa.column("id", sa.Integer), sa.column("original_key", sa.String),
                     sa.column("previous_original_key", sa.String))
    keys = {vid: (cur, prev) for vid, cur, prev in conn.execute(
        sa.select(video.c.id, video.c.original_key, video.c.previous_original_key))}
    accepted: dict[int, list[int]] = {}
    for uid, vid in conn.execute(sa.select(up.c.id, up.c.video_id).where(up.c.state == "accepted")
                                 .order_by(up.c.video_id, up.c.id.desc())):
        accepted.setdefault(vid, []).append(uid)
    for vid, ids in accepted.items():
        for uid, key in zip(ids, keys.get(vid, (None, None)), strict=False):
            if key:
                conn.execute(up.update().where(up.c.id == uid).values(stored_key=key))


def downgrade():
    op.execute('ALTER TABLE microlecture_upload DROP COLUMN stored_key')  # in place on SQLite 3.35+ and PostgreSQL
