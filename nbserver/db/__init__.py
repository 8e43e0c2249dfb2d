"""PostgreSQL as nbserver's store (issue 17): the connection settings, versioned migrations and
the ``nbserver db`` commands that the PostgreSQL contents, metadata, search and session stores
share. Nothing here is imported unless a database URL is configured, so psycopg is needed only
then (the ``postgres`` extra)."""
