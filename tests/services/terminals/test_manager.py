"""TerminalManager: culling, no process left behind on delete and server shutdown, the session sweep."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nbserver.services.terminals.manager import TerminalManager, kill_session
from tests.support.api_client import APIClient
from tests.support.server_process import ServerProcess
from tests.support.terminal_client import TEST_SHELL_ARGS, TerminalWebsocketClient

pytestmark = pytest.mark.timeout(90)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def wait_until_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """Wait until none of ``pids`` runs; return those still running at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if process_alive(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        await asyncio.sleep(0.05)


def force_kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def shell_and_jobs(client: TerminalWebsocketClient) -> list[int]:
    """Start a background job and a SIGHUP-proof one in the terminal; return the shell's and their PIDs."""
    output = await client.run("sleep 300 & echo job=$!; nohup sleep 301 >/dev/null 2>&1 & echo job=$! shell=$$",
                              "pids")
    pids = [int(pid) for pid in re.findall(r"(?:job|shell)=(\d+)", output)]
    assert len(pids) == 3 and all(process_alive(pid) for pid in pids), output
    return pids


# -- culling -------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_idle_terminal_is_culled_and_a_busy_one_is_not(api, terminal_app, start_terminal, connect_terminal):
    manager = terminal_app.terminal_manager
    manager.cull_inactive_timeout = 2.0  # the busy one prints every 0.2 s: a wide margin on a loaded machine
    manager.cull_interval = 0.2
    await start_terminal(name="idle")
    await start_terminal(name="busy")
    idle = await connect_terminal("idle")
    busy = await connect_terminal("busy")
    shell_pid = int(await idle.run("echo $$", "pid"))
    busy.stdin("while :; do echo tick; sleep 0.2; done\r")
    deadline = time.monotonic() + 15
    names = ["idle", "busy"]
    while "idle" in names and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        names = [model["name"] for model in (await api.get("api/terminals")).json()]
    assert names == ["busy"]
    await idle.wait_closed()
    assert idle.messages[-1] == ["disconnect", 1]
    assert await wait_until_gone([shell_pid]) == []
    assert (await api.get("api/terminals/busy")).status == 200


@pytest.mark.gen_test(timeout=60)
async def test_no_culling_by_default(api, terminal_app, start_terminal):
    manager = terminal_app.terminal_manager
    assert manager.cull_inactive_timeout == 0
    await start_terminal()
    manager.cull_interval = 0.01
    await manager.cull_inactive_terminals()  # a check now still culls nothing: 0 means never
    assert not manager._culler.running
    assert [model["name"] for model in (await api.get("api/terminals")).json()] == ["1"]


# -- nothing left behind -------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_delete_kills_the_shell_and_every_job_it_started(api, start_terminal, connect_terminal):
    await start_terminal()
    pids = await shell_and_jobs(await connect_terminal("1"))
    try:
        assert (await api.delete("api/terminals/1")).status == 204
        assert await wait_until_gone(pids) == []
    finally:
        force_kill(pids)


@pytest.mark.gen_test(timeout=60)
async def test_shutdown_all_kills_every_terminal_process(terminal_app, start_terminal, connect_terminal):
    await start_terminal()
    await start_terminal()
    pids = await shell_and_jobs(await connect_terminal("1")) + await shell_and_jobs(await connect_terminal("2"))
    try:
        await terminal_app.terminal_manager.shutdown_all()
        assert await wait_until_gone(pids) == []
        assert terminal_app.terminal_manager.list_terminals() == []
    finally:
        force_kill(pids)


@pytest.mark.slow
@pytest.mark.gen_test(timeout=90)
async def test_server_stopped_by_sigterm_leaves_no_terminal_process(tmp_path: Path, http_client):
    root = tmp_path / "served"
    root.mkdir()
    pids: list[int] = []
    with ServerProcess(root, *TEST_SHELL_ARGS) as server:
        api = APIClient(http_client, server.base_url, server.token)
        response = await api.post("api/terminals", {})
        assert response.status == 200, response.body
        client = await TerminalWebsocketClient.connect(
            server.base_url, response.json()["name"], {"Authorization": f"token {server.token}"})
        try:
            client.send(["set_size", 40, 200])
            pids = await shell_and_jobs(client)
            assert server.stop(signal.SIGTERM) == 0, server.log
        finally:
            client.close()
    try:
        assert await wait_until_gone(pids) == []
        assert "Closing 1 terminal(s)" in server.log
    finally:
        force_kill(pids)


# -- the session sweep ---------------------------------------------------------------------


def test_kill_session_kills_every_member_of_the_session_only():
    leader = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 301 & echo $!; wait"], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    bystander = subprocess.Popen(["sleep", "302"])
    try:
        assert leader.stdout is not None
        member = int(leader.stdout.readline())
        assert os.getsid(member) == leader.pid
        assert kill_session(leader.pid) == 3
        leader.wait(10)
        deadline = time.monotonic() + 10
        while process_alive(member) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(member)
        assert bystander.poll() is None
    finally:
        for process in (leader, bystander):
            process.kill()
            process.wait(10)
        if leader.stdout is not None:
            leader.stdout.close()


def test_kill_session_never_touches_the_servers_own_session():
    assert kill_session(os.getsid(0)) == 0
    assert kill_session(0) == 0


def test_shell_defaults_to_the_shell_variable_else_bash(monkeypatch):
    monkeypatch.setenv("SHELL", "/bin/zsh-of-the-user")
    assert TerminalManager().shell_command == ["/bin/zsh-of-the-user"]
    monkeypatch.delenv("SHELL")
    assert TerminalManager().shell_command == ["bash"]


@pytest.mark.gen_test(timeout=30)
async def test_a_shell_that_cannot_start_is_a_clear_500(api, terminal_app):
    terminal_app.terminal_manager.shell_command = ["/no/such/shell"]
    response = await api.post("api/terminals", {})
    assert response.status == 500
    assert response.json()["message"] == "The terminal's shell could not be started; see the server log."
    assert (await api.get("api/terminals")).json() == []
