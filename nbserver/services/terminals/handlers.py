"""REST routes of ``/api/terminals`` and the terminal websocket ``/terminals/websocket/<name>``.

Wire shapes are Jupyter Server's: ``POST /api/terminals`` answers 200 with the model,
``DELETE`` 204. The websocket speaks terminado's JSON arrays: the server sends
``["setup", {}]`` on connecting, ``["stdout", text]`` for output and ``["disconnect", 1]``
when the shell ends; a client sends ``["stdin", text]`` and ``["set_size", rows, cols, ...]``.
terminado's own ``TermSocket`` is not used: it creates a terminal for any name it is given
and trusts every message; this handler answers 404 before the upgrade for an unknown name
and drops malformed messages. With ``terminals_enabled`` off every route answers 404.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tornado.websocket import WebSocketClosedError, WebSocketHandler

from nbserver.auth.authorizer import METHOD_ACTIONS
from nbserver.base.handlers import APIHandler, BaseHandler, JSONErrorsMixin
from nbserver.errors import InvalidInput, NotFound
from nbserver.services.terminals.manager import TerminalManager, TerminalRecord

log = logging.getLogger("nbserver")

TERMINAL_NAME_REGEX = r"(?P<name>\w+)"
#: The authorizer's resource for every terminal route, as in Jupyter Server.
AUTH_RESOURCE = "terminals"


def terminal_manager_of(handler: BaseHandler) -> TerminalManager:
    """The app's TerminalManager; NotFound (404) when terminals are switched off."""
    manager: TerminalManager | None = handler.settings.get("terminal_manager")
    if manager is None:
        raise NotFound("Terminals are not enabled on this server.")
    return manager


class TerminalsAPIHandler(APIHandler):
    auth_resource = AUTH_RESOURCE
    #: Starting a terminal runs a shell: "execute", as starting a kernel is.
    auth_actions = {**METHOD_ACTIONS, "POST": "execute"}

    @property
    def terminal_manager(self) -> TerminalManager:
        return terminal_manager_of(self)


class TerminalRootHandler(TerminalsAPIHandler):
    """``/api/terminals``: the running terminals, and new ones."""

    def get(self) -> None:
        self.finish_json(self.terminal_manager.list_terminals())

    async def post(self) -> None:
        """Start a terminal: ``{"name": ..., "cwd": <API path of a folder>}``, both optional."""
        manager = self.terminal_manager
        body = self.get_json_object_body() or {}
        for key in ("name", "cwd"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise InvalidInput(f"{key!r} must be a string.")
        model = await manager.create_terminal(name=body.get("name") or None, cwd=body.get("cwd") or "")
        self.finish_json(model)


class TerminalHandler(TerminalsAPIHandler):
    """``/api/terminals/<name>``: one terminal's model; DELETE closes it."""

    def get(self, name: str) -> None:
        self.finish_json(self.terminal_manager.terminal_model(name))

    async def delete(self, name: str) -> None:
        await self.terminal_manager.terminate(name)
        self.set_status(204)
        self.finish()


def parse_client_message(data: str | bytes) -> list[Any]:
    """A client's frame as terminado's ``[type, ...]`` array; InvalidInput when it is not one."""
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"not JSON: {exc}") from None
    if not isinstance(message, list) or not message or not isinstance(message[0], str):
        raise InvalidInput("not a JSON array starting with the message type")
    return message


class TerminalSocketHandler(JSONErrorsMixin, WebSocketHandler, BaseHandler):
    """``/terminals/websocket/<name>``: one client connection to a terminal."""

    auth_resource = AUTH_RESOURCE
    auth_actions = {"GET": "execute"}  # the websocket upgrade; the access pipeline runs before it
    record: TerminalRecord | None = None
    size: tuple[int | None, int | None] = (None, None)

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not terminal_manager_of(self).has_terminal(kwargs["name"]):
            raise NotFound(f"Terminal not found: {kwargs['name']}")
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        return self.origin_allowed(origin)

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.set_nodelay(True)
        try:
            self.record, backlog = terminal_manager_of(self).connect(kwargs["name"], self)
        except NotFound as exc:  # ended between the check and the upgrade
            self.close(1000, exc.message)
            return
        self.send_json(["setup", {}])
        if backlog:
            self.send_json(["stdout", backlog])

    async def on_message(self, message: str | bytes) -> None:
        if self.record is None:
            return
        try:
            command = parse_client_message(message)
            if command[0] == "stdin" and len(command) > 1 and isinstance(command[1], str):
                await terminal_manager_of(self).send_input(self.record, command[1])
            elif command[0] == "set_size":
                rows, cols = command[1:3]
                if type(rows) is not int or type(cols) is not int:
                    raise InvalidInput("set_size needs whole numbers of rows and columns")
                terminal_manager_of(self).set_client_size(self.record, self, rows, cols)
        except (InvalidInput, ValueError) as exc:
            log.warning("Terminal %s: dropped a client message: %s", self.record.name, exc)

    def on_close(self) -> None:
        if self.record is not None:
            terminal_manager_of(self).disconnect(self.record, self)

    def send_json(self, message: list[Any]) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        try:
            self.write_message(json.dumps(message))
        except WebSocketClosedError:
            pass

    # -- TerminalClient: called by the terminal's pty --------------------------------------

    def on_pty_read(self, text: str) -> None:
        self.send_json(["stdout", text])

    def on_pty_died(self) -> None:
        self.send_json(["disconnect", 1])
        self.close()


handlers = [
    (r"/api/terminals", TerminalRootHandler),
    (rf"/api/terminals/{TERMINAL_NAME_REGEX}", TerminalHandler),
    (rf"/terminals/websocket/{TERMINAL_NAME_REGEX}", TerminalSocketHandler),
]
