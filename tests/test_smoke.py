def test_login_page_renders_in_chinese(client):
    resp = client.get("/login")
    assert resp.status_code == 200
    assert "登录" in resp.get_data(as_text=True)
    assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]


def test_logged_in_member_sees_home(client, users, login_as):
    login_as(client, users.member)
    resp = client.get("/")
    assert resp.status_code == 200
    assert "李党员" in resp.get_data(as_text=True)
