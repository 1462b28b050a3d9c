"""Scanning an upload and keeping what does not pass aside (UP-09), without request objects.

Every module that accepts a file calls `check()` before it decodes, converts, stores or serves the file:

    verdict = quarantine.check("article.pdf", data=data, filename=name, uploader=user, ref=lesson.id)
    if not verdict.ok:
        raise ArticleError(verdict.message)       # and the view calls keep_refusal(verdict)

- clean, or not scanned (UPLOAD_SCANNER = none): `ok`, the result is on the verdict to be recorded;
- infected: the file goes to UPLOAD_QUARANTINE_ROOT (outside MEDIA_ROOT and static, never served),
  a `quarantined_file` row, an audit row and a notification to every system administrator;
- the scanner could not tell (error): UPLOAD_SCAN_FAIL decides. "hold" quarantines the file like an
  infected one (reason scan_error) when the module can resume it after an administrator's release (the
  micro-lecture video: the uploader need not send a large file again); a module that answers while the
  uploader waits (images, documents) cannot, and refuses it with "try again later". "reject" refuses always.

`check()` writes files, not rows: `record(verdict)` adds the rows to the session (the micro-lecture
upload does it in its own transaction), or `keep_refusal(verdict)` rolls the caller's refused work back
and commits only the rows of the refusal, as the 403 handler does for its audit row.
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from lms import scanning
from lms.audit import services as audit
from lms.extensions import db
from lms.notifications.services import message, notify, register
from lms.quarantine.models import QuarantinedFile
from lms.timeutil import utcnow

log = logging.getLogger(__name__)

HOLD, REJECT = "hold", "reject"
N_QUARANTINED = register("上传的文件已被隔离：%(name)s（%(kind)s，%(reason)s）")
N_SCAN_FAILED = register("上传的文件未能完成安全检查，已被拒收：%(name)s（%(kind)s）")


class QuarantineError(ValueError):
    """A refused administrator action; the message is a sentence for the user."""


@dataclass(frozen=True)
class KindInfo:
    label: object  # lazy string
    # Resumes a released file: (row, path of the file) -> a callable to run after the commit, or None.
    release: Callable | None = None


def register_kind(app, kind: str, label, release: Callable | None = None) -> None:
    """A module declares the files it has scanned (called from its init_app)."""
    app.extensions.setdefault("lms_quarantine_kinds", {})[kind] = KindInfo(label, release)


def kind_info(kind: str) -> KindInfo | None:
    return current_app.extensions.get("lms_quarantine_kinds", {}).get(kind)


def root() -> Path:
    return Path(scanning.quarantine_root(current_app.config)).resolve()


def check_root(app) -> None:
    """Refuse to start when the quarantine folder could be served (inside MEDIA_ROOT or a static folder)."""
    with app.app_context():
        q = root()
        served = [Path(app.config.get("MEDIA_ROOT") or Path(app.instance_path) / "media").resolve()]
        if app.static_folder:
            served.append(Path(app.static_folder).resolve())
        for s in served:
            if q == s or s in q.parents or q in s.parents:
                raise RuntimeError(f"UPLOAD_QUARANTINE_ROOT {q} must be outside the served folder {s}")
        policy = app.config.get("UPLOAD_SCAN_FAIL")
        if policy not in (HOLD, REJECT):
            raise RuntimeError(f"UPLOAD_SCAN_FAIL must be 'hold' or 'reject', not {policy!r}")
        if app.config.get("ENV") == "production" and str(app.config.get("UPLOAD_SCANNER") or "none") == "none":
            log.warning("UPLOAD_SCANNER is 'none': uploads are stored without a malware scan "
                        "(set LMS_UPLOAD_SCANNER=clamd or command; SECURITY.md, malware scanning)")


@dataclass
class Verdict:
    kind: str
    result: scanning.ScanResult
    action: str  # pass | quarantine | reject
    message: str | None = None  # for the uploader, in their language
    filename: str = ""
    uploader_id: int | None = None
    ref: str | None = None
    size: int = 0
    sha256: str = ""
    stored_name: str | None = None
    entry: QuarantinedFile | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.action == "pass"

    @property
    def scan(self) -> str:
        """The word for the caller's own audit row: clean | not_scanned | infected | error."""
        return self.result.status


