"""年度学时证明 and course certificates: Chinese text in the PDF, a QR code to a public page that shows the
issuing organization, the figures and the SHA-256 of the ledger rows (and nothing personal), and the
requirement per role (56 hours for secretaries)."""
from __future__ import annotations

import hashlib
import io
import json
import re
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy import select

from lms.credits import services as credits
from lms.credits.models import CreditEntry
from plugins.party_school.models import Certificate
from plugins.party_school.tests.conftest import complete_course


def _text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _has(text: str, words: str) -> bool:
    """Whitespace-blind: the PDF wraps lines wherever the width ends."""
    return re.sub(r"\s", "", words) in re.sub(r"\s", "", text)


def _expected_hash(db, user_id: int, year: int) -> str:
    """Recomputed here from the ledger rows, independently of the plugin's code."""
    rows = db.session.scalars(select(CreditEntry).where(CreditEntry.user_id == user_id, CreditEntry.year == year)
                              .order_by(CreditEntry.id))
    data = [{"id": e.id, "user_id": e.user_id, "year": e.year, "source_type": e.source_type,
             "source_id": e.source_id, "course_id": e.course_id, "hours": f"{Decimal(e.hours):.2f}",
             "earned_at": e.earned_at.isoformat()} for e in rows]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def test_annual_statement_pdf_has_chinese_text_and_a_verifiable_hash(client, app, db, users, org, courses,
                                                                      login_as):
    complete_course(users.member, courses.a)
    credits.award(users.member, source_type="training", source_id="t1", hours=3, evidence={"organizer_id": 1},
                  title="专题培训")
    db.session.commit()
    year = credits.local_year()
    login_as(client, users.member)
    resp = client.get("/party-school/statement.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = _text(resp.data)
    for words in (f"{year} 年度学时证明", "李党员", "党章党规专题", "年度学时要求为 32 学时", "某大学党委"):
        assert _has(text, words), words
    cert = db.session.scalar(select(Certificate))
    assert cert.figures["total"] == "7.00" and cert.issuer == "某大学党委"
    url = re.search(r"http://lms\.test/party-school/verify/[A-Za-z0-9_-]+", re.sub(r"\s", "", text)).group(0)
    # the QR opens the certificate's random token (32 URL-safe characters), never the person's id
    assert url.rsplit("/", 1)[1] == cert.token and len(cert.token) == 32
    assert f"/{users.member.id}" not in url and users.member.login_id not in url

    anonymous = app.test_client()
    page = anonymous.get(url.removeprefix("http://lms.test"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    expected = _expected_hash(db, users.member.id, year)
    assert cert.ledger_hash == expected and expected in html
    assert "某大学党委" in html and 'data-verify-state="ok"' in html and ">7<" in html
    assert "李党员" not in html and users.member.login_id not in html  # no personal data

    entry = db.session.scalar(select(CreditEntry).where(CreditEntry.source_id == "t1"))
    entry.hours = Decimal("30")
    db.session.commit()
    html = anonymous.get(url.removeprefix("http://lms.test")).get_data(as_text=True)
    assert 'data-verify-state="changed"' in html
    assert anonymous.get("/party-school/verify/not-a-token").status_code == 404


def test_downloading_again_reuses_the_certificate_while_the_ledger_is_unchanged(client, db, users, login_as):
    login_as(client, users.member)
    client.get("/party-school/statement.pdf")
    client.get("/party-school/statement.pdf")
    assert len(list(db.session.scalars(select(Certificate)))) == 1


def test_secretary_statement_uses_the_56_hour_requirement(client, db, users, login_as):
    login_as(client, users.secretary)
    text = _text(client.get("/party-school/statement.pdf").data)
    assert _has(text, "年度学时要求为 56 学时") and _has(text, "支部书记")
    login_as(client, users.member)
    text = _text(client.get("/party-school/statement.pdf").data)
    assert _has(text, "年度学时要求为 32 学时")


def test_course_certificate_only_after_completion(client, db, users, courses, login_as):
    login_as(client, users.member)
    resp = client.get(f"/party-school/courses/{courses.a.id}/certificate.pdf")
    assert resp.status_code == 302
    complete_course(users.member, courses.a)
    db.session.commit()
    resp = client.get(f"/party-school/courses/{courses.a.id}/certificate.pdf")
    assert resp.status_code == 200
    text = _text(resp.data)
    assert _has(text, "结业证书") and _has(text, "《党章党规专题》") and _has(text, "4 学时")
    cert = db.session.scalar(select(Certificate).where(Certificate.kind == "course"))
    html = client.application.test_client().get(f"/party-school/verify/{cert.token}").get_data(as_text=True)
    assert "党章党规专题" in html and cert.ledger_hash in html


def test_my_credits_page_offers_the_statement(client, db, users, org, courses, assign, login_as):
    assign(users.org_admin, org.a, [courses.a])
    login_as(client, users.member)
    html = client.get("/credits/my").get_data(as_text=True)
    assert "/party-school/statement.pdf" in html and "本年度必修课程 1 门，已完成 0 门" in html
