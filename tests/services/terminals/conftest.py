"""Fixtures of the terminal tests: a server whose terminals run a plain bash, and websocket clients."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterator

import pytest

from nbserver.app import NotebookServerApp
from tests.support.api_client import APIClient
from tests.support.terminal_client import TEST_SHELL, TerminalWebsocketClient

WIDE = ["set_size", 40, 200]  # wide enough that no test command wraps


@pytest.fixture
def terminal_app(server_app: NotebookServerApp, http_server: Any) -> NotebookServerApp:
    """The app of the running server, its terminals started with TEST_SHELL."""
    assert server_app.terminal_manager is not None
    server_app.terminal_manager.shell_command = TEST_SHELL
    return server_app


@pytest.fixture
def start_terminal(api: APIClient, terminal_app: NotebookServerApp) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def start(**body: Any) -> dict[str, Any]:
        response = await api.post("api/terminals", body)
        assert response.status == 200, response.body
        return response.json()  # type: ignore[no-any-return]

    return start


@pytest.fixture
def connect_terminal(base_url: str, token: str) -> Iterator[Callable[..., Awaitable[TerminalWebsocketClient]]]:
    clients: list[TerminalWebsocketClient] = []

    async def open_client(name: str, headers: dict[str, str] | None = None) -> TerminalWebsocketClient:
        client = await TerminalWebsocketClient.connect(
            base_url, name, headers if headers is not None else {"Authorization": f"token {token}"})
        clients.append(client)
        client.send(WIDE)
        return client

    yield open_client
    for client in clients:
        client.close()
