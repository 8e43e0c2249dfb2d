"""The websocket end of the kernel channels bridge: one client connection to a kernel.

The connection speaks the legacy framing or ``v1.kernel.websocket.jupyter.org``, chosen at
the handshake (both in framing.py).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from tornado.websocket import WebSocketClosedError, WebSocketHandler

from nbserver.base.handlers import BaseHandler, JSONErrorsMixin
from nbserver.errors import NotFound
from nbserver.services.kernels.base import KernelManagerBase
from nbserver.services.kernels.bridge import KernelBridge
from nbserver.services.kernels.frame_writer import write_message_parts
from nbserver.services.kernels.framing import (
    V1_SUBPROTOCOL,
    WireProtocol,
    decode_frame,
    encode_frame,
    frame_parts,
)

__all__ = ["KernelChannelsHandler", "WireProtocol", "decode_frame", "encode_frame"]
from nbserver.services.kernels.messages import SERVER_USERNAME, InvalidMessage, KernelMessage, notice_message

log = logging.getLogger("nbserver")

#: Seconds between pings when the app sets no ``websocket_ping_interval``: they keep proxies from
#: closing quiet connections and reveal dead ones, whose session then starts buffering.
DEFAULT_PING_INTERVAL = 30.0


# -- the websocket handler -------------------------------------------------------------------


class KernelChannelsHandler(JSONErrorsMixin, WebSocketHandler, BaseHandler):
    """``/api/kernels/<id>/channels``: one client connection to a kernel's bridge."""

    auth_resource = "kernels"
    auth_actions = {"GET": "execute"}  # the websocket upgrade; the pipeline runs before it
    bridge: KernelBridge | None = None
    protocol = WireProtocol.LEGACY
    session_key = ""
    keep_buffer = False

    @property
    def kernel_manager(self) -> KernelManagerBase[Any]:
        return self.settings["kernel_manager"]  # type: ignore[no-any-return]

    async def get(self, *args: Any, **kwargs: Any) -> None:
        kernel_id = kwargs["kernel_id"]
        if not self.kernel_manager.has_kernel(kernel_id):
            raise NotFound(f"No such kernel: {kernel_id}")
        session_id = self.get_query_argument("session_id", default="") or ""
        # Without a session_id a client cannot come back for its messages: nothing is kept.
        self.keep_buffer = bool(session_id) and self.kernel_manager.buffer_offline_messages
        self.session_key = session_id or uuid.uuid4().hex
        await super().get(*args, **kwargs)

    @property
    def ping_interval(self) -> float | None:
        return self.settings.get("websocket_ping_interval", DEFAULT_PING_INTERVAL)  # type: ignore[no-any-return]

    def get_compression_options(self) -> dict[str, Any] | None:
        # permessage-deflate, when the application's settings ask for it (jupyter_server's
        # setting name); off by default, as compressing multi-MB output costs more than it saves
        # on the loopback and LAN links a notebook server mostly serves.
        options: dict[str, Any] | None = self.settings.get("websocket_compression_options")
        return options

    def check_origin(self, origin: str) -> bool:
        return self.origin_allowed(origin)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return V1_SUBPROTOCOL if V1_SUBPROTOCOL in subprotocols else None

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.set_nodelay(True)
        if self.selected_subprotocol == V1_SUBPROTOCOL:
            self.protocol = WireProtocol.V1
        try:
            self.bridge = self.kernel_manager.channels_bridge(kwargs["kernel_id"])
            self.bridge.attach(self)
        except NotFound as exc:
            self.bridge = None
            self.close(1000, exc.message)

    async def on_message(self, message: str | bytes) -> None:
        try:
            kernel_message = decode_frame(self.protocol, message)
        except InvalidMessage as exc:
            log.warning("Kernel channels: refused a message from session %s: %s", self.session_key, exc)
            self.deliver(notice_message(f"nbserver refused a message: {exc}", {}, SERVER_USERNAME))
            return
        if self.bridge is None:
            return
        try:
            self.bridge.send(self.session_key, kernel_message)
        except NotFound as exc:
            self.close(1000, exc.message)

    def on_close(self) -> None:
        if self.bridge is not None:
            self.bridge.detach(self)

    # -- MessageSink ---------------------------------------------------------------------

    def deliver(self, message: KernelMessage) -> bool:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return False
        parts, binary = frame_parts(self.protocol, message)
        try:
            future = write_message_parts(self, parts, binary)
        except WebSocketClosedError:
            return False
        # A write that fails because the client went away needs no report.
        future.add_done_callback(lambda done: done.exception())
        return True

    def close_connection(self, code: int, reason: str) -> None:
        self.close(code, reason)
