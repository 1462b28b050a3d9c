"""Imports (Excel template, GIFT, Aiken): dry run lists every bad row, nothing is written while one is bad."""
from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from plugins.quiz import importers
from plugins.quiz.models import QuizQuestion


def xlsx(rows, headers=None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "题目"
    ws.append(headers or importers.HEADERS)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def row(qtype, stem, opts=(), answer="", explanation="", score=None, difficulty="", tags=""):
    opts = list(opts) + [""] * (8 - len(opts))
    return [qtype, stem, *opts, answer, explanation, score, difficulty, tags]


GOOD_ROWS = [
    row("单选题", "中共一大召开于哪一年？", ["1919年", "1921年", "1927年"], "B", "1921年7月。", 2, "简单", "党史"),
    row("多选", "“四个意识”包括？", ["政治意识", "大局意识", "核心意识", "看齐意识"], "A,B,C,D", "", 4, "中等", "党的理论，党章"),
    row("判断题", "预备党员的预备期为一年。", [], "√", "", 1, "", "党章"),
    row("填空题", "党的最高理想是实现____。", [], "共产主义|communism", "", 2, "困难", ""),
    row("简答题", "简述“三会一课”。", [], "支部党员大会、支部委员会、党小组会和党课", "", 10, "", ""),
]


def count(db):
    return db.session.scalar(select(func.count(QuizQuestion.id)))


def upload(client, course, data: bytes, filename: str, fmt="auto"):
    return client.post(f"/quiz/course/{course.id}/bank/import",
                       data={"file": (io.BytesIO(data), filename), "fmt": fmt},
                       content_type="multipart/form-data")


def test_excel_good_file_dry_run_then_confirm(client, users, login_as, course, db):
    login_as(client, users.teacher)
    resp = upload(client, course, xlsx(GOOD_ROWS), "题库.xlsx")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "检查通过：共 5 道题" in html
    assert count(db) == 0  # a dry run writes nothing
    token = html.split('name="token" value="')[1].split('"')[0]
    resp = client.post(f"/quiz/course/{course.id}/bank/import/confirm", data={"token": token})
    assert resp.status_code == 302
    qs = {q.stem: q for q in db.session.scalars(select(QuizQuestion))}
    assert len(qs) == 5
    assert qs["中共一大召开于哪一年？"].answer == [1] and qs["中共一大召开于哪一年？"].tags == ["党史"]
    assert qs["“四个意识”包括？"].answer == [0, 1, 2, 3] and qs["“四个意识”包括？"].type == "multiple"
    assert qs["预备党员的预备期为一年。"].answer is True
    assert qs["党的最高理想是实现____。"].answer == [["共产主义", "communism"]]
    assert qs["党的最高理想是实现____。"].difficulty == 3
    assert qs["简述“三会一课”。"].score == 10
    # A second confirm of the same upload does not import twice.
    client.post(f"/quiz/course/{course.id}/bank/import/confirm", data={"token": token})
    assert count(db) == 5


def test_excel_bad_rows_all_listed_and_nothing_written(client, users, login_as, course, db):
    login_as(client, users.teacher)
    rows = GOOD_ROWS[:2] + [
        row("单选题", "", ["甲", "乙"], "A"),                        # row 4: empty stem
        row("单选题", "答案越界？", ["甲", "乙"], "E"),               # row 5: answer not among options
        row("问卷题", "未知题型", [], "A"),                          # row 6: unknown type
        row("判断题", "判断？", [], "也许"),                          # row 7: bad true/false
        row("多选题", "跳过选项？", ["甲", "", "丙"], "AC"),           # row 8: gap in options
        row("单选题", "分值？", ["甲", "乙"], "A", score="两分"),      # row 9: bad score
        row("填空题", "空答案____", [], ""),                         # row 10: no accepted answer
    ]
    resp = upload(client, course, xlsx(rows), "bad.xlsx")
    html = resp.get_data(as_text=True)
    assert "发现 7 处错误，未导入任何题目" in html
    for n, reason in [(4, "题干不能为空"), (5, "答案“E”不在已填写的选项中"), (6, "未知题型“问卷题”"),
                      (7, "判断题答案应为“对”或“错”"), (8, "选项不能跳过"), (9, "分值必须是"),
                      (10, "填空题每个空至少要有一个可接受的答案")]:
        assert f"第 {n} 行" in html and reason in html
    assert "确认导入" not in html
    assert count(db) == 0


def test_excel_confirm_refused_without_a_checked_upload(client, users, login_as, course, db):
    login_as(client, users.teacher)
    resp = client.post(f"/quiz/course/{course.id}/bank/import/confirm", data={"token": "../../etc/passwd"})
    assert resp.status_code == 302
    assert count(db) == 0


def test_not_a_workbook_gives_a_chinese_error(client, users, login_as, course, db):
    login_as(client, users.teacher)
    html = upload(client, course, b"PK\x03\x04 not really", "x.xlsx").get_data(as_text=True)
    assert "无法读取该文件" in html
    html = upload(client, course, xlsx([], headers=["名称", "内容"]), "x.xlsx").get_data(as_text=True)
    assert "找不到表头" in html


def test_template_download_has_the_chinese_headers(client, users, login_as):
    login_as(client, users.teacher)
    resp = client.get("/quiz/bank/template.xlsx")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    assert [c.value for c in wb["题目"][1]][:len(importers.HEADERS)] == importers.HEADERS
    assert importers.read_excel(_only_examples(wb)).ok  # the examples are themselves importable


def _only_examples(wb) -> bytes:
    ex = wb["示例"]
    out = Workbook()
    ws = out.active
    for r in ex.iter_rows(values_only=True):
        ws.append(list(r))
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


def test_export_round_trips_and_guards_formulas(client, users, login_as, course, add_q, db):
    add_q("单选题", "=HYPERLINK(\"http://evil\",\"点我\")", ["+1", "-2", "@SUM(A1)"], "A")
    add_q("填空题", "十八大召开于____年", [], "2012|二〇一二")
    login_as(client, users.teacher)
    resp = client.get(f"/quiz/course/{course.id}/bank/export.xlsx")
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.data))["题目"]
    cells = [c for r in ws.iter_rows() for c in r]
    assert all(c.data_type != "f" for c in cells)  # no formula cells
    assert any(c.value == "'=HYPERLINK(\"http://evil\",\"点我\")" for c in cells)
    result = importers.read_excel(resp.data)
    assert result.ok
    assert {q["stem"] for q in result.questions} == {"=HYPERLINK(\"http://evil\",\"点我\")", "十八大召开于____年"}
    assert [q["options"] for q in result.questions if q["type"] == "single"] == [["+1", "-2", "@SUM(A1)"]]


