"""A throwaway PostgreSQL cluster for tests: Debian's PostgreSQL binaries, ``initdb`` in a
temporary folder (as the ``postgres`` user when run as root: the server refuses to run as root),
a free loopback port, fsync off, stopped and removed after the run.

``pg_hba.conf`` trusts the superuser ``postgres`` on loopback and the socket, and asks every other
role for its password (scram-sha-256), so tests of per-user roles use real credentials.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any

SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (Debian: apt-get install postgresql)."""


def server_bin_dir() -> str:
    """The newest Debian PostgreSQL ``bin`` folder (``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PostgresUnavailable("PostgreSQL server binaries not found (apt-get install postgresql)")
    return os.path.dirname(found[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """One running cluster. ``url()`` gives a libpq URL for a database and role on it."""

    def __init__(self) -> None:
        self.bin_dir = server_bin_dir()
        self.base = tempfile.mkdtemp(prefix="nbserver-pg-")
        self.data_dir = os.path.join(self.base, "data")
        self.socket_dir = os.path.join(self.base, "sock")
        self.log_file = os.path.join(self.base, "server.log")
        self.port = 0
        self.pid: int | None = None
        self._run_as: pwd.struct_passwd | None = pwd.getpwnam(SUPERUSER) if os.geteuid() == 0 else None
        os.mkdir(self.socket_dir)
        if self._run_as is not None:
            for path in (self.base, self.socket_dir):
                os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def _command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        user = self._run_as

        def demote() -> None:
            if user is not None:
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)

        env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
        env.pop("PGDATA", None)
        return subprocess.run(
            [os.path.join(self.bin_dir, args[0]), *args[1:]], preexec_fn=demote, env=env, cwd=self.base,
            capture_output=True, text=True, timeout=timeout, check=True,
        )

    def start(self) -> None:
        """initdb, configure and start; raises RuntimeError with the server log on failure."""
        self._command("initdb", "-D", self.data_dir, "-U", SUPERUSER, "-E", "UTF8", "--locale=C.UTF-8",
                      "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        with open(os.path.join(self.data_dir, "pg_hba.conf"), "w") as hba:
            hba.write("local all all trust\n"
                      f"host all {SUPERUSER} 127.0.0.1/32 trust\n"
                      "host all all 127.0.0.1/32 scram-sha-256\n")
        settings = {
            "listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "max_connections": "300", "shared_buffers": "64MB", "log_min_messages": "warning",
        }
        for attempt in range(5):
            self.port = free_port()
            with open(os.path.join(self.data_dir, "postgresql.auto.conf"), "w") as conf:
                conf.write("".join(f"{key} = {value}\n" for key, value in settings.items()))
                conf.write(f"port = {self.port}\n")
            try:
                self._command("pg_ctl", "-D", self.data_dir, "-l", self.log_file, "-w", "-t", "60", "start",
                              timeout=90)
                break
            except subprocess.CalledProcessError as exc:
                if attempt == 4 or "could not bind" not in self.server_log():
                    raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{self.server_log()}") from exc
        with open(os.path.join(self.data_dir, "postmaster.pid")) as pid_file:
            self.pid = int(pid_file.readline())

    def server_log(self) -> str:
        try:
            with open(self.log_file, errors="replace") as log:
                return log.read()[-4000:]
        except OSError:
            return ""

    def url(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        """A libpq URL over loopback TCP (as a replica on another machine would connect)."""
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def sql(self, statement: str, dbname: str = "postgres", params: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (autocommit); return its rows, if any."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cursor = conn.execute(statement.encode(), params)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str | None = None, owner: str = SUPERUSER) -> str:
        """A new empty database (template0, C collation: byte-ordered paths); returns its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self.sql(f'CREATE DATABASE "{name}" OWNER "{owner}" TEMPLATE template0 LC_COLLATE \'C\' LC_CTYPE \'C\'')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (immediate mode, then SIGKILL by PID) and remove its folder."""
        try:
            if self.pid is not None:
                try:
                    self._command("pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "-t", "20", "stop",
                                  timeout=30)
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                    pass
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    pass
                else:
                    os.kill(self.pid, signal.SIGKILL)  # its backends exit when they see it gone
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline and _alive(self.pid):
                        time.sleep(0.05)
        finally:
            self.pid = None
            shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

