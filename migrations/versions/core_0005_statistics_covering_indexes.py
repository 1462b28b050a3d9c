"""Covering indexes for the statistics dashboards (issue 7): figures read from indexes alone.

- enrollment: the person and course indexes carry the dates (and the other key), so a subtree's enrolments
  are counted per person or per course without reading the table; completions are read by date range.
- credit_entry: the (person, year) index carries the hours; a (year, earned_at) index gives the hours per month.
- lesson_progress: a partial index of the scored rows (tests only) gives the quiz scores of a subtree.

The replaced indexes keep their names (their leading columns are unchanged, so every query that used them
still can). Only indexes change: no data is touched.

Revision ID: core_0005
Revises: core_0004
"""
import sqlalchemy as sa
from alembic import op

revision = "core_0005"
down_revision = "core_0004"
branch_labels = None
depends_on = None

SCORED = sa.text("score IS NOT NULL")


def upgrade():
    op.drop_index("ix_enrollment_user_id", table_name="enrollment")
    op.create_index("ix_enrollment_user_id", "enrollment", ["user_id", "enrolled_at", "completed_at", "course_id"])
    op.drop_index("ix_enrollment_course_id", table_name="enrollment")
    op.create_index("ix_enrollment_course_id", "enrollment", ["course_id", "user_id", "enrolled_at", "completed_at"])
    op.create_index("ix_enrollment_completed", "enrollment", ["completed_at", "user_id"])
    op.drop_index("ix_credit_entry_user_year", table_name="credit_entry")
    op.create_index("ix_credit_entry_user_year", "credit_entry", ["user_id", "year", "hours"])
    op.create_index("ix_credit_entry_year_earned", "credit_entry", ["year", "earned_at", "user_id", "hours"])
    op.create_index("ix_lesson_progress_scored", "lesson_progress", ["user_id", "last_seen_at", "score", "lesson_id"],
                    sqlite_where=SCORED, postgresql_where=SCORED)


def downgrade():
    op.drop_index("ix_lesson_progress_scored", table_name="lesson_progress")
    op.drop_index("ix_credit_entry_year_earned", table_name="credit_entry")
    op.drop_index("ix_credit_entry_user_year", table_name="credit_entry")
    op.create_index("ix_credit_entry_user_year", "credit_entry", ["user_id", "year"])
    op.drop_index("ix_enrollment_completed", table_name="enrollment")
    op.drop_index("ix_enrollment_course_id", table_name="enrollment")
    op.create_index("ix_enrollment_course_id", "enrollment", ["course_id"])
    op.drop_index("ix_enrollment_user_id", table_name="enrollment")
    op.create_index("ix_enrollment_user_id", "enrollment", ["user_id"])