def _new_name() -> str:
    return f"{utcnow():%Y%m%d}-{secrets.token_hex(16)}.bin"


def _digest(path: Path | None = None, data: bytes | None = None) -> tuple[int, str]:
    if data is not None:
        return len(data), hashlib.sha256(data).hexdigest()
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


def _keep(path: str | None, data: bytes | None) -> str:
    """Move (or write) the file into the quarantine folder, readable by the service only."""
    folder = root()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = _new_name()
    target = folder / name
    if path is not None:
        shutil.move(path, target)
    else:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    os.chmod(target, 0o600)
    return name


def check(kind: str, *, filename: str, uploader=None, path: str | None = None, data: bytes | None = None,
          ref=None, can_hold: bool = False) -> Verdict:
    """Scan one uploaded file (a path, which is moved away when it does not pass, or bytes)."""
    result = scanning.scan_path(path) if path is not None else scanning.scan_bytes(data or b"")
    v = Verdict(kind, result, "pass", filename=(filename or "")[:255], uploader_id=getattr(uploader, "id", None),
                ref=None if ref is None else str(ref)[:64])
    if result.passed:
        return v
    v.size, v.sha256 = _digest(Path(path) if path is not None else None, data)
    policy = current_app.config["UPLOAD_SCAN_FAIL"]
    if result.status == scanning.INFECTED or (policy == HOLD and can_hold):
        v.action = "quarantine"
        v.stored_name = _keep(path, data)
        if result.status == scanning.INFECTED:
            v.message = _("文件未通过安全检查：发现疑似恶意代码。文件已被隔离，不会发布；如有疑问请联系系统管理员。")
        else:
            v.message = _("文件未通过安全检查：安全检查暂时无法完成，文件已交由系统管理员处理，"
                          "检查通过后会继续处理，无需重新上传。")
    else:
        v.action = "reject"
        v.message = _("文件未通过安全检查：安全检查暂时无法完成，文件没有保存。请稍后再试；如果一直如此，请联系系统管理员。")
    return v


def _sysadmins():
    from lms.accounts.models import RoleAssignment, User

    ids = select(RoleAssignment.user_id).where(RoleAssignment.role == "sysadmin").distinct()
    return list(db.session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id)))


def record(v: Verdict) -> QuarantinedFile | None:
    """Add the rows of a refused or quarantined upload to the session: the quarantine row (when the file
    was kept), an audit row and a notification to every system administrator."""
    if v.ok:
        return None
    from lms.accounts.models import User

    uploader = db.session.get(User, v.uploader_id) if v.uploader_id else None
    info = kind_info(v.kind)
    kind_text = str(info.label) if info else v.kind
    details = {"kind": v.kind, "ref": v.ref, "scanner": v.result.scanner, "result": v.result.status,
               "signature": v.result.signature, "size": v.size, "sha256": v.sha256}
    if v.action == "quarantine":
        row = QuarantinedFile(kind=v.kind, ref=v.ref, filename=v.filename or "-", stored_name=v.stored_name,
                              size=v.size, sha256=v.sha256,
                              reason="infected" if v.result.status == scanning.INFECTED else "scan_error",
                              signature=v.result.signature, scanner=v.result.scanner, detail=v.result.detail,
                              status="held", uploader_id=v.uploader_id, created_at=utcnow())
        db.session.add(row)
        db.session.flush()
        v.entry = row
        audit.log("upload.quarantine", row, outcome="denied", actor=uploader, details=details)
        title = message(N_QUARANTINED, name=v.filename[:80] or "-", kind=kind_text,
                        reason=v.result.signature or row.reason_label)
        url = "/admin/quarantine"
    else:
        row = None
        audit.log("upload.scan_error", outcome="failure", actor=uploader, target_type="upload", target_id=v.ref,
                  details={**details, "detail": (v.result.detail or "")[:300]})
        title = message(N_SCAN_FAILED, name=v.filename[:80] or "-", kind=kind_text)
        url = "/admin/quarantine"
    for admin in _sysadmins():
        notify(admin, title=title, body=v.result.detail or "", url=url, kind="system")
    return row


