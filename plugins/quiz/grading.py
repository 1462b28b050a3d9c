"""Question types (a registry of typed handlers): validation, grading, the public view and xAPI interactions.

Responses always use the original option indexes, whatever order a person saw the options in.
"""
from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

LETTERS = "ABCDEFGH"
MAX_OPTIONS = len(LETTERS)


class Problem(str):
    """A problem with a question's data: the sentence for the user, and the field it is about (the editor
    shows it beside that field; the importer tells answer problems apart). Fields: type, stem, options,
    answer, score, difficulty."""

    field: str

    def __new__(cls, message, field: str = "type"):
        obj = super().__new__(cls, str(message))
        obj.field = field
        return obj


@dataclass
class Grade:
    points: float | None  # None: a teacher has to grade it
    correct: bool | None
    needs_grading: bool = False


def normalize_text(value: str, loose: bool) -> str:
    """Strict: trimmed. Loose: NFKC (full-width → half-width), case-folded, inner blanks collapsed."""
    value = (value or "").strip()
    if loose:
        value = unicodedata.normalize("NFKC", value).casefold()
        value = re.sub(r"\s+", " ", value).strip()
    return value


class QuestionType:
    key = ""
    label = ""
    interaction = ""  # cmi.interaction type
    objective = True  # graded by the machine
    uses_options = False

    # --- data -----------------------------------------------------------------------------------
    def validate(self, data: dict) -> list[str]:
        """Problems with a question's data (Chinese sentences); empty when it is fine."""
        return []

    # --- responses ------------------------------------------------------------------------------
    def clean_response(self, question, raw):
        """The response in canonical form, or raise ValueError when it has the wrong shape."""
        raise ValueError

    def is_blank(self, response) -> bool:
        return response in (None, "", [], {})

    def grade(self, question, response, full: float) -> Grade:
        raise ValueError

    # --- xAPI -----------------------------------------------------------------------------------
    def interaction_definition(self, question) -> dict:
        return {"interactionType": self.interaction}

    def xapi_response(self, question, response) -> str:
        return ""

    # --- display --------------------------------------------------------------------------------
    def answer_text(self, question) -> str:
        """The key as a teacher/after-reveal reader sees it."""
        return ""

    def response_text(self, question, response) -> str:
        return "" if response is None else str(response)


class SingleChoice(QuestionType):
    key = "single"
    label = _l("单选题")
    interaction = "choice"
    uses_options = True

    def validate(self, data):
        errs = _validate_options(data)
        ans = data.get("answer")
        if not isinstance(ans, list) or len(ans) != 1:
            errs.append(Problem(_l("单选题必须有且只有一个正确答案"), "answer"))
        elif not _indexes_ok(ans, data):
            errs.append(Problem(_l("答案不在已填写的选项中"), "answer"))
        return errs

    def clean_response(self, question, raw):
        if raw is None or raw == "":
            return None
        if isinstance(raw, list):
            if len(raw) != 1:
                raise ValueError
            raw = raw[0]
        idx = int(raw)
        if not 0 <= idx < len(question.options):
            raise ValueError
        return idx

    def grade(self, question, response, full):
        ok = response is not None and [response] == list(question.answer)
        return Grade(points=full if ok else 0.0, correct=ok)

    def interaction_definition(self, question):
        return {
            "interactionType": "choice",
            "choices": [{"id": LETTERS[i], "description": {"zh-CN": t}} for i, t in enumerate(question.options)],
            "correctResponsesPattern": ["[,]".join(LETTERS[i] for i in sorted(question.answer))],
        }

    def xapi_response(self, question, response):
        return "" if response is None else LETTERS[response]

    def answer_text(self, question):
        return "".join(LETTERS[i] for i in sorted(question.answer))

    def response_text(self, question, response):
        return "" if response is None else LETTERS[response]


class MultipleChoice(SingleChoice):
    key = "multiple"
    label = _l("多选题")

    def validate(self, data):
        errs = _validate_options(data)
        ans = data.get("answer")
        if not isinstance(ans, list) or not ans:
            errs.append(Problem(_l("多选题至少要有一个正确答案"), "answer"))
        elif not _indexes_ok(ans, data):
            errs.append(Problem(_l("答案不在已填写的选项中"), "answer"))
        elif len(set(ans)) != len(ans):
            errs.append(Problem(_l("答案中有重复的选项"), "answer"))
        return errs

    def clean_response(self, question, raw):
        if raw is None or raw == "":
            return []
        if not isinstance(raw, list):
            raw = [raw]
        out = sorted({int(x) for x in raw})
        if any(not 0 <= i < len(question.options) for i in out):
            raise ValueError
        return out

    def grade(self, question, response, full):
        chosen = set(response or [])
        key = set(question.answer)
        if chosen == key:
            return Grade(points=full, correct=True)
        if question.partial_credit and chosen and chosen <= key:
            # 少选得部分分，错选不得分: the share of correct options chosen.
            return Grade(points=round(full * len(chosen) / len(key), 2), correct=False)
        return Grade(points=0.0, correct=False)

    def xapi_response(self, question, response):
        return "[,]".join(LETTERS[i] for i in (response or []))

    def response_text(self, question, response):
        return "".join(LETTERS[i] for i in (response or []))


