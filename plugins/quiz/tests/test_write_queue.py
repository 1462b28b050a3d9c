"""SQLite: the quiz's writes (autosave, start, submit) queue on a file lock instead of SQLite's polling."""
from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from plugins.quiz import services
from plugins.quiz.models import QuizAnswer, QuizAttempt


@pytest.fixture
def another_writer(db):
    """`with another_writer():` holds the writers' queue the way a quiz write of another server process does."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        pytest.skip("the writers' queue is for SQLite only")

    @contextmanager
    def holding():
        fd = os.open(f"{url.database}-quiz-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            os.close(fd)

    return holding


def _in_thread(app, fn):
    """Run `fn` as another request would (its own app context and session); returns (done, errors)."""
    done, errors = threading.Event(), []

    def run():
        from lms.extensions import db

        with app.app_context():
            try:
                fn()
            except Exception as exc:  # reported by the test
                errors.append(exc)
            finally:
                db.session.remove()
                done.set()

    threading.Thread(target=run, daemon=True).start()
    return done, errors


def test_an_autosave_waits_for_its_turn_then_is_stored(app, fixed_paper, users, db, another_writer):
    lesson, paper, qs = fixed_paper
    aid = services.start_attempt(paper, users.member).id
    with another_writer():
        done, errors = _in_thread(app, lambda: services.save_answers(db.session.get(QuizAttempt, aid),
                                                                     {str(qs["single"].id): 1}))
        assert not done.wait(0.5), "the autosave did not wait for its turn"
    assert done.wait(10) and errors == []
    db.session.expire_all()
    assert db.session.scalar(select(QuizAnswer.response).where(QuizAnswer.attempt_id == aid)) == 1


def test_a_request_that_already_wrote_does_not_wait_for_the_turn(app, fixed_paper, users, db, another_writer):
    """It may hold SQLite's write lock that the turn's holder is waiting for: waiting would block both."""
    lesson, paper, qs = fixed_paper
    aid = services.start_attempt(paper, users.member).id

    def write_then_autosave():
        from lms.accounts.models import User

        db.session.get(User, users.member.id).phone = "13800000000"
        db.session.flush()  # this transaction has written
        services.save_answers(db.session.get(QuizAttempt, aid), {str(qs["single"].id): 2})

    with another_writer():
        done, errors = _in_thread(app, write_then_autosave)
        assert done.wait(10), "the autosave waited for a turn while holding a write"
    assert errors == []
    db.session.expire_all()
    assert db.session.scalar(select(QuizAnswer.response).where(QuizAnswer.attempt_id == aid)) == 2


def test_a_submit_waits_for_its_turn_and_closes_once(app, fixed_paper, users, db, another_writer):
    lesson, paper, qs = fixed_paper
    aid = services.start_attempt(paper, users.member).id
    with another_writer():
        done, errors = _in_thread(app, lambda: services.submit_with_answers(
            db.session.get(QuizAttempt, aid), {str(qs["single"].id): 1}))
        assert not done.wait(0.5), "the submit did not wait for its turn"
    assert done.wait(10) and errors == []
    db.session.expire_all()
    attempt = db.session.get(QuizAttempt, aid)
    assert attempt.status == "graded" and attempt.score == 2
