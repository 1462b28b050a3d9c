"""One bad example per validation rule: 400 with a message that names the field and the rule; nothing stored."""
from __future__ import annotations

import pytest

from plugins.xapi.tests.conftest import stmt

ACT = {"id": "http://example.org/a"}


def with_object(**kw):
    return stmt(object={**ACT, **kw})


def with_definition(**kw):
    return stmt(object={**ACT, "definition": kw})


BAD = [
    ("unknown top-level property", stmt(colour="red"), "colour"),
    ("id not a UUID", stmt(id="12345"), "id"),
    ("missing actor", {k: val for k, val in stmt().items() if k != "actor"}, "actor"),
    ("missing verb", {k: val for k, val in stmt().items() if k != "verb"}, "verb"),
    ("missing object", {k: val for k, val in stmt().items() if k != "object"}, "object"),
    ("agent with two IFIs", stmt(actor={"mbox": "mailto:a@b.org", "openid": "http://a.org/x"}), "actor"),
    ("agent without IFI", stmt(actor={"name": "无标识"}), "actor"),
    ("mbox without mailto", stmt(actor={"mbox": "a@b.org"}), "actor.mbox"),
    ("mbox_sha1sum not hex", stmt(actor={"mbox_sha1sum": "xyz"}), "actor.mbox_sha1sum"),
    ("openid not an IRI", stmt(actor={"openid": "not a uri"}), "actor.openid"),
    ("account without homePage", stmt(actor={"account": {"name": "1"}}), "actor.account.homePage"),
    ("account without name", stmt(actor={"account": {"homePage": "http://a.org"}}), "actor.account.name"),
    ("account with extra key", stmt(actor={"account": {"homePage": "http://a.org", "name": "1", "x": 1}}),
     "actor.account.x"),
    ("agent name not a string", stmt(actor={"mbox": "mailto:a@b.org", "name": 5}), "actor.name"),
    ("wrong agent objectType", stmt(actor={"objectType": "Person", "mbox": "mailto:a@b.org"}), "actor.objectType"),
    ("anonymous group without members", stmt(actor={"objectType": "Group", "name": "空组"}), "actor.member"),
    ("group member is a group", stmt(actor={"objectType": "Group", "member": [
        {"objectType": "Group", "mbox": "mailto:g@b.org"}]}), "actor.member[0].objectType"),
    ("group with two IFIs", stmt(actor={"objectType": "Group", "mbox": "mailto:g@b.org",
                                        "openid": "http://g.org"}), "actor"),
    ("verb id not an IRI", stmt(verb={"id": "completed"}), "verb.id"),
    ("verb without id", stmt(verb={"display": {"en-US": "x"}}), "verb.id"),
    ("verb display bad language tag", stmt(verb={"id": "http://a.org/v", "display": {"not a tag": "x"}}),
     "verb.display"),
    ("verb display value not a string", stmt(verb={"id": "http://a.org/v", "display": {"en": 1}}), "verb.display.en"),
    ("activity without id", stmt(object={"objectType": "Activity"}), "object.id"),
    ("activity id not an IRI", stmt(object={"id": "lesson 1"}), "object.id"),
    ("unknown object type", stmt(object={"objectType": "Thing", "id": "http://a.org"}), "object.objectType"),
    ("definition type not an IRI", with_definition(type="lesson"), "object.definition.type"),
    ("definition moreInfo not an IRL", with_definition(moreInfo="here"), "object.definition.moreInfo"),
    ("unknown interactionType", with_definition(interactionType="essay"), "object.definition.interactionType"),
    ("interactionType not a string", with_definition(interactionType={"a": 1}), "object.definition.interactionType"),
    ("choices without interactionType", with_definition(choices=[{"id": "a"}]), "object.definition.choices"),
    ("choices on a likert", with_definition(interactionType="likert", choices=[{"id": "a"}]),
     "object.definition.choices"),
    ("duplicate component ids", with_definition(interactionType="choice", choices=[{"id": "a"}, {"id": "a"}]),
     "object.definition.choices[1].id"),
    ("correctResponsesPattern not strings", with_definition(interactionType="choice",
                                                            correctResponsesPattern=[1]),
     "object.definition.correctResponsesPattern"),
    ("extension key not an IRI", with_definition(extensions={"colour": 1}), "object.definition.extensions.colour"),
    ("statement ref id not a UUID", stmt(object={"objectType": "StatementRef", "id": "abc"}), "object.id"),
    ("nested substatement", stmt(object={"objectType": "SubStatement", "actor": {"mbox": "mailto:a@b.org"},
                                         "verb": {"id": "http://a.org/v"},
                                         "object": {"objectType": "SubStatement"}}), "object.object.objectType"),
    ("substatement with id", stmt(object={"objectType": "SubStatement", "id": "6f9619ff-8b86-4011-b42d-00c04fc964ff",
                                          "actor": {"mbox": "mailto:a@b.org"}, "verb": {"id": "http://a.org/v"},
                                          "object": ACT}), "object.id"),
    ("voiding a non-StatementRef", stmt(verb={"id": "http://adlnet.gov/expapi/verbs/voided"}), "object"),
    ("scaled score above 1", stmt(result={"score": {"scaled": 1.5}}), "result.score.scaled"),
    ("raw below min", stmt(result={"score": {"raw": 1, "min": 2, "max": 5}}), "result.score.raw"),
    ("raw above max", stmt(result={"score": {"raw": 9, "min": 2, "max": 5}}), "result.score.raw"),
    ("max not above min", stmt(result={"score": {"min": 5, "max": 5}}), "result.score.max"),
    ("score not a number", stmt(result={"score": {"raw": "10"}}), "result.score.raw"),
    ("success not a boolean", stmt(result={"success": "yes"}), "result.success"),
    ("completion not a boolean", stmt(result={"completion": 1}), "result.completion"),
    ("response not a string", stmt(result={"response": 3}), "result.response"),
    ("duration not ISO 8601", stmt(result={"duration": "90 seconds"}), "result.duration"),
    ("weeks mixed with days", stmt(result={"duration": "P4W1D"}), "result.duration"),
    ("registration not a UUID", stmt(context={"registration": "abc"}), "context.registration"),
    ("team not a group", stmt(context={"team": {"mbox": "mailto:a@b.org"}}), "context.team.objectType"),
    ("bad context activity key", stmt(context={"contextActivities": {"sibling": [ACT]}}),
     "context.contextActivities.sibling"),
    ("revision with an agent object", stmt(object={"objectType": "Agent", "mbox": "mailto:a@b.org"},
                                           context={"revision": "1"}), "context.revision"),
    ("platform not a string", stmt(context={"platform": 1}), "context.platform"),
    ("context language not a tag", stmt(context={"language": "english!"}), "context.language"),
    ("context statement not a StatementRef", stmt(context={"statement": {"id": "x"}}), "context.statement.objectType"),
    ("timestamp not ISO 8601", stmt(timestamp="2026/01/01 10:00"), "timestamp"),
    ("timestamp with -00:00", stmt(timestamp="2026-01-01T10:00:00-00:00"), "timestamp"),
    ("impossible date", stmt(timestamp="2026-02-30T10:00:00Z"), "timestamp"),
    ("version 2", stmt(version="2.0.0"), "version"),
    ("authority identified group", stmt(authority={"objectType": "Group", "mbox": "mailto:g@b.org"}), "authority"),
    ("attachment without sha2", stmt(attachments=[{"usageType": "http://a.org/u", "display": {"en": "x"},
                                                   "contentType": "text/plain", "length": 1,
                                                   "fileUrl": "http://a.org/f"}]), "attachments[0].sha2"),
    ("attachment length negative", stmt(attachments=[{"usageType": "http://a.org/u", "display": {"en": "x"},
                                                      "contentType": "text/plain", "length": -1, "sha2": "a" * 64,
                                                      "fileUrl": "http://a.org/f"}]), "attachments[0].length"),
    ("attachment content type", stmt(attachments=[{"usageType": "http://a.org/u", "display": {"en": "x"},
                                                   "contentType": "plain", "length": 1, "sha2": "a" * 64,
                                                   "fileUrl": "http://a.org/f"}]), "attachments[0].contentType"),
    ("statement not an object", ["not", "a", "statement"], "statement"),
]


