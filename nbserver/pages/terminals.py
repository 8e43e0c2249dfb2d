"""``/terminals/<name>``: the page of a running terminal, an xterm.js view of its websocket.

Only an existing terminal has a page (404 otherwise): a GET never starts a shell. New
terminals come from ``POST /api/terminals`` (the dashboard's New → Terminal).
"""

from __future__ import annotations

from tornado import web

from nbserver.errors import NotFound
from nbserver.pages.base import PageBase
from nbserver.services.terminals.handlers import AUTH_RESOURCE, TERMINAL_NAME_REGEX, terminal_manager_of


class TerminalPageHandler(PageBase):
    auth_resource = AUTH_RESOURCE
    def get(self, name: str) -> None:
        if not terminal_manager_of(self).has_terminal(name):
            raise NotFound(f"Terminal not found: {name}")
        self.finish_page("terminal.html", page_title=f"Terminal {name}", name=name)


handlers: list[tuple[str, type[web.RequestHandler]]] = [
    (rf"/terminals/{TERMINAL_NAME_REGEX}", TerminalPageHandler),
]
