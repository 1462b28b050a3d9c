"""Password policy (dengbao and asvs profiles), the change-password form and the first-login gate (AUTH-03/06)."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import url_for

from lms.auth.services import blocklist, check_password_policy
from lms.testing import TEST_PASSWORD

DATA = Path(__file__).resolve().parents[2] / "lms" / "data" / "common-passwords.txt"


def _top3000():
    return [ln for ln in DATA.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]


def test_blocklist_has_the_top_3000_and_rejects_every_one(app):
    words = _top3000()
    assert len(words) == 3000 and words[0] == "123456"
    for word in words:
        assert "这是常见密码，很容易被猜中，请换一个。" in check_password_policy(word), word


def test_blocklist_ignores_case_and_width(app):
    assert check_password_policy("PASSWORD1")  # in the list as "password1"
    assert "这是常见密码，很容易被猜中，请换一个。" in check_password_policy("Ｐａｓｓｗｏｒｄ１２３")
    assert "password" in blocklist()


@pytest.mark.parametrize(
    "password",
    ["Ab1#xyz", "abcdefgh", "abcdefg1", "ABCDEFG1", "12345678#", "lowercase only here"],
)
def test_dengbao_rejects_short_or_fewer_than_three_classes(app, password):
    assert check_password_policy(password)


@pytest.mark.parametrize("password", ["Hongqi#Piao7", "xuexi-Qiangguo9", "Zhi1Shi_Li", "dang#Xiao2026x"])
def test_dengbao_accepts_three_of_four_classes(app, password):
    assert check_password_policy(password) == []


def test_long_cjk_and_emoji_passphrases_are_accepted_without_class_rule(app, db, users):
    from lms.auth import services

    cjk = ("不忘初心牢记使命为中国人民谋幸福为中华民族谋复兴" * 6)[:128]
    assert len(cjk) == 128
    assert check_password_policy(cjk) == []
    emoji = "🚩学习强国📚每天进步一点点🌟" * 8
    assert check_password_policy(emoji) == []
    assert check_password_policy("correct horse battery staple forever") == []
    services.set_password(users.member, cjk)
    assert services.verify_password(users.member, cjk)
    assert not services.verify_password(users.member, cjk[:-1])
    assert check_password_policy("x" * 64 + "Y1") == []


def test_password_must_not_contain_login_id_or_name(app, users):
    member = users.member
    problems = check_password_policy(f"Ab#{member.login_id}x", member)
    assert "密码不能包含您的学号/工号。" in problems
    problems = check_password_policy(f"{member.name}Ab#12345", member)
    assert "密码不能包含您的姓名。" in problems
    assert check_password_policy("Qing#Shan9Lv", {"login_id": "2024001", "name": "张三"}) == []


def test_asvs_profile_checks_length_and_blocklist_only(app):
    app.config["PASSWORD_POLICY"] = "asvs"
    assert check_password_policy("qingshanlv") == []  # one class only: fine under ASVS
    assert check_password_policy("qingsha")  # too short
    assert check_password_policy("password")


def test_overlong_passwords_are_refused_not_truncated(app):
    assert check_password_policy("Aa1#" * 300)


def test_change_password_shows_policy_errors_beside_the_field(client, users, login_as):
    login_as(client, users.member)
    resp = client.post(
        "/account/password",
        data={"current_password": TEST_PASSWORD, "new_password": "password", "confirm": "password"},
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "这是常见密码" in html
    assert 'class="field  has-error"' in html or "has-error" in html
    resp = client.post(
        "/account/password",
        data={"current_password": "Wrong#Current1", "new_password": "Hongqi#Piao7", "confirm": "Hongqi#Piao7"},
    )
    assert "当前密码不正确" in resp.get_data(as_text=True)
    resp = client.post(
        "/account/password",
        data={"current_password": TEST_PASSWORD, "new_password": "Hongqi#Piao7", "confirm": "Hongqi#Piao8"},
    )
    assert "两次输入的新密码不一致" in resp.get_data(as_text=True)


def test_change_password_succeeds_and_audits(client, db, users, login_as, post_login, audit_rows):
    login_as(client, users.member)
    resp = client.post(
        "/account/password",
        data={"current_password": TEST_PASSWORD, "new_password": "Hongqi#Piao7", "confirm": "Hongqi#Piao7"},
    )
    assert resp.status_code == 302
    assert len(audit_rows("auth.password_change", outcome="success")) == 1
    client.post("/logout")
    assert post_login(client, users.member.login_id, TEST_PASSWORD).status_code == 200
    assert post_login(client, users.member.login_id, "Hongqi#Piao7").status_code == 302


def test_first_login_may_only_change_the_password(app, client, make_user, org, post_login):
    newbie = make_user("新同志", org.a1, must_change=True)
    resp = post_login(client, newbie.login_id)
    assert resp.status_code == 302
    with app.test_request_context():
        change = url_for("auth.change_password")
    skip = {"static", "auth.logout", "auth.login", "main.set_language", "auth.change_password",
            "auth.totp_setup", "auth.totp_verify"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint in skip or rule.endpoint.endswith(".static"):
            continue
        r = client.get(rule.rule)
        if rule.rule.startswith(("/api/", "/xapi/")):
            assert r.status_code in (401, 403) and r.is_json, rule.rule  # APIs answer in JSON
        else:
            assert r.status_code == 302, rule.rule
            assert r.headers["Location"].startswith(change), rule.rule
        checked += 1
    assert checked >= 3
    # POSTs elsewhere are refused the same way.
    r = client.post("/account/sessions/end-others")
    assert r.status_code == 302 and r.headers["Location"].startswith(change)
    assert client.get(change).status_code == 200
    resp = client.post(
        change, data={"current_password": TEST_PASSWORD, "new_password": "Hongqi#Piao7", "confirm": "Hongqi#Piao7"}
    )
    assert resp.status_code == 302
    assert client.get("/account").status_code == 200


def test_password_change_prompt_after_ninety_days(app, db, client, users, post_login):
    from datetime import timedelta

    from lms.timeutil import utcnow

    users.member.password_changed_at = utcnow() - timedelta(days=91)
    db.session.commit()
    resp = post_login(client, users.member.login_id, follow_redirects=True)
    assert "超过 90 天未更换" in resp.get_data(as_text=True)


def test_repeated_wrong_current_password_locks_and_logs_out(client, users, login_as, session_count):
    login_as(client, users.member)
    for _ in range(5):
        resp = client.post(
            "/account/password",
            data={"current_password": "Wrong#Current1", "new_password": "Hongqi#Piao7", "confirm": "Hongqi#Piao7"},
        )
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert session_count(users.member) == 0
