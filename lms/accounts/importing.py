"""Bulk import of party members from .xlsx: the template, the dry run (every bad row with its reason)
and applying a plan. Used by the web upload and by `flask lms import-members` alike.

Nothing is written while any row is bad. Re-importing the same file changes nothing; a changed row
updates the person (a changed 所属党组织 is a 组织关系转接 with its history and hook).
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import secrets
import time
import zipfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from lms import audit
from lms.accounts import privacy, services
from lms.accounts.models import MEMBER_CATEGORIES, User
from lms.authz import MANAGE, MANAGE_MEMBERS, VIEW, can
from lms.extensions import db
from lms.org.models import OrgUnit
from lms.org.services import find_by_path

log = logging.getLogger(__name__)

SHEET_NAME = "党员名单"
UNITS_SHEET = "组织列表"
HELP_SHEET = "填写说明"
COLUMNS = ("姓名", "学号/工号", "所属党组织", "党员类别", "入党时间", "手机号")
REQUIRED = ("姓名", "学号/工号", "所属党组织", "党员类别")
_ALIASES = {"学号": "学号/工号", "工号": "学号/工号", "学号／工号": "学号/工号", "党组织": "所属党组织",
            "类别": "党员类别", "手机": "手机号", "手机号码": "手机号", "入党日期": "入党时间"}
EXAMPLE_PREFIX = "示例"
MAX_ROWS = 5000
MAX_SCANNED_ROWS = 20000
MAX_BYTES = 5 * 1024 * 1024
STASH_TTL_SECONDS = 3600
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
FIELD_LABELS = {"name": "姓名", "org_unit_id": "所属党组织", "category": "党员类别", "joined_on": "入党时间",
                "phone": "手机号"}


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not an .xlsx, no header …); the message is for the user."""


@dataclass
class ImportRow:
    row: int
    name: str = ""
    login_id: str = ""
    unit_path: str = ""
    category_label: str = ""
    joined_raw: object = None
    phone_raw: object = None
    unit: OrgUnit | None = None
    category: str | None = None
    joined_on: date | None = None
    phone: str | None = None
    errors: list[str] = field(default_factory=list)
    person: User | None = None
    action: str = ""  # create | update | unchanged
    changes: list[str] = field(default_factory=list)  # labels of changed fields


@dataclass
class ImportPlan:
    rows: list[ImportRow]
    sha256: str = ""

    @property
    def bad_rows(self) -> list[ImportRow]:
        return [r for r in self.rows if r.errors]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.bad_rows

    def of(self, action: str) -> list[ImportRow]:
        return [r for r in self.rows if r.action == action]

    @property
    def counts(self) -> dict[str, int]:
        return {a: len(self.of(a)) for a in ("create", "update", "unchanged")}


