"""Reading and writing question banks: the Chinese Excel template, Moodle GIFT and Aiken; Excel export.

Every reader returns an `ImportResult`: the questions it understood and one error per bad row
(row or line number + a Chinese reason). Nothing here touches the database.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from flask_babel import gettext as _

from plugins.quiz.grading import LETTERS, TYPES, Problem, validate_question

HEADERS = ["题型", "题干"] + [f"选项{c}" for c in LETTERS] + ["答案", "解析", "分值", "难度", "标签"]
OPTIONAL_HEADERS = ["多选部分得分", "忽略大小写全半角"]
# The type and difficulty names written in the files (the template's values, Chinese whatever the reader's
# language, so that an exported bank imports again); pages show TYPES[key].label and DIFFICULTIES instead.
TYPE_LABELS = {"single": "单选题", "multiple": "多选题", "truefalse": "判断题", "fill": "填空题", "short": "简答题"}
_TYPE_ALIASES = {
    "单选": "single", "单选题": "single", "单项选择": "single", "单项选择题": "single",
    "多选": "multiple", "多选题": "multiple", "多项选择": "multiple", "多项选择题": "multiple",
    "判断": "truefalse", "判断题": "truefalse", "是非题": "truefalse",
    "填空": "fill", "填空题": "fill",
    "简答": "short", "简答题": "short", "问答题": "short", "论述题": "short", "主观题": "short",
}
DIFFICULTY_LABELS = {1: "简单", 2: "中等", 3: "困难"}
_DIFFICULTY_ALIASES = {"简单": 1, "容易": 1, "易": 1, "1": 1, "中等": 2, "中": 2, "一般": 2, "2": 2,
                       "困难": 3, "难": 3, "较难": 3, "3": 3}
_TRUE = {"对", "正确", "√", "✓", "是", "T", "TRUE", "Y", "YES"}
_FALSE = {"错", "错误", "×", "✗", "否", "F", "FALSE", "N", "NO"}
_YES = {"是", "Y", "YES", "TRUE", "1", "对"}
MAX_ROWS = 5000
MAX_BYTES = 10 * 1024 * 1024


@dataclass
class ImportResult:
    questions: list[dict] = field(default_factory=list)  # each with "row" = its row/line number
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.questions)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for q in self.questions:
            out[q["type"]] = out.get(q["type"], 0) + 1
        return out


def _s(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    # Undo our own export's formula guard.
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        text = text[1:]
    return text


def split_tags(text: str) -> list[str]:
    return [t.strip()[:64] for t in re.split(r"[,，;；、\s]+", text or "") if t.strip()][:20]


def parse_letters(text: str) -> list[int] | None:
    letters = re.sub(r"[\s,，、;；]", "", unicode_upper(text))
    if not letters or any(c not in LETTERS for c in letters):
        return None
    return [LETTERS.index(c) for c in letters]


def unicode_upper(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", text or "").upper()


def parse_fill_answer(text: str) -> list[list[str]]:
    """"答案1|答案甲；答案2" → [["答案1", "答案甲"], ["答案2"]]."""
    blanks = [b for b in re.split(r"[;；]", text or "")]
    return [[a.strip() for a in re.split(r"[|｜]", b) if a.strip()] for b in blanks if b.strip()]


def build_question(fields: dict) -> tuple[dict, list[str]]:
    """Question data from the template's text fields (Excel row or the editor form) and its problems.

    `fields` keys: type, stem, options (list of texts, A first), answer, explanation, score,
    difficulty, tags, partial, loose.
    """
    errs: list[str] = []
    raw_type = _s(fields.get("type"))
    qtype = _TYPE_ALIASES.get(raw_type) or (raw_type if raw_type in TYPES else None)
    if qtype is None:
        return {}, [Problem(_("未知题型“%(t)s”，应为 单选题、多选题、判断题、填空题 或 简答题", t=raw_type or _("空")))]
    options = [_s(o) for o in fields.get("options") or []]
    while options and not options[-1]:
        options.pop()
    answer_text = _s(fields.get("answer"))
    data = {
        "type": qtype,
        "stem": _s(fields.get("stem")),
        "options": options if TYPES[qtype].uses_options else [],
        "explanation": _s(fields.get("explanation")),
        "tags": split_tags(_s(fields.get("tags"))),
        "partial_credit": _s(fields.get("partial")).upper() in _YES,
        "loose_match": _s(fields.get("loose")).upper() not in {"否", "N", "NO", "FALSE", "0", "错"},
    }
    if not TYPES[qtype].uses_options and options:
        errs.append(Problem(_("%(t)s不应填写选项", t=TYPES[qtype].label), "options"))
    score_text = _s(fields.get("score"))
    try:
        data["score"] = float(score_text) if score_text else 1.0
    except ValueError:
        data["score"] = None
    diff_text = _s(fields.get("difficulty"))
    data["difficulty"] = _DIFFICULTY_ALIASES.get(diff_text, None) if diff_text else 2
    if qtype in ("single", "multiple"):
        letters = parse_letters(answer_text)
        if not answer_text:
            errs.append(Problem(_("答案不能为空"), "answer"))
            data["answer"] = []
        elif letters is None:
            errs.append(Problem(_("答案“%(a)s”应为选项字母，如 A 或 ABD", a=answer_text), "answer"))
            data["answer"] = []
        else:
            data["answer"] = letters
            bad = [LETTERS[i] for i in letters if i >= len(options)]
            if bad:
                errs.append(Problem(_("答案“%(a)s”不在已填写的选项中", a="".join(bad)), "answer"))
                data["answer"] = []
    elif qtype == "truefalse":
        up = unicode_upper(answer_text)
        data["answer"] = True if up in _TRUE else False if up in _FALSE else None
        if data["answer"] is None:
            errs.append(Problem(_("判断题答案应为“对”或“错”"), "answer"))
    elif qtype == "fill":
        data["answer"] = parse_fill_answer(answer_text)
    else:
        data["answer"] = answer_text
    if not errs:
        errs = validate_question(data)
    else:
        errs += [e for e in validate_question(data) if e.field != "answer"]  # the answer's problem is said
    return data, errs


def question_fields(q) -> dict:
    """The template's text fields of a stored question (export, editor form)."""
    if q.type in ("single", "multiple"):
        answer = "".join(LETTERS[i] for i in sorted(q.answer))
    elif q.type == "truefalse":
        answer = "对" if q.answer else "错"
    elif q.type == "fill":
        answer = "；".join("|".join(b) for b in q.answer)
    else:
        answer = q.answer or ""
    return {
        "type": TYPE_LABELS[q.type],
        "stem": q.stem,
        "options": list(q.options or []),
        "answer": answer,
        "explanation": q.explanation or "",
        "score": q.score,
        "difficulty": DIFFICULTY_LABELS.get(q.difficulty, "中等"),
        "tags": "，".join(q.tags or []),
        "partial": "是" if q.partial_credit else "否",
        "loose": "是" if q.loose_match else "否",
    }


