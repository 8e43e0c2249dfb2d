"""The PostgreSQL tables of notebook trust (component ``notary`` of ``nbserver db upgrade``; the
store: :class:`nbserver.services.contents.postgres.notary.PostgresNotebookNotary`).

Rows are per owner (``current_user``), like the contents rows. A new or removed signature tells
every replica (NOTIFY ``nbserver_changes`` with the payload ``notary``), whose cached notebook
replies say whether cells are trusted.
"""

from __future__ import annotations

from nbserver.db.migrations import Migration
from nbserver.db.security import owner_policy

MIGRATIONS = [
    Migration(1, "notebook signatures and the signing key, shared by the replicas", (
        """CREATE TABLE notary_signatures (
            owner     text COLLATE "C" NOT NULL DEFAULT current_user,
            algorithm text COLLATE "C" NOT NULL,
            signature text COLLATE "C" NOT NULL,
            last_seen timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (owner, algorithm, signature)
        )""",
        "CREATE INDEX notary_signatures_age ON notary_signatures (owner, last_seen)",
        """CREATE TABLE notary_keys (
            owner  text COLLATE "C" NOT NULL DEFAULT current_user PRIMARY KEY,
            secret bytea NOT NULL
        )""",
        """CREATE FUNCTION notary_signatures_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('nbserver_changes', 'notary');
            RETURN NULL;
        END $$""",
        # Per row: an upsert of a signature already there (every save of a trusted notebook)
        # tells nobody; PostgreSQL sends one notification per transaction however many rows.
        """CREATE TRIGGER notary_signatures_changed AFTER INSERT OR DELETE ON notary_signatures
            FOR EACH ROW EXECUTE FUNCTION notary_signatures_notify()""",
    )),
    Migration(2, "row-level security: each database role reads and writes only its own rows",
              owner_policy("notary_signatures", "notary_keys")),
]
