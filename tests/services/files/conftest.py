"""The browser fixtures of the page tests (one shared set: a live server subprocess, Chromium, a page),
and the metadata store parametrization: tests on the in-process server run on SQLite and PostgreSQL."""

from tests.pages.conftest import browser, live_server, live_server_args, page
from tests.support.metadata_backends import (
    database_url,
    metadata_backend,
    metadata_store,
    pytest_generate_tests,
    server_app,
)

__all__ = ["browser", "database_url", "live_server", "live_server_args", "metadata_backend", "metadata_store",
           "page", "pytest_generate_tests", "server_app"]
