"""The metadata store's schema, as numbered migrations applied in order at start-up.

SQLite records the last applied number in ``PRAGMA user_version`` (design section 4.1); each
migration runs in one transaction with that bump, so a crash mid-migration leaves the old schema.
A new schema change is a new entry at the end: never edit an applied one.
"""

from __future__ import annotations

import sqlite3

#: (number, SQL script). Numbers are 1, 2, 3... with no gaps.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE files (
  num            INTEGER PRIMARY KEY,
  id             TEXT NOT NULL UNIQUE,
  owner          TEXT NOT NULL,
  path           TEXT NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('notebook', 'file', 'directory')),
  state          TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'trashed', 'missing')),
  trash_id       TEXT,
  dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER,
  title          TEXT,
  world_readable INTEGER NOT NULL DEFAULT 0,
  created        TEXT NOT NULL,
  updated        TEXT NOT NULL,
  missing_since  TEXT,
  version        INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX files_live_path ON files(owner, path) WHERE state = 'live';
CREATE INDEX files_path ON files(owner, path);
CREATE INDEX files_inode ON files(dev, ino);
CREATE INDEX files_trash ON files(trash_id);
CREATE TABLE trash (
  id            TEXT PRIMARY KEY,
  file_id       TEXT NOT NULL,
  original_path TEXT NOT NULL,
  stored_at     TEXT NOT NULL,
  trashed_at    TEXT NOT NULL,
  trashed_by    TEXT NOT NULL,
  size          INTEGER,
  state         TEXT NOT NULL CHECK (state IN ('pending', 'done'))
);
CREATE INDEX trash_order ON trash(state, trashed_at DESC, id);
CREATE TABLE intents (
  id      TEXT PRIMARY KEY,
  op      TEXT NOT NULL,
  args    TEXT NOT NULL,
  created TEXT NOT NULL
);
"""),
    # Share links (only a hash of each token), stars per user, provenance edges (design 3.8, 3.9).
    # Flags stored before links existed published nothing: cleared, so a File says the truth.
    (2, """
CREATE TABLE shares (
  file_id    TEXT PRIMARY KEY,
  token_hash BLOB NOT NULL UNIQUE,
  salt       BLOB NOT NULL,
  created    TEXT NOT NULL,
  created_by TEXT NOT NULL
);
CREATE TABLE stars (
  user    TEXT NOT NULL,
  file_id TEXT NOT NULL,
  created TEXT NOT NULL,
  PRIMARY KEY (user, file_id)
);
CREATE INDEX stars_order ON stars(user, created DESC, file_id);
CREATE TABLE edges (
  num        INTEGER PRIMARY KEY,
  source_id  TEXT,
  source_url TEXT,
  target_id  TEXT NOT NULL,
  relation   TEXT NOT NULL CHECK (relation IN ('copy', 'import')),
  created    TEXT NOT NULL,
  CHECK ((source_id IS NULL) != (source_url IS NULL))
);
CREATE INDEX edges_target ON edges(target_id, relation, num);
CREATE INDEX edges_source ON edges(source_id, relation, num);
UPDATE files SET world_readable = 0;
CREATE TRIGGER files_forgotten AFTER DELETE ON files BEGIN
  DELETE FROM shares WHERE file_id = OLD.id;
  DELETE FROM stars WHERE file_id = OLD.id;
  DELETE FROM edges WHERE target_id = OLD.id OR source_id = OLD.id;
END;
"""),
)


def schema_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection) -> int:
    """Apply every migration newer than the database's ``user_version``; the version reached.

    Raises RuntimeError when the database is newer than this code knows (a downgrade).
    """
    current = schema_version(connection)
    latest = MIGRATIONS[-1][0]
    if current > latest:
        raise RuntimeError(f"the metadata database has schema {current}; this nbserver knows up to {latest}")
    for number, script in MIGRATIONS:
        if number <= current:
            continue
        # executescript commits first; BEGIN ... COMMIT makes the script and its number one transaction.
        try:
            connection.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        except BaseException:
            if connection.in_transaction:
                connection.rollback()
            raise
    return schema_version(connection)
