"""Versioned schema migrations for the PostgreSQL store, run by ``nbserver db upgrade``.

Each part of the store (a *component*: contents, file services, search, sessions) owns a module
with ``MIGRATIONS``, a list of :class:`Migration` numbered 1, 2, 3... with no gaps; it is listed
in :data:`COMPONENTS`. A migration is applied once, in its own transaction, and recorded in the
``nbserver_schema`` table. Upgrades hold a transaction-scoped advisory lock, so several replicas
(or a replica and an operator) upgrading at once apply each migration exactly once; a migration
that fails rolls back alone and leaves the earlier ones applied.

A migration is never edited once released: a change to the schema is a new migration.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from nbserver.db.config import ConfigurationError

if TYPE_CHECKING:
    import psycopg

#: Component name -> module defining ``MIGRATIONS``, in the order components are migrated (a
#: component may refer to tables of the ones before it).
COMPONENTS: dict[str, str] = {
    "contents": "nbserver.services.contents.postgres.schema",
    "files": "nbserver.services.files.pg_schema",
    "search": "nbserver.services.search.pg_schema",
    "sessions": "nbserver.services.sessions.pg_schema",
    "notary": "nbserver.services.contents.postgres.notary_schema",
}

#: ``pg_advisory_xact_lock`` key of schema upgrades (any constant; "nbsv" in ASCII).
UPGRADE_LOCK_KEY = 0x6E627376

SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS nbserver_schema (
    component   text NOT NULL,
    version     integer NOT NULL CHECK (version > 0),
    description text NOT NULL,
    applied     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)"""


@dataclass(frozen=True)
class Migration:
    """One step of a component's schema: SQL statements run in order in one transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """A migration of a named component, as planned or applied."""

    component: str
    migration: Migration

    def __str__(self) -> str:
        return f"{self.component} {self.migration.version}: {self.migration.description}"


def check_numbering(component: str, migrations: Iterable[Migration]) -> list[Migration]:
    """``migrations`` sorted by version; raises ValueError unless they are 1..n with no gaps."""
    ordered = sorted(migrations, key=lambda migration: migration.version)
    versions = [migration.version for migration in ordered]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"Migrations of {component!r} must be numbered 1..n without gaps: {versions}")
    return ordered


def registered(components: Mapping[str, str] | None = None) -> dict[str, list[Migration]]:
    """Each component's migrations, imported from its module (default: :data:`COMPONENTS`)."""
    found: dict[str, list[Migration]] = {}
    for component, module_name in (COMPONENTS if components is None else components).items():
        module = importlib.import_module(module_name)
        found[component] = check_numbering(component, module.MIGRATIONS)
    return found


def applied_versions(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """The highest applied version of each component (none yet: an empty dict)."""
    exists = conn.execute("SELECT to_regclass('nbserver_schema') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("SELECT component, max(version) FROM nbserver_schema GROUP BY component").fetchall()
    return {str(component): int(version) for component, version in rows}


def plan(applied: Mapping[str, int], migrations: Mapping[str, list[Migration]]) -> list[Step]:
    """The steps still to apply, in order. Raises ConfigurationError when the database is ahead
    of this nbserver (a newer release migrated it): running older code on it is refused."""
    steps: list[Step] = []
    for component, known in migrations.items():
        have = applied.get(component, 0)
        if have > len(known):
            raise ConfigurationError(
                f"The database schema of {component!r} is at version {have}, newer than this nbserver "
                f"knows ({len(known)}): upgrade nbserver."
            )
        steps.extend(Step(component, migration) for migration in known[have:])
    return steps


def pending(conn: psycopg.Connection[Any], migrations: Mapping[str, list[Migration]] | None = None) -> list[Step]:
    """The migrations not yet applied to the database of ``conn``."""
    return plan(applied_versions(conn), registered() if migrations is None else migrations)


def upgrade(conn: psycopg.Connection[Any], migrations: Mapping[str, list[Migration]] | None = None) -> list[Step]:
    """Apply every pending migration, each in its own transaction; return those this call applied.

    ``conn`` must not be in a transaction. Safe to run from several processes at once: each
    transaction takes the upgrade advisory lock and re-reads what is applied before acting.
    Raises the database's error for a failing migration (that one is rolled back).
    """
    migrations = registered() if migrations is None else migrations
    done: list[Step] = []
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK_KEY,))
            if conn.execute("SELECT to_regclass('nbserver_schema')").fetchone() == (None,):
                conn.execute(SCHEMA_TABLE)  # (even IF NOT EXISTS needs CREATE on the schema: user roles lack it)
            steps = plan(applied_versions(conn), migrations)
            if not steps:
                return done
            step = steps[0]
            for statement in step.migration.statements:
                conn.execute(statement.encode())
            conn.execute(
                "INSERT INTO nbserver_schema (component, version, description) VALUES (%s, %s, %s)",
                (step.component, step.migration.version, step.migration.description),
            )
        done.append(step)


def require_current(conn: psycopg.Connection[Any], migrations: Mapping[str, list[Migration]] | None = None) -> None:
    """Raise ConfigurationError naming the pending migrations and the command that applies them."""
    steps = pending(conn, migrations)
    if steps:
        listed = "; ".join(str(step) for step in steps)
        raise ConfigurationError(
            f"The database schema is behind this nbserver ({listed}). Run `nbserver db upgrade` "
            "(or start with --Database.upgrade_on_start=True)."
        )
