"""Shared fixtures: an isolated Jupyter environment, a temporary root and an in-process server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from nbserver.app import NotebookServerApp
from tests.support.api_client import APIClient
from tests.support.browser_session import BrowserSession
from tests.support.kernel_processes import kill_kernels_left_running

TEST_TOKEN = "test-token-0123456789"


@pytest.fixture(autouse=True)
def jupyter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Point Jupyter's config, data and runtime folders at temporary ones for every test; after
    it, fail the test that left a kernel running (and kill that kernel)."""
    dirs = {}
    for name in ("config", "data", "runtime"):
        path = tmp_path / f"jupyter-{name}"
        path.mkdir()
        dirs[name] = str(path)
        monkeypatch.setenv(f"JUPYTER_{name.upper()}_DIR", str(path))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    yield dirs
    left = kill_kernels_left_running(dirs["runtime"])
    assert not left, (f"kernel process(es) {left} outlived the test: its kernel manager was never shut "
                      "down (the app fixture does it), which can later hang a thread in the ZMQ context's term()")


@pytest.fixture
def root_dir(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.fixture
def server_config() -> dict[str, Any]:
    """Extra traits for the NotebookServerApp of a test; override in a module to change them."""
    return {}


@pytest.fixture
def server_app(root_dir: Path, server_config: dict[str, Any]) -> Iterator[NotebookServerApp]:
    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False, **server_config)
    app.initialize(argv=[f"--IdentityProvider.token={TEST_TOKEN}"])
    yield app
    NotebookServerApp.clear_instance()


@pytest.fixture
def app(server_app: NotebookServerApp, io_loop: Any) -> Iterator[Any]:
    """The tornado Application that pytest-tornado's http_server serves; its kernels stop after the test."""
    yield server_app.build_web_application()
    io_loop.run_sync(server_app.stop_services, timeout=30)


@pytest.fixture
def api(http_server: Any, http_client: Any, base_url: str) -> APIClient:
    return APIClient(http_client, base_url, TEST_TOKEN)


@pytest.fixture
def token() -> str:
    return TEST_TOKEN


@pytest.fixture
def browser_session(http_server: Any, http_client: Any, base_url: str) -> BrowserSession:
    """A cookie-keeping client, like a browser that has not logged in yet."""
    return BrowserSession(http_client, base_url)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster for the whole run (tests/support/postgres.py). Missing
    PostgreSQL binaries skip the test locally but fail it under CI, where .ci/run installs them."""
    from tests.support.postgres import PostgresCluster, PostgresUnavailable

    try:
        cluster = PostgresCluster()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> Iterator[str]:
    """A fresh empty database on the session's cluster (dropped after the test)."""
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url.rsplit("/", 1)[1])
