"""Row-level security: the database, not only nbserver's queries, keeps each user's rows to that user.

Users run code in their own servers and can read the credentials a server connects with, so a
server's role must be unable to read another user's rows however it connects (psql, psycopg).
Every table holding user data has an ``owner`` column and, from the migration that
:func:`owner_policy` writes, row-level security ENABLEd and FORCEd with the policy
``owner = current_user`` for reading (USING) and writing (WITH CHECK)
(https://www.postgresql.org/docs/15/ddl-rowsecurity.html).

Three kinds of roles (README "Per-user database roles"):

- the *admin* role runs ``nbserver db upgrade`` and owns the tables; servers never use it (an
  owner can turn row-level security off, and superusers and BYPASSRLS roles ignore it);
- the group role :data:`USERS_GROUP` holds the grants: SELECT/INSERT/UPDATE/DELETE on every table
  whose policy is in force (and only those), SELECT on ``nbserver_schema``, USAGE on sequences;
- one login role per user, member of the group, made by ``nbserver db create-role NAME``: a
  server connecting as it is that user, and ``current_user`` is the ``owner`` of its rows.

What the policies do not hide: sequence values (ids, versions) are shared, so a role can tell
how many rows all users wrote, not what; unique keys of random ids (file uuids, share token
hashes) are table-wide, so a role that guessed another user's 128-bit id would learn it exists;
advisory locks are not permission-checked. No view or SECURITY DEFINER function reads the tables
(a test checks it), so nothing runs with the owner's rights on a user's behalf.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from nbserver.db.config import ConfigurationError

if TYPE_CHECKING:
    import psycopg

    from nbserver.db.config import Database

#: The group role whose members are user servers' roles (``nbserver db create-role --group``).
USERS_GROUP = "nbserver_users"

#: The name of the policy :func:`owner_policy` creates on each table.
POLICY = "nbserver_owner"

#: The one table without an ``owner`` column that servers may read (SELECT only): the applied
#: migrations, checked at start.
SCHEMA_TABLE = "nbserver_schema"

#: Role names ``create-role`` accepts: PostgreSQL identifiers that need no quoting.
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def owner_policy(*tables: str) -> tuple[str, ...]:
    """Migration statements putting each of ``tables`` (which have an ``owner`` column) under the
    standard policy: every role, the tables' owner included, reads and writes only rows whose
    ``owner`` is its ``current_user``. A new table holding user data gets these in its migration."""
    statements: list[str] = []
    for table in tables:
        statements += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY {POLICY} ON {table} USING (owner = current_user::text) "
            "WITH CHECK (owner = current_user::text)",
        ]
    return tuple(statements)


def owner_tables(conn: psycopg.Connection[Any]) -> dict[str, bool]:
    """Every table of the current schema with an ``owner`` column -> whether row-level security is
    enabled and forced on it with a policy (only those are granted to user roles)."""
    rows = conn.execute(
        "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity "
        "AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) "
        "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'owner' AND NOT a.attisdropped "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    ).fetchall()
    return {str(name): bool(protected) for name, protected in rows}


def role_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """Why the role of ``conn`` could read or change other users' rows (empty: it cannot):
    superuser, BYPASSRLS, owner (or member of the owner) of a table, or CREATE on the schema."""
    row = conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()
    problems: list[str] = []
    if row is not None and row[0]:
        problems.append("it is a superuser (superusers bypass row-level security)")
    if row is not None and row[1]:
        problems.append("it has BYPASSRLS")
    owned = [str(name) for (name,) in conn.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
        "AND c.relkind IN ('r', 'p') AND pg_has_role(c.relowner, 'MEMBER') ORDER BY c.relname")]
    if owned and not (row is not None and row[0]):
        problems.append(f"it owns the tables ({', '.join(owned[:3])}{'...' if len(owned) > 3 else ''}) and "
                        "could turn row-level security off")
    creates = conn.execute("SELECT has_schema_privilege(current_schema(), 'CREATE')").fetchone()
    if creates is not None and creates[0] and not owned:
        problems.append("it may create objects in the schema (functions the admin role might run)")
    return problems


def grant_users(conn: psycopg.Connection[Any], group: str = USERS_GROUP) -> list[str]:
    """Grant ``group`` what user servers need; return the tables left out (an ``owner`` column
    without its policy in force). Nothing is done when the group role does not exist.

    Run by the admin after every upgrade, so tables of later migrations are covered.
    """
    from psycopg import sql

    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,)).fetchone()
    if exists is None:
        return []
    role = sql.Identifier(group)
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
        sql.Identifier(str(conn.execute("SELECT current_database()").fetchone()[0])), role))  # type: ignore[index]
    schema = sql.Identifier(str(conn.execute("SELECT current_schema()").fetchone()[0]))  # type: ignore[index]
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
    if conn.execute("SELECT to_regclass(%s)", (SCHEMA_TABLE,)).fetchone() != (None,):
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(SCHEMA_TABLE), role))
    left_out: list[str] = []
    for table, protected in owner_tables(conn).items():
        if protected:
            conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(sql.Identifier(table), role))
        else:
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(table), role))
            left_out.append(table)
    conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, role))
    return left_out


def create_user_role(conn: psycopg.Connection[Any], name: str, password: str | None,
                     group: str = USERS_GROUP) -> bool:
    """Make ``name`` a user server's role: a LOGIN role without SUPERUSER, BYPASSRLS, CREATEDB or
    CREATEROLE, member of ``group`` (created when missing, and granted by :func:`grant_users`).

    A new role gets ``password``; an existing one keeps its password unless one is given, and is
    refused (ValueError) when it is privileged. The password is hashed here (SCRAM-SHA-256) so its
    clear text never reaches the server's logs. Returns whether the role was created. Needs the
    CREATEROLE privilege; raises ValueError for a name that is not a plain identifier.
    """
    from psycopg import sql

    if not ROLE_NAME.fullmatch(name) or not ROLE_NAME.fullmatch(group):
        raise ValueError(f"Role names are lower-case letters, digits and '_' (at most 63): {name!r}")
    with conn.transaction():
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
        grant_users(conn, group)
        row = conn.execute("SELECT rolsuper OR rolbypassrls OR rolcreaterole FROM pg_roles WHERE rolname = %s",
                           (name,)).fetchone()
        created = row is None
        if row is not None and row[0]:
            raise ValueError(f"The role {name!r} exists and is privileged (SUPERUSER, BYPASSRLS or CREATEROLE): "
                             "a user server must not use it.")
        secret: sql.Composable = sql.SQL("")
        if password is not None:
            hashed = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
            secret = sql.SQL(" PASSWORD {}").format(sql.Literal(hashed.decode()))
        verb = "CREATE" if created else "ALTER"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT{}")
                     .format(sql.Identifier(name), secret))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))
    return created


def check_server_role(conn: psycopg.Connection[Any], database: Database, log: logging.Logger) -> None:
    """At a server's start: when its role could read other users' rows (:func:`role_problems`),
    raise ConfigurationError if ``database.require_row_security``, else log a warning."""
    problems = role_problems(conn)
    if not problems:
        return
    row = conn.execute("SELECT current_user").fetchone()
    message = (f"The database role {row[0] if row else '?'!r} of this server can read or change every user's rows: "
               f"{'; '.join(problems)}. Give each user's server a role of its own (`nbserver db create-role NAME`; "
               "README, 'Per-user database roles').")
    if database.require_row_security:
        raise ConfigurationError(message)
    log.warning("%s Acceptable only where one user has the whole database.", message)
