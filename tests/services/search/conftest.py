"""Search tests on the in-process server and on the index run on SQLite and on PostgreSQL."""

from tests.support.metadata_backends import (
    database_url,
    metadata_backend,
    metadata_store,
    pytest_generate_tests,
    server_app,
)

__all__ = ["database_url", "metadata_backend", "metadata_store", "pytest_generate_tests", "server_app"]
