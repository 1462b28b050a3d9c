"""The ledgers (台账) an organization department files: an A4-ready .xlsx per org unit and per member."""
from __future__ import annotations

import io
import logging
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select

from lms.accounts.models import MEMBER_CATEGORIES
from lms.accounts.services import safe_cell
from lms.exports.services import ExportKind, Stamp, id_masker, watermark
from lms.extensions import db
from lms.org.models import OrgUnit
from lms.org.services import all_paths, is_within
from plugins.stats import services
from plugins.stats.services import PersonRow, q2

log = logging.getLogger(__name__)

UNIT_HEADERS = ("序号", "党组织", "人数", "已获学时合计", "人均学时", "达标人数", "达标率",
                "应学课程人次", "完成人次", "课程完成率", "测验人次", "测验平均分")
UNIT_WIDTHS = (6, 40, 7, 12, 10, 9, 9, 12, 10, 11, 10, 11)
MEMBER_HEADERS = ("序号", "姓名", "学号/工号", "所在党组织", "党员类别", "年度要求学时", "已获学时", "差额",
                  "是否达标", "应学课程", "已完成课程", "课程完成率", "测验次数", "测验平均分")
MEMBER_WIDTHS = (6, 10, 13, 34, 12, 11, 9, 8, 9, 9, 10, 11, 9, 11)
# With party_school on: the assignments (学习任务) of the year that reached each person, and those completed
# (every required course done), appended to both sheets.
UNIT_TASK_HEADERS = ("学习任务应完成人次", "学习任务完成人次", "学习任务完成率")
UNIT_TASK_WIDTHS = (12, 12, 12)
MEMBER_TASK_HEADERS = ("学习任务（项）", "已完成任务", "任务完成率")
MEMBER_TASK_WIDTHS = (10, 10, 10)


def member_figures(node_id: int, year: int) -> tuple[list[PersonRow], bool]:
    """Everyone of the subtree with hours, requirement, completion, quiz and assignment figures (grouped
    queries only), and whether assignments are counted (the party_school plugin is on)."""
    with services.bulk_figures():
        return _member_figures(node_id, year)


def _member_figures(node_id: int, year: int) -> tuple[list[PersonRow], bool]:
    scope = services.open_scope(node_id, "person")
    people = services.person_figures(node_id, year, "person", scope)
    comp = services.completion(scope, year)
    scores = services.quiz_scores(scope, year)
    for p in people:
        p.enrolled, p.completed = comp.get(p.id, (0, 0))
        fig = scores.get(p.id)
        if fig is not None:
            p.quiz_count, p.quiz_sum = fig.count, fig.total
    with_tasks = services.assignments_available()
    if with_tasks:
        by_id = {p.id: p for p in people}
        _assignments, figures = services.assignment_completion(scope, year)
        for (pid, _aid), (n, done) in figures.items():
            if pid in by_id:
                by_id[pid].tasks += n
                by_id[pid].tasks_done += done
    return people, with_tasks


def _style_sheet(ws, title: str, subtitle: str, headers, widths, landscape: bool) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    last = get_column_letter(len(headers))
    ws.append([safe_cell(title)])
    ws.merge_cells(f"A1:{last}1")
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 26
    ws.append([safe_cell(subtitle)])
    ws.merge_cells(f"A2:{last}2")
    ws["A2"].font = Font(size=9, color="555555")
    ws["A2"].alignment = Alignment(horizontal="right")
    ws.append(list(headers))
    thin = Side(style="thin", color="999999")
    for cell in ws[3]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F3E9E6")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
    ws.row_dimensions[3].height = 30
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A4"
    ws.print_title_rows = "3:3"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE if landscape else ws.ORIENTATION_PORTRAIT
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


