"""The browser fixtures of the page tests (one shared set: a live server subprocess, Chromium, a page)."""

from tests.pages.conftest import browser, live_server, live_server_args, page

__all__ = ["browser", "live_server", "live_server_args", "page"]
