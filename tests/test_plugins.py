"""The plugin system: discovery, LMS_PLUGINS, dependencies, hook checking, and the admin plugins page."""
from __future__ import annotations

import lms_test_plugins as tp
import pluggy
import pytest

from lms.plugins import PluginError, discover

TEST_PLUGINS = {
    "notes": tp.NotesPlugin,
    "baselib": tp.BaseLibPlugin,
    "needsbase": tp.NeedsBasePlugin,
    "usesnotes": tp.UsesNotesPlugin,
}


@pytest.fixture(autouse=True)
def _reset_init_order():
    tp.INIT_ORDER.clear()


def build(app_factory, plugins=None, installed=None):
    cfg = {"LMS_INSTALLED_PLUGINS": installed or TEST_PLUGINS}
    if plugins is not None:
        cfg["PLUGINS"] = plugins
    return app_factory(**cfg)


# --- discovery ---------------------------------------------------------------------------------------
def test_article_plugin_is_discovered_through_entry_points():
    from plugins.article import ArticlePlugin

    found = discover()
    assert found["article"] is ArticlePlugin


def test_default_app_enables_every_installed_plugin(app):
    reg = app.extensions["lms_plugins"]
    assert set(reg.installed) == set(discover())
    assert "article" in reg.enabled
    assert reg.enabled["article"].app is app


# --- LMS_PLUGINS switching a plugin off ---------------------------------------------------------------
def test_enabled_plugin_contributes_route_nav_widget_and_config(app_factory, make_user, login_as):
    app = build(app_factory, plugins=["notes"])
    with app.app_context():
        member = make_user("钱学员")
        client = login_as(app.test_client(), member)
        home = client.get("/").get_data(as_text=True)
        assert "我的笔记" in home and "最近的笔记" in home
        assert client.get("/notes/").get_data(as_text=True) == "学习笔记：钱学员"
        assert app.config["NOTES_MAX_LENGTH"] == 2000
        assert "notes" in {r.endpoint.split(".")[0] for r in app.url_map.iter_rules()}


def test_disabled_plugin_leaves_no_route_nav_item_or_error(app_factory, make_user, login_as):
    app = build(app_factory, plugins=["baselib"])
    with app.app_context():
        member = make_user("钱学员")
        admin = make_user("系统管理员", roles=["sysadmin"])
        client = login_as(app.test_client(), member)
        home = client.get("/")
        assert home.status_code == 200
        body = home.get_data(as_text=True)
        assert "我的笔记" not in body and "最近的笔记" not in body
        assert client.get("/notes/").status_code == 404
        assert not [r for r in app.url_map.iter_rules() if r.endpoint.startswith("notes.")]
        assert "NOTES_MAX_LENGTH" not in app.config
        assert client.get("/static/plugins/notes/x.css").status_code == 404
        assert tp.INIT_ORDER == ["baselib"]

        page = login_as(app.test_client(), admin).get("/admin/plugins")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "学习笔记" in text and "已由配置停用" in text
        # the way back: the setting that turns it on again
        assert "LMS_PLUGINS=baselib,notes" in text


def test_disabling_the_article_plugin_keeps_core_pages_working(app_factory, make_user, login_as):
    app = app_factory(PLUGINS=[])
    with app.app_context():
        assert app.extensions["lms_plugins"].enabled == {}
        admin = make_user("系统管理员", roles=["sysadmin"])
        client = login_as(app.test_client(), admin)
        for url in ("/", "/admin/plugins", "/admin/system"):
            assert client.get(url).status_code == 200, url
        assert client.get("/static/plugins/article/anything.js").status_code == 404


def test_lessons_of_a_disabled_plugin_stay_listed_and_pages_do_not_fail(app_factory, make_user, login_as):
    """Switching a lesson plugin off hides its content, never the course, and breaks no page."""
    from datetime import datetime

    from lms.courses.models import Chapter, Course, Lesson
    from lms.extensions import db

    full = app_factory()  # every installed plugin: the lessons are created while `article` is on
    with full.app_context():
        course = Course(title="形势与政策", category="policy", status="published", published_at=datetime(2026, 9, 1))
        db.session.add(course)
        db.session.flush()
        chapter = Chapter(course_id=course.id, title="专题一", position=1)
        db.session.add(chapter)
        db.session.flush()
        lesson = Lesson(course_id=course.id, chapter_id=chapter.id, title="高质量发展", type="article", position=1)
        db.session.add(lesson)
        db.session.commit()
        course_id, lesson_id = course.id, lesson.id

    bare = app_factory(PLUGINS=[])  # same database, no plugin enabled
    with bare.app_context():
        member = make_user("钱学员")
        client = login_as(bare.test_client(), member)
        detail = client.get(f"/courses/{course_id}")
        assert detail.status_code == 200
        assert "高质量发展" in detail.get_data(as_text=True)
        assert "暂不可用" in detail.get_data(as_text=True)
        page = client.get(f"/courses/{course_id}/lessons/{lesson_id}")
        assert page.status_code == 200
        for url in ("/", "/courses", "/my-learning"):
            assert client.get(url).status_code == 200, url


# --- dependencies --------------------------------------------------------------------------------------
def test_missing_required_plugin_stops_startup_naming_both(app_factory):
    with pytest.raises(PluginError) as err:
        build(app_factory, plugins=["needsbase"])
    msg = str(err.value)
    assert "needsbase" in msg and "baselib" in msg
    assert "未启用" in msg


