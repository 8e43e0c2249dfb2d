"""GET /api/nbconvert: the exporter listing, in Jupyter Server's shape."""

from __future__ import annotations

import json

import pytest


@pytest.mark.gen_test(timeout=60)
async def test_api_nbconvert_lists_exporters_with_their_media_types(api):
    response = await api.get("api/nbconvert")
    assert response.status == 200
    listing = response.json()
    assert listing["html"] == {"output_mimetype": "text/html"}
    assert listing["markdown"] == {"output_mimetype": "text/markdown"}
    assert all(set(entry) == {"output_mimetype"} for entry in listing.values())


@pytest.mark.gen_test
async def test_api_nbconvert_needs_auth(api):
    response = await api.get("api/nbconvert", authenticated=False)
    assert response.status == 401
    assert json.loads(response.body)["message"]
