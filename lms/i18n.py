"""Locale selection: Chinese first, English when the person picked it."""
from __future__ import annotations

from flask import Flask, current_app, has_request_context, request


def select_locale() -> str:
    if not has_request_context():  # CLI commands and worker tasks: the site's default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = request.cookies.get("lang")
    langs = current_app.config["LANGUAGES"]
    if chosen in langs:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask, babel) -> None:
    from pathlib import Path

    translations = Path(__file__).parent / "translations"
    dirs = [str(translations)]
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(dirs)
    babel.init_app(app, locale_selector=select_locale)
    # Flask-Babel caches the chosen locale on `g`, which lives as long as the app context. When one app
    # context serves several requests (the test fixtures hold one open), a cookie set by a later request
    # would be ignored, so each request chooses its locale afresh.
    app.before_request(_choose_locale_per_request)


def _choose_locale_per_request() -> None:
    from flask_babel import refresh

    refresh()