def _finish_sheet(ws, ncols: int, pct_cols=(), num_cols=(), text_cols=()) -> None:
    """Number formats per column, a bold totals row, printed gridlines instead of per-cell borders (fast)."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    formats = {**{c: "0.0%" for c in pct_cols}, **{c: "0.00" for c in num_cols}, **{c: "@" for c in text_cols}}
    last_row = ws.max_row
    for row in ws.iter_rows(min_row=4, max_row=last_row, max_col=ncols):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula
            fmt = formats.get(cell.column)
            if fmt is not None:
                cell.number_format = fmt
    bold = Font(bold=True)
    for cell in ws[last_row]:
        cell.font = bold
    ws.print_options.gridLines = True
    ws.print_area = f"A1:{get_column_letter(ncols)}{last_row}"


def _ratio(part, whole):
    return None if not whole else round(part / whole, 4)


def _avg_score(count: int, total: float):
    return None if not count else round(total / count * 100, 1)


def _unit_totals() -> dict:
    return {"people": 0, "hours": Decimal("0"), "met": 0, "enrolled": 0, "completed": 0, "qn": 0, "qs": 0.0,
            "tasks": 0, "tasks_done": 0}


def ledger_workbook(node: OrgUnit, year: int, scope_label: str, stamp: Stamp,
                    show_id: Callable[[int | None, object], object] | None = None) -> tuple[bytes, int]:
    """The two ledgers of `node`'s subtree for `year`; returns (xlsx bytes, number of member rows).

    `stamp` (who exported, when) is the watermark: the subtitle line under each title, the header and footer of
    every printed page, the document properties. `show_id(unit_id, login_id)` masks the 学号/工号 column for an
    exporter who does not administer those people (lms.exports.id_masker)."""
    from openpyxl import Workbook

    show_id = show_id or (lambda _unit_id, value: value)
    people, with_tasks = member_figures(node.id, year)
    units = all_paths([node.id])
    paths = {u.id: p for u, p in units}
    subtitle = f"统计范围：{scope_label}　年度：{year}　{stamp.text(chinese=True)}"

    wb = Workbook()
    ws = wb.active
    ws.title = "按党组织"
    headers, widths = UNIT_HEADERS, UNIT_WIDTHS
    if with_tasks:
        headers, widths = headers + UNIT_TASK_HEADERS, widths + UNIT_TASK_WIDTHS
    _style_sheet(ws, f"{scope_label} {year}年度党员教育培训台账（按党组织）", subtitle, headers, widths,
                 landscape=True)
    per_unit: dict[int, dict] = {u.id: _unit_totals() for u, _ in units}
    for p in people:
        agg = per_unit.setdefault(p.org_unit_id, _unit_totals())
        agg["people"] += 1
        agg["hours"] += p.hours
        agg["met"] += p.met
        agg["enrolled"] += p.enrolled
        agg["completed"] += p.completed
        agg["qn"] += p.quiz_count
        agg["qs"] += p.quiz_sum
        agg["tasks"] += p.tasks
        agg["tasks_done"] += p.tasks_done

    def unit_row(first, label, a):
        row = [first, label, a["people"], float(q2(a["hours"])),
               float(q2(a["hours"] / a["people"])) if a["people"] else 0.0, a["met"],
               _ratio(a["met"], a["people"]), a["enrolled"], a["completed"], _ratio(a["completed"], a["enrolled"]),
               a["qn"], _avg_score(a["qn"], a["qs"])]
        if with_tasks:
            row += [a["tasks"], a["tasks_done"], _ratio(a["tasks_done"], a["tasks"])]
        return row

    tot = _unit_totals()
    for i, (u, path) in enumerate(units, start=1):
        a = per_unit[u.id]
        for k in tot:
            tot[k] += a[k]
        ws.append(unit_row(i, safe_cell(path), a))
    ws.append(unit_row("", "合计", tot))
    _finish_sheet(ws, len(headers), pct_cols=(7, 10, 15) if with_tasks else (7, 10), num_cols=(4, 5))

    ws = wb.create_sheet("按党员")
    headers, widths = MEMBER_HEADERS, MEMBER_WIDTHS
    if with_tasks:
        headers, widths = headers + MEMBER_TASK_HEADERS, widths + MEMBER_TASK_WIDTHS
    _style_sheet(ws, f"{scope_label} {year}年度党员教育培训台账（按党员）", subtitle, headers, widths,
                 landscape=True)
    t_req, t_hours, t_short, t_met, t_enr, t_done, t_qn, t_qs = Decimal(0), Decimal(0), Decimal(0), 0, 0, 0, 0, 0.0
    t_tasks = t_tasks_done = 0
    for i, p in enumerate(people, start=1):
        row = [i, safe_cell(p.name), safe_cell(show_id(p.org_unit_id, p.login_id)), safe_cell(paths.get(p.org_unit_id, "")),
               MEMBER_CATEGORIES.get(p.category, p.category), float(p.requirement), float(p.hours),
               float(p.shortfall), "是" if p.met else "否", p.enrolled, p.completed,
               _ratio(p.completed, p.enrolled), p.quiz_count, _avg_score(p.quiz_count, p.quiz_sum)]
        if with_tasks:
            row += [p.tasks, p.tasks_done, _ratio(p.tasks_done, p.tasks)]
        ws.append(row)
        t_req += p.requirement
        t_hours += p.hours
        t_short += p.shortfall
        t_met += p.met
        t_enr += p.enrolled
        t_done += p.completed
        t_qn += p.quiz_count
        t_qs += p.quiz_sum
        t_tasks += p.tasks
        t_tasks_done += p.tasks_done
    row = ["", "合计", f"{len(people)} 人", "", "", float(q2(t_req)), float(q2(t_hours)), float(q2(t_short)),
           f"达标 {t_met} 人", t_enr, t_done, _ratio(t_done, t_enr), t_qn, _avg_score(t_qn, t_qs)]
    if with_tasks:
        row += [t_tasks, t_tasks_done, _ratio(t_tasks_done, t_tasks)]
    ws.append(row)
    _finish_sheet(ws, len(headers), pct_cols=(12, 17) if with_tasks else (12,), num_cols=(6, 7, 8), text_cols=(3,))

    watermark(wb, stamp, title=f"{scope_label} {year}年度党员教育培训台账", chinese=True)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), len(people)


# --- the ledger as an export of personal data (lms.exports: permission, masking, limit, approval, audit) ------
def _unit(params: dict) -> OrgUnit | None:
    unit_id = params.get("unit_id")
    return db.session.get(OrgUnit, unit_id) if isinstance(unit_id, int) else None


def _reviews(user, unit: OrgUnit) -> bool:
    """A reviewer (审核员) may take the ledger of the units they review, with identifiers masked."""
    return any(is_within(unit.id, root) for root in user.role_units("reviewer"))


def _may_export(user, params: dict) -> bool:
    unit = _unit(params)
    return unit is not None and (services.can_view_unit(user, unit) or _reviews(user, unit))


def _may_approve(user, params: dict, requester) -> bool:
    """Only people who administer the scope (its statistics users) approve a held ledger, not reviewers."""
    return services.can_view_unit(user, _unit(params))


def _count(user, params: dict) -> int:
    return services.count_scope_people(params["unit_id"])


def _build(user, params: dict, scope: str, stamp: Stamp) -> tuple[bytes, int]:
    node = _unit(params)
    show_id = id_masker(user)
    with services.bulk_figures():  # tens of thousands of rows and cells
        content, rows = ledger_workbook(node, params["year"], node.name, stamp, show_id)
    services.end_scope()  # the figures are read; the audit row is a write
    return content, rows


def _scope(user, params: dict) -> str:
    unit = _unit(params)
    return f"{unit.name if unit else ''} {params.get('year')}"


def _filename(params: dict, scope: str, stamp: Stamp) -> str:
    from lms.templating import local_dt

    unit = _unit(params)
    return f"学时台账_{unit.name if unit else ''}_{params['year']}年度_{local_dt(stamp.at, '%Y%m%d')}"


def _offers(user) -> list[tuple[str, str]]:
    """Reviewers have no statistics pages: the exports page lists the ledgers of the units they review."""
    from flask import url_for
    from flask_babel import gettext

    if services.may_use(user):
        return []
    year = services.local_year()
    units = db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(user.role_units("reviewer") or [-1]))
                               .order_by(OrgUnit.sort_order, OrgUnit.id))
    return [(gettext("%(unit)s %(year)s 年度学时台账", unit=u.name, year=year),
             url_for("stats.ledger", unit_id=u.id, year=year)) for u in units]


LEDGER = ExportKind(
    name="stats.ledger", action="stats.export", label="学时台账", may_export=_may_export, count=_count,
    build=_build, scope=_scope, filename=_filename, may_approve=_may_approve,
    target=lambda params: ("org_unit", params.get("unit_id")), offers=_offers,
)
