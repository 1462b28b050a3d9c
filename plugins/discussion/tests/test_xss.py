"""No payload of the XSS corpus (tests/data/xss_payloads.txt) survives rendering, alone or in a page."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lms.extensions import db
from plugins.discussion import services
from plugins.discussion.render import ALLOWED_TAGS, render_markdown

CORPUS = Path(__file__).parent / "data" / "xss_payloads.txt"
PAYLOADS = [ln.replace("\\n", "\n") for ln in CORPUS.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]
_BAD_SCHEME = re.compile(r"^(javascript|vbscript|data|livescript|file):", re.I)


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def _elements(html: str):
    c = _Collector()
    c.feed(html)
    c.close()
    return c.elements


def _dangers(html: str, *, page: bool = False) -> list[str]:
    """Everything in `html` that could run script or load something from elsewhere."""
    problems = []
    for tag, attrs in _elements(html):
        if not page and tag not in ALLOWED_TAGS:
            problems.append(f"tag <{tag}>")
        if tag in ("script",) and (not page or not (attrs.get("src") or "").startswith("/static/")):
            problems.append("script element")
        if tag in ("iframe", "object", "embed", "frame", "frameset", "base", "svg", "math", "style", "link") and not (
                page and tag == "link" and (attrs.get("href") or "").startswith("/static/")):
            problems.append(f"tag <{tag}>")
        for name, value in attrs.items():
            value = value or ""
            if name.startswith("on"):
                problems.append(f"event handler {name}")
            if name in ("style", "srcset", "formaction", "background", "dynsrc", "lowsrc", "xlink:href"):
                problems.append(f"attribute {name}")
            if name in ("href", "src", "action", "data"):
                squashed = re.sub(r"[\s\x00-\x1f]", "", value)
                if _BAD_SCHEME.match(squashed):
                    problems.append(f"{name}={value!r}")
                if not page and tag == "img" and name == "src" and not value.startswith("/discussion/images/"):
                    problems.append(f"foreign image {value!r}")
            if not page and name == "class" and value != "mention":
                problems.append(f"class={value!r}")
            if not page and name == "id":
                problems.append("id attribute")
    return problems


def test_corpus_has_at_least_200_payloads():
    assert len(PAYLOADS) >= 200
    assert len(set(PAYLOADS)) == len(PAYLOADS)


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_payload_does_not_survive_rendering(payload):
    html = render_markdown(payload, mention_names=["someone", "李党员"])
    assert _dangers(html) == [], html


def test_the_checker_itself_catches_payloads():
    # The detector must flag the raw payloads, otherwise the test above proves nothing.
    caught = sum(1 for p in PAYLOADS if _dangers(p))
    assert caught >= 80


def test_links_are_kept_but_defused():
    html = render_markdown("[党建网](https://www.example.org/a?b=1) ![图](/discussion/images/3)")
    assert 'href="https://www.example.org/a?b=1"' in html
    assert 'rel="nofollow noopener noreferrer"' in html
    assert '<img src="/discussion/images/3" alt="图">' in html


def test_no_payload_survives_the_thread_page(app, users, courses, clients):
    app.config["DISCUSSION_RATE_LIMITS"] = [(10_000, 60)]
    thread = services.create_thread(users.member, courses.a, title="<script>alert('title')</script>",
                                    body=PAYLOADS[0])
    for p in PAYLOADS:
        services.create_reply(users.member_b, thread, body=p)
    db.session.commit()
    app.config["DISCUSSION_POSTS_PER_PAGE"] = 500
    for client in (clients.member, clients.teacher):
        html = client.get(f"/discussion/threads/{thread.id}").get_data(as_text=True)
        assert html.count('class="dpost ') == len(PAYLOADS) + 1
        assert _dangers(html, page=True) == []
        assert "<script>alert('title')</script>" not in html
