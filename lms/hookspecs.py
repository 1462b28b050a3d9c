"""Every hook the core offers to plugins, grouped by family.

lms_load_*    start-up: a plugin hands the app its blueprints and CLI commands.
lms_gather_*  collect contributions: navigation, dashboard widgets, lesson types.
lms_event_*   something happened in the domain; plugins react (statements, notifications, statistics).
lms_tpl_*     a slot in a core page that a plugin may fill with HTML.

A plugin implements a hook by defining a method of the same name decorated with `lms.plugins.hookimpl`.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("lms")


# --- start-up ------------------------------------------------------------------------------------
@hookspec
def lms_load_blueprints(app):
    """Return a Blueprint or a list of them to register on `app`."""


@hookspec
def lms_load_cli_commands():
    """Return a click command/group or a list of them to add to `flask` (under their own names)."""


@hookspec
def lms_load_demo_data(demo):
    """`flask lms demo` is seeding: add this plugin's demo content. `demo` has `.units`, `.users`,
    `.teachers`, `.courses` (dicts by key) and runs inside one transaction; be idempotent.
    See `lms.demo.DemoData`: `.chapters[course_key]`, `.members` (people who learn),
    `.lesson(course_key, chapter_no, title, type, **fields) -> (lesson, created)` and `.count(what)`."""


# --- gathering -----------------------------------------------------------------------------------
@hookspec
def lms_gather_nav_items(user):
    """Return a list of `lms.ui.NavItem` shown in the top navigation for `user` (may be anonymous)."""


@hookspec
def lms_gather_admin_items(user):
    """Return a list of `lms.ui.NavItem` for the administration menu, already filtered for `user`."""


@hookspec
def lms_gather_dashboard_widgets(user):
    """Return a list of `lms.ui.Widget` (title + rendered HTML) for the home dashboard of `user`."""


@hookspec
def lms_gather_lesson_types():
    """Return a list of `lms.courses.lesson_types.LessonType` subclasses this plugin provides."""


@hookspec
def lms_gather_sealed_tables():
    """Return a list of `lms.integrity.SealedTable` for this plugin's important records (grades,
    completions): `flask lms integrity-check` verifies their per-record HMAC seals (PI-04)."""


@hookspec
def lms_gather_scanners():
    """Return a list of `lms.scanning.Scanner` subclasses (each with a unique `name`) that
    `UPLOAD_SCANNER` may name; uploads are scanned by the one it names (UP-09)."""


@hookspec
def lms_gather_personal_data(user):
    """Return the personal data this module holds about `user` (PI-06, PIPL art. 45): a list of
    `lms.accounts.dsar.Section`, one per table that references the person (`Section.table` is the table
    name). Only `user`'s own data: rows where someone else is the subject leave out that person's data
    (a reply to their post: their own post only). Encrypted fields decrypted: it is the person's copy."""


# --- events --------------------------------------------------------------------------------------
@hookspec
def lms_event_learning(event):
    """A learning event happened (`lms.events.LearningEvent`). Called inside the caller's transaction:
    write your records with `db.session` and do not commit; raising aborts the whole change."""


@hookspec
def lms_event_enrolled(enrollment):
    """A person was enrolled in a course (inside the enrolling transaction)."""


@hookspec
def lms_event_lesson_completed(progress):
    """A person completed a lesson (`LessonProgress`), inside the completing transaction."""


@hookspec
def lms_event_course_completed(enrollment):
    """A person completed every required lesson of a course, inside the completing transaction."""


@hookspec
def lms_event_person_transferred(user, old_unit, new_unit):
    """A person's party relationship moved from `old_unit` to `new_unit` (组织关系转接)."""


@hookspec
def lms_event_person_erase(user, erasure):
    """`user` is being erased (PI-06, PIPL art. 47), inside the caller's transaction: delete or
    de-identify every row of this module that holds `user`'s personal data (keep rows that others'
    records need, without the person's data in them), and count what was done with
    `erasure.count(table, n)` (`lms.accounts.dsar.Erasure`). Do not commit; raising aborts the erasure."""


# --- template slots --------------------------------------------------------------------------------
@hookspec
def lms_tpl_lesson_after(lesson, user):
    """Return HTML (Markup) to show below a lesson's content, e.g. its discussion."""


@hookspec
def lms_tpl_course_sidebar(course, user):
    """Return HTML (Markup) for the side column of a course page."""


@hookspec
def lms_tpl_credits_my(person, year, summary, own):
    """Return HTML (Markup) for the 我的学时 page of `person` (the year's `lms.credits.services.Summary`;
    `own` is True when the person is looking at their own hours), e.g. statements to download."""
