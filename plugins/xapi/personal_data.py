"""The xAPI plugin's answer to the data-subject hooks (PI-06).

Statements name a person only by their account id (homePage = the site, name = the user id), never by
name, login id or e-mail. At erasure they are kept as de-identified records (xAPI statements are immutable;
the id no longer leads to anyone once the user row is anonymised); the per-person projections
(`xapi_progress`) and the person's state/profile documents are deleted.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

from lms.accounts.dsar import Section, clear_reference, delete_rows, model_rows
from plugins.xapi.models import XapiClient, XapiDocument, XapiProgress, XapiStatement


def _agent_key(user) -> str:
    return f"account:{current_app.config['BASE_URL'].rstrip('/')}|{user.id}"


def gather(user) -> list[Section]:
    uid = user.id
    return [
        Section("xapi_statement", _l("学习记录（xAPI 语句）"),
                model_rows(XapiStatement, XapiStatement.person_id == uid,
                           only=("statement_id", "verb_id", "object_key", "timestamp", "stored", "voided", "data")),
                ("verb_id", "object_key", "timestamp")),
        Section("xapi_progress", _l("学习活动进度"), model_rows(XapiProgress, XapiProgress.person_id == uid),
                ("activity_name", "progress", "completion", "last_seen")),
        Section("xapi_document", _l("学习活动保存的状态"),
                model_rows(XapiDocument, XapiDocument.agent_key == _agent_key(user)),
                ("kind", "activity_id", "updated")),
        Section("xapi_client", _l("您创建的学习记录接口凭据"),
                model_rows(XapiClient, XapiClient.created_by_id == uid, only=("id", "name", "created_at")),
                ("name", "created_at")),
    ]


def erase(user, erasure) -> None:
    delete_rows(erasure, XapiProgress, XapiProgress.person_id == user.id)
    delete_rows(erasure, XapiDocument, XapiDocument.agent_key == _agent_key(user))
    clear_reference(erasure, XapiClient.created_by_id)
