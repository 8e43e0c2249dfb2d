"""A configured Authorizer turns forbidden actions of a valid identity into 403, and shapes /api/me."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado import websocket
from tornado.httpclient import HTTPClientError, HTTPRequest

from nbserver.auth.authorizer import Authorizer
from tests.support.routes import KERNEL_ID


class ReadOnlyAuthorizer(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return action == "read"


@pytest.fixture
def server_config() -> dict[str, Any]:
    return {"authorizer_class": ReadOnlyAuthorizer}


@pytest.mark.gen_test(timeout=30)
async def test_allowed_action_passes(api):
    assert (await api.get("api/contents")).status == 200


@pytest.mark.gen_test(timeout=30)
async def test_forbidden_action_of_a_valid_identity_is_403_json(api, root_dir):
    response = await api.put("api/contents/x.txt", {"type": "file", "format": "text", "content": "x"})
    assert response.status == 403
    assert response.json() == {"message": "You may not write contents.", "reason": "Forbidden"}
    assert not (root_dir / "x.txt").exists()


@pytest.mark.gen_test(timeout=30)
async def test_missing_credentials_stay_401_not_403(api):
    assert (await api.put("api/contents/x.txt", {}, authenticated=False)).status == 401


@pytest.mark.gen_test(timeout=30)
async def test_kernel_websocket_needs_execute(http_server, base_url, token):
    url = base_url.replace("http://", "ws://") + f"/api/kernels/{KERNEL_ID}/channels"
    with pytest.raises(HTTPClientError) as raised:
        await websocket.websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}))
    assert raised.value.code == 403


@pytest.mark.gen_test(timeout=30)
async def test_me_reports_only_granted_permissions(api):
    asked = {"contents": ["read", "write"], "kernels": ["execute", "read"]}
    response = await api.get("api/me", params={"permissions": json.dumps(asked)})
    assert response.json()["permissions"] == {"contents": ["read"], "kernels": ["read"]}
