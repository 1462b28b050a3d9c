"""The learning-event path (lms.events.record → a tincan statement stored in the caller's transaction)
and the calls of the hooks this plugin publishes."""
from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC

from flask import current_app
from tincan import (
    Activity,
    ActivityDefinition,
    Agent,
    AgentAccount,
    Context,
    LanguageMap,
    Result,
    Statement,
    Verb,
)

from lms.events import VERBS, LearningEvent, actor_for
from lms.plugins import hook

log = logging.getLogger(__name__)

VERB_DISPLAY = {
    "registered": "注册", "launched": "启动", "initialized": "开始", "experienced": "学习",
    "attempted": "尝试", "answered": "作答", "completed": "完成", "passed": "通过", "failed": "未通过",
    "commented": "评论", "attended": "参加", "terminated": "结束", "voided": "作废", "played": "播放",
    "paused": "暂停", "seeked": "跳转", "read": "阅读", "replied": "回复",
}


def site_authority() -> dict:
    """The authority of statements the product records itself."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return {"objectType": "Agent", "name": current_app.config.get("SITE_NAME", "LMS"),
            "account": {"homePage": base, "name": "lms"}}


def statement_for(event: LearningEvent) -> dict:
    """Build the xAPI statement of a learning event with tincan's classes (actor: an account, no personal data)."""
    acc = actor_for(event.user)["account"]
    verb_key = next((k for k, iri in VERBS.items() if iri == event.verb_iri), None)
    verb = Verb(id=event.verb_iri)
    if verb_key and verb_key in VERB_DISPLAY:
        verb.display = LanguageMap({"zh-CN": VERB_DISPLAY[verb_key], "en-US": verb_key})
    definition = None
    if event.object_type or event.object_name:
        definition = ActivityDefinition()
        if event.object_type:
            definition.type = event.object_type
        if event.object_name:
            definition.name = LanguageMap(event.object_name)
    activity = Activity(id=event.object_id)
    if definition is not None:
        activity.definition = definition
    ts = event.timestamp if event.timestamp.tzinfo else event.timestamp.replace(tzinfo=UTC)
    st = Statement(
        id=uuid.UUID(event.statement_id),  # an object: tincan's string check knows UUID versions 1–5 only
        actor=Agent(account=AgentAccount(home_page=acc["homePage"], name=acc["name"])),
        verb=verb,
        object=activity,
        timestamp=ts,
    )
    if event.result:
        st.result = Result(event.result)
    context = dict(event.context or {})
    if event.extensions:
        context["extensions"] = {**context.get("extensions", {}), **event.extensions}
    if event.registration:
        context["registration"] = event.registration
    if context:
        st.context = Context(context)
    data = json.loads(st.to_json())
    data.pop("version", None)  # the store sets it
    if event.object_definition:
        # tincan's ActivityDefinition drops interaction keys it does not model; merge the plain JSON.
        data["object"]["definition"] = {**data["object"].get("definition", {}), **event.object_definition}
    return data


def record_event(event: LearningEvent) -> None:
    from plugins.xapi.services import save_statements

    save_statements([statement_for(event)], authority=site_authority())


def call_stored(statements: list[dict], person_ids: list[int | None]) -> None:
    caller = hook().lms_event_statement_stored
    if caller.get_hookimpls():
        caller(statements=statements, person_ids=person_ids)


def call_voided(statement_ids: list[str]) -> None:
    caller = hook().lms_event_statement_voided
    if caller.get_hookimpls():
        caller(statement_ids=statement_ids)
