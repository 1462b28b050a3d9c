"""Plugin discovery, ordering and hook calling (pluggy + the `lms.plugins` entry-point group)."""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import pluggy
from flask import Flask, abort, current_app, send_from_directory

from lms import hookspecs

log = logging.getLogger(__name__)

hookimpl = pluggy.HookimplMarker("lms")
ENTRY_POINT_GROUP = "lms.plugins"


class PluginError(RuntimeError):
    """Start-up cannot go on: the message names the plugins involved."""


class Plugin:
    """Base class of a feature plugin. Subclasses set the class attributes and implement hooks.

    One name per plugin: the entry-point name is the blueprint name, the template folder
    (`templates/<name>/`), the static URL (`/static/plugins/<name>/`), the config prefix
    (`<NAME>_`) and the table prefix (`<name>_`).
    """

    name: str = ""
    title: str = ""
    version: str = "0.1.0"
    description: str = ""
    requires: tuple[str, ...] = ()  # hard dependencies: start-up fails without them
    uses: tuple[str, ...] = ()  # soft dependencies: features light up when present
    default_config: dict = {}

    def __init__(self, name: str | None = None):
        if name:
            self.name = name
        self.app: Flask | None = None

    @property
    def root(self) -> Path:
        return Path(importlib.import_module(type(self).__module__).__file__).parent

    @property
    def migrations_dir(self) -> Path:
        return self.root / "migrations"

    def init_app(self, app: Flask) -> None:
        """Called once after the plugin is registered; set up extensions, services, etc."""

    def __repr__(self) -> str:
        return f"<Plugin {self.name} {self.version}>"


@dataclass
class PluginRegistry:
    """What `create_app` knows about plugins; kept in `app.extensions['lms_plugins']`."""

    pm: pluggy.PluginManager
    installed: dict[str, type[Plugin]] = field(default_factory=dict)
    enabled: dict[str, Plugin] = field(default_factory=dict)  # in dependency order

    def is_enabled(self, name: str) -> bool:
        return name in self.enabled


def discover() -> dict[str, type[Plugin]]:
    """Every plugin installed on this machine, by entry-point name."""
    found: dict[str, type[Plugin]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must say which one it is
            raise PluginError(f"插件 {ep.name} 无法加载 / plugin {ep.name!r} failed to import: {exc}") from exc
        found[ep.name] = cls
    return found


def _order(wanted: list[str], installed: dict[str, type[Plugin]]) -> list[str]:
    """Sort `wanted` so that every plugin comes after the plugins it requires or uses."""
    for name in wanted:
        if name not in installed:
            raise PluginError(
                f"配置中启用的插件 {name} 未安装 / plugin {name!r} is enabled in LMS_PLUGINS but not installed"
            )
    for name in wanted:
        for req in installed[name].requires:
            if req not in installed:
                raise PluginError(
                    f"插件 {name} 依赖的插件 {req} 未安装 / plugin {name!r} requires plugin {req!r}, "
                    "which is not installed"
                )
            if req not in wanted:
                raise PluginError(
                    f"插件 {name} 依赖的插件 {req} 未启用 / plugin {name!r} requires plugin {req!r}, "
                    "which is disabled in LMS_PLUGINS"
                )
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise PluginError(f"插件依赖存在循环 / plugin dependency cycle through {name!r}")
        visiting.add(name)
        deps = list(installed[name].requires) + [u for u in installed[name].uses if u in wanted]
        for dep in deps:
            visit(dep)
        visiting.discard(name)
        ordered.append(name)

    for name in sorted(wanted):
        visit(name)
    return ordered


def init_plugins(app: Flask, core_modules: list) -> PluginRegistry:
    """Create the plugin manager for this app, register core modules and enabled plugins."""
    pm = pluggy.PluginManager("lms")
    pm.add_hookspecs(hookspecs)
    for module in core_modules:
        pm.register(module, name=f"core.{module.__name__}")

    installed = app.config.get("LMS_INSTALLED_PLUGINS") or discover()
    wanted = app.config.get("PLUGINS")
    if wanted is None:
        wanted = sorted(installed)
    registry = PluginRegistry(pm=pm, installed=dict(installed))
    for name in _order(list(wanted), installed):
        plugin = installed[name](name)
        for key, value in plugin.default_config.items():
            app.config.setdefault(key, value)
        plugin.app = app
        pm.register(plugin, name=name)
        registry.enabled[name] = plugin
    pm.check_pending()
    app.extensions["lms_plugins"] = registry

    for plugin in registry.enabled.values():
        plugin.init_app(app)
    for result in pm.hook.lms_load_blueprints(app=app):
        for bp in _as_list(result):
            app.register_blueprint(bp)
    for result in pm.hook.lms_load_cli_commands():
        for cmd in _as_list(result):
            app.cli.add_command(cmd)
    app.add_url_rule("/static/plugins/<plugin>/<path:filename>", "plugin_static", _plugin_static)
    log.info("plugins enabled: %s", ", ".join(registry.enabled) or "(none)")
    return registry


def _plugin_static(plugin: str, filename: str):
    registry: PluginRegistry = current_app.extensions["lms_plugins"]
    p = registry.enabled.get(plugin)
    if p is None:
        abort(404)
    return send_from_directory(p.root / "static", filename, max_age=3600)


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def registry() -> PluginRegistry:
    return current_app.extensions["lms_plugins"]


def hook():
    """The hook caller of the current app: `hook().lms_gather_nav_items(user=u)`."""
    return current_app.extensions["lms_plugins"].pm.hook


def gather(hook_name: str, **kwargs) -> list:
    """Call a gathering hook and flatten the lists the implementations return."""
    results = getattr(hook(), hook_name)(**kwargs)
    out: list = []
    for r in results:
        out.extend(_as_list(r))
    return out


def plugin_enabled(name: str) -> bool:
    return name in current_app.extensions["lms_plugins"].enabled
