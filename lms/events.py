"""The one small API every plugin calls to record a learning event.

`record(event)` runs the `lms_event_learning` hook inside the caller's database transaction: the xAPI
plugin turns the event into a statement and stores it in the same transaction as the domain change,
so there is never a completion without its record or a record without its completion.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app

from lms.ids import uuid7
from lms.timeutil import utcnow

ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = {
    "registered": ADL + "registered",
    "launched": ADL + "launched",
    "initialized": ADL + "initialized",
    "experienced": ADL + "experienced",
    "attempted": ADL + "attempted",
    "answered": ADL + "answered",
    "completed": ADL + "completed",
    "passed": ADL + "passed",
    "failed": ADL + "failed",
    "commented": ADL + "commented",
    "attended": ADL + "attended",
    "terminated": ADL + "terminated",
    "voided": ADL + "voided",
    "played": "https://w3id.org/xapi/video/verbs/played",
    "paused": "https://w3id.org/xapi/video/verbs/paused",
    "seeked": "https://w3id.org/xapi/video/verbs/seeked",
    "read": "http://activitystrea.ms/schema/1.0/read",
    "replied": "http://id.tincanapi.com/verb/replied",
}


def activity_iri(kind: str, ident: Any) -> str:
    """A stable activity IRI under the site's base URL, e.g. …/xapi/activities/lesson/12."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return f"{base}/xapi/activities/{kind}/{ident}"


def actor_for(user) -> dict:
    """The xAPI agent of a person: an account on this site, never a name or e-mail (PIPL)."""
    return {
        "objectType": "Agent",
        "account": {"homePage": current_app.config["BASE_URL"].rstrip("/"), "name": str(user.id)},
    }


@dataclass
class LearningEvent:
    user: Any  # lms.accounts.models.User
    verb: str  # a key of VERBS or a full IRI
    object_id: str  # activity IRI (see activity_iri)
    object_type: str | None = None  # activity type IRI
    object_name: dict[str, str] | None = None  # language map
    result: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: datetime = field(default_factory=utcnow)
    statement_id: str = field(default_factory=uuid7)
    course_id: int | None = None
    lesson_id: int | None = None
    # optional: context extensions (IRI → value) and the registration (attempt) UUID of the statement
    extensions: dict[str, Any] | None = None
    registration: str | None = None
    # optional: more of the activity definition (e.g. a cmi.interaction with its correctResponsesPattern)
    object_definition: dict[str, Any] | None = None

    @property
    def verb_iri(self) -> str:
        return VERBS.get(self.verb, self.verb)


def record(event: LearningEvent) -> None:
    """Hand a learning event to every plugin listening (inside the current transaction; no commit)."""
    from lms.plugins import hook

    hook().lms_event_learning(event=event)