# --- Excel -------------------------------------------------------------------------------------------
def read_excel(data: bytes) -> ImportResult:
    from openpyxl import load_workbook

    result = ImportResult()
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        result.errors.append((0, _("无法读取该文件，请上传用模板填写的 .xlsx 文件")))
        return result
    ws = wb["题目"] if "题目" in wb.sheetnames else wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header_row = None
    columns: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        cells = [_s(c) for c in row]
        if "题型" in cells and "题干" in cells:
            header_row = n
            columns = {name: i for i, name in enumerate(cells) if name}
            break
        if n >= 10:
            break
    if header_row is None:
        result.errors.append((1, _("找不到表头：第一行应包含 题型、题干、选项A…选项H、答案、解析、分值、难度、标签")))
        wb.close()
        return result
    missing = [h for h in ("题型", "题干", "答案") if h not in columns]
    if missing:
        result.errors.append((header_row, _("表头缺少列：%(c)s", c=_("、").join(missing))))
        wb.close()
        return result

    def cell(row, name):
        i = columns.get(name)
        return row[i] if i is not None and i < len(row) else None

    for n, row in enumerate(rows, start=header_row + 1):
        if not any(_s(c) for c in row):
            continue
        if len(result.questions) + len(result.errors) >= MAX_ROWS:
            result.errors.append((n, _("一次最多导入 %(n)s 道题，请分批导入", n=MAX_ROWS)))
            break
        fields = {
            "type": cell(row, "题型"), "stem": cell(row, "题干"),
            "options": [cell(row, f"选项{c}") for c in LETTERS],
            "answer": cell(row, "答案"), "explanation": cell(row, "解析"), "score": cell(row, "分值"),
            "difficulty": cell(row, "难度"), "tags": cell(row, "标签"),
            "partial": cell(row, "多选部分得分"), "loose": cell(row, "忽略大小写全半角"),
        }
        opts = [_s(o) for o in fields["options"]]
        last = max((i for i, o in enumerate(opts) if o), default=-1)
        if any(not o for o in opts[: last + 1]):
            result.errors.append((n, _("选项不能跳过：选项%(c)s为空，但后面的选项有内容",
                                       c=LETTERS[[i for i, o in enumerate(opts[: last + 1]) if not o][0]])))
            continue
        data, errs = build_question(fields)
        if errs:
            result.errors.append((n, _("；").join(errs)))
        else:
            data["row"] = n
            result.questions.append(data)
    wb.close()
    if not result.questions and not result.errors:
        result.errors.append((header_row + 1, _("文件中没有题目")))
    return result


