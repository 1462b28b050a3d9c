"""Study materials: push to a subtree with notifications, documents shown in the browser, reading credit only
for real reading (forged heartbeats capped), and e-mail through a local stub SMTP server."""
from __future__ import annotations

import io
import socket
import zipfile

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from lms.credits.models import CreditEntry
from lms.notifications.models import Notification
from lms.timeutil import utcnow
from plugins.party_school.models import Material, MaterialReceipt

PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >>"
       b" endobj\n3 0 obj << /Type /Page /MediaBox [0 0 200 200] >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def _docx(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                   'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override '
                   'PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                   f'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p>'
                   '<w:p><w:r><w:t>&lt;script&gt;alert(1)&lt;/script&gt;</w:t></w:r></w:p></w:body></w:document>')
    return buf.getvalue()


def _push(client, org, **extra):
    data = {"title": "学习资料：党章总纲", "org_unit_id": org.a.id, "body": "中国共产党是中国工人阶级的先锋队。" * 10,
            "required_minutes": "1"}
    data.update(extra)
    return client.post("/party-school/admin/materials/new", data=data, content_type="multipart/form-data")


def test_push_reaches_the_subtree_with_a_notification_badge(client, db, users, org, login_as):
    login_as(client, users.org_admin)
    assert _push(client, org).status_code == 302
    m = db.session.scalar(select(Material))
    got = {r.user_id for r in db.session.scalars(select(MaterialReceipt))}
    assert users.member.id in got and users.member_a2.id in got and users.member_b.id not in got
    assert db.session.scalar(select(Notification).where(Notification.user_id == users.member.id)).url == \
        f"/party-school/materials/{m.id}"
    login_as(client, users.member)
    html = client.get("/party-school/materials").get_data(as_text=True)
    assert "学习资料：党章总纲" in html and "未读" in html
    assert '<span class="badge">' in html  # notifications and 党员e家 badges
    login_as(client, users.member_b)
    assert client.get(f"/party-school/materials/{m.id}").status_code == 404
    login_as(client, users.org_admin)
    readers = client.get(f"/party-school/materials/{m.id}").get_data(as_text=True).split('id="readers"')[1]
    assert users.member.name in readers and users.member_b.name not in readers and "读完 0 人" in readers
    login_as(client, users.secretary_b)
    assert client.get(f"/party-school/materials/{m.id}").status_code == 404


def test_secretary_cannot_push_outside_their_branch(client, db, users, org, login_as):
    login_as(client, users.secretary)
    assert _push(client, org).status_code == 403
    assert db.session.scalar(select(Material.id)) is None


def test_pdf_is_shown_inline_from_an_authorized_route(client, db, users, org, login_as):
    login_as(client, users.org_admin)
    resp = _push(client, org, body="", document=(io.BytesIO(PDF), "学习文件.pdf"))
    assert resp.status_code == 302
    m = db.session.scalar(select(Material))
    assert m.kind == "pdf"
    login_as(client, users.member)
    page = client.get(f"/party-school/materials/{m.id}").get_data(as_text=True)
    assert f"/party-school/materials/{m.id}/document.pdf" in page and "<iframe" in page
    doc = client.get(f"/party-school/materials/{m.id}/document.pdf")
    assert doc.status_code == 200 and doc.mimetype == "application/pdf"
    assert doc.headers["Content-Disposition"].startswith("inline")
    assert doc.data == PDF
    doc.close()
    login_as(client, users.member_b)
    assert client.get(f"/party-school/materials/{m.id}/document.pdf").status_code == 404


def test_word_docx_becomes_sanitised_html_and_old_doc_is_refused(client, db, users, org, login_as):
    login_as(client, users.org_admin)
    resp = _push(client, org, body="", document=(io.BytesIO(_docx("学习贯彻全会精神")), "通知.docx"))
    assert resp.status_code == 302
    m = db.session.scalar(select(Material))
    assert m.kind == "docx" and "学习贯彻全会精神" in m.html and "<script" not in m.html
    resp = _push(client, org, title="旧文档", body="", document=(io.BytesIO(b"\xd0\xcf\x11\xe0" + b"\0" * 100), "a.doc"))
    assert resp.status_code == 400 and "另存为 .docx 或 PDF" in resp.get_data(as_text=True)
    resp = _push(client, org, title="图片", body="", document=(io.BytesIO(b"GIF89a...."), "a.gif"))
    assert resp.status_code == 400 and "只能上传 PDF 或 Word" in resp.get_data(as_text=True)
    assert db.session.scalar(select(Material).where(Material.title == "旧文档")) is None