def keep_refusal(v: Verdict) -> QuarantinedFile | None:
    """For a view that refuses the upload: drop its uncommitted work, keep only the refusal's rows."""
    db.session.rollback()
    row = record(v)
    db.session.commit()
    return row


def discard(v: Verdict) -> None:
    """The caller could not record the verdict (its transaction failed): do not leave an orphan file."""
    if v.stored_name:
        (root() / v.stored_name).unlink(missing_ok=True)


# --- administration -----------------------------------------------------------------------------------------
def listing(status: str | None = "held"):
    q = select(QuarantinedFile).order_by(QuarantinedFile.id.desc())
    if status:
        q = q.where(QuarantinedFile.status == status)
    return q


def file_path(row: QuarantinedFile) -> Path | None:
    if not row.stored_name:
        return None
    p = (root() / row.stored_name).resolve()
    return p if p.parent == root() and p.is_file() else None


def delete(row: QuarantinedFile, actor, note: str = "") -> None:
    """Remove the file for good (the row stays as the record of what was found)."""
    if row.status == "deleted":
        raise QuarantineError(_("这个文件已经删除。"))
    path = file_path(row)
    row.status, row.decided_by_id, row.decided_at = "deleted", getattr(actor, "id", None), utcnow()
    row.decision_note = (note or "").strip()[:1000] or None
    audit.log("upload.quarantine.delete", row, actor=actor,
              details={"kind": row.kind, "sha256": row.sha256, "signature": row.signature})
    stored, row.stored_name = row.stored_name, None
    db.session.flush()
    if path is not None:
        path.unlink(missing_ok=True)
    log.info("quarantined file %s (%s) deleted", row.id, stored)


@dataclass
class Release:
    row: QuarantinedFile
    rescan: scanning.ScanResult
    after_commit: Callable | None = None


def release(row: QuarantinedFile, actor, *, override: bool = False, note: str = "") -> Release:
    """Let a held file continue: only when a new scan passes it, or by the administrator's explicit decision
    (`override`, with a reason), which the audit row records with the new scan's result."""
    if row.status != "held":
        raise QuarantineError(_("只能放行隔离中的文件。"))
    info = kind_info(row.kind)
    if info is None or info.release is None:
        raise QuarantineError(_("这类文件在上传时已被拒收，无法放行；如确认安全，请让上传人重新上传，或删除此文件。"))
    path = file_path(row)
    if path is None:
        raise QuarantineError(_("隔离的文件已不存在，无法放行。"))
    rescan = scanning.scan_path(str(path))
    if rescan.status == scanning.INFECTED and not override:
        raise QuarantineError(_("重新检查仍发现恶意代码（%(signature)s），不能放行。", signature=rescan.signature or "-"))
    if rescan.status != scanning.CLEAN and not override:
        raise QuarantineError(_("重新检查没有得出“安全”的结果，不能自动放行；如确认文件安全，"
                                "请选择“由我决定放行”并填写理由。"))
    if override and not (note or "").strip():
        raise QuarantineError(_("由管理员决定放行时，必须填写理由。"))
    row.status, row.decided_by_id, row.decided_at = "released", getattr(actor, "id", None), utcnow()
    row.decision_note = (note or "").strip()[:1000] or None
    audit.log("upload.quarantine.release", row, actor=actor,
              details={"kind": row.kind, "sha256": row.sha256, "override": bool(override),
                       "rescan": rescan.status, "rescan_signature": rescan.signature, "note": row.decision_note})
    after = info.release(row, str(path))
    row.stored_name = None  # the module took the file back
    db.session.flush()
    return Release(row, rescan, after)
