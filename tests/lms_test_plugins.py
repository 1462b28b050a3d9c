"""Plugins that exist only for the plugin-system tests (handed to the app through LMS_INSTALLED_PLUGINS)."""
from __future__ import annotations

from flask import Blueprint
from flask_login import current_user, login_required
from markupsafe import Markup

from lms.plugins import Plugin, hookimpl
from lms.ui import NavItem, Widget

# Plugins append their names here from init_app, so a test can see the order they were set up in.
INIT_ORDER: list[str] = []

notes_bp = Blueprint("notes", __name__)


@notes_bp.route("/notes/")
@login_required
def index():
    return f"学习笔记：{current_user.name}"


class NotesPlugin(Plugin):
    """A plugin with a page, a navigation item and a dashboard widget."""

    name = "notes"
    title = "学习笔记"
    version = "1.2.0"
    description = "学员在学习时记录的笔记。"
    default_config = {"NOTES_MAX_LENGTH": 2000}

    def init_app(self, app):
        INIT_ORDER.append(self.name)

    @hookimpl
    def lms_load_blueprints(self, app):
        return notes_bp

    @hookimpl
    def lms_gather_nav_items(self, user):
        if not user.is_authenticated:
            return []
        return [NavItem(label="我的笔记", endpoint="notes.index", order=50)]

    @hookimpl
    def lms_gather_dashboard_widgets(self, user):
        return [Widget(title="最近的笔记", html=Markup("<p>笔记挂件内容</p>"))]


class BaseLibPlugin(Plugin):
    name = "baselib"
    title = "基础库"
    description = "其他测试插件依赖的基础功能。"

    def init_app(self, app):
        INIT_ORDER.append(self.name)


class NeedsBasePlugin(Plugin):
    name = "needsbase"
    title = "依赖基础库的插件"
    requires = ("baselib",)

    def init_app(self, app):
        INIT_ORDER.append(self.name)


class UsesNotesPlugin(Plugin):
    """Soft dependency: works without `notes`, but loads after it when both are on."""

    name = "usesnotes"
    title = "笔记统计"
    uses = ("notes",)

    def init_app(self, app):
        INIT_ORDER.append(self.name)


class MisspeltHookPlugin(Plugin):
    """Implements `lms_gather_nav_item` (no such hook): check_pending must refuse it."""

    name = "misspelt"
    title = "拼错钩子名的插件"

    @hookimpl
    def lms_gather_nav_item(self, user):
        return []


class DemoLessonsPlugin(Plugin):
    """Adds one lesson to the demo's theory course, the way a content plugin does."""

    name = "demolessons"
    title = "演示课时"
    calls: list[int] = []

    @hookimpl
    def lms_load_demo_data(self, demo):
        lesson, created = demo.lesson("theory", 1, "学习笔记示范课", "article", duration_seconds=300)
        DemoLessonsPlugin.calls.append(int(created))


class FailingDemoPlugin(Plugin):
    """Fails while seeding: nothing of the demo may be left behind."""

    name = "faildemo"
    title = "出错的演示数据"

    @hookimpl
    def lms_load_demo_data(self, demo):
        raise RuntimeError("demo content could not be built")
