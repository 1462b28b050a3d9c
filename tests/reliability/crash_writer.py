"""REL-03 child process: writes learning records and quiz attempts through the product until it is killed.

Run as `python crash_writer.py <config.json>`. Every line it prints is an acknowledgement written after
the commit returned: `E <statement id>` (a learning record), `Q <attempt id> <score>` (an attempt submitted
and graded). The parent kills it with SIGKILL at a random moment and checks the database.
"""
from __future__ import annotations

import json
import random
import sys


def ack(line: str) -> None:
    """One write per acknowledgement, so a kill cannot leave half of one that looks whole."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(config_path: str) -> None:
    with open(config_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    from lms import create_app

    app = create_app(spec["config"])
    with app.app_context():
        from lms import events
        from lms.accounts.models import User
        from lms.courses.models import Lesson
        from lms.extensions import db
        from plugins.quiz import services as quiz
        from plugins.quiz.models import QuizPaper

        users = [db.session.get(User, uid) for uid in spec["user_ids"]]
        lesson = db.session.get(Lesson, spec["lesson_id"])
        paper = db.session.get(QuizPaper, spec["paper_id"])
        rng = random.Random(spec["seed"])
        print("ready", flush=True)
        while True:
            user = rng.choice(users)
            if rng.random() < 0.7:
                ev = events.LearningEvent(user=user, verb="experienced",
                                          object_id=events.activity_iri("lesson", lesson.id),
                                          course_id=lesson.course_id, lesson_id=lesson.id)
                events.record(ev)
                db.session.commit()
                ack(f"E {ev.statement_id}")
            else:
                attempt = quiz.start_attempt(paper, user)
                answers = {str(e["q"]): rng.choice(["true", "false"]) for e in attempt.layout}
                quiz.submit_with_answers(attempt, answers)
                ack(f"Q {attempt.id} {attempt.score}")
            db.session.expire_all()


if __name__ == "__main__":
    main(sys.argv[1])
