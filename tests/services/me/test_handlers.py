"""GET /api/me: the identity model and the permissions query, as Jupyter Server answers them."""

from __future__ import annotations

import json

import pytest

IDENTITY_FIELDS = {"username", "name", "display_name", "initials", "avatar_url", "color"}


@pytest.mark.gen_test(timeout=30)
async def test_me_returns_the_identity_fields(api):
    response = await api.get("api/me")
    assert response.status == 200
    body = response.json()
    assert set(body) == {"identity", "permissions"}
    assert set(body["identity"]) == IDENTITY_FIELDS
    assert body["permissions"] == {}


@pytest.mark.gen_test(timeout=30)
async def test_me_reports_requested_permissions(api):
    asked = {"contents": ["read", "write"], "kernels": ["execute"]}
    response = await api.get("api/me", params={"permissions": json.dumps(asked)})
    assert response.status == 200
    assert response.json()["permissions"] == asked


@pytest.mark.parametrize("bad", ["not json", "[]", '{"contents": "read"}', '{"contents": [1]}'])
@pytest.mark.gen_test(timeout=30)
async def test_malformed_permissions_is_400(api, bad):
    response = await api.get("api/me", params={"permissions": bad})
    assert response.status == 400
    assert set(response.json()) == {"message", "reason"}
    assert response.json()["message"].startswith("permissions should be a JSON dict")


@pytest.mark.gen_test(timeout=30)
async def test_me_without_auth_is_401(api):
    assert (await api.get("api/me", authenticated=False)).status == 401
