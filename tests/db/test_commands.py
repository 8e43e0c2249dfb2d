"""``nbserver db upgrade`` / ``status`` as a user runs them, and a server's start-up check."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import psycopg

from nbserver.db.migrations import registered

from tests.support.postgres import PostgresCluster

COMPONENT = textwrap.dedent('''
    from nbserver.db.migrations import Migration
    MIGRATIONS = [Migration(1, "widgets", ("CREATE TABLE widgets (id int)",)),
                  Migration(2, "gadgets", ("CREATE TABLE gadgets (id int)",))]
''')

# Runs nbserver's command line with one extra migration component registered (the real components
# arrive with the PostgreSQL stores; this keeps the command's own test independent of them).
RUNNER = textwrap.dedent('''
    import sys
    from nbserver.db import migrations
    migrations.COMPONENTS["widgets"] = "widgets_schema"
    from nbserver.app import main
    main(sys.argv[1:])
''')


def nbserver(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "widgets_schema.py").write_text(COMPONENT)
    (tmp_path / "run.py").write_text(RUNNER)
    full_env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.getcwd()}", **(env or {}))
    return subprocess.run([sys.executable, str(tmp_path / "run.py"), *args], capture_output=True, text=True,
                          timeout=60, env=full_env, cwd=tmp_path)


def test_upgrade_then_status(tmp_path: Path, postgres_url: str) -> None:
    status = nbserver(tmp_path, "db", "status", f"--url={postgres_url}")
    assert status.returncode == 2, status.stderr
    assert "pending widgets 1: widgets" in status.stdout and "pending widgets 2: gadgets" in status.stdout
    upgraded = nbserver(tmp_path, "db", "upgrade", env={"NBSERVER_DATABASE_URL": postgres_url})
    assert upgraded.returncode == 0, upgraded.stderr
    applied = 2 + sum(len(known) for known in registered().values())  # the real components' too
    assert "applied widgets 1: widgets" in upgraded.stdout and f"{applied} migration(s) applied" in upgraded.stdout
    again = nbserver(tmp_path, "db", "upgrade", f"--Database.url={postgres_url}")
    assert again.returncode == 0 and "0 migration(s) applied" in again.stdout
    status = nbserver(tmp_path, "db", "status", f"--url={postgres_url}")
    assert status.returncode == 0 and "widgets: version 2" in status.stdout and "schema up to date" in status.stdout
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('gadgets') IS NOT NULL").fetchone() == (True,)


def test_errors_are_one_line_without_the_password(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    postgres_cluster.sql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'carol') "
                         "THEN CREATE ROLE carol LOGIN PASSWORD 'right-pw'; END IF; END $$")
    url = postgres_cluster.url("postgres", user="carol", password="wrong-pw-secret")
    result = nbserver(tmp_path, "db", "upgrade", f"--url={url}")
    assert result.returncode == 1
    assert "database error" in result.stderr and "password authentication failed" in result.stderr
    assert "wrong-pw-secret" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    missing = nbserver(tmp_path, "db", "upgrade", env={"NBSERVER_DATABASE_URL": ""})
    assert missing.returncode == 1 and "No database URL" in missing.stderr


def test_server_refuses_to_start_on_an_old_schema_unless_asked_to_upgrade(
        tmp_path: Path, postgres_url: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    refused = nbserver(tmp_path, f"--root-dir={root}", "--no-browser", "--port=0", f"--Database.url={postgres_url}")
    assert refused.returncode == 2
    assert "schema is behind" in refused.stderr and "nbserver db upgrade" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_upgrade_on_start(postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from traitlets.config import Config

    from nbserver.app import NotebookServerApp
    from nbserver.db import migrations

    (tmp_path / "widgets_schema.py").write_text(COMPONENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(migrations.COMPONENTS, "widgets", "widgets_schema")
    app = NotebookServerApp(config=Config({"Database": {"url": postgres_url, "upgrade_on_start": True}}))
    database = app.init_database()
    assert database.configured
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT max(version) FROM nbserver_schema WHERE component = 'widgets'").fetchone() == (2,)
