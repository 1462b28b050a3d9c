"""Benchmark of the discussion plugin.

1. The sensitive-word matcher (Aho-Corasick on normalised text) with 10,000 words over 1 MB of text,
   against the naive loop of `word in text` over the same normalised text.
2. A thread with 5,000 replies: the time to serve its pages (first, middle, last) through the app.

Usage: .venv/bin/python benchmarks/discussion.py
The last line is machine-readable: matcher_speedup=<x> thread_page_ms=<median ms of the slowest page>
"""
from __future__ import annotations

import hashlib
import logging
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

logging.disable(logging.WARNING)

# Common CJK characters (a slice of the basic block), so random words look like real two-to-four-character words.
CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def bench_matcher(rng: random.Random) -> tuple[float, float, float, int]:
    from plugins.discussion.matcher import Matcher, naive_find, normalise

    words = list({"".join(rng.choice(CJK) for _ in range(rng.randint(2, 4))) for _ in range(10_500)})[:10_000]
    parts: list[str] = []
    size = 0
    while size < 1024 * 1024:
        if rng.random() < 0.002:
            w = rng.choice(words)
            chunk = rng.choice([w, " ".join(w), "*".join(w)])  # listed words, some written with evasions
        else:
            chunk = "".join(rng.choice(CJK) for _ in range(rng.randint(5, 30))) + rng.choice("，。 ；！？\n")
        parts.append(chunk)
        size += len(chunk.encode("utf-8"))
    text = "".join(parts)

    t0 = time.perf_counter()
    m = Matcher(words)
    build = time.perf_counter() - t0

    t0 = time.perf_counter()
    hits = m.find(text, limit=10**9)
    fast = time.perf_counter() - t0

    t0 = time.perf_counter()
    naive = naive_find(words, text)
    slow = time.perf_counter() - t0

    found = {h.word for h in hits}
    missing = set(naive) - found
    # Overlapping matches are folded into the longest one, so a word inside another match may be
    # reported through that one; every naive hit must still be found by plain iteration.
    if missing:
        norm, _ = normalise(text)
        assert all(w in norm for w in missing)
    print(f"matcher: {len(words)} words, {size / 1024 / 1024:.2f} MB text ({len(text)} chars)")
    print(f"  build automaton      {build * 1000:9.1f} ms")
    print(f"  Aho-Corasick find    {fast * 1000:9.1f} ms  ({len(hits)} matches)")
    print(f"  naive `in` loop      {slow * 1000:9.1f} ms  ({len(naive)} words present)")
    print(f"  speed-up             {slow / fast:9.1f} x")
    return build, fast, slow, len(hits)


def bench_thread_page(rng: random.Random, replies: int = 5000) -> float:
    from lms import create_app
    from lms.testing import TEST_PASSWORD, migrate_to_heads

    tmp = tempfile.mkdtemp(prefix="lms-bench-")
    cfg = {
        "ENV": "testing", "TESTING": True, "INSTANCE_PATH": tmp, "SECRET_KEY": secrets.token_hex(16),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3", "WTF_CSRF_ENABLED": False,
        "TASKS_IMMEDIATE": True, "BASE_URL": "http://lms.bench", "MEDIA_ROOT": f"{tmp}/media",
        "PLUGINS": ["discussion"],
    }
    app = create_app(cfg)
    migrate_to_heads(app)
    with app.app_context():
        from werkzeug.security import generate_password_hash

        from lms.accounts.models import User
        from lms.auth.models import UserSession
        from lms.courses.models import Course
        from lms.extensions import db
        from plugins.discussion import render, services
        from plugins.discussion.models import DiscussionPost

        pw = generate_password_hash(TEST_PASSWORD)
        people = [User(login_id=f"B{i:04d}", name=f"学员{i}", password_hash=pw, must_change_password=False)
                  for i in range(50)]
        teacher = User(login_id="T0001", name="王老师", password_hash=pw, must_change_password=False)
        db.session.add_all(people + [teacher])
        course = Course(title="基准课程", status="published")
        course.teachers.append(teacher)
        db.session.add(course)
        db.session.commit()
        thread = services.create_thread(people[0], course, title="五千楼的话题", body="正文")
        db.session.commit()
        t0 = time.perf_counter()
        rows = []
        for i in range(replies):
            body = f"第 {i} 楼：**观点** {''.join(rng.choice(CJK) for _ in range(40))}"
            rows.append(dict(thread_id=thread.id, author_id=people[rng.randrange(50)].id, is_first=False, body=body,
                             body_html=render.render_markdown(body), status="published", mentions=[],
                             matched_words=[], is_official=False, like_count=rng.randint(0, 9),
                             created_at=services.utcnow(), published_at=services.utcnow()))
        db.session.execute(db.insert(DiscussionPost), rows)
        services._refresh_thread(thread)
        db.session.commit()
        print(f"thread: {replies} replies inserted in {time.perf_counter() - t0:.1f} s")
        token = secrets.token_urlsafe(32)
        db.session.add(UserSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=people[1].id,
                                   mfa_passed=True))
        db.session.commit()
        thread_id = thread.id
        per_page = app.config["DISCUSSION_POSTS_PER_PAGE"]

    client = app.test_client()
    with client.session_transaction() as sess:
        sess["sid"] = token
    last = (replies + per_page - 1) // per_page
    medians = {}
    for page in (1, last // 2, last):
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            resp = client.get(f"/discussion/threads/{thread_id}?page={page}")
            times.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200, resp.status_code
            assert resp.get_data(as_text=True).count('class="dpost ') == (1 + min(per_page, replies - (page - 1) * per_page))
        medians[page] = statistics.median(times)
        print(f"  page {page:4d}/{last}: median {medians[page]:7.1f} ms over 7 requests")
    return max(medians.values())


def main() -> None:
    rng = random.Random(20261129)
    _build, fast, slow, _ = bench_matcher(rng)
    page_ms = bench_thread_page(rng)
    print(f"matcher_speedup={slow / fast:.1f} thread_page_ms={page_ms:.1f}")


if __name__ == "__main__":
    main()