def test_required_plugin_not_installed_names_both(app_factory):
    with pytest.raises(PluginError) as err:
        build(app_factory, installed={"needsbase": tp.NeedsBasePlugin})
    msg = str(err.value)
    assert "needsbase" in msg and "baselib" in msg and "未安装" in msg


def test_unknown_plugin_name_fails_clearly(app_factory):
    with pytest.raises(PluginError) as err:
        build(app_factory, plugins=["notes", "nosuchplugin"])
    assert "nosuchplugin" in str(err.value)
    assert "未安装" in str(err.value)


def test_plugins_load_after_their_hard_and_soft_dependencies(app_factory):
    app = build(app_factory, plugins=["usesnotes", "needsbase", "notes", "baselib"])
    order = list(app.extensions["lms_plugins"].enabled)
    assert order.index("baselib") < order.index("needsbase")
    assert order.index("notes") < order.index("usesnotes")
    assert tp.INIT_ORDER == order


def test_soft_dependency_may_be_absent(app_factory):
    app = build(app_factory, plugins=["usesnotes"])
    assert list(app.extensions["lms_plugins"].enabled) == ["usesnotes"]


def test_dependency_cycle_is_reported(app_factory):
    class Ping(tp.BaseLibPlugin):
        name = "ping"
        requires = ("pong",)

    class Pong(tp.BaseLibPlugin):
        name = "pong"
        requires = ("ping",)

    with pytest.raises(PluginError) as err:
        build(app_factory, installed={"ping": Ping, "pong": Pong})
    assert "循环" in str(err.value)


def test_misspelt_hook_is_caught_at_startup(app_factory):
    with pytest.raises(pluggy.PluginValidationError) as err:
        build(app_factory, installed={"misspelt": tp.MisspeltHookPlugin})
    assert "lms_gather_nav_item" in str(err.value)


# --- the admin pages ----------------------------------------------------------------------------------
def test_plugins_page_lists_metadata_dependencies_and_state(app_factory, make_user, login_as):
    app = build(app_factory, plugins=["notes", "baselib", "needsbase"])
    with app.app_context():
        admin = make_user("系统管理员", roles=["sysadmin"])
        text = login_as(app.test_client(), admin).get("/admin/plugins").get_data(as_text=True)
    # name, title, version, description
    assert "学习笔记" in text and "<code class=\"small\">notes</code>" in text
    assert "1.2.0" in text and "学员在学习时记录的笔记。" in text
    # hard/soft dependencies and who depends on whom
    assert 'href="#plugin-baselib"' in text
    assert "被以下插件依赖" in text
    # state and the current setting
    assert text.count("已启用") >= 3 and "已由配置停用" in text  # usesnotes is installed but off
    assert "LMS_PLUGINS=baselib,needsbase,notes" in text
    # switching baselib off must also switch off what requires it
    assert "LMS_PLUGINS=notes" in text and "依赖它的插件须一并停用：needsbase" in text


def test_plugins_page_is_for_sysadmins_only(client, users, login_as):
    assert client.get("/admin/plugins").status_code == 302  # anonymous: to the login page
    for who in (users.member, users.org_admin, users.root_admin, users.auditor, users.secretary):
        login_as(client, who)
        assert client.get("/admin/plugins").status_code == 403, who.name
        assert client.get("/admin/system").status_code == 403, who.name
    login_as(client, users.sysadmin)
    assert client.get("/admin/plugins").status_code == 200


def test_admin_menu_offers_plugins_and_system_to_sysadmin_only(client, users, login_as):
    login_as(client, users.sysadmin)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/admin/plugins"' in home and 'href="/admin/system"' in home
    login_as(client, users.root_admin)
    home = client.get("/").get_data(as_text=True)
    assert "/admin/plugins" not in home and "/admin/system" not in home


def test_system_page_shows_facts_but_no_secrets(app_factory, make_user, login_as):
    app = app_factory(SECRET_KEY="sk-9f8e7d6c5b4a39281706", XAPI_FORWARD_SECRET="fwd-s3cr3t-0042")
    with app.app_context():
        admin = make_user("系统管理员", roles=["sysadmin"])
        resp = login_as(app.test_client(), admin).get("/admin/system")
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert "SQLite" in text or "PostgreSQL" in text
    assert app.config["MEDIA_ROOT"] in text
    assert "0.1.0" in text and "已是最新" in text
    assert "sk-9f8e7d6c5b4a39281706" not in text
    assert "fwd-s3cr3t-0042" not in text


def test_system_page_names_the_redis_queue_without_its_password():
    from huey import RedisHuey

    from lms.admin.services import queue_info

    info = queue_info(RedisHuey("lms-test", url="redis://:r3dis-pw@cache.example:6380/3"))
    assert info["kind"] == "Redis"
    assert info["location"] == "cache.example:6380/3"
    assert "r3dis-pw" not in repr(info)


def test_system_page_hides_database_password():
    from sqlalchemy import create_engine

    from lms.admin.services import database_info

    eng = create_engine("postgresql+psycopg://lms:s3cr3t-pw@db.example:5432/lms", connect_args={"connect_timeout": 2})
    info = database_info(eng)  # the server is unreachable: the page still shows kind and place
    assert info["kind"] == "PostgreSQL"
    assert info["location"] == "db.example:5432/lms"
    assert "s3cr3t-pw" not in repr(info)
    eng.dispose()
