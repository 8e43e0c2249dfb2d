"""Fixtures of the page tests: a real server as a subprocess and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    start_server,
    stop_process_group,
)


@pytest.fixture
def live_server_args() -> tuple[str, ...]:
    """Extra command-line arguments of the ``live_server``; override in a module to change them."""
    return ()


@pytest.fixture
def live_server(tmp_path: Path, jupyter_env: dict[str, str],
                live_server_args: tuple[str, ...]) -> Iterator[LiveServer]:
    """``python -m nbserver`` on 127.0.0.1, a free port, a temporary root; stopped with its kernels."""
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    server = start_server(root, tmp_path / "server.log", extra_args=live_server_args)
    try:
        yield server
    finally:
        stop_process_group(server.process)
        print("---- server log ----\n" + server.log()[-6000:])  # shown when the test fails


@pytest.fixture
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page; JS errors are collected in ``page.js_errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
