"""The server info file, and ``nbserver list`` / ``stop`` / ``password`` against real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from nbserver.app import NotebookServerApp
from nbserver.auth.passwords import password_matches
from nbserver.auth.serverinfo import running_servers

START_SECONDS = 30
COMMAND_SECONDS = 30
SERVER_TOKEN = "discovery-test-token-0123456789"


def run_nbserver(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbserver", *args], input=stdin, capture_output=True,
                          text=True, timeout=COMMAND_SECONDS, env=dict(os.environ))


def wait_for_info_file(runtime_dir: Path, pid: int, process: subprocess.Popen[bytes]) -> dict:
    path = runtime_dir / f"nbserver-{pid}.json"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except ValueError:
                pass  # written atomically, but be patient anyway
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        time.sleep(0.1)
    raise RuntimeError("no info file appeared")


@pytest.fixture
def server_process(root_dir: Path, jupyter_env: dict[str, str], tmp_path: Path) -> Iterator[tuple]:
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "nbserver", "--no-browser", "--ip", "127.0.0.1", "--port", "0",
             "--root-dir", str(root_dir), f"--IdentityProvider.token={SERVER_TOKEN}",
             "--NotebookServerApp.max_body_size=1024"],
            stdout=log_file, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=True,
        )
    try:
        info = wait_for_info_file(Path(jupyter_env["runtime"]), process.pid, process)
        yield process, info, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@pytest.mark.timeout(60)
def test_info_file_is_private_and_describes_the_server(server_process, jupyter_env, root_dir):
    process, info, _ = server_process
    path = Path(jupyter_env["runtime"]) / f"nbserver-{process.pid}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert info["pid"] == process.pid
    assert info["token"] == SERVER_TOKEN
    assert info["root_dir"] == str(root_dir)
    assert info["url"] == f"http://127.0.0.1:{info['port']}/"
    with urllib.request.urlopen(info["url"] + "api", timeout=10) as response:
        assert json.load(response)["version"]


@pytest.mark.timeout(60)
def test_list_prints_running_servers_with_urls(server_process):
    _, info, _ = server_process
    result = run_nbserver("list")
    assert result.returncode == 0, result.stderr
    assert f"{info['url']}?token={SERVER_TOKEN} :: {info['root_dir']}" in result.stdout
    as_json = run_nbserver("list", "--json")
    listed = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [entry["port"] for entry in listed] == [info["port"]]


@pytest.mark.timeout(60)
def test_stop_stops_the_server_and_removes_its_info_file(server_process, jupyter_env):
    process, info, _ = server_process
    result = run_nbserver("stop", str(info["port"]))
    assert result.returncode == 0, result.stderr
    assert process.wait(15) == 0
    assert not (Path(jupyter_env["runtime"]) / f"nbserver-{process.pid}.json").exists()
    assert "Running nbservers:" in run_nbserver("list").stdout
    assert str(info["port"]) not in run_nbserver("list").stdout


@pytest.mark.timeout(60)
def test_stop_unknown_port_fails(server_process):
    _, info, _ = server_process
    result = run_nbserver("stop", str(info["port"] + 1 if info["port"] < 65535 else 1))
    assert result.returncode == 1
    assert "no running nbserver" in result.stderr


@pytest.mark.timeout(60)
def test_sigterm_removes_the_info_file(server_process, jupyter_env):
    process, _, _ = server_process
    process.send_signal(signal.SIGTERM)
    process.wait(15)
    assert not (Path(jupyter_env["runtime"]) / f"nbserver-{process.pid}.json").exists()


@pytest.mark.timeout(60)
def test_log_shows_the_token_only_in_the_startup_url(server_process):
    process, info, log_path = server_process
    base = info["url"]
    for url, headers in ((f"{base}tree?token={SERVER_TOKEN}", {}),
                         (f"{base}api/contents/missing?token={SERVER_TOKEN}", {"Referer": f"{base}?token={SERVER_TOKEN}"}),
                         (f"{base}api/nope", {"Authorization": f"token {SERVER_TOKEN}", "Cookie": "a=b"}),
                         (f"{base}api/status?token=wrong-{SERVER_TOKEN}", {})):
        request = urllib.request.Request(url, headers=headers)
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError:
            pass
    process.send_signal(signal.SIGTERM)
    process.wait(15)
    lines = log_path.read_text().splitlines()
    with_token = [line for line in lines if SERVER_TOKEN in line]
    assert len(with_token) == 1 and "Open this URL in a browser" in with_token[0], with_token
    assert any("/api/contents/missing" in line for line in lines)  # requests were logged, without secrets


@pytest.mark.timeout(60)
def test_oversized_body_is_413_on_a_real_server(server_process):
    _, info, _ = server_process
    request = urllib.request.Request(
        info["url"] + "api/contents/big.txt", method="PUT", data=b"x" * 4096,
        headers={"Authorization": f"token {SERVER_TOKEN}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 413
    assert json.load(raised.value)["reason"] == "Payload Too Large"


@pytest.mark.timeout(60)
def test_password_command_stores_a_private_scrypt_hash(jupyter_env):
    result = run_nbserver("password", stdin="s3cret pass\n")
    assert result.returncode == 0, result.stderr
    path = Path(jupyter_env["config"]) / "nbserver_config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    hashed = json.loads(path.read_text())["IdentityProvider"]["hashed_password"]
    assert hashed.startswith("scrypt:")
    assert "s3cret" not in path.read_text()
    assert password_matches("s3cret pass", hashed)
    assert not password_matches("s3cret pas", hashed)


@pytest.mark.timeout(60)
def test_server_uses_the_stored_password_and_no_token(jupyter_env, root_dir):
    assert run_nbserver("password", stdin="pw-for-server\n").returncode == 0
    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False)
    try:
        app.initialize(argv=[])
        assert password_matches("pw-for-server", app.identity_provider.hashed_password)
        assert app.identity_provider.token == ""
        assert app.identity_provider.secret_matches("pw-for-server")
    finally:
        NotebookServerApp.clear_instance()


@pytest.mark.timeout(60)
def test_password_command_keeps_other_settings(jupyter_env):
    path = Path(jupyter_env["config"]) / "nbserver_config.json"
    path.write_text(json.dumps({"NotebookServerApp": {"port": 9999}}))
    assert run_nbserver("password", stdin="another one\n").returncode == 0
    config = json.loads(path.read_text())
    assert config["NotebookServerApp"] == {"port": 9999}
    assert "hashed_password" in config["IdentityProvider"]


@pytest.mark.timeout(60)
def test_no_token_and_no_password_refuses_to_start(root_dir):
    result = run_nbserver("--no-browser", "--port", "0", "--root-dir", str(root_dir), "--IdentityProvider.token=")
    assert result.returncode == 2
    assert "allow-unauthenticated" in result.stderr


@pytest.mark.timeout(60)
def test_stale_info_files_are_not_listed(jupyter_env):
    runtime = Path(jupyter_env["runtime"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    (runtime / f"nbserver-{dead.pid}.json").write_text(json.dumps({"pid": dead.pid, "port": 1, "url": "x"}))
    assert running_servers(str(runtime)) == []
    assert not (runtime / f"nbserver-{dead.pid}.json").exists()


@pytest.mark.gen_test(timeout=30)
async def test_browser_opens_a_private_redirect_file_not_the_token_url(server_app, token, monkeypatch,
                                                                       jupyter_env):
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    server_app.port = 0
    server_app.open_browser = True
    server_app.start_server()
    try:
        for _ in range(50):
            if opened:
                break
            await asyncio.sleep(0.05)
        assert len(opened) == 1 and opened[0].startswith("file://")
        assert token not in opened[0]
        redirect_file = Path(server_app.browser_open_file)
        assert stat.S_IMODE(redirect_file.stat().st_mode) == 0o600
        assert f"tree?token={token}" in redirect_file.read_text()
        info_file = Path(server_app.info_file)
        assert info_file.parent == Path(jupyter_env["runtime"])
        assert stat.S_IMODE(info_file.stat().st_mode) == 0o600
    finally:
        await server_app.cleanup()
    assert not redirect_file.exists()
    assert not info_file.exists()