class TrueFalse(QuestionType):
    key = "truefalse"
    label = _l("判断题")
    interaction = "true-false"

    def validate(self, data):
        if not isinstance(data.get("answer"), bool):
            return [Problem(_l("判断题答案应为“对”或“错”"), "answer")]
        return []

    def clean_response(self, question, raw):
        if raw is None or raw == "":
            return None
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "1", 1):
            return True
        if raw in ("false", "0", 0):
            return False
        raise ValueError

    def grade(self, question, response, full):
        ok = response is not None and response == question.answer
        return Grade(points=full if ok else 0.0, correct=ok)

    def interaction_definition(self, question):
        return {"interactionType": "true-false", "correctResponsesPattern": ["true" if question.answer else "false"]}

    def xapi_response(self, question, response):
        return "" if response is None else ("true" if response else "false")

    def answer_text(self, question):
        return str(_l("对")) if question.answer else str(_l("错"))

    def response_text(self, question, response):
        if response is None:
            return ""
        return str(_l("对")) if response else str(_l("错"))


class FillIn(QuestionType):
    key = "fill"
    label = _l("填空题")
    interaction = "fill-in"

    def validate(self, data):
        ans = data.get("answer")
        if not isinstance(ans, list) or not ans or any(
            not isinstance(b, list) or not [a for a in b if str(a).strip()] for b in ans
        ):
            return [Problem(_l("填空题每个空至少要有一个可接受的答案"), "answer")]
        if len(ans) > 20:
            return [Problem(_l("填空题最多 20 个空"), "answer")]
        return []

    def clean_response(self, question, raw):
        blanks = len(question.answer)
        if raw is None or raw == "":
            return [""] * blanks
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or len(raw) > blanks or any(not isinstance(x, str) for x in raw):
            raise ValueError
        out = [x[:500] for x in raw] + [""] * (blanks - len(raw))
        return out

    def is_blank(self, response):
        return not response or not any((x or "").strip() for x in response)

    def grade(self, question, response, full):
        response = response or []
        blanks = question.answer
        hits = 0
        for i, accepted in enumerate(blanks):
            given = normalize_text(response[i] if i < len(response) else "", question.loose_match)
            if given and any(given == normalize_text(str(a), question.loose_match) for a in accepted):
                hits += 1
        ok = hits == len(blanks)
        return Grade(points=full if ok else round(full * hits / len(blanks), 2), correct=ok)

    def interaction_definition(self, question):
        prefix = "" if question.loose_match else "{case_matters=true}"
        combos = itertools.islice(itertools.product(*[[str(a) for a in b] for b in question.answer]), 20)
        return {
            "interactionType": "fill-in",
            "correctResponsesPattern": [prefix + "[,]".join(c) for c in combos],
        }

    def xapi_response(self, question, response):
        return "[,]".join(response or [])

    def answer_text(self, question):
        return str(_l("；")).join(" | ".join(str(a) for a in b) for b in question.answer)

    def response_text(self, question, response):
        return str(_l("；")).join(response or [])


class ShortAnswer(QuestionType):
    key = "short"
    label = _l("简答题")
    interaction = "long-fill-in"
    objective = False

    def validate(self, data):
        if not isinstance(data.get("answer", ""), str):
            return [Problem(_l("简答题参考答案应为文字"), "answer")]
        return []

    def clean_response(self, question, raw):
        if raw is None:
            return ""
        if not isinstance(raw, str):
            raise ValueError
        return raw[:20000]

    def is_blank(self, response):
        return not (response or "").strip()

    def grade(self, question, response, full):
        if self.is_blank(response):
            return Grade(points=0.0, correct=False)  # nothing to read: no teacher needed
        return Grade(points=None, correct=None, needs_grading=True)

    def interaction_definition(self, question):
        return {"interactionType": "long-fill-in"}

    def xapi_response(self, question, response):
        return (response or "")[:2000]

    def answer_text(self, question):
        return question.answer or ""


TYPES: dict[str, QuestionType] = {t.key: t for t in (SingleChoice(), MultipleChoice(), TrueFalse(), FillIn(),
                                                   ShortAnswer())}


def get_type(key: str) -> QuestionType:
    return TYPES[key]


def _validate_options(data) -> list[str]:
    opts = data.get("options") or []
    errs = []
    if len(opts) < 2:
        errs.append(Problem(_l("选择题至少需要两个选项"), "options"))
    if len(opts) > MAX_OPTIONS:
        errs.append(Problem(_l("选项最多 8 个（A–H）"), "options"))
    if any(not str(o).strip() for o in opts):
        errs.append(Problem(_l("选项内容不能为空，也不能跳过中间的选项"), "options"))
    return errs


def _indexes_ok(ans, data) -> bool:
    n = len(data.get("options") or [])
    return all(isinstance(i, int) and 0 <= i < n for i in ans)


def validate_question(data: dict) -> list[str]:
    """Every problem of a question's data: common fields plus the type's own rules."""
    errs: list[str] = []
    qtype = TYPES.get(data.get("type") or "")
    if qtype is None:
        return [Problem(_l("未知题型"), "type")]
    if not (data.get("stem") or "").strip():
        errs.append(Problem(_l("题干不能为空"), "stem"))
    elif len(data["stem"]) > 5000:
        errs.append(Problem(_l("题干不能超过 5000 字"), "stem"))
    score = data.get("score")
    if not isinstance(score, (int, float)) or score <= 0 or score > 1000:
        errs.append(Problem(_l("分值必须是 0 到 1000 之间的正数"), "score"))
    if data.get("difficulty") not in (1, 2, 3):
        errs.append(Problem(_l("难度应为 简单、中等 或 困难"), "difficulty"))
    if not qtype.uses_options and data.get("options"):
        errs.append(Problem(_l("%(t)s不应填写选项", t=qtype.label), "options"))
    errs.extend(qtype.validate(data))
    return errs
