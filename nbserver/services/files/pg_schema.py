"""The PostgreSQL schema of the file services' metadata store (design section 4.6), as migrations
applied by ``nbserver db upgrade`` (:mod:`nbserver.db.migrations`, component ``files``).

The tables are SQLite's (:mod:`nbserver.services.files.migrations`) in PostgreSQL's types, with
an ``fs_`` prefix so that they share a database with the contents store: ``id uuid``, times as
``timestamptz``, ``state`` an enum, and ``path text COLLATE "C"`` so that paths sort by bytes
(the ``'/'``..``'0'`` range of a folder's descendants and btree prefix scans need that; a
locale's collation breaks both). Every table has an ``owner`` column, and every query of the
store names it: today one role serves one owner; row-level security (``USING (owner =
current_user)``, one role per user server) can be enabled later without changing a query.

Intents carry the replica that wrote them (the key of a session advisory lock it holds while it
runs) and the path they claim: one claim per path, so two replicas cannot trash or restore onto
the same path at once (the second fails in the database, 409).
"""

from __future__ import annotations

from nbserver.db.migrations import Migration
from nbserver.db.security import owner_policy

MIGRATIONS = [
    Migration(1, "file ids, trash records, intents, share links, stars and edges", (
        "CREATE TYPE fs_file_state AS ENUM ('live', 'trashed', 'missing')",
        """CREATE TABLE fs_files (
  id             uuid PRIMARY KEY,
  owner          text NOT NULL,
  path           text COLLATE "C" NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('notebook', 'file', 'directory')),
  state          fs_file_state NOT NULL DEFAULT 'live',
  trash_id       text,
  dev            numeric(20),
  ino            numeric(20),
  size           bigint,
  mtime_ns       bigint,
  title          text,
  world_readable boolean NOT NULL DEFAULT false,
  created        timestamptz NOT NULL,
  updated        timestamptz NOT NULL,
  missing_since  timestamptz,
  version        integer NOT NULL DEFAULT 1
)""",
        "CREATE UNIQUE INDEX fs_files_live_path ON fs_files (owner, path) WHERE state = 'live'",
        "CREATE INDEX fs_files_path ON fs_files (owner, path)",
        "CREATE INDEX fs_files_inode ON fs_files (dev, ino)",
        "CREATE INDEX fs_files_trash ON fs_files (trash_id)",
        """CREATE TABLE fs_trash (
  id            text PRIMARY KEY,
  owner         text NOT NULL,
  file_id       uuid NOT NULL,
  original_path text COLLATE "C" NOT NULL,
  stored_at     text NOT NULL,
  trashed_at    timestamptz NOT NULL,
  trashed_by    text NOT NULL,
  size          bigint,
  state         text NOT NULL CHECK (state IN ('pending', 'done'))
)""",
        "CREATE INDEX fs_trash_order ON fs_trash (owner, state, trashed_at DESC, id)",
        """CREATE TABLE fs_intents (
  id      text PRIMARY KEY,
  owner   text NOT NULL,
  op      text NOT NULL,
  args    jsonb NOT NULL,
  created timestamptz NOT NULL,
  replica integer NOT NULL,
  claim   text COLLATE "C"
)""",
        "CREATE UNIQUE INDEX fs_intents_claim ON fs_intents (owner, claim) WHERE claim IS NOT NULL",
        """CREATE TABLE fs_shares (
  file_id    uuid PRIMARY KEY,
  owner      text NOT NULL,
  token_hash bytea NOT NULL UNIQUE,
  salt       bytea NOT NULL,
  created    timestamptz NOT NULL,
  created_by text NOT NULL
)""",
        """CREATE TABLE fs_stars (
  owner   text NOT NULL,
  "user"  text NOT NULL,
  file_id uuid NOT NULL,
  created timestamptz NOT NULL,
  PRIMARY KEY (owner, "user", file_id)
)""",
        'CREATE INDEX fs_stars_order ON fs_stars (owner, "user", created DESC, file_id)',
        """CREATE TABLE fs_edges (
  num        bigserial PRIMARY KEY,
  owner      text NOT NULL,
  source_id  uuid,
  source_url text,
  target_id  uuid NOT NULL,
  relation   text NOT NULL CHECK (relation IN ('copy', 'import')),
  created    timestamptz NOT NULL,
  CHECK ((source_id IS NULL) != (source_url IS NULL))
)""",
        "CREATE INDEX fs_edges_target ON fs_edges (target_id, relation, num)",
        "CREATE INDEX fs_edges_source ON fs_edges (source_id, relation, num)",
        # As SQLite's trigger: a file row deleted (purged, forgotten) takes its links along.
        """CREATE FUNCTION fs_files_forgotten() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM fs_shares WHERE file_id = OLD.id;
  DELETE FROM fs_stars WHERE file_id = OLD.id;
  DELETE FROM fs_edges WHERE target_id = OLD.id OR source_id = OLD.id;
  RETURN OLD;
END $$""",
        "CREATE TRIGGER fs_files_forgotten AFTER DELETE ON fs_files FOR EACH ROW EXECUTE FUNCTION fs_files_forgotten()",
    )),
    Migration(2, "ids of the PostgreSQL contents store's rows, kept by triggers in the rows' transactions", (
        # Every file and folder row of the contents store carries its file id from its creation;
        # triggers keep the fs_files row of that id in step in the same transaction, so ids survive
        # renames on any replica and no reconciler is needed. Rows below the reserved top folders
        # (.nbserver-trash: trashed items) get none; a row moved there keeps its (trashed) fs_files row.
        "ALTER TABLE contents_files ADD COLUMN file_id uuid",
        """UPDATE contents_files c SET file_id = f.id FROM fs_files f
  WHERE f.owner = c.owner AND f.path = c.path AND f.state = 'live'""",
        "UPDATE contents_files SET file_id = gen_random_uuid() WHERE file_id IS NULL",
        "ALTER TABLE contents_files ALTER COLUMN file_id SET DEFAULT gen_random_uuid(), "
        "ALTER COLUMN file_id SET NOT NULL",
        "CREATE UNIQUE INDEX contents_files_file_id ON contents_files (file_id)",
        """CREATE FUNCTION fs_kind(path text, is_dir boolean) RETURNS text IMMUTABLE LANGUAGE sql AS $$
  SELECT CASE WHEN is_dir THEN 'directory' WHEN path LIKE '%.ipynb' THEN 'notebook' ELSE 'file' END $$""",
        """CREATE FUNCTION fs_reserved(path text) RETURNS boolean IMMUTABLE LANGUAGE sql AS $$
  SELECT left(split_part(path, '/', 1), 9) = '.nbserver' $$""",
        """INSERT INTO fs_files (id, owner, path, kind, created, updated)
  SELECT c.file_id, c.owner, c.path, fs_kind(c.path, c.is_dir), c.created, c.last_modified FROM contents_files c
  WHERE NOT fs_reserved(c.path) AND NOT EXISTS (SELECT 1 FROM fs_files f WHERE f.id = c.file_id)""",
        """CREATE FUNCTION fs_files_follow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM fs_files f USING added a
    WHERE f.owner = a.owner COLLATE "default" AND f.path = a.path AND f.state = 'live' AND f.id <> a.file_id;
  INSERT INTO fs_files (id, owner, path, kind, created, updated)
    SELECT a.file_id, a.owner, a.path, fs_kind(a.path, a.is_dir), a.created, a.created FROM added a
    WHERE NOT fs_reserved(a.path) ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER fs_files_follow_insert AFTER INSERT ON contents_files REFERENCING NEW TABLE AS added "
        "FOR EACH STATEMENT EXECUTE FUNCTION fs_files_follow_insert()",
        # Statement-level, set-based: a folder rename of many rows is one join, not a query per row.
        """CREATE FUNCTION fs_files_follow_rename() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM before_rows o JOIN after_rows n ON n.file_id = o.file_id WHERE o.path <> n.path) THEN
    RETURN NULL;
  END IF;
  DELETE FROM fs_files f USING before_rows o JOIN after_rows n ON n.file_id = o.file_id
    WHERE o.path <> n.path AND f.owner = n.owner COLLATE "default" AND f.path = n.path AND f.state = 'live'
    AND f.id <> n.file_id;
  UPDATE fs_files f SET path = n.path, kind = fs_kind(n.path, n.is_dir), updated = clock_timestamp(),
    version = f.version + 1
    FROM before_rows o JOIN after_rows n ON n.file_id = o.file_id
    WHERE f.id = n.file_id AND o.path <> n.path AND f.state = 'live';
  RETURN NULL;
END $$""",
        "CREATE TRIGGER fs_files_follow_rename AFTER UPDATE ON contents_files "
        "REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION fs_files_follow_rename()",
        """CREATE FUNCTION fs_files_follow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM fs_files f USING gone g WHERE f.id = g.file_id;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER fs_files_follow_delete AFTER DELETE ON contents_files REFERENCING OLD TABLE AS gone "
        "FOR EACH STATEMENT EXECUTE FUNCTION fs_files_follow_delete()",
        # The share link key of an owner, in the database so that every replica signs links alike.
        """CREATE TABLE fs_share_keys (
  owner text PRIMARY KEY,
  key   bytea NOT NULL
)""",
    )),
    Migration(3, "row-level security: each database role reads and writes only its own rows",
              owner_policy("fs_files", "fs_trash", "fs_intents", "fs_shares", "fs_stars", "fs_edges",
                           "fs_share_keys")),
    # Design section 3.1: a file's version counts content changes too (a save, an upload that
    # overwrites, a checkpoint's restore give its row a new sha256), so that If-Match sees them.
    Migration(4, "a contents row's new content raises its id's version", (
        """CREATE OR REPLACE FUNCTION fs_files_follow_rename() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM before_rows o JOIN after_rows n ON n.file_id = o.file_id
                 WHERE o.path <> n.path OR o.sha256 IS DISTINCT FROM n.sha256) THEN
    RETURN NULL;
  END IF;
  DELETE FROM fs_files f USING before_rows o JOIN after_rows n ON n.file_id = o.file_id
    WHERE o.path <> n.path AND f.owner = n.owner COLLATE "default" AND f.path = n.path AND f.state = 'live'
    AND f.id <> n.file_id;
  UPDATE fs_files f SET path = n.path, kind = fs_kind(n.path, n.is_dir), updated = clock_timestamp(),
    version = f.version + 1
    FROM before_rows o JOIN after_rows n ON n.file_id = o.file_id
    WHERE f.id = n.file_id AND (o.path <> n.path OR o.sha256 IS DISTINCT FROM n.sha256) AND f.state = 'live';
  RETURN NULL;
END $$""",
    )),
]
