"""Running with no token and no password: only with allow_unauthenticated, loudly, still XSRF-checked."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

import pytest

from nbserver.app import NotebookServerApp


@pytest.fixture
def server_app(root_dir: Path) -> Iterator[NotebookServerApp]:
    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False)
    app.initialize(argv=["--allow-unauthenticated"])
    yield app
    NotebookServerApp.clear_instance()


def test_refused_without_the_option(root_dir):
    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False)
    try:
        with pytest.raises(ValueError, match="allow-unauthenticated"):
            app.initialize(argv=["--IdentityProvider.token="])
    finally:
        NotebookServerApp.clear_instance()


def test_the_option_logs_a_loud_warning(root_dir):
    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    app.log.addHandler(handler)
    try:
        app.initialize(argv=["--allow-unauthenticated"])
    finally:
        app.log.removeHandler(handler)
        NotebookServerApp.clear_instance()
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any("AUTHENTICATION IS DISABLED" in message for message in warnings)


@pytest.mark.gen_test(timeout=30)
async def test_requests_need_no_credentials(api):
    response = await api.get("api/me", authenticated=False)
    assert response.status == 200
    assert response.json()["identity"]["username"] == "anonymous"


@pytest.mark.gen_test(timeout=30)
async def test_writes_still_need_xsrf(api, root_dir, browser_session: Any):
    """Without credentials, the XSRF token is what stops a cross-site form from writing."""
    response = await api.put("api/contents/x.txt", {"type": "file", "format": "text", "content": "x"},
                             authenticated=False)
    assert response.status == 403
    assert not (root_dir / "x.txt").exists()
    await browser_session.get("/tree")
    ok = await browser_session.request(
        "PUT", "/api/contents/x.txt", body=b'{"type": "file", "format": "text", "content": "x"}',
        headers={"Content-Type": "application/json", "X-XSRFToken": browser_session.cookies["_xsrf"]})
    assert ok.status == 201