GIFT_GOOD = """// 党史题
$CATEGORY: 题库/党史

::一大::中共一大召开于哪一年？{~1919年 =1921年 ~1927年 ####1921年7月召开。}

预备期为一年。{T}

“四个意识”包括哪些？{~%33.33333%政治意识 ~%33.33333%大局意识 ~%33.33333%核心意识 ~%-100%金钱意识}

党的最高理想是实现{=共产主义 =communism}。

简述三会一课。{}
"""


def test_gift_good_file(client, users, login_as, course, db):
    result = importers.read_gift(GIFT_GOOD.encode())
    assert not result.errors, result.errors
    by_type = {q["type"]: q for q in result.questions}
    assert by_type["single"]["answer"] == [1] and by_type["single"]["explanation"] == "1921年7月召开。"
    assert by_type["single"]["tags"] == ["党史"]
    assert by_type["truefalse"]["answer"] is True
    assert by_type["multiple"]["answer"] == [0, 1, 2] and by_type["multiple"]["partial_credit"]
    assert by_type["fill"]["answer"] == [["共产主义", "communism"]]
    assert by_type["fill"]["stem"] == "党的最高理想是实现 ____ 。"
    assert by_type["short"]["type"] == "short"
    login_as(client, users.teacher)
    html = upload(client, course, GIFT_GOOD.encode(), "bank.gift").get_data(as_text=True)
    assert "检查通过：共 5 道题" in html


def test_gift_bad_file_lists_line_numbers(client, users, login_as, course, db):
    text = "好题{=对 ~错}\n\n缺答案的题\n\n数值题{#3:1}\n\n匹配题{=a -> 1 =b -> 2}\n\n全错{~a ~b}\n"
    result = importers.read_gift(text.encode())
    assert [n for n, _ in result.errors] == [3, 5, 7, 9]
    reasons = " ".join(r for _, r in result.errors)
    assert "缺少答案部分" in reasons and "数值题" in reasons and "匹配题" in reasons and "没有标出正确答案" in reasons
    login_as(client, users.teacher)
    html = upload(client, course, text.encode(), "bad.txt", fmt="gift").get_data(as_text=True)
    assert "发现 4 处错误" in html and "第 3 行" in html
    assert count(db) == 0


AIKEN_GOOD = """中共一大召开于哪一年？
A. 1919年
B. 1921年
C. 1927年
ANSWER: B

党的根本宗旨是？
A) 全心全意为人民服务
B) 发展经济
ANSWER: A
"""


def test_aiken_good_and_bad(client, users, login_as, course, db):
    good = importers.read_aiken(AIKEN_GOOD.encode())
    assert not good.errors and [q["answer"] for q in good.questions] == [[1], [0]]
    bad = "没有答案行\nA. 甲\nB. 乙\n\n答案越界\nA. 甲\nB. 乙\nANSWER: D\n\n只有一个选项\nA. 甲\nANSWER: A\n"
    result = importers.read_aiken(bad.encode("gb18030"))  # GBK files from Windows work too
    assert [n for n, _ in result.errors] == [1, 5, 10]
    assert "ANSWER" in result.errors[0][1] and "不在已填写的选项中" in result.errors[1][1]
    assert "至少需要两个选项" in result.errors[2][1]
    login_as(client, users.teacher)
    html = upload(client, course, AIKEN_GOOD.encode(), "aiken.txt", fmt="aiken").get_data(as_text=True)
    assert "检查通过：共 2 道题" in html


def test_member_cannot_import(client, users, login_as, course, db):
    login_as(client, users.member)
    assert upload(client, course, xlsx(GOOD_ROWS), "题库.xlsx").status_code == 403
    assert client.get(f"/quiz/course/{course.id}/bank").status_code == 403
    assert count(db) == 0
