"""``nbserver db upgrade`` and ``nbserver db status``: create and migrate the PostgreSQL schema.

Both read ``Database.url`` like the server does (``--url``, ``--Database.url``, the
``nbserver_config`` file, or ``$NBSERVER_DATABASE_URL``). Exit status 0 on success, 1 on a
configuration or database error (printed on stderr with any password redacted), 2 from
``status`` when migrations are pending.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from jupyter_core.application import JupyterApp
from traitlets import Instance, default

from nbserver.db.config import ConfigurationError, Database, redact
from nbserver.db.migrations import Step, applied_versions, pending, upgrade

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


class DatabaseApp(JupyterApp):
    name = "nbserver-db"
    description = "Manage nbserver's PostgreSQL schema: `nbserver db upgrade`, `nbserver db status`."
    subcommands = {
        "upgrade": (UpgradeApp, UpgradeApp.description),
        "status": (StatusApp, StatusApp.description),
    }

    def start(self) -> None:
        if self.subapp is None:
            print("Give a subcommand: upgrade or status (nbserver db --help).", file=sys.stderr)
            sys.exit(1)
        super().start()


subcommands = {"db": (DatabaseApp, DatabaseApp.description.split(":")[0] + ".")}
