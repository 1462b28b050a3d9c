"""The discussion inside the core's pages: under a lesson's content and beside a course (all plugins on)."""
from __future__ import annotations

import pytest

from lms.extensions import db
from plugins.discussion import services


@pytest.fixture
def app(app_factory):
    a = app_factory()  # every installed plugin, as in production
    with a.app_context():
        yield a


def test_lesson_page_shows_its_discussion_and_course_page_links_to_it(app, users, courses, clients):
    from lms.courses import lesson_types

    if courses.lesson.type not in lesson_types.registry():
        pytest.skip(f"lesson type {courses.lesson.type!r} is not provided by an installed plugin")
    services.create_thread(users.member, courses.lesson, title="课时下的讨论", body="内容")
    db.session.commit()
    lesson_page = clients.member_b.get(f"/courses/{courses.a.id}/lessons/{courses.lesson.id}")
    assert lesson_page.status_code == 200
    html = lesson_page.get_data(as_text=True)
    assert "课时讨论" in html and "课时下的讨论" in html
    assert f'/discussion/courses/{courses.a.id}/new?lesson={courses.lesson.id}' in html
    course_page = clients.member_b.get(f"/courses/{courses.a.id}").get_data(as_text=True)
    assert f'href="/discussion/courses/{courses.a.id}"' in course_page
    thread_page = clients.member_b.get(f"/discussion/courses/{courses.a.id}").get_data(as_text=True)
    assert f'href="/courses/{courses.a.id}"' in thread_page  # the breadcrumb leads back to the course