def _guard(value):
    """Spreadsheet formula injection: text starting with = + - @ (or a control char) is stored as text."""
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def write_workbook(sheets: list[tuple[str, list[str], list[list]]], stamp=None) -> bytes:
    """An .xlsx with one sheet per (title, headers, rows); every text cell is formula-guarded. A `stamp`
    (lms.exports.Stamp: who exported it, when) watermarks an export of personal data."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for title, headers, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append(headers)
        for c in ws[1]:
            c.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for row in rows:
            ws.append([_guard(v) for v in row])
        for i, h in enumerate(headers, start=1):
            ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(10, min(60, len(h) * 3))
    if stamp is not None:
        from lms.exports.services import watermark

        watermark(wb, stamp, title=sheets[0][0] if sheets else "")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_excel(questions) -> bytes:
    rows = []
    for q in questions:
        f = question_fields(q)
        opts = f["options"] + [""] * (len(LETTERS) - len(f["options"]))
        rows.append([f["type"], f["stem"], *opts, f["answer"], f["explanation"], f["score"], f["difficulty"],
                     f["tags"], f["partial"], f["loose"]])
    return write_workbook([("题目", HEADERS + OPTIONAL_HEADERS, rows)])


def template_excel() -> bytes:
    notes = [
        ["题型", "单选题、多选题、判断题、填空题、简答题（也可写 单选、多选、判断、填空、简答）"],
        ["题干", "必填；填空题的空可用“____”或“（）”标出"],
        ["选项A…选项H", "选择题至少两个选项，从A开始连续填写；其他题型留空"],
        ["答案", "选择题填字母，如 A 或 ABD；判断题填 对/错；填空题多个空用“；”分隔，"
                 "同一空的多个可接受答案用“|”分隔，如 1921|一九二一；简答题填参考答案（可空）"],
        ["解析", "可空；交卷后按试卷设置向学员展示"],
        ["分值", "正数，留空为 1 分"],
        ["难度", "简单、中等、困难，留空为中等"],
        ["标签", "多个标签用逗号或顿号分隔，如 党史，党章"],
        ["多选部分得分", "可选列：是 = 少选按比例得分、错选不得分；否（默认）= 全对才得分"],
        ["忽略大小写全半角", "可选列：填空题是否忽略大小写和全角/半角差别，默认 是"],
    ]
    examples = [
        ["单选题", "中国共产党第一次全国代表大会召开于哪一年？", "1919年", "1921年", "1927年", "1949年",
         "", "", "", "", "B", "1921年7月，中共一大召开。", 2, "简单", "党史", "", ""],
        ["多选题", "“四个意识”包括哪些？", "政治意识", "大局意识", "核心意识", "看齐意识", "", "", "", "",
         "ABCD", "", 4, "中等", "党的理论", "是", ""],
        ["判断题", "预备党员的预备期为一年。", "", "", "", "", "", "", "", "", "对", "", 1, "简单", "党章", "", ""],
        ["填空题", "党的最高理想和最终目标是实现____。", "", "", "", "", "", "", "", "", "共产主义", "", 2,
         "中等", "党章", "", "是"],
        ["简答题", "简述“三会一课”制度的内容。", "", "", "", "", "", "", "", "",
         "支部党员大会、支部委员会、党小组会和党课", "", 10, "困难", "党务实践", "", ""],
    ]
    return write_workbook([
        ("题目", HEADERS + OPTIONAL_HEADERS, []),
        ("填写说明", ["列", "填写要求"], notes),
        ("示例", HEADERS + OPTIONAL_HEADERS, examples),
    ])


# --- Aiken -------------------------------------------------------------------------------------------
_AIKEN_OPTION = re.compile(r"^([A-Ha-h])\s*[.)．、）]\s*(.*)$")
_AIKEN_ANSWER = re.compile(r"^ANSWER\s*[:：]\s*(.*)$", re.IGNORECASE)


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks with the 1-based line number of their first line."""
    out: list[tuple[int, list[str]]] = []
    cur: list[str] = []
    start = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not cur:
                start = n
            cur.append(line.rstrip())
        elif cur:
            out.append((start, cur))
            cur = []
    if cur:
        out.append((start, cur))
    return out


