"""Fixtures of the external-notebook tests: the network guard (always on), a local source server,
and servers configured with a short timeout, with or without 127.0.0.1 allowed."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from traitlets.config import Config

from nbserver.app import NotebookServerApp
from tests.support.notebook_source import NetworkGuard, SourceServer, stub_lookup

#: A short fetch timeout, so a stalled source costs a test two seconds.
TEST_TIMEOUT = 2.0


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """Every test here fails if anything connects beyond loopback or looks up a real name."""
    guard = NetworkGuard()
    guard.install(monkeypatch)
    yield guard
    assert guard.violations == [], "traffic beyond loopback was attempted"


@pytest.fixture
def source(io_loop: Any) -> Iterator[SourceServer]:
    server = SourceServer()
    yield server
    io_loop.run_sync(server.close, timeout=10)


@pytest.fixture
def allow_loopback() -> bool:
    """Whether the server under test allows 127.0.0.1/32 (external_allow_networks); override per module."""
    return True


@pytest.fixture
def server_config(allow_loopback: bool) -> dict[str, Any]:
    settings: dict[str, Any] = {"external_timeout": TEST_TIMEOUT}
    if allow_loopback:
        settings["external_allow_networks"] = ["127.0.0.1/32"]
    return {"config": Config({"ExternalNotebooks": settings})}


@pytest.fixture
def lookup_answers() -> dict[str, list[str]]:
    """What the stub resolver answers (name -> addresses); no other name resolves."""
    return {}


@pytest.fixture
def server_app(server_app: NotebookServerApp, lookup_answers: dict[str, list[str]]) -> NotebookServerApp:
    server_app.external_notebooks.lookup = stub_lookup(lookup_answers)
    return server_app
