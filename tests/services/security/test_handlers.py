"""POST /api/security/csp-report: browsers' policy violation reports, logged."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.browser_session import BrowserSession

REPORT = {"csp-report": {"document-uri": "http://127.0.0.1/tree", "violated-directive": "script-src",
                         "blocked-uri": "https://evil.example/x.js"}}


@pytest.mark.gen_test(timeout=30)
async def test_a_report_is_logged_and_answered_204(api, caplog):
    with caplog.at_level(logging.WARNING, logger="nbserver"):
        response = await api.post("api/security/csp-report", raw_body=json.dumps(REPORT).encode(),
                                  headers={"Content-Type": "application/csp-report"})
    assert response.status == 204
    logged = [record.getMessage() for record in caplog.records if "Content security violation" in record.getMessage()]
    assert len(logged) == 1
    assert "violated-directive='script-src'" in logged[0] and "evil.example" in logged[0]


@pytest.mark.gen_test(timeout=30)
async def test_a_report_that_is_not_json_is_logged_as_its_first_bytes(api, caplog):
    with caplog.at_level(logging.WARNING, logger="nbserver"):
        response = await api.post("api/security/csp-report", raw_body=b"\xff not json")
    assert response.status == 204
    assert any("not json" in record.getMessage() for record in caplog.records)


@pytest.mark.gen_test(timeout=30)
async def test_a_report_needs_authentication(api):
    response = await api.post("api/security/csp-report", raw_body=b"{}", authenticated=False)
    assert response.status == 401


@pytest.mark.gen_test(timeout=30)
async def test_a_browser_sends_a_report_with_its_cookie_and_no_xsrf_token(browser_session: BrowserSession, token):
    await browser_session.get(f"/tree?token={token}")
    response = await browser_session.request("POST", "/api/security/csp-report", body=json.dumps(REPORT).encode(),
                                             headers={"Content-Type": "application/csp-report"})
    assert response.status == 204


@pytest.mark.gen_test(timeout=30)
async def test_an_oversized_report_is_413(api):
    response = await api.post("api/security/csp-report", raw_body=b"x" * (65 * 1024))
    assert response.status == 413
