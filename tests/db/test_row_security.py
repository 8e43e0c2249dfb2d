"""Row-level security (nbserver.db.security): one user's server, and anyone holding its database
credentials, cannot read or change another user's rows.

One database for the module, migrated by the admin (the cluster's superuser) and two user roles
made by `nbserver db create-role`; alice's real nbserver (PostgreSQL contents) saves a notebook,
alice's own stores write a row in every other table, and bob then tries raw SQL and his own server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from psycopg import errors as pg_errors

from nbserver.db.config import ConfigurationError, Database
from nbserver.db.migrations import upgrade
from nbserver.db.security import (POLICY, SCHEMA_TABLE, USERS_GROUP, check_server_role, create_user_role, owner_tables,
                                  role_problems)
from nbserver.services.files.links_store import ShareRecord
from nbserver.services.files.pg_store import PostgresMetadataStore
from nbserver.services.files.store import TrashRecord, now
from nbserver.services.search.extract import Document, Segment
from nbserver.services.search.pg_index import PostgresSearchIndex
from nbserver.services.sessions.manager import SessionRow
from nbserver.services.sessions.pg_store import PostgresSessionStore

from tests.services.contents.postgres.test_server import request as server_request
from tests.support.postgres import PostgresCluster
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.timeout(300)

MANAGER = "nbserver.services.contents.postgres.manager.PostgresContentsManager"
NOTEBOOK = {"cells": [{"cell_type": "markdown", "id": "plan", "metadata": {}, "source": "alice's secret plan"}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def nbserver_db(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbserver", "db", *args], capture_output=True, text=True, timeout=60)


def request(server: ServerProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, decoded JSON body or the raw bytes) of one API call to ``server``."""
    status, _, raw = server_request(server, method, path.lstrip("/"), body)
    return status, json.loads(raw) if raw.startswith(b"{") else raw


