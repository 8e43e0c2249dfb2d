"""``nbserver db upgrade`` and ``nbserver db status``: create and migrate the PostgreSQL schema;
``nbserver db create-role NAME``: a user server's own database role (:mod:`nbserver.db.security`).

Both read ``Database.url`` like the server does (``--url``, ``--Database.url``, the
``nbserver_config`` file, or ``$NBSERVER_DATABASE_URL``). Exit status 0 on success, 1 on a
configuration or database error (printed on stderr with any password redacted), 2 from
``status`` when migrations are pending.
"""

from __future__ import annotations

import secrets
import sys
from typing import Any, Callable

from jupyter_core.application import JupyterApp
from traitlets import Bool, Instance, Unicode, default

from nbserver.db.config import ConfigurationError, Database, redact
from nbserver.db.migrations import Step, applied_versions, pending, upgrade
from nbserver.db.security import USERS_GROUP, create_user_role, grant_users

ALIASES = {"url": "Database.url"}


class _DatabaseCommand(JupyterApp):
    """Shared by the ``db`` subcommands: the same config file and Database settings as the server."""

    aliases = ALIASES
    classes = [Database]
    database = Instance(Database)

    @default("config_file_name")
    def _config_file_name_default(self) -> str:
        return "nbserver_config"

    @default("database")
    def _database_default(self) -> Database:
        return Database(parent=self, log=self.log)

    def run(self, action: Callable[[Any], int]) -> None:
        """Connect, run ``action(conn)``, exit with its status; errors become exit status 1."""
        import psycopg

        try:
            with self.database.connect(autocommit=True) as conn:
                status = action(conn)
        except ConfigurationError as exc:
            print(f"nbserver db: {exc}", file=sys.stderr)
            sys.exit(1)
        except psycopg.Error as exc:
            message = str(exc).strip().replace(self.database.url, redact(self.database.url))
            print(f"nbserver db: database error: {message}", file=sys.stderr)
            sys.exit(1)
        sys.exit(status)


class UpgradeApp(_DatabaseCommand):
    name = "nbserver-db-upgrade"
    description = "Create the PostgreSQL schema or apply its pending migrations (safe to run again)."

    def start(self) -> None:
        def apply(conn: Any) -> int:
            steps: list[Step] = upgrade(conn)
            for step in steps:
                print(f"applied {step}")
            for table in grant_users(conn):
                print(f"warning: {table} has an owner column but no row-level security: not granted to user roles",
                      file=sys.stderr)
            print(f"schema up to date ({len(steps)} migration(s) applied) on {redact(self.database.url)}")
            return 0

        self.run(apply)


class StatusApp(_DatabaseCommand):
    name = "nbserver-db-status"
    description = "Show each component's schema version and the pending migrations (exit 2 if any)."

    def start(self) -> None:
        def show(conn: Any) -> int:
            for component, version in sorted(applied_versions(conn).items()):
                print(f"{component}: version {version}")
            steps = pending(conn)
            for step in steps:
                print(f"pending {step}")
            if not steps:
                print("schema up to date")
            return 2 if steps else 0

        self.run(show)


class CreateRoleApp(_DatabaseCommand):
    name = "nbserver-db-create-role"
    description = ("Create (or fix the grants of) a user server's database role: `nbserver db create-role NAME`. "
                   "Run as the admin role; prints the new role's password once.")
    aliases = {**ALIASES, "password": "CreateRoleApp.password", "group": "CreateRoleApp.group"}
    flags = {"no-password": ({"CreateRoleApp": {"no_password": True}},
                             "Set no password (the role logs in by other means, e.g. a client certificate).")}
    password = Unicode(help="The role's password; default: a new random one for a new role, none changed "
                       "for an existing one.").tag(config=True)
    no_password = Bool(False, help="Do not set a password.").tag(config=True)
    group = Unicode(USERS_GROUP, help="The group role that holds user servers' grants.").tag(config=True)

    def start(self) -> None:
        if len(self.extra_args) != 1:
            print("Give one role name: nbserver db create-role NAME", file=sys.stderr)
            sys.exit(1)
        name = self.extra_args[0]

        def create(conn: Any) -> int:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None
            password = None if self.no_password else (self.password or (None if exists else secrets.token_urlsafe(24)))
            try:
                created = create_user_role(conn, name, password, self.group)
            except ValueError as exc:
                print(f"nbserver db: {exc}", file=sys.stderr)
                return 1
            print(f"{'created' if created else 'updated'} role {name} (member of {self.group}: it reads and "
                  "writes only rows it owns)")
            if password is not None and not self.password:
                print(f"password: {password}")
            print(f"give its server: --Database.url='{redact(self._user_url(name))}' "
                  "(the password in ~/.pgpass or $PGPASSWORD)")
            return 0

        self.run(create)

    def _user_url(self, name: str) -> str:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self.database.url)
        params.pop("password", None)
        params["user"] = name
        return make_conninfo("", **params)


class DatabaseApp(JupyterApp):
    name = "nbserver-db"
    description = ("Manage nbserver's PostgreSQL schema and roles: `nbserver db upgrade`, `nbserver db status`, "
                   "`nbserver db create-role NAME`.")
    subcommands = {
        "upgrade": (UpgradeApp, UpgradeApp.description),
        "status": (StatusApp, StatusApp.description),
        "create-role": (CreateRoleApp, CreateRoleApp.description),
    }

    def start(self) -> None:
        if self.subapp is None:
            print("Give a subcommand: upgrade, status or create-role (nbserver db --help).", file=sys.stderr)
            sys.exit(1)
        super().start()


subcommands = {"db": (DatabaseApp, DatabaseApp.description.split(":")[0] + ".")}
