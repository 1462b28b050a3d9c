"""Background work of 党员e家: e-mail notices of pushed study materials through the configured SMTP server."""
from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from lms.accounts.models import User
from lms.extensions import db
from lms.tasks import app_task
from lms.timeutil import utcnow

log = logging.getLogger(__name__)


def _connect():
    cfg = current_app.config
    host, port = cfg["PARTY_SCHOOL_SMTP_HOST"], int(cfg["PARTY_SCHOOL_SMTP_PORT"])
    timeout = float(cfg["PARTY_SCHOOL_SMTP_TIMEOUT"])
    if cfg["PARTY_SCHOOL_SMTP_SSL"]:
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if cfg["PARTY_SCHOOL_SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
    if cfg["PARTY_SCHOOL_SMTP_USER"]:
        smtp.login(cfg["PARTY_SCHOOL_SMTP_USER"], cfg["PARTY_SCHOOL_SMTP_PASSWORD"])
    return smtp


def _claim(receipt_id: int, was, now) -> bool:
    """Move a receipt's emailed_at from `was` to `now` if nobody changed it meanwhile (commits)."""
    from sqlalchemy import update

    from plugins.party_school.models import MaterialReceipt

    res = db.session.execute(
        update(MaterialReceipt).where(MaterialReceipt.id == receipt_id,
                                      MaterialReceipt.emailed_at.is_(None) if was is None
                                      else MaterialReceipt.emailed_at == was)
        .values(emailed_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    return res.rowcount == 1


@app_task(retries=3, retry_delay=120)
def send_material_mail(material_id: int) -> int:
    """E-mail every recipient of a material who has an address and was not mailed yet; returns how many.

    Each person's permission is checked again now (an account disabled since the push gets nothing), and
    each notice is claimed before it is sent (a conditional UPDATE of its receipt, committed), so neither a
    retry after a failure nor a second delivery running at the same time mails anyone twice; a notice whose
    sending fails is released for the retry.
    """
    from plugins.party_school import services
    from plugins.party_school.models import Material, MaterialReceipt

    m = db.session.get(Material, material_id)
    if m is None or not m.send_email or not services.smtp_configured():
        return 0
    cfg = current_app.config
    sender = cfg["PARTY_SCHOOL_SMTP_FROM"] or f"noreply@{cfg['PARTY_SCHOOL_SMTP_HOST']}"
    base = cfg["BASE_URL"].rstrip("/")
    link = base + services.path_for("party_school.material", material_id=m.id)
    rows = db.session.execute(
        select(MaterialReceipt, User).join(User, User.id == MaterialReceipt.user_id)
        .where(MaterialReceipt.material_id == m.id, MaterialReceipt.emailed_at.is_(None))
        .order_by(MaterialReceipt.id)).all()
    sent = 0
    smtp = None
    try:
        for receipt, person in rows:
            if not person.is_active_account:
                continue
            address = services.mail_address(person)
            if not address:
                continue
            msg = EmailMessage()
            with force_locale(cfg["BABEL_DEFAULT_LOCALE"]):  # the site's language: the reader's is not known here
                site = _(cfg["SITE_NAME"])
                subject = _("【%(site)s】学习资料：%(title)s", site=site, title=m.title)
                text = _("%(name)s同志：\n\n组织推送了新的学习资料《%(title)s》，请登录后阅读：\n%(link)s\n\n"
                         "阅读完成后按规定计入学习学时。\n\n（本邮件由系统发送，请勿回复）\n",
                         name=person.name, title=m.title, link=link)
            msg["Subject"] = subject
            msg["From"] = formataddr((site, sender))
            msg["To"] = address
            msg["Message-ID"] = make_msgid(domain="party-school")
            msg.set_content(text)
            stamp = utcnow()
            if not _claim(receipt.id, None, stamp):
                continue  # another delivery of this task has it
            try:
                if smtp is None:
                    smtp = _connect()
                smtp.send_message(msg)
            except Exception:
                _claim(receipt.id, stamp, None)  # not sent: the retry sends it
                raise
            sent += 1
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except smtplib.SMTPException:
                log.info("SMTP quit failed after sending material %s", material_id)
    log.info("material %s: %s e-mail notices sent", material_id, sent)
    return sent
