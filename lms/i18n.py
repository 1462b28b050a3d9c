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
