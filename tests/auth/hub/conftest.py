"""Fixtures of the hub mode's tests: a fake hub API and an in-process nbserver-singleuser using it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from nbserver.singleuser import SingleUserServerApp
from tests.support.api_client import APIClient
from tests.support.browser_session import BrowserSession
from tests.support.fake_hub import PREFIX, FakeHub, fake_hub, hub_env  # noqa: F401 (fixtures)

@pytest.fixture
def server_app(root_dir: Path, hub_env: dict[str, str]) -> Iterator[SingleUserServerApp]:
    app = SingleUserServerApp(root_dir=str(root_dir))
    app.initialize(argv=[])
    yield app
    SingleUserServerApp.clear_instance()


@pytest.fixture
def alice_token(fake_hub: FakeHub) -> str:
    return fake_hub.state.issue_token("alice", ["access:servers!server=alice/", "read:users:name!user=alice"])


@pytest.fixture
def api(http_server: Any, http_client: Any, base_url: str, alice_token: str) -> APIClient:
    """A client of alice's server with alice's hub token."""
    return APIClient(http_client, base_url + PREFIX, alice_token)


@pytest.fixture
def browser(http_server: Any, http_client: Any, base_url: str) -> BrowserSession:
    return BrowserSession(http_client, base_url)
