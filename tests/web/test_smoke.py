def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in to Clinic" in response.data


def test_signed_in_user_sees_home(client, login):
    user = login("front_desk")
    response = client.get("/")
    assert response.status_code == 200
    assert user.full_name.encode() in response.data