def _decode(data: bytes) -> str | None:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return None


def read_aiken(data: bytes) -> ImportResult:
    result = ImportResult()
    text = _decode(data)
    if text is None:
        result.errors.append((0, _("无法识别文件编码，请保存为 UTF-8 文本")))
        return result
    for start, lines in _blocks(text):
        stem_lines, options, answer = [], [], None
        problem = None
        for line in lines:
            m_ans = _AIKEN_ANSWER.match(line.strip())
            m_opt = _AIKEN_OPTION.match(line.strip())
            if m_ans:
                answer = m_ans.group(1).strip()
            elif m_opt and answer is None:
                if LETTERS.index(m_opt.group(1).upper()) != len(options):
                    problem = _("选项字母应从 A 开始连续排列")
                options.append(m_opt.group(2).strip())
            elif options or answer is not None:
                problem = problem or _("选项之后出现了无法识别的内容：%(l)s", l=line.strip()[:30])
            else:
                stem_lines.append(line.strip())
        if answer is None:
            result.errors.append((start, _("缺少“ANSWER: 字母”一行")))
            continue
        if problem:
            result.errors.append((start, problem))
            continue
        letters = parse_letters(answer)
        qtype = "multiple" if letters and len(letters) > 1 else "single"
        data_, errs = build_question({"type": qtype, "stem": " ".join(stem_lines), "options": options,
                                      "answer": answer})
        if errs:
            result.errors.append((start, _("；").join(errs)))
        else:
            data_["row"] = start
            result.questions.append(data_)
    if not result.questions and not result.errors:
        result.errors.append((1, _("文件中没有题目")))
    return result


# --- GIFT --------------------------------------------------------------------------------------------
_GIFT_ESC = {"\\:": "\x00c", "\\~": "\x00t", "\\=": "\x00e", "\\#": "\x00h", "\\{": "\x00o", "\\}": "\x00x",
             "\\n": "\n"}
_GIFT_UNESC = {"\x00c": ":", "\x00t": "~", "\x00e": "=", "\x00h": "#", "\x00o": "{", "\x00x": "}"}


def _gift_unescape(s: str) -> str:
    for k, v in _GIFT_UNESC.items():
        s = s.replace(k, v)
    return re.sub(r"^\[(html|moodle|plain|markdown)\]", "", s.strip()).strip()


