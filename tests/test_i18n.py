"""English locale: pages render in English with the `lang=en` cookie, Chinese stays the default, and the
English catalog covers every message the code and templates use."""
from __future__ import annotations

import functools
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PO_PATH = ROOT / "lms" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]|%%")
# Chinese a page in English may still show: the switch back to Chinese is labelled in Chinese on purpose.
LANG_SWITCH = "中文"


class _VisibleText(HTMLParser):
    """Text a person sees or hears: element text plus the attributes browsers show or read aloud."""

    SHOWN_ATTRS = ("title", "placeholder", "aria-label", "alt", "value", "data-confirm")

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in self.SHOWN_ATTRS and value and not (tag == "input" and name == "value"):
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def chinese_left(html: str, *data: str) -> list[str]:
    """Runs of Chinese characters in the visible text, after removing `data` (names people typed)."""
    parser = _VisibleText()
    parser.feed(html)
    text = "\n".join(parser.parts)
    for item in sorted(data, key=len, reverse=True):
        text = text.replace(item, " ")
    return [run for run in CJK.findall(text) if run != LANG_SWITCH]


def english(client):
    client.set_cookie("lang", "en")
    return client


@pytest.fixture
def site_name(app):
    # The site's name is configuration (SITE_NAME), shown as the person who runs the site typed it.
    return app.config["SITE_NAME"]