@pytest.mark.parametrize("label,statement,field", BAD, ids=[b[0] for b in BAD])
def test_invalid_statement_is_rejected_naming_the_field(lrs, label, statement, field):
    r = lrs.post("statements", statement)
    assert r.status_code == 400, label
    message = r.get_json()["error"]
    assert field in message, (label, message)
    assert lrs.get("statements").get_json()["statements"] == []


GOOD = [
    stmt(actor={"objectType": "Group", "member": [{"mbox": "mailto:a@b.org"}]}),
    stmt(result={"duration": "P1DT2H3M4.5S", "score": {"scaled": -0.5, "raw": 0, "min": -1, "max": 1}}),
    stmt(result={"duration": "P3W"}),
    stmt(timestamp="2026-01-01T10:00:00+08:00"),
    stmt(verb={"id": "http://a.org/v", "display": {"zh-Hans-CN": "学", "x-private": "p", "en-GB-oed": "l"}}),
    with_definition(interactionType="matching", source=[{"id": "a"}], target=[{"id": "b"}],
                    correctResponsesPattern=["a[.]b"]),
    stmt(object={"objectType": "SubStatement", "actor": {"mbox": "mailto:a@b.org"}, "verb": {"id": "http://a.org/v"},
                 "object": ACT, "context": {"contextActivities": {"parent": ACT}}}),
]


@pytest.mark.parametrize("statement", GOOD)
def test_valid_edge_cases_are_accepted(lrs, statement):
    assert lrs.post("statements", statement).status_code == 200