# --- the template ------------------------------------------------------------------------------------
def build_template(unit_paths: list[str]) -> bytes:
    """The .xlsx users fill in: header, an example row, drop-down lists for 组织 and 类别, and help."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_NAME
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF" if cell.value in REQUIRED else "000000")
        cell.fill = PatternFill("solid", fgColor="C8161D" if cell.value in REQUIRED else "F3E9E6")
    ws["A1"].comment = Comment("红色表头为必填列；以“示例”开头的行导入时会被忽略。", "系统")
    example_unit = unit_paths[0] if unit_paths else "某学院党委/某党支部"
    ws.append([EXAMPLE_PREFIX + "：张三", "2024000001", example_unit, "正式党员", date(2020, 7, 1), "13800138000"])
    for cell in ws[2]:
        cell.font = Font(italic=True, color="808080")
    last = MAX_ROWS + 1
    for col in ("B", "F"):  # 学号 and 手机号 as text, so leading zeros and long numbers survive
        for r in range(2, 202):
            ws[f"{col}{r}"].number_format = "@"
    for r in range(2, 202):
        ws[f"E{r}"].number_format = "yyyy-mm-dd"
    for i, width in enumerate((12, 16, 40, 14, 14, 16), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"

    cat = DataValidation(type="list", formula1='"' + ",".join(MEMBER_CATEGORIES.values()) + '"', allow_blank=False)
    cat.error = "请从下拉列表中选择党员类别"
    cat.errorTitle = "党员类别"
    cat.prompt = "正式党员 / 预备党员 / 发展对象 / 入党积极分子 / 群众"
    cat.promptTitle = "党员类别"
    cat.add(f"D2:D{last}")
    ws.add_data_validation(cat)

    units = wb.create_sheet(UNITS_SHEET)
    for path in unit_paths:
        units.append([path])
    units.column_dimensions["A"].width = 50
    units.sheet_state = "hidden"
    if unit_paths:
        dv = DataValidation(type="list", formula1=f"='{UNITS_SHEET}'!$A$1:$A${len(unit_paths)}", allow_blank=False)
        dv.error = "请从下拉列表中选择所属党组织"
        dv.errorTitle = "所属党组织"
        dv.add(f"C2:C{last}")
        ws.add_data_validation(dv)

    phone = DataValidation(type="textLength", operator="equal", formula1="11", allow_blank=True)
    phone.error = "手机号应为 11 位数字"
    phone.errorTitle = "手机号"
    phone.add(f"F2:F{last}")
    ws.add_data_validation(phone)
    date_hint = DataValidation(allow_blank=True)
    date_hint.prompt = "日期格式，如 2020-07-01、2020/7/1 或 2020年7月1日"
    date_hint.promptTitle = "入党时间"
    date_hint.add(f"E2:E{last}")
    ws.add_data_validation(date_hint)

    help_ws = wb.create_sheet(HELP_SHEET)
    lines = [
        "党员名单导入说明",
        "1. 每行一人；第一行为表头，请勿修改表头文字。以“示例”开头的行会被忽略。",
        "2. 必填：姓名、学号/工号、所属党组织、党员类别。正式党员、预备党员须填写入党时间。",
        "3. 所属党组织填写从学校党委下一级开始的路径，用“/”分隔，如：计算机学院党委/计算机学院学生第一党支部。",
        "4. 党员类别：正式党员、预备党员、发展对象、入党积极分子、群众。",
        "5. 入党时间：2020-07-01、2020/07/01 或 2020年7月1日，不能晚于今天。",
        "6. 手机号可不填；填写时为 11 位手机号码。",
        "7. 学号/工号已存在的人员将按表中信息更新；所属党组织变化视为组织关系转接。",
        "8. 上传后系统先检查全部行，有任何错误都不会导入；确认无误后再点击“确认导入”。",
    ]
    for line in lines:
        help_ws.append([line])
    help_ws["A1"].font = Font(bold=True, size=14)
    help_ws.column_dimensions["A"].width = 100
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- reading -----------------------------------------------------------------------------------------
def _header_key(value) -> str | None:
    if value is None:
        return None
    text = re.sub(r"[\s*＊]|（必填）|\(必填\)", "", str(value))
    text = _ALIASES.get(text, text)
    return text if text in COLUMNS else None


def read_rows(data: bytes) -> list[ImportRow]:
    """The data rows of an uploaded workbook (raw values, Excel row numbers); ImportFileError when unreadable."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    if len(data) > MAX_BYTES:
        raise ImportFileError(f"文件太大（超过 {MAX_BYTES // 1024 // 1024} MB），请分批导入")
    if not data.startswith(b"PK"):
        raise ImportFileError("无法读取文件，请上传 .xlsx 格式的 Excel 文件（可先下载导入模板）")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError,
            DefusedXmlException, ParseError) as exc:
        log.info("unreadable import file: %s", exc)
        raise ImportFileError("无法读取文件，请上传 .xlsx 格式的 Excel 文件（可先下载导入模板）") from exc
    try:
        ws = wb[SHEET_NAME] if SHEET_NAME in wb.sheetnames else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header_at, cols = None, {}
        for idx, values in enumerate(rows, start=1):
            found = {}
            for ci, v in enumerate(values or ()):
                key = _header_key(v)
                if key and key not in found:
                    found[key] = ci
            if "姓名" in found and "学号/工号" in found:
                header_at, cols = idx, found
                break
            if idx >= 10:
                break
        if header_at is None:
            raise ImportFileError("没有找到表头（需要“姓名”“学号/工号”等列），请使用导入模板")
        missing = [c for c in REQUIRED if c not in cols]
        if missing:
            raise ImportFileError("缺少必填列：" + "、".join(missing) + "，请使用导入模板")
        out: list[ImportRow] = []
        for rnum, values in enumerate(rows, start=header_at + 1):
            if rnum - header_at > MAX_SCANNED_ROWS:  # a sheet of endless formatted-but-empty rows
                raise ImportFileError(f"表格行数过多（超过 {MAX_SCANNED_ROWS} 行），请删除多余的空行或分批导入")
            values = tuple(values or ())

            def get(col, values=values):
                ci = cols.get(col)
                if ci is None or ci >= len(values):
                    return None
                v = values[ci]
                return v.strip() if isinstance(v, str) else v

            raw = [get(c) for c in COLUMNS]
            if all(v is None or v == "" for v in raw):
                continue
            name = "" if raw[0] is None else str(raw[0]).strip()
            if name.startswith(EXAMPLE_PREFIX):
                continue
            if len(out) >= MAX_ROWS:
                raise ImportFileError(f"一次最多导入 {MAX_ROWS} 行，请分批导入")
            out.append(ImportRow(
                row=rnum, name=name, login_id=services.normalize_login_id(raw[1]),
                unit_path="" if raw[2] is None else str(raw[2]).strip(),
                category_label="" if raw[3] is None else str(raw[3]).strip(),
                joined_raw=raw[4], phone_raw=raw[5],
            ))
        return out
    except ImportFileError:
        raise
    except (DefusedXmlException, ParseError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        # sheets are parsed while being read: a damaged or hostile sheet shows up here
        log.info("unreadable import sheet: %s", exc)
        raise ImportFileError("无法读取文件，请上传 .xlsx 格式的 Excel 文件（可先下载导入模板）") from exc
    finally:
        wb.close()


# --- the dry run -------------------------------------------------------------------------------------
def plan(data: bytes, importer: User | None, today: date | None = None) -> ImportPlan:
    """Check every row; nothing is written. `importer` None means unrestricted (the server's CLI)."""
    rows = read_rows(data)
    result = ImportPlan(rows=rows, sha256=hashlib.sha256(data).hexdigest())
    if not rows:
        raise ImportFileError("文件中没有需要导入的数据行")
    today = today or date.today()
    unit_cache: dict[str, OrgUnit | None] = {}
    seen: dict[str, int] = {}
    existing = _existing_people({r.login_id for r in rows if r.login_id})
    for r in rows:
        e = r.errors
        if not r.name:
            e.append("缺少姓名")
        elif len(r.name) > 64:
            e.append("姓名过长（最多 64 个字）")
        if not r.login_id:
            e.append("缺少学号/工号")
        elif not services.LOGIN_ID_RE.match(r.login_id):
            e.append(f"学号/工号“{r.login_id[:70]}”只能包含字母、数字、下划线、点和连字符（最多 64 位）")
        else:
            key = r.login_id.lower()
            if key in seen:
                e.append(f"学号/工号 {r.login_id} 与第 {seen[key]} 行重复")
            else:
                seen[key] = r.row
        if not r.unit_path:
            e.append("缺少所属党组织")
        else:
            if r.unit_path not in unit_cache:
                unit_cache[r.unit_path] = find_by_path(r.unit_path)
            r.unit = unit_cache[r.unit_path]
            if r.unit is None:
                e.append(f"找不到党组织“{r.unit_path[:120]}”")
            elif importer is not None and not can(importer, MANAGE_MEMBERS, r.unit):
                e.append(f"党组织“{r.unit_path[:120]}”不在您的管理范围内")
        if not r.category_label:
            e.append("缺少党员类别")
        else:
            r.category = services.category_from_label(r.category_label)
            if r.category is None:
                e.append(f"未知的党员类别“{r.category_label[:20]}”（应为：" + "、".join(MEMBER_CATEGORIES.values()) + "）")
        try:
            r.joined_on = services.parse_date(r.joined_raw)
        except (ValueError, TypeError):
            e.append(f"入党时间“{str(r.joined_raw)[:30]}”不是有效日期（应为 2020-07-01、2020/07/01 或 2020年7月1日）")
        else:
            if r.joined_on and r.joined_on > today:
                e.append("入党时间不能晚于今天")
            if r.joined_on is None and r.category in ("full", "probationary"):
                person = existing.get(r.login_id.lower())
                if person is None or person.joined_on is None:
                    e.append("正式党员、预备党员须填写入党时间")
        try:
            r.phone = services.normalize_phone(r.phone_raw)
        except ValueError:
            e.append(f"手机号“{str(r.phone_raw)[:20]}”不是有效的 11 位手机号")
        r.person = existing.get(r.login_id.lower()) if r.login_id else None
        if r.person is not None and importer is not None and not can(importer, MANAGE, r.person):
            if can(importer, VIEW, r.person):
                e.append(f"学号/工号 {r.login_id} 的人员担任您无权管理的角色，不能通过导入修改")
            else:
                e.append(f"学号/工号 {r.login_id} 已被您管理范围之外的人员使用")
        if not e:
            _classify(r)
    return result


def _existing_people(login_ids: set[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    lowered = sorted({i.lower() for i in login_ids})
    for start in range(0, len(lowered), 500):
        chunk = lowered[start:start + 500]
        for u in db.session.scalars(select(User).where(func.lower(User.login_id).in_(chunk))):
            found[u.login_id.lower()] = u
    return found


def _classify(r: ImportRow) -> None:
    p = r.person
    if p is None:
        r.action = "create"
        return
    wanted = {"name": r.name, "org_unit_id": r.unit.id, "category": r.category}
    if r.joined_on is not None:  # an empty optional cell keeps what is on record
        wanted["joined_on"] = r.joined_on
    if r.phone is not None:
        wanted["phone"] = r.phone
    r.changes = [FIELD_LABELS[k] for k, v in wanted.items() if getattr(p, k) != v]
    r.action = "update" if r.changes else "unchanged"


# --- applying ----------------------------------------------------------------------------------------
def apply(result: ImportPlan, importer: User | None, initial_password: str | None, source: str) -> dict[str, int]:
    """Write a plan without errors (in the caller's transaction) and audit it; returns the counts."""
    from lms.auth.services import hash_password

    if not result.ok:
        raise ImportFileError("文件中还有错误，不能导入")
    creates = result.of("create")
    if creates:
        problems = services.check_initial_password(initial_password or "")
        if problems:
            raise services.AccountError("；".join(problems))
    for r in creates:
        person = services.create_person(
            None, name=r.name, login_id=r.login_id, unit=r.unit, category=r.category, joined_on=r.joined_on,
            phone=r.phone, password_hash=hash_password(initial_password), source="import",
        )
        privacy.record_basis(person, actor=importer, source="import")  # PI-02: the organization's basis
    for r in result.of("update"):
        p = r.person
        p.name, p.category = r.name, r.category
        if r.joined_on is not None:
            p.joined_on = r.joined_on
        if r.phone is not None:
            p.phone = r.phone
        if p.org_unit_id != r.unit.id:
            services.transfer_person(importer, p, r.unit)
    counts = result.counts
    audit.log(
        "people.import", actor=importer, target_type="user",
        details={**counts, "rows": len(result.rows), "source": source, "sha256": result.sha256},
    )
    db.session.flush()
    return counts


# --- keeping an upload until it is confirmed ---------------------------------------------------------
def _stash_dir(instance_path: str) -> Path:
    d = Path(instance_path) / "imports"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def stash(instance_path: str, data: bytes, user_id: int, filename: str) -> str:
    """Keep an uploaded file under the instance folder; returns the random token that names it."""
    purge_stale(instance_path)
    token = secrets.token_urlsafe(24)
    d = _stash_dir(instance_path)
    fd = os.open(d / f"{token}.xlsx", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    meta = {"user_id": user_id, "filename": filename[:200], "created": time.time()}
    (d / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False))
    return token


def load_stash(instance_path: str, token: str, user_id: int) -> tuple[bytes, str] | None:
    """The stashed file and its original name, when `token` is valid, fresh and belongs to `user_id`."""
    if not token or not _TOKEN_RE.match(token):
        return None
    d = _stash_dir(instance_path)
    try:
        meta = json.loads((d / f"{token}.json").read_text())
        data = (d / f"{token}.xlsx").read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("user_id") != user_id or time.time() - meta.get("created", 0) > STASH_TTL_SECONDS:
        return None
    return data, meta.get("filename", "")


def drop_stash(instance_path: str, token: str) -> None:
    if not token or not _TOKEN_RE.match(token):
        return
    d = _stash_dir(instance_path)
    for suffix in (".xlsx", ".json"):
        try:
            (d / f"{token}{suffix}").unlink()
        except FileNotFoundError:
            pass


def purge_stale(instance_path: str) -> int:
    """Remove uploads older than the confirmation window; returns how many files went."""
    d = _stash_dir(instance_path)
    cutoff = time.time() - STASH_TTL_SECONDS
    gone = 0
    for f in d.iterdir():
        try:
            if f.stat().st_mtime < cutoff:
                f.unlink()
                gone += 1
        except FileNotFoundError:
            pass
    return gone