def read_gift(data: bytes) -> ImportResult:
    result = ImportResult()
    text = _decode(data)
    if text is None:
        result.errors.append((0, _("无法识别文件编码，请保存为 UTF-8 文本")))
        return result
    category_tag = ""
    for start, lines in _blocks(text):
        body_lines = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("//"):
                continue
            if stripped.startswith("$CATEGORY:"):
                category_tag = stripped.split(":", 1)[1].strip().split("/")[-1]
                continue
            body_lines.append(line)
        if not body_lines:
            continue
        body = "\n".join(body_lines)
        for k, v in _GIFT_ESC.items():
            body = body.replace(k, v)
        body = re.sub(r"^::.*?::", "", body.strip(), flags=re.S)
        if body.count("{") != 1 or body.count("}") != 1 or body.index("{") > body.index("}"):
            result.errors.append((start, _("缺少答案部分 {…}，或花括号不成对（文字中的花括号请写成 \\{ \\}）")))
            continue
        before, rest = body.split("{", 1)
        inner, after = rest.split("}", 1)
        stem = _gift_unescape(before)
        if after.strip():
            stem = f"{stem} ____ {_gift_unescape(after)}".strip()
        explanation = ""
        if "####" in inner:
            inner, explanation = inner.split("####", 1)
            explanation = _gift_unescape(explanation)
        inner = inner.strip()
        tags = category_tag
        q = _gift_answers(inner)
        if isinstance(q, str):
            result.errors.append((start, q))
            continue
        q.update(stem=stem, explanation=explanation)
        fields = {"type": q["type"], "stem": stem, "options": q.get("options", []), "answer": q["answer"],
                  "explanation": explanation, "tags": tags, "partial": "是" if q.get("partial") else "否"}
        data_, errs = build_question(fields)
        if errs:
            result.errors.append((start, _("；").join(errs)))
        else:
            data_["row"] = start
            result.questions.append(data_)
    if not result.questions and not result.errors:
        result.errors.append((1, _("文件中没有题目")))
    return result


def _gift_answers(inner: str) -> dict | str:
    """The type and answer of one GIFT answer block, in template text form, or an error sentence."""
    if inner == "":
        return {"type": "short", "answer": ""}
    if inner.startswith("#"):
        return _("不支持数值题（{#…}），请改为填空题")
    head = re.split(r"\s*#", inner, maxsplit=1)[0].strip().upper()
    if head in ("T", "TRUE", "F", "FALSE"):
        return {"type": "truefalse", "answer": "对" if head.startswith("T") else "错"}
    parts = re.findall(r"([=~])\s*((?:%-?[\d.]+%)?)([^=~]*)", inner)
    if not parts:
        return _("无法识别的答案部分")
    if any("->" in p[2] for p in parts):
        return _("不支持匹配题（{=…->…}）")
    options, correct, weighted = [], [], False
    for sign, weight, textpart in parts:
        txt = _gift_unescape(textpart.split("#", 1)[0])
        if weight:
            weighted = True
            w = float(weight.strip("%"))
            is_right = w > 0
        else:
            is_right = sign == "="
        options.append(txt)
        if is_right:
            correct.append(len(options) - 1)
    if all(p[0] == "=" for p in parts) and not weighted:
        # Only right answers: Moodle's short answer, our fill-in with several accepted answers.
        return {"type": "fill", "answer": "|".join(options)}
    if not correct:
        return _("没有标出正确答案（用 = 或正的百分比标出）")
    letters = "".join(LETTERS[i] for i in correct if i < len(LETTERS))
    qtype = "multiple" if weighted and len(correct) > 1 or len(correct) > 1 else "single"
    return {"type": qtype, "options": options, "answer": letters, "partial": weighted and qtype == "multiple"}


READERS = {"excel": read_excel, "gift": read_gift, "aiken": read_aiken}


def detect_format(filename: str, chosen: str | None) -> str | None:
    if chosen in READERS:
        return chosen
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        return "excel"
    if name.endswith(".gift"):
        return "gift"
    return None