# --- the default stays Chinese ------------------------------------------------------------------------
def test_default_locale_is_chinese(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "登录" in html and "密码" in html
    assert "Sign in" not in html and "Password" not in html


def test_unknown_language_cookie_falls_back_to_chinese(client):
    client.set_cookie("lang", "fr")
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "密码" in html


def test_language_button_switches_to_english_and_back(app_factory):
    # An app whose context the test does not hold, so each request has its own (as in production).
    client = app_factory().test_client()
    resp = client.post("/language", data={"lang": "en", "next": "/login"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    assert "lang=en" in resp.headers["Set-Cookie"]
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in html and "Sign in" in html

    client.post("/language", data={"lang": "zh", "next": "/login"})
    assert "密码" in client.get("/login").get_data(as_text=True)


# --- pages in English ---------------------------------------------------------------------------------
def test_login_page_in_english(client, site_name):
    html = english(client).get("/login").get_data(as_text=True)
    assert '<html lang="en">' in html
    for words in ("Sign in", "Student/staff ID", "Password", "Sign in with your student or staff ID"):
        assert words in html
    assert chinese_left(html, site_name) == []


def test_wrong_password_message_in_english(client, users, site_name):
    resp = english(client).post("/login", data={"login_id": users.member.login_id, "password": "wrong-Password-1"})
    html = resp.get_data(as_text=True)
    assert "Incorrect student/staff ID or password." in html
    assert "学号/工号或密码错误" not in html


def test_home_dashboard_in_english(client, users, login_as, site_name, org):
    login_as(english(client), users.member)
    html = client.get("/").get_data(as_text=True)
    assert f"Hello, {users.member.name}" in html
    for words in ("Home", "Courses", "My learning", "Sign out", "My credit hours"):
        assert words in html
    for nav in ("首页", "我的学习", "退出", "课程中心", "我的学时"):
        assert nav not in html
    assert chinese_left(html, site_name, users.member.name, org.a1.name) == []


def test_course_catalog_in_english(client, users, login_as, db, site_name):
    from lms.courses import services
    from lms.courses.models import Course

    course = Course(title="党史专题", summary="", category="history", status="published",
                    open_enrolment=True, credit_hours=Decimal("2"), settings={})
    db.session.add(course)
    db.session.flush()
    services.add_chapter(course, "第一章")
    db.session.commit()
    login_as(english(client), users.member)
    html = client.get("/courses").get_data(as_text=True)
    for words in ("Course center", "Search courses", "All categories", "Party history education", "Party theory"):
        assert words in html
    assert "课程中心" not in html and "全部分类" not in html
    # Known gap, reported to the courses owner: a course card without a cover image prints the raw category
    # (lms/templates/courses/_macros.html, `{{ course.category_label }}` without `_()`).
    assert set(chinese_left(html, site_name, course.title, users.member.name)) <= {"党史学习教育"}


def test_admin_pages_in_english(client, users, login_as, site_name):
    login_as(english(client), users.sysadmin)
    html = client.get("/admin/system").get_data(as_text=True)
    for words in ("System administration", "Database", "Password policy", "Audit log retention"):
        assert words in html
    assert "数据库" not in html and "密码策略" not in html
    # Known gap, reported to the admin owner: the roles that must use a one-time passcode are listed with
    # their raw Chinese labels (lms/templates/admin/system.html, `info.totp_roles|join`).
    from lms.accounts.models import ROLES

    role_labels = {label for label, _scoped in ROLES.values()}
    assert set(chinese_left(html, site_name, users.sysadmin.name)) <= role_labels

    html = client.get("/admin/plugins").get_data(as_text=True)
    assert "How to enable or disable plugins" in html and "如何启用或停用插件" not in html


def test_error_page_in_english(client, users, login_as):
    login_as(english(client), users.member)
    html = client.get("/no-such-page").get_data(as_text=True)
    assert "Page not found." in html and "页面不存在" not in html


# --- the catalog --------------------------------------------------------------------------------------
@functools.cache
def _catalog():
    from babel.messages.pofile import read_po

    with PO_PATH.open("rb") as fh:
        return read_po(fh, locale="en")


def _extracted() -> dict[str, list[str]]:
    """msgid -> where it is used, extracted from the current tree with babel.cfg (as `pybabel extract`)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, comment_tags=()
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def test_catalog_has_no_untranslated_or_fuzzy_entries():
    catalog = _catalog()
    assert not catalog.fuzzy, "the catalog header is marked fuzzy"
    empty = [m.id for m in catalog if m.id and not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert empty == [], f"{len(empty)} untranslated: {empty[:20]}"
    assert fuzzy == [], f"{len(fuzzy)} fuzzy: {fuzzy[:20]}"
    assert len(catalog) > 1000


def test_translations_keep_every_placeholder():
    wrong = []
    for m in _catalog():
        if not m.id:
            continue
        ids = (m.id,) if isinstance(m.id, str) else m.id
        strings = (m.string,) if isinstance(m.string, str) else m.string
        for s in strings:
            if sorted(PLACEHOLDER.findall(ids[0])) != sorted(PLACEHOLDER.findall(s)):
                wrong.append((ids[0], s))
    assert wrong == []


def test_every_message_in_the_code_is_in_the_catalog():
    extracted = _extracted()
    # A folder babel.cfg does not cover would silently lose its strings: templates of every plugin count.
    templates = {str(p.relative_to(ROOT)) for p in ROOT.glob("plugins/*/templates/**/*.html")}
    seen = {loc.rsplit(":", 1)[0] for locs in extracted.values() for loc in locs}
    with_text = {t for t in templates if re.search(r"\b_\(['\"]", (ROOT / t).read_text(encoding="utf-8"))}
    assert with_text - seen == set(), "templates with messages that extraction skipped"

    in_catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog() if m.id}
    missing = {msgid: locs[:2] for msgid, locs in extracted.items() if msgid not in in_catalog}
    assert missing == {}, f"{len(missing)} messages are not in the English catalog (re-extract and translate)"


def test_runtime_label_tables_are_translated():
    """Labels stored in tables and shown with `_(label)` cannot be extracted from their call: each must be
    in the catalog (lms/translations/runtime_msgids.py lists them) or the page shows Chinese."""
    from lms.accounts.models import MEMBER_CATEGORIES, ROLES
    from lms.courses.models import CATEGORIES
    from lms.credits.models import REQUIREMENT_CATEGORIES, RULE_KINDS, SOURCE_TYPES
    from lms.credits.services import SOURCE_GROUPS
    from lms.org.models import UNIT_KINDS

    translated = {m.id: m.string for m in _catalog() if m.id and isinstance(m.id, str) and m.string}
    tables = {
        "CATEGORIES": CATEGORIES, "RULE_KINDS": RULE_KINDS, "SOURCE_TYPES": SOURCE_TYPES,
        "REQUIREMENT_CATEGORIES": REQUIREMENT_CATEGORIES, "SOURCE_GROUPS": SOURCE_GROUPS,
        "UNIT_KINDS": UNIT_KINDS, "MEMBER_CATEGORIES": MEMBER_CATEGORIES,
        "ROLES": {k: label for k, (label, _scoped) in ROLES.items()},
    }
    missing = [(name, str(v)) for name, table in tables.items() for v in table.values() if str(v) not in translated]
    assert missing == []


def test_plugin_label_tables_and_titles_are_translated():
    from lms.plugins import discover
    from plugins.discussion.services import REPORT_REASONS

    translated = {m.id for m in _catalog() if m.id and isinstance(m.id, str) and m.string}
    labels = list(REPORT_REASONS.values())
    labels += [str(cls.title) for cls in discover().values()]
    assert [label for label in labels if label not in translated] == []


def test_lesson_type_labels_are_translated(app):
    from lms.courses import lesson_types

    translated = {m.id for m in _catalog() if m.id and m.string}
    with app.test_request_context():
        labels = {key: str(t.label) for key, t in lesson_types.registry().items()}
    assert labels, "no lesson types registered"
    assert {k: v for k, v in labels.items() if v not in translated} == {}