class Setting:
    """The module's database: its admin URL, and the two users' roles and URLs."""

    def __init__(self, cluster: PostgresCluster, admin_url: str) -> None:
        self.cluster = cluster
        self.admin_url = admin_url
        self.dbname = admin_url.rsplit("/", 1)[1]
        suffix = uuid.uuid4().hex[:6]
        self.alice, self.bob = f"alice_{suffix}", f"bob_{suffix}"
        self.urls: dict[str, str] = {}

    def admin(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.cluster.sql(statement, dbname=self.dbname, params=params)

    def connect(self, role: str) -> psycopg.Connection[Any]:
        return psycopg.connect(self.urls[role], autocommit=True)


@pytest.fixture(scope="module")
def setting(postgres_cluster: PostgresCluster) -> Iterator[Setting]:
    """A migrated database with roles alice_* and bob_* from `nbserver db create-role` (their
    passwords as it printed them); roles and database are dropped afterwards."""
    setting = Setting(postgres_cluster, postgres_cluster.create_database())
    try:
        with psycopg.connect(setting.admin_url, autocommit=True) as conn:
            upgrade(conn)  # as `nbserver db upgrade` (its grants come with create-role)
        for role in (setting.alice, setting.bob):
            created = nbserver_db("create-role", role, f"--url={setting.admin_url}")
            assert created.returncode == 0, created.stderr
            assert f"created role {role}" in created.stdout
            password = next(line.split(": ", 1)[1] for line in created.stdout.splitlines()
                            if line.startswith("password: "))
            setting.urls[role] = postgres_cluster.url(setting.dbname, role, password)
        yield setting
    finally:
        postgres_cluster.drop_database(setting.dbname)
        for role in (setting.alice, setting.bob):
            postgres_cluster.sql(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture(scope="module")
def alice_server(setting: Setting, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Alice's server, refusing to start with a privileged role; she saves secret.ipynb through it."""
    server = ServerProcess(tmp_path_factory.mktemp("alice"), f"--NotebookServerApp.contents_manager_class={MANAGER}",
                           f"--Database.url={setting.urls[setting.alice]}", "--Database.require_row_security=True",
                           "--Database.upgrade_on_start=True")  # nothing to apply: a user role may ask
    try:
        server.wait_until_serving(60)
        status, _ = request(server, "PUT", "/api/contents/secret.ipynb", {"type": "notebook", "content": NOTEBOOK})
        assert status == 201
        status, _ = request(server, "POST", "/api/contents/secret.ipynb/checkpoints")
        assert status == 201
        # A share link through her file services: its key row is hers too (fs_share_keys).
        status, found = request(server, "GET", "/api/files/lookup?path=secret.ipynb")
        assert status == 200, found
        status, shared = request(server, "PATCH", f"/api/files/{found['id']}", {"world_readable": True})
        assert status == 200, shared
        yield server
    finally:
        server.stop()


async def insert_session(database: Database) -> None:
    try:
        await PostgresSessionStore(database, database.role).insert(
            SessionRow(uuid.uuid4().hex, "secret.ipynb", "secret.ipynb", "notebook", uuid.uuid4().hex))
    finally:
        await database.close()


@pytest.fixture(scope="module")
def alice_rows(setting: Setting, alice_server: ServerProcess) -> dict[str, int]:
    """Alice's rows in every table holding user data, written by her own stores (so her role's grants
    are enough for them), and a staged upload chunk; returns each table's count of alice's rows."""
    database = Database(url=setting.urls[setting.alice])
    assert database.role == setting.alice
    store = PostgresMetadataStore(database, database.role)
    index = PostgresSearchIndex(database, database.role, "tsvector")
    try:
        store.open()
        record = store.assign("secret.ipynb", "notebook")
        store.set_star("alice", record.id, True)
        store.add_edge("https://example.org/plan.ipynb", record.id, "import")
        store.set_share(record.id, ShareRecord(record.id, b"\x01" * 32, b"salt", now(), "alice"))
        trash = TrashRecord(uuid.uuid4().hex, record.id, "secret.ipynb", ".trash/1", now(), "alice", 10, "pending")
        store.begin("trash", {"path": "secret.ipynb"}, trash)
        index.open()
        index.put(record.id, "secret.ipynb", "fp", Document("secret.ipynb", "plan", [Segment("markdown", "plan")]))
        asyncio.run(insert_session(database))
    finally:
        index.close()
        store.close()
    with setting.connect(setting.alice) as conn:
        conn.execute("INSERT INTO contents_uploads (path, seq, data) VALUES ('big.bin', 1, 'chunk')")
    with psycopg.connect(setting.admin_url) as conn:
        tables = owner_tables(conn)
    counts = {table: setting.admin(f"SELECT count(*) FROM {table} WHERE owner = %s", (setting.alice,))[0][0]
              for table in tables}
    assert all(counts.values()), counts  # every table holds something of alice's
    return counts


@pytest.fixture(scope="module")
def bob_server(setting: Setting, alice_rows: dict[str, int],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("bob"), f"--NotebookServerApp.contents_manager_class={MANAGER}",
                           f"--Database.url={setting.urls[setting.bob]}", "--Database.require_row_security=True")
    try:
        yield server.wait_until_serving(60)
    finally:
        server.stop()


def test_every_table_with_user_data_has_its_policy_forced(setting: Setting) -> None:
    """Every table of the schema but nbserver_schema has an owner column, row-level security enabled
    AND forced (its owner obeys it too) and the owner policy for reads and writes: a table added by
    a later migration without owner_policy() fails here."""
    with psycopg.connect(setting.admin_url) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind IN ('r', 'p')")}
        protected = owner_tables(conn)
        policies = conn.execute("SELECT tablename, policyname, cmd, array_to_string(roles, ','), qual, with_check FROM pg_policies "
                                "WHERE schemaname = current_schema()").fetchall()
    assert tables - set(protected) == {SCHEMA_TABLE}
    assert {"contents_blobs", "contents_chunks", "contents_files", "fs_files", "search_docs",
            "kernel_sessions"} <= set(protected)
    assert [table for table, forced in protected.items() if not forced] == []
    rule = "(owner = (CURRENT_USER)::text)"
    assert sorted(row[0] for row in policies) == sorted(protected)
    assert {tuple(row[1:]) for row in policies} == {(POLICY, "ALL", "public", rule, rule)}


def test_nothing_runs_with_the_owners_rights(setting: Setting) -> None:
    """No SECURITY DEFINER function and no view (a view reads with its owner's rights unless
    security_invoker) in the schema: nothing reads the tables around the policies."""
    with psycopg.connect(setting.admin_url) as conn:
        definers = conn.execute("SELECT proname FROM pg_proc WHERE prosecdef "
                                "AND pronamespace = current_schema()::regnamespace").fetchall()
        views = conn.execute("SELECT relname FROM pg_class WHERE relkind IN ('v', 'm') "
                             "AND relnamespace = current_schema()::regnamespace").fetchall()
    assert definers == [] and views == []


def test_user_roles_get_only_protected_tables_and_no_privileges(setting: Setting) -> None:
    with psycopg.connect(setting.admin_url) as conn:
        grants = conn.execute("SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                              "WHERE grantee = %s", (USERS_GROUP,)).fetchall()
        protected = owner_tables(conn)
        flags = conn.execute("SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole FROM pg_roles "
                             "WHERE rolname IN (%s, %s)", (setting.alice, setting.bob)).fetchall()
    assert {(table, kind) for table, kind in grants if table != SCHEMA_TABLE} == {
        (table, kind) for table in protected for kind in ("SELECT", "INSERT", "UPDATE", "DELETE")}
    assert {kind for table, kind in grants if table == SCHEMA_TABLE} == {"SELECT"}
    assert flags == [(False, False, False, False)] * 2
    with setting.connect(setting.alice) as conn:
        assert role_problems(conn) == []


def test_bob_reads_nothing_of_alices_in_any_table(setting: Setting, alice_rows: dict[str, int],
                                                  bob_server: ServerProcess) -> None:
    with setting.connect(setting.bob) as conn:
        for table in alice_rows:
            owners = {row[0] for row in conn.execute(f"SELECT owner FROM {table}")}
            assert owners <= {setting.bob}, table
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            assert "secret" not in repr(rows), table
        # the planner's statistics (most common values...) of protected tables are hidden from him
        setting.admin("ANALYZE")
        assert setting.admin("SELECT count(*) FROM pg_stats WHERE tablename = 'contents_files'") != [(0,)]
        seen = conn.execute("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema()").fetchall()
        assert {row[0] for row in seen} & set(alice_rows) == set()
        # with row security off a query that it would filter fails instead of showing everything
        conn.execute("SET row_security = off")
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM contents_files")


def test_guessed_blob_hashes_and_ids_lead_nowhere(setting: Setting, alice_rows: dict[str, int],
                                                  bob_server: ServerProcess) -> None:
    """Blobs are per owner: bob finds alice's content neither by hash nor by id, saving the same
    bytes gives him a blob of his own, and his rows cannot point at hers."""
    blob_id, digest = setting.admin("SELECT id, sha256 FROM contents_blobs WHERE owner = %s AND sha256 IS NOT NULL "
                                    "LIMIT 1", (setting.alice,))[0]
    with setting.connect(setting.bob) as conn:
        assert conn.execute("SELECT * FROM contents_blobs WHERE sha256 = %s OR id = %s", (digest, blob_id)).fetchall() == []
        assert conn.execute("SELECT * FROM contents_chunks WHERE blob = %s", (blob_id,)).fetchall() == []
        with pytest.raises(pg_errors.ForeignKeyViolation):
            conn.execute("INSERT INTO contents_files (path, parent, name, is_dir, blob, size, sha256) "
                         "VALUES ('stolen.ipynb', '', 'stolen.ipynb', false, %s, 1, %s)", (blob_id, digest))
        with pytest.raises(pg_errors.ForeignKeyViolation):
            conn.execute("INSERT INTO contents_checkpoints (owner, path, id, blob, last_modified) "
                         "VALUES (current_user, '', 'c', %s, now())", (blob_id,))
    status, _ = request(bob_server, "PUT", "/api/contents/copy.ipynb", {"type": "notebook", "content": NOTEBOOK})
    assert status == 201
    owners = setting.admin("SELECT owner FROM contents_blobs WHERE sha256 = %s ORDER BY owner", (digest,))
    assert owners == sorted([(setting.alice,), (setting.bob,)])


def test_bob_cannot_write_rows_in_alices_name(setting: Setting, bob_server: ServerProcess) -> None:
    with setting.connect(setting.bob) as conn:
        with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO contents_uploads (owner, path, seq, data) VALUES (%s, 'x', 1, 'x')",
                         (setting.alice,))
        with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO kernel_sessions (owner, session_id, path, name, type, kernel_id) "
                         "VALUES (%s, 's', 'p', 'n', 't', 'k')", (setting.alice,))
        conn.execute("INSERT INTO contents_uploads (path, seq, data) VALUES ('mine', 1, 'x')")
        with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("UPDATE contents_uploads SET owner = %s", (setting.alice,))
        conn.execute("DELETE FROM contents_uploads")
    assert setting.admin("SELECT count(*) FROM contents_uploads WHERE path IN ('x', 'mine')") == [(0,)]


def test_bobs_server_shows_nothing_of_alices(setting: Setting, alice_rows: dict[str, int],
                                             bob_server: ServerProcess) -> None:
    status, listing = request(bob_server, "GET", "/api/contents")
    assert status == 200 and "secret.ipynb" not in [item["name"] for item in listing["content"]]
    assert request(bob_server, "GET", "/api/contents/secret.ipynb")[0] == 404
    assert request(bob_server, "GET", "/files/secret.ipynb")[0] == 404
    assert request(bob_server, "GET", "/api/contents/secret.ipynb/checkpoints")[0] == 404
    assert "can read or change every user's rows" not in bob_server.log


def test_a_privileged_role_is_refused_or_warned_at_start(setting: Setting, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """The superuser (and the tables' owner) could read everyone's rows: with require_row_security
    the server refuses to start, naming why; without, it logs a warning."""
    refused = subprocess.run(
        [sys.executable, "-m", "nbserver", "--no-browser", f"--root-dir={tmp_path}", "--port=0",
         f"--NotebookServerApp.contents_manager_class={MANAGER}", f"--Database.url={setting.admin_url}",
         "--Database.require_row_security=True"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "is a superuser" in refused.stdout + refused.stderr and "create-role" in refused.stdout + refused.stderr
    with psycopg.connect(setting.admin_url) as conn:
        with pytest.raises(ConfigurationError, match="superuser"):
            check_server_role(conn, Database(url=setting.admin_url, require_row_security=True),
                              logging.getLogger("test"))
        with caplog.at_level(logging.WARNING, logger="test"):
            check_server_role(conn, Database(url=setting.admin_url), logging.getLogger("test"))
        assert "can read or change every user's rows" in caplog.text


def test_a_role_owning_the_tables_is_a_problem(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    """The admin need not be a superuser; it still must not serve users: it can turn the policies off."""
    role, dbname = f"admin_{uuid.uuid4().hex[:6]}", postgres_url.rsplit("/", 1)[1]
    postgres_cluster.sql(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    try:
        postgres_cluster.sql(f"ALTER SCHEMA public OWNER TO {role}", dbname=dbname)
        with psycopg.connect(postgres_cluster.url(dbname, role, "pw"), autocommit=True) as conn:
            upgrade(conn)
            problems = role_problems(conn)
        assert len(problems) == 1 and "owns the tables" in problems[0]
    finally:
        postgres_cluster.drop_database(dbname)
        postgres_cluster.sql(f"DROP ROLE {role}")


def test_create_role_checks_names_and_existing_roles(setting: Setting) -> None:
    again = nbserver_db("create-role", setting.alice, f"--url={setting.admin_url}")
    assert again.returncode == 0 and f"updated role {setting.alice}" in again.stdout
    assert "password:" not in again.stdout  # an existing role keeps its password
    with setting.connect(setting.alice) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (setting.alice,)
    privileged = f"priv_{uuid.uuid4().hex[:6]}"
    setting.cluster.sql(f"CREATE ROLE {privileged} LOGIN BYPASSRLS")
    try:
        with psycopg.connect(setting.admin_url, autocommit=True) as conn:
            with pytest.raises(ValueError, match="Role names"):
                create_user_role(conn, "Robert'); DROP TABLE x; --", "pw")
            with pytest.raises(ValueError, match="privileged"):
                create_user_role(conn, privileged, None)
    finally:
        setting.cluster.sql(f"DROP ROLE {privileged}")


# Dependent tables first, so that bob's deletes of his own rows meet no foreign key of his.
DELETE_ORDER = ("contents_checkpoints", "contents_files", "contents_chunks", "contents_blobs")


def test_bob_changes_and_deletes_nothing_of_alices(setting: Setting, alice_rows: dict[str, int],
                                                   alice_server: ServerProcess, bob_server: ServerProcess) -> None:
    """UPDATE and DELETE without WHERE, as bob, touch exactly bob's own rows (last in the module:
    it empties bob's tables)."""
    tables = sorted(alice_rows, key=lambda table: (DELETE_ORDER + (table,)).index(table))
    with setting.connect(setting.bob) as conn:
        with conn.transaction():
            for table in tables:
                his = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                assert conn.execute(f"UPDATE {table} SET owner = owner").rowcount == (his[0] if his else -1)
                assert conn.execute(f"DELETE FROM {table}").rowcount == (his[0] if his else -1)
        for statement in ("TRUNCATE contents_files CASCADE", "ALTER TABLE contents_files DISABLE ROW LEVEL SECURITY",
                          f"DROP POLICY {POLICY} ON contents_chunks", "SELECT setval('contents_version_seq', 1)"):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(statement)
    after = {table: setting.admin(f"SELECT count(*) FROM {table} WHERE owner = %s", (setting.alice,))[0][0]
             for table in alice_rows}
    assert after == alice_rows
    assert setting.admin("SELECT count(*) FROM contents_files WHERE owner = %s", (setting.bob,)) == [(0,)]
    status, model = request(alice_server, "GET", "/api/contents/secret.ipynb")
    assert status == 200 and model["content"]["cells"][0]["source"] == "alice's secret plan"
