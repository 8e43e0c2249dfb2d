"""``GET /api/external`` and ``POST /api/files/import`` against a local source allowed by
``external_allow_networks=["127.0.0.1/32"]`` (checklist items 42-47)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.api_client import APIClient
from tests.support.notebook_source import SourceServer
from tests.services.external.conftest import TEST_TIMEOUT

pytestmark = pytest.mark.timeout(60)


@pytest.mark.gen_test(timeout=30)
async def test_valid_notebook_renders_sandboxed_without_scripts(api: APIClient, source: SourceServer) -> None:
    response = await api.get("api/external", params={"source": source.url("nb.ipynb")})
    assert response.status == 200, response.body
    assert response.headers["Content-Type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox;") and "allow-scripts" not in csp and "allow-same-origin" not in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert b"Hello from afar" in response.body
    assert source.log == ["/nb.ipynb"]
