"""Demo seeding adds a word list, a thread with an official answer and one held reply, once."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lms.extensions import db
from plugins.discussion.models import DiscussionPost, DiscussionThread, DiscussionWord


@pytest.fixture
def app(app_factory):
    a = app_factory()
    with a.app_context():
        yield a


def test_demo_seeding_is_idempotent_and_fills_the_queue(app):
    from lms.demo import seed_demo
    from plugins.discussion.demo import load

    demo = seed_demo()
    db.session.commit()
    load(demo)  # a second run adds nothing
    db.session.commit()
    assert db.session.scalar(select(func.count(DiscussionThread.id))) == 1
    thread = db.session.scalar(select(DiscussionThread))
    assert thread.pinned and thread.official_post_id and thread.reply_count == 3
    assert db.session.scalar(select(func.count(DiscussionPost.id)).where(DiscussionPost.status == "pending")) == 1
    assert db.session.scalar(select(func.count(DiscussionWord.id))) >= 5
