"""The PostgreSQL schema of the sessions table (component ``sessions`` of ``nbserver db upgrade``;
the store: :class:`nbserver.services.sessions.pg_store.PostgresSessionStore`)."""

from __future__ import annotations

from nbserver.db.migrations import Migration
from nbserver.db.security import owner_policy

MIGRATIONS = [
    Migration(1, "sessions: which path is bound to which kernel", (
        """CREATE TABLE kernel_sessions (
  num        bigserial PRIMARY KEY,
  owner      text NOT NULL,
  session_id text NOT NULL UNIQUE,
  path       text COLLATE "C" NOT NULL,
  name       text NOT NULL,
  type       text NOT NULL,
  kernel_id  text NOT NULL
)""",
        "CREATE INDEX kernel_sessions_path ON kernel_sessions (owner, path)",
        "CREATE INDEX kernel_sessions_kernel ON kernel_sessions (owner, kernel_id)",
    )),
    Migration(2, "row-level security: each database role reads and writes only its own rows",
              owner_policy("kernel_sessions")),
]

MIGRATIONS.append(
    Migration(3, "sessions: which replica made each row (only it prunes the row)", (
        "ALTER TABLE kernel_sessions ADD COLUMN replica text NOT NULL DEFAULT ''",
    )))