def test_reading_counts_only_real_time_and_the_end(client, db, users, org, login_as):
    with freeze_time(utcnow()) as clock:
        login_as(client, users.org_admin)
        _push(client, org)
        m = db.session.scalar(select(Material))
        assert m.required_seconds == 60
        login_as(client, users.member)
        url = f"/party-school/materials/{m.id}/heartbeat"
        assert client.post(url, json={"seconds": 0}).json["credited"] == 0  # starts the clock
        clock.tick(10)
        forged = client.post(url, json={"seconds": 3600, "end": True}).json
        assert forged["credited"] == 10 and not forged["completed"]  # capped by the wall clock
        clock.tick(400)
        capped = client.post(url, json={"seconds": 400}).json
        assert capped["credited"] == 60 and capped["completed"]  # one report counts at most 60 s
        assert client.post(url, json={"seconds": "x"}).status_code == 400
        assert client.post(url, data="nonsense").status_code == 400
    entry = db.session.scalar(select(CreditEntry).where(CreditEntry.user_id == users.member.id))
    assert entry.source_type == "reading" and entry.evidence["effective_seconds"] == 70
    assert float(entry.hours) == 0.25  # the default tier: under 15 minutes of reading
    assert entry.evidence["url"] == f"/party-school/materials/{m.id}"
    my = client.get("/credits/my").get_data(as_text=True)
    assert "学习资料：党章总纲" in my and f'href="/party-school/materials/{m.id}"' in my


def test_never_reaching_the_end_earns_nothing(client, db, users, org, login_as):
    with freeze_time(utcnow()) as clock:
        login_as(client, users.org_admin)
        _push(client, org)
        m = db.session.scalar(select(Material))
        login_as(client, users.member)
        url = f"/party-school/materials/{m.id}/heartbeat"
        client.post(url, json={"seconds": 0})
        for _ in range(5):
            clock.tick(30)
            result = client.post(url, json={"seconds": 30}).json
    assert result["effective_seconds"] == 150 and not result["completed"]
    assert db.session.scalar(select(CreditEntry.id)) is None


@pytest.fixture
def smtp_stub():
    """A local SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield type("Stub", (), {"port": port, "messages": handler.messages})
    finally:
        controller.stop()


def test_push_with_email_reaches_the_smtp_server(client, app, db, users, org, login_as, smtp_stub):
    app.config.update(PARTY_SCHOOL_SMTP_HOST="127.0.0.1", PARTY_SCHOOL_SMTP_PORT=smtp_stub.port,
                      PARTY_SCHOOL_SMTP_FROM="dangxiao@example.edu.cn")
    login_as(client, users.member)
    assert client.post("/party-school/mail-address", data={"email": "bad"}).status_code == 400
    assert client.post("/party-school/mail-address", data={"email": "lidangyuan@example.edu.cn"}).status_code == 302
    login_as(client, users.org_admin)
    assert _push(client, org, send_email="y").status_code == 302
    assert [m.rcpt_tos for m in smtp_stub.messages] == [["lidangyuan@example.edu.cn"]]
    import email

    msg = email.message_from_bytes(smtp_stub.messages[0].content)
    assert "学习资料：党章总纲" in str(email.header.make_header(email.header.decode_header(msg["Subject"])))
    body = msg.get_payload(decode=True).decode("utf-8")
    m = db.session.scalar(select(Material))
    assert f"http://lms.test/party-school/materials/{m.id}" in body
    receipt = db.session.scalar(select(MaterialReceipt).where(MaterialReceipt.user_id == users.member.id))
    assert receipt.emailed_at is not None
