"""Access by hub scopes (nbserver.auth.hub.authorizer), with a fake hub API."""

import json

import pytest


@pytest.mark.parametrize("user, scopes, status", [
    ("bob", ["access:servers!user=alice"], 200),
    ("bob", ["access:servers!group=team"], 200),  # alice is in team
    ("admin", ["access:servers"], 200),
    ("bob", ["read:users:name", "access:servers!user=bob"], 403),
    ("bob", ["access:servers!group=elsewhere"], 403),
    ("bob", ["access:servers!server=alice/other"], 403),
])
@pytest.mark.gen_test
async def test_access_needs_a_scope_for_this_server(api, fake_hub, user, scopes, status):
    api.token = fake_hub.state.issue_token(user, scopes)
    response = await api.get("api/contents")
    assert response.status == status
    assert status == 200 or response.json()["reason"] == "Forbidden"


@pytest.mark.gen_test
async def test_me_reports_the_hub_user_and_permissions(api, fake_hub):
    api.token = fake_hub.state.issue_token("bob", ["access:servers!user=alice"])
    response = await api.get("api/me", params={"permissions": json.dumps({"contents": ["read", "write"]})})
    assert response.status == 200
    body = response.json()
    assert body["identity"]["username"] == "bob" and "scopes" not in body["identity"]
    assert body["permissions"] == {"contents": ["read", "write"]}
