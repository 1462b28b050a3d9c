"""Grading of each question type: keys, partial credit, full-width input, bad responses."""
from __future__ import annotations

import pytest

from plugins.quiz.grading import TYPES, normalize_text


def grade(q, response, full=None):
    t = TYPES[q.type]
    return t.grade(q, t.clean_response(q, response), full if full is not None else q.score)


def test_single_choice_right_and_wrong(add_q):
    q = add_q("单选题", "一大召开于？", ["1919年", "1921年"], "B", score=2)
    assert grade(q, 1).points == 2 and grade(q, 1).correct
    assert grade(q, 0).points == 0 and not grade(q, 0).correct
    assert grade(q, None).points == 0


def test_multiple_choice_all_or_nothing(add_q):
    q = add_q("多选题", "四个意识？", ["政治", "大局", "核心", "金钱"], "ABC", score=3)
    assert grade(q, [0, 1, 2]).points == 3
    assert grade(q, [2, 0, 1]).correct  # order does not matter
    assert grade(q, [0, 1]).points == 0
    assert grade(q, [0, 1, 2, 3]).points == 0


def test_multiple_choice_partial_credit_for_missing_but_none_for_wrong(add_q):
    q = add_q("多选题", "四个意识？", ["政治", "大局", "核心", "金钱"], "ABC", score=3, partial="是")
    assert grade(q, [0, 1]).points == 2  # two of three right options, no wrong one
    assert grade(q, [0]).points == 1
    assert not grade(q, [0, 1]).correct
    assert grade(q, [0, 3]).points == 0  # a wrong option loses everything
    assert grade(q, []).points == 0
    assert grade(q, [0, 1, 2]).points == 3 and grade(q, [0, 1, 2]).correct


def test_true_false(add_q):
    q = add_q("判断题", "预备期为一年。", [], "对")
    assert grade(q, "true").correct and grade(q, True).points == 1
    assert not grade(q, "false").correct
    q2 = add_q("判断题", "预备期为两年。", [], "×")
    assert grade(q2, False).correct


def test_fill_in_accepts_any_listed_answer_and_full_width_input(add_q):
    q = add_q("填空题", "党的最高理想是实现____。", [], "共产主义|Communism", score=2)
    assert grade(q, ["共产主义"]).points == 2
    assert grade(q, ["communism"]).correct  # case-insensitive
    assert grade(q, ["ＣＯＭＭＵＮＩＳＭ"]).correct  # full-width Latin letters (NFKC)
    assert grade(q, ["  共产主义　"]).correct  # ideographic space trimmed
    assert not grade(q, ["社会主义"]).correct


def test_fill_in_strict_matching_when_asked(add_q):
    q = add_q("填空题", "英文缩写____。", [], "CPC", loose="否")
    assert grade(q, ["CPC"]).correct
    assert not grade(q, ["cpc"]).correct
    assert not grade(q, ["ＣＰＣ"]).correct


def test_fill_in_several_blanks_partial_points(add_q):
    q = add_q("填空题", "党的十八大召开于____年，十九大召开于____年。", [], "2012|二〇一二；２０１７|2017", score=4)
    assert q.answer == [["2012", "二〇一二"], ["２０１７", "2017"]]
    assert grade(q, ["２０１２", "2017"]).points == 4  # full-width digits match
    g = grade(q, ["2012", "2018"])
    assert g.points == 2 and not g.correct
    assert grade(q, []).points == 0


def test_short_answer_waits_for_a_teacher_unless_blank(add_q):
    q = add_q("简答题", "简述三会一课。", [], "参考")
    g = grade(q, "支部党员大会……")
    assert g.needs_grading and g.points is None
    assert grade(q, "   ").points == 0 and not grade(q, "").needs_grading


@pytest.mark.parametrize("qtype,bad", [("单选题", 7), ("单选题", "x"), ("多选题", [0, 9]), ("判断题", "maybe"),
                                       ("填空题", [1, 2]), ("简答题", {"a": 1})])
def test_malformed_responses_are_rejected(add_q, qtype, bad):
    q = add_q(qtype, "题", ["甲", "乙"] if "选" in qtype else [], {"单选题": "A", "多选题": "AB", "判断题": "对",
                                                                  "填空题": "甲", "简答题": ""}[qtype])
    with pytest.raises((ValueError, TypeError)):
        TYPES[q.type].clean_response(q, bad)


def test_normalize_text_nfkc_and_case():
    assert normalize_text("ＡＢＣ１２３", True) == "abc123"
    assert normalize_text("ＡＢＣ", False) == "ＡＢＣ"


def test_interaction_definitions_follow_cmi_interaction(add_q):
    single = add_q("单选题", "题", ["甲", "乙", "丙"], "B")
    multi = add_q("多选题", "题", ["甲", "乙", "丙"], "AC")
    tf = add_q("判断题", "题", [], "错")
    fill = add_q("填空题", "题", [], "甲|乙")
    short = add_q("简答题", "题", [], "")
    d = TYPES["single"].interaction_definition(single)
    assert d["interactionType"] == "choice" and d["correctResponsesPattern"] == ["B"]
    assert [c["id"] for c in d["choices"]] == ["A", "B", "C"]
    assert TYPES["multiple"].interaction_definition(multi)["correctResponsesPattern"] == ["A[,]C"]
    assert TYPES["truefalse"].interaction_definition(tf) == {"interactionType": "true-false",
                                                             "correctResponsesPattern": ["false"]}
    assert TYPES["fill"].interaction_definition(fill)["correctResponsesPattern"] == ["甲", "乙"]
    assert TYPES["short"].interaction_definition(short) == {"interactionType": "long-fill-in"}
