"""Real nbserver processes on PostgreSQL, driven over HTTP: the schema made by `nbserver db upgrade`,
a contents round trip read through a second replica, checkpoints, /files ranges, and a server
killed in the middle of a large save leaving the old version whole."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import nbformat
import psycopg
import pytest

from tests.support.server_process import ServerProcess

MANAGER = "nbserver.services.contents.postgres.manager.PostgresContentsManager"


def db_upgrade(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbserver", "db", "upgrade", f"--url={url}"],
                          capture_output=True, text=True, timeout=60)


def request(server: ServerProcess, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(server.base_url + path, data=data, method=method,
                                 headers={"Authorization": f"token {server.token}", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def schema_url(postgres_url: str) -> str:
    """A database whose schema `nbserver db upgrade` made."""
    made = db_upgrade(postgres_url)
    assert made.returncode == 0, made.stderr
    assert "applied contents 1:" in made.stdout
    return postgres_url


@pytest.fixture
def servers(schema_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two replicas on the same database (root folders of their own, unused)."""
    started: list[ServerProcess] = []
    try:
        for number in range(2):
            root = tmp_path / f"replica{number}"
            root.mkdir()
            started.append(ServerProcess(root, f"--NotebookServerApp.contents_manager_class={MANAGER}",
                                         f"--Database.url={schema_url}").wait_until_serving(60))
        yield started
    finally:
        for server in started:
            server.stop()


def test_db_upgrade_creates_the_contents_tables(schema_url: str) -> None:
    with psycopg.connect(schema_url) as conn:
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'contents_%'")}
    assert tables == {"contents_blobs", "contents_chunks", "contents_files", "contents_checkpoints",
                      "contents_uploads"}
    assert "0 migration(s) applied" in db_upgrade(schema_url).stdout


def test_server_without_a_database_url_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NBSERVER_DATABASE_URL"}
    result = subprocess.run([sys.executable, "-m", "nbserver", "--no-browser", f"--root-dir={tmp_path}",
                             f"--NotebookServerApp.contents_manager_class={MANAGER}"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0 and "Database.url" in result.stderr and "Traceback" not in result.stderr


def test_contents_checkpoints_and_files_over_http_on_two_replicas(servers: list[ServerProcess]) -> None:
    one, two = servers
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    status, _, body = request(one, "PUT", "api/contents/n.ipynb", {"type": "notebook", "content": nb})
    assert status == 201, body
    status, _, body = request(two, "GET", "api/contents/n.ipynb")
    assert status == 200 and json.loads(body)["content"]["cells"][0]["source"] == "x = 1"
    assert request(one, "GET", "api/contents/n.ipynb?content=0&hash=1")[2] == \
        request(two, "GET", "api/contents/n.ipynb?content=0&hash=1")[2]

    status, _, body = request(two, "POST", "api/contents/n.ipynb/checkpoints")
    assert status == 201 and json.loads(body)["id"] == "checkpoint"
    nb.cells[0].source = "x = 2"
    assert request(one, "PUT", "api/contents/n.ipynb", {"type": "notebook", "content": nb})[0] == 200
    checkpoints = json.loads(request(one, "GET", "api/contents/n.ipynb/checkpoints")[2])
    assert [c["id"] for c in checkpoints] == ["checkpoint"]
    assert request(one, "POST", "api/contents/n.ipynb/checkpoints/checkpoint")[0] == 204
    assert json.loads(request(two, "GET", "api/contents/n.ipynb")[2])["content"]["cells"][0]["source"] == "x = 1"

    assert request(one, "PUT", "api/contents/sub", {"type": "directory"})[0] == 201
    text = "0123456789abcdef" * 100
    assert request(one, "PUT", "api/contents/sub/t.txt", {"type": "file", "format": "text", "content": text})[0] == 201
    status, _, body = request(two, "PATCH", "api/contents/sub", {"path": "moved"})
    assert status == 200 and json.loads(body)["path"] == "moved"
    listing = json.loads(request(one, "GET", "api/contents/moved")[2])
    assert [c["path"] for c in listing["content"]] == ["moved/t.txt"]
    status, headers, body = request(two, "GET", "files/moved/t.txt", headers={"Range": "bytes=10-19"})
    assert status == 206 and body == text[10:20].encode() and headers["Content-Range"] == f"bytes 10-19/{len(text)}"
    assert request(one, "GET", "api/contents/nothing.txt")[0] == 404
    assert request(one, "PUT", "api/contents/moved", {"type": "file", "format": "text", "content": "x"})[0] == 409
    assert request(one, "PUT", "api/contents/no/such/t.txt", {"type": "file", "format": "text", "content": "x"})[0] == 404


def _writing_transactions(url: str) -> int:
    """How many of the servers' transactions are writing chunks of a blob now."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name = 'nbserver' AND backend_xid IS NOT NULL "
                           "AND query LIKE 'INSERT INTO contents_chunks%'").fetchone()
    return int(row[0]) if row else 0


def test_server_killed_mid_save_leaves_the_old_version_whole(servers: list[ServerProcess], schema_url: str) -> None:
    one = servers[0]
    old = os.urandom(3 * 1024 * 1024)
    body = {"type": "file", "format": "base64", "content": base64.b64encode(old).decode()}
    assert request(one, "PUT", "api/contents/data.bin", body)[0] == 201
    new = os.urandom(60 * 1024 * 1024)
    big = json.dumps({"type": "file", "format": "base64", "content": base64.b64encode(new).decode()}).encode()
    outcome: list[Any] = []
    sender = threading.Thread(target=lambda: outcome.append(_try(lambda: request(one, "PUT", "api/contents/data.bin",
                                                                              big, timeout=120))))
    sender.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not _writing_transactions(schema_url):
        time.sleep(0.005)
    assert time.monotonic() < deadline, "the save never started writing"
    os.killpg(one.process.pid, signal.SIGKILL)
    one.process.wait(timeout=30)
    sender.join(timeout=60)
    assert outcome and isinstance(outcome[0], Exception)  # the client saw the connection die
    deadline = time.monotonic() + 30
    while _writing_transactions(schema_url) and time.monotonic() < deadline:
        time.sleep(0.05)  # the database rolls the dead server's transaction back
    status, _, read = request(servers[1], "GET", "files/data.bin")
    assert status == 200 and read == old
    with psycopg.connect(schema_url) as conn:
        (sha,) = conn.execute("SELECT sha256 FROM contents_files WHERE path = 'data.bin'").fetchone() or (None,)
        assert sha == hashlib.sha256(old).hexdigest()
        assert conn.execute("SELECT count(*) FROM contents_blobs WHERE sha256 IS NULL").fetchone() == (0,)


def _try(func: Any) -> Any:
    try:
        return func()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc


def test_readme_names_the_command_and_settings_these_tests_use() -> None:
    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text()
    section = readme.split("### Run nbserver on PostgreSQL", 1)[1].split("\n### ", 1)[0]
    assert f"--NotebookServerApp.contents_manager_class={MANAGER}" in section
    assert "nbserver db upgrade --url " in section and "--Database.url=" in section
