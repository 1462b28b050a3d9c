"""The `quarantined_file` table: one row per uploaded file kept aside because a scan did not pass it."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.extensions import db
from lms.timeutil import utcnow

REASONS = {"infected": _l("检测到恶意代码"), "scan_error": _l("无法完成安全检查")}
STATUSES = {"held": _l("隔离中"), "released": _l("已放行"), "deleted": _l("已删除")}


class QuarantinedFile(db.Model):
    __tablename__ = "quarantined_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)  # "<module>.<what>", see KINDS
    ref: Mapped[str | None] = mapped_column(String(64))  # the module's handle (an upload token, a lesson id)
    filename: Mapped[str] = mapped_column(String(255))  # the uploader's name for it: metadata only
    stored_name: Mapped[str | None] = mapped_column(String(80))  # under UPLOAD_QUARANTINE_ROOT; None once deleted
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(16))  # infected | scan_error
    signature: Mapped[str | None] = mapped_column(String(255))
    scanner: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)  # the scanner's error, for administrators
    status: Mapped[str] = mapped_column(String(16), default="held", index=True)  # held | released | deleted
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)

    uploader: Mapped[User | None] = relationship(foreign_keys=[uploader_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def reason_label(self) -> str:
        return str(REASONS.get(self.reason, self.reason))

    @property
    def status_label(self) -> str:
        return str(STATUSES.get(self.status, self.status))

    @property
    def kind_label(self) -> str:
        from lms.quarantine.services import kind_info

        info = kind_info(self.kind)
        return str(info.label) if info else self.kind
