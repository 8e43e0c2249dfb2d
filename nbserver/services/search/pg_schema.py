"""The PostgreSQL schema of the search index (design sections 3.12, 4.6), as migrations applied by
``nbserver db upgrade`` (component ``search``; the index itself: :mod:`.pg_index`).

One row per indexed file (keyed by its id in ``fs_files``, owner on every row) with the stored text
segments (for match ranges), and a weighted ``tsvector`` (name A, title and markdown B, code C,
outputs D) under a GIN index. ``pg_trgm`` indexes lower-cased names for substring matches (the
names-only engine's ``LIKE``) where the extension can be created; where it cannot (not installed
in the cluster, no right to create it) the migration still succeeds and ``LIKE`` scans instead.
"""

from __future__ import annotations

from nbserver.db.migrations import Migration
from nbserver.db.security import owner_policy

MIGRATIONS = [
    Migration(1, "search documents with a weighted tsvector, and index state", (
        """CREATE TABLE search_docs (
  file_id     uuid PRIMARY KEY,
  num         bigserial UNIQUE,
  owner       text NOT NULL,
  path        text COLLATE "C" NOT NULL,
  name        text NOT NULL,
  title       text NOT NULL,
  fingerprint text NOT NULL,
  segments    text NOT NULL,
  indexed     timestamptz NOT NULL,
  tsv         tsvector NOT NULL
)""",
        "CREATE INDEX search_docs_tsv ON search_docs USING gin (tsv)",
        "CREATE INDEX search_docs_path ON search_docs (owner, path)",
        """CREATE TABLE search_state (
  owner text NOT NULL,
  key   text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (owner, key)
)""",
        # A failure inside the block rolls back only the block (a subtransaction).
        """DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
  EXECUTE 'CREATE INDEX search_docs_name_trgm ON search_docs USING gin (lower(name) gin_trgm_ops)';
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_trgm is unavailable (%): name substring matches scan', SQLERRM;
END $$""",
    )),
    Migration(2, "row-level security: each database role reads and writes only its own rows",
              owner_policy("search_docs", "search_state")),
]
