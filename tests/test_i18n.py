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
    # A course card without a cover image shows the category as its cover text, translated too.
    assert chinese_left(html, site_name, course.title, users.member.name) == []


def test_admin_pages_in_english(client, users, login_as, site_name):
    login_as(english(client), users.sysadmin)
    html = client.get("/admin/system").get_data(as_text=True)
    for words in ("System administration", "Database", "Password policy", "Audit log retention"):
        assert words in html
    assert "数据库" not in html and "密码策略" not in html
    # The roles that must use a one-time passcode are listed in English too.
    assert "Organization administrator" in html or "System administrator" in html
    assert chinese_left(html, site_name, users.sysadmin.name) == []

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


# --- the main pages of each kind of user, in English ----------------------------------------------------
# Literal text of the people-import file the English page refers to (rows starting with 示例 are skipped).
LITERALS = {"/people/import": {"示例"}}
SKIP_LINKS = re.compile(r"/logout|/language|\.(pdf|xlsx|csv|vtt|m3u8)$|/export|/media/|/document|/download|"
                        r"/certificate|/static/|/verify")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v and v.startswith("/") and not v.startswith("//")]


def _stored_texts(db) -> list[str]:
    """What people typed or the demo stored (names, titles, bodies…): user content, allowed in any language.
    Notifications are left out: their stored texts are messages the page must show translated."""
    import json

    from sqlalchemy import JSON, String, Text, select

    texts: set[str] = set()
    for table in db.metadata.sorted_tables:
        if table.name in ("notification",) or table.name.startswith("audit"):
            continue
        cols = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
        for row in db.session.execute(select(*cols)) if cols else ():
            for value in row:
                if value is None:
                    continue
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                texts.update(line.strip() for line in text.splitlines() if CJK.search(line))
                texts.update(CJK.findall(text))
    return sorted(texts, key=len, reverse=True)


@pytest.fixture
def demo_site(app, db, monkeypatch):
    """The demo university (fast password hashes, no video clip) with a few notifications to read."""
    from werkzeug.security import generate_password_hash

    import lms.auth.services as auth_services
    from plugins.microlecture import demo as microlecture_demo

    monkeypatch.setattr(auth_services, "hash_password", lambda pw: generate_password_hash(pw, "pbkdf2:sha256:1000"))

    def no_ffmpeg(path, seconds=10):
        raise OSError("not needed here")

    monkeypatch.setattr(microlecture_demo, "make_clip", no_ffmpeg)
    from lms.demo import seed_demo

    return seed_demo()


def _pages_in_english(client, start: list[str], limit: int = 60) -> dict[str, str]:
    """The start pages and every page they link to (one level), as HTML, read with the English locale."""
    pages: dict[str, str] = {}
    queue = list(start)
    first = set(start)
    while queue and len(pages) < limit:
        url = queue.pop(0)
        if url in pages or SKIP_LINKS.search(url):
            continue
        resp = client.get(url)
        assert resp.status_code < 500, f"{url} answered {resp.status_code} in English"
        if resp.status_code != 200 or resp.mimetype != "text/html":
            resp.close()
            continue
        pages[url] = html = resp.get_data(as_text=True)
        if url in first:
            links = _Links()
            links.feed(html)
            queue += [h.split("#")[0] for h in links.hrefs]
    return pages


@pytest.mark.parametrize("who, start", [
    ("member", ["/", "/account", "/credits/my", "/notifications/", "/party-school/", "/courses"]),
    ("teacher1", ["/", "/teach", "/microlecture/mine"]),
    ("secretary:cs_undergrad", ["/", "/people", "/party-school/admin/sessions"]),
    ("org_admin", ["/", "/org", "/people", "/credits/admin", "/party-school/admin/assignments", "/exports/"]),
    ("sysadmin", ["/", "/admin/system", "/admin/plugins"]),
])
def test_main_pages_show_no_chinese_labels_in_english(client, db, login_as, demo_site, site_name, who, start):
    """With lang=en a page may show Chinese only where people (or the demo) typed it: names, titles, bodies."""
    login_as(english(client), demo_site.users[who])
    content = _stored_texts(db) + [site_name]
    pages = _pages_in_english(client, start)
    assert len(pages) >= len(start)
    left = {}
    for url, html in pages.items():
        allowed = set(LANG_SWITCH) | LITERALS.get(url.split("?")[0], set())
        runs = [run for run in chinese_left(html, *content) if run not in allowed]
        if runs:
            left[url] = runs[:8]
    assert left == {}, f"Chinese left on English pages of {who}: {left}"


def test_notifications_follow_the_readers_language(client, db, users, login_as):
    """Notifications are stored in Chinese; each reader sees them in the language they picked."""
    from lms.notifications.services import message, notify
    from plugins.discussion.services import N_REASON, N_REJECTED
    from plugins.party_school.services import N_PLACE_LATER, N_SESSION, N_SESSION_BODY

    notify(users.member, title=message(N_REJECTED, title="学习体会「两个确立」"), body=message(N_REASON, reason="离题"))
    notify(users.member, title=message(N_SESSION, kind="培训交流", title="专题培训班"),
           body=message(N_SESSION_BODY, time="2026-12-06 09:00", place=N_PLACE_LATER))
    db.session.commit()
    login_as(client, users.member)
    html = client.get("/notifications/").get_data(as_text=True)
    assert "您在「学习体会「两个确立」」的发言未通过审核" in html and "理由：离题" in html
    assert "培训交流：专题培训班" in html and "地点：另行通知" in html
    html = english(client).get("/notifications/").get_data(as_text=True)
    assert "Your post in “学习体会「两个确立」” was not approved" in html and "Reason: 离题" in html
    assert "Training and exchange: 专题培训班" in html
    assert "Time: 2026-12-06 09:00; place: To be announced." in html
    assert chinese_left(html, "学习体会「两个确立」", "离题", "专题培训班", users.member.name) == []


def test_registered_notification_texts_are_translated(app):
    from lms.notifications.services import _MESSAGES

    translated = {m.id for m in _catalog() if m.id and isinstance(m.id, str) and m.string}
    assert _MESSAGES, "no notification texts registered"
    assert [msgid for msgid in _MESSAGES if msgid not in translated] == []


def test_scripts_take_their_texts_from_the_page():
    """Scripts show only texts the page gives them (data-text-… attributes rendered with _())."""
    js = (ROOT / "lms" / "static" / "js" / "reading.js").read_text(encoding="utf-8")
    assert not CJK.search(js)
    for path in ROOT.glob("plugins/*/static/*.js"):
        code = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith("//"))
        if "/quiz/" in str(path) or "/stats/" in str(path):
            continue  # other owners' plugins (checked by the catalog tests only)
        assert not CJK.search(code), f"{path.relative_to(ROOT)} has Chinese text: take it from the page"
