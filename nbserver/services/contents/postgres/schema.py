"""The tables of the PostgreSQL contents store, as versioned migrations (``nbserver db upgrade``).

Every row carries ``owner`` (default ``current_user``) and every query is scoped to it, so a
later migration can enable row-level security with ``USING (owner = current_user)`` and give
each user's server its own role. Paths are ``COLLATE "C"`` (byte order = code point order):
a folder and everything below it is the range ``path = 'a' OR (path >= 'a/' AND path < 'a0')``
('0' follows '/' in ASCII), served by the primary key's btree, and listings sort as the file
store sorts names.

- ``contents_blobs``: one version of a file's bytes, by SHA-256 per owner (stored once however
  many files and checkpoints hold it); ``contents_chunks`` its bytes, ``CHUNK_SIZE`` each.
- ``contents_files``: files and folders (the root is the row with path ''); a folder's
  children point at it by ``parent``, a deferred foreign key, so a save into a folder being
  deleted fails rather than leaving an orphan, and a rename is one range UPDATE.
- ``contents_checkpoints``: several per file, following renames and deletes by cascade.
- ``contents_uploads``: the chunks of chunked uploads (``chunk`` of PUT /api/contents) until
  the last one arrives, so each chunk may reach a different replica.
"""

from __future__ import annotations

from nbserver.db.migrations import Migration
from nbserver.db.security import owner_policy

MIGRATIONS = [
    Migration(1, "files, folders, content blobs, checkpoints and staged uploads", (
        "CREATE SEQUENCE contents_version_seq",
        """CREATE TABLE contents_blobs (
            owner   text COLLATE "C" NOT NULL DEFAULT current_user,
            id      bigint GENERATED ALWAYS AS IDENTITY,
            sha256  text COLLATE "C",
            size    bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (owner, id),
            UNIQUE (owner, sha256)
        )""",
        """CREATE TABLE contents_chunks (
            owner   text COLLATE "C" NOT NULL DEFAULT current_user,
            blob    bigint NOT NULL,
            seq     integer NOT NULL,
            data    bytea NOT NULL,
            PRIMARY KEY (owner, blob, seq),
            FOREIGN KEY (owner, blob) REFERENCES contents_blobs (owner, id) ON DELETE CASCADE
        )""",
        "ALTER TABLE contents_chunks ALTER COLUMN data SET STORAGE EXTERNAL",
        """CREATE TABLE contents_files (
            owner   text COLLATE "C" NOT NULL DEFAULT current_user,
            path          text COLLATE "C" NOT NULL,
            parent        text COLLATE "C",
            name          text COLLATE "C" NOT NULL,
            is_dir        boolean NOT NULL,
            blob          bigint,
            size          bigint,
            sha256        text COLLATE "C",
            writable      boolean NOT NULL DEFAULT true,
            created       timestamptz NOT NULL DEFAULT clock_timestamp(),
            last_modified timestamptz NOT NULL DEFAULT clock_timestamp(),
            version       bigint NOT NULL DEFAULT nextval('contents_version_seq'),
            PRIMARY KEY (owner, path),
            FOREIGN KEY (owner, parent) REFERENCES contents_files (owner, path)
                DEFERRABLE INITIALLY DEFERRED,
            FOREIGN KEY (owner, blob) REFERENCES contents_blobs (owner, id),
            CHECK (is_dir = (blob IS NULL)),
            CHECK ((path = '') = (parent IS NULL))
        )""",
        "CREATE INDEX contents_files_listing ON contents_files (owner, parent, name)",
        "CREATE INDEX contents_files_blob ON contents_files (owner, blob)",
        """CREATE TABLE contents_checkpoints (
            owner   text COLLATE "C" NOT NULL DEFAULT current_user,
            path    text COLLATE "C" NOT NULL,
            id      text COLLATE "C" NOT NULL,
            blob    bigint NOT NULL,
            last_modified timestamptz NOT NULL,
            PRIMARY KEY (owner, path, id),
            FOREIGN KEY (owner, path) REFERENCES contents_files (owner, path)
                ON UPDATE CASCADE ON DELETE CASCADE,
            FOREIGN KEY (owner, blob) REFERENCES contents_blobs (owner, id)
        )""",
        "CREATE INDEX contents_checkpoints_blob ON contents_checkpoints (owner, blob)",
        """CREATE TABLE contents_uploads (
            owner   text COLLATE "C" NOT NULL DEFAULT current_user,
            path    text COLLATE "C" NOT NULL,
            seq     integer NOT NULL,
            data    bytea NOT NULL,
            updated timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (owner, path, seq)
        )""",
        "ALTER TABLE contents_uploads ALTER COLUMN data SET STORAGE EXTERNAL",
    )),
    Migration(2, "row-level security: each database role reads and writes only its own rows",
              owner_policy("contents_blobs", "contents_chunks", "contents_files", "contents_checkpoints", "contents_uploads")),
]

#: The key of a row in a change notification (nbserver.db.changes.change_key), in SQL.
_KEY = "left(encode(sha256(convert_to(length(o.owner) || ':' || o.owner || o.path, 'UTF8')), 'hex'), 16)"
#: Rows of the statement whose folder the statement did not change too (a folder moved or
#: removed with everything in it is told as the folder alone).
_TOPMOST = "NOT EXISTS (SELECT 1 FROM old_rows p WHERE p.owner = o.owner AND p.path = o.parent)"

MIGRATIONS.append(
    Migration(3, "tell the other replicas which files changed (NOTIFY nbserver_changes)", (
        # Keys to payloads under 8000 bytes (nbserver.db.changes.payloads).
        """CREATE FUNCTION contents_notify(keys text[]) RETURNS void LANGUAGE plpgsql AS $$
        DECLARE
            payload text := 'contents';
            item text;
        BEGIN
            FOREACH item IN ARRAY keys LOOP
                IF octet_length(payload) + 1 + octet_length(item) > 7900 THEN
                    PERFORM pg_notify('nbserver_changes', payload);
                    payload := 'contents';
                END IF;
                payload := payload || ' ' || item;
            END LOOP;
            IF payload <> 'contents' THEN
                PERFORM pg_notify('nbserver_changes', payload);
            END IF;
        END $$""",
        # 'p': this path changed; 't': this folder and everything below it moved.
        f"""CREATE FUNCTION contents_files_updated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM contents_notify(ARRAY(
                SELECT DISTINCT CASE WHEN o.is_dir AND NOT EXISTS (
                           SELECT 1 FROM new_rows n WHERE n.owner = o.owner AND n.path = o.path)
                       THEN 't' ELSE 'p' END || {_KEY}
                FROM old_rows o WHERE {_TOPMOST}));
            RETURN NULL;
        END $$""",
        f"""CREATE FUNCTION contents_files_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM contents_notify(ARRAY(
                SELECT DISTINCT CASE WHEN o.is_dir THEN 't' ELSE 'p' END || {_KEY}
                FROM old_rows o WHERE {_TOPMOST}));
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER contents_files_updated AFTER UPDATE ON contents_files
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION contents_files_updated()""",
        """CREATE TRIGGER contents_files_deleted AFTER DELETE ON contents_files
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION contents_files_deleted()""",
    )))
