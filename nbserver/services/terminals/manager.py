"""TerminalManager: named shells in pseudo-terminals, their activity, culling and shutdown.

The ptys themselves are terminado's (``NamedTermManager`` spawns each shell in a pty,
reads its output on the event loop, keeps a short backlog for clients that connect later
and terminates it); this module adds what the server reports and decides: the REST model
(``name``, ``last_activity``), where a shell starts (inside the root), when an idle one is
culled, and that no process of a terminal outlives it. Names and wire shapes follow
Jupyter Server's terminals service (``/api/terminals`` in its ``api.yaml``).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from terminado.management import NamedTermManager, PtyWithClients, TermManagerBase
from traitlets import Float, List, Unicode, default
from traitlets.config import LoggingConfigurable

from nbserver.blocking import run_blocking
from nbserver.errors import Conflict, InvalidInput, NbserverError, NotFound
from nbserver.services.contents.fileio import normalize_api_path, resolve_inside_root
from nbserver.services.culling import PeriodicCuller, close_each
from nbserver.timestamps import iso_timestamp

#: Names a client may give a terminal: what the ``/terminals/<name>`` routes match (``\w+``, ASCII).
TERMINAL_NAME = re.compile(r"[A-Za-z0-9_]{1,100}")
#: Seconds a terminated terminal's pty has to report its end before it is closed by force.
CLOSE_WAIT_SECONDS = 2.0
#: Largest rows or columns a client may ask for (terminado takes larger values as "no size").
MAX_TERMINAL_SIZE = 10000


class TerminalStartFailed(NbserverError):
    """The shell could not be started (500); the details go to the log."""


class TerminalClient(Protocol):
    """A connection to a terminal, as terminado's pty calls it: its size, output and end."""

    size: tuple[int | None, int | None]

    def on_pty_read(self, text: str) -> None: ...

    def on_pty_died(self) -> None: ...


@dataclass(eq=False)
class TerminalRecord:
    """One running terminal: its name, its pty and when it last saw input or output (POSIX seconds)."""

    name: str
    pty: PtyWithClients
    last_activity: float = field(default_factory=time.time)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def touch(self) -> None:
        self.last_activity = time.time()

    def to_model(self) -> dict[str, Any]:
        """``{"name": str, "last_activity": ISO 8601 UTC with microseconds and Z}``."""
        return {"name": self.name, "last_activity": iso_timestamp(self.last_activity)}


def kill_session(session_id: int) -> int:
    """SIGKILL every process still in session ``session_id``; return how many were signalled.

    A terminal's shell leads its own session, so this finds what it left behind: background
    jobs, ``nohup`` commands. Processes that started a session of their own are not found.
    Linux only (``/proc``); elsewhere nothing is done.
    """
    if session_id <= 0 or session_id == os.getsid(0):
        return 0  # never the server's own session
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    killed = 0
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getsid(pid) == session_id:
                os.kill(pid, signal.SIGKILL)
                killed += 1
        except OSError:  # gone meanwhile, or not ours to see
            continue
    return killed


class _PtyRegistry(NamedTermManager):
    """terminado's manager of named ptys, telling its owner about output and about a pty's end."""

    def __init__(self, on_output: Callable[[PtyWithClients], None], on_closed: Callable[[PtyWithClients], None],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_output = on_output
        self._on_closed = on_closed

    def pre_pty_read_hook(self, ptywclients: PtyWithClients) -> None:
        self._on_output(ptywclients)

    def on_eof(self, ptywclients: PtyWithClients) -> None:
        # NamedTermManager.on_eof drops the *name*, which may already belong to a newer
        # terminal once the old one was deleted: only the pty itself is forgotten here.
        TermManagerBase.on_eof(self, ptywclients)
        self.forget(ptywclients)
        self._on_closed(ptywclients)

    def forget(self, ptywclients: PtyWithClients) -> None:
        """Take the pty's name off the list of terminals, if it still names this pty."""
        name = ptywclients.term_name
        if name is not None and self.terminals.get(name) is ptywclients:
            del self.terminals[name]

    def close(self, ptywclients: PtyWithClients) -> None:
        """Stop reading a pty whose end never came, close it and tell its clients (idempotent)."""
        if self.ptys_by_fd.get(ptywclients.ptyproc.fd) is not ptywclients:
            return
        self.on_eof(ptywclients)
        for client in list(ptywclients.clients):
            client.on_pty_died()


class TerminalManager(LoggingConfigurable):
    """Starts, lists, culls and stops the server's terminals; connects websocket clients to them.

    Named as Jupyter Server's, so its config (``TerminalManager.cull_inactive_timeout``...)
    carries over. Errors: NotFound for an unknown name, InvalidInput for a bad name or cwd,
    Conflict for a name in use, TerminalStartFailed when the shell does not start.
    """

    root_dir = Unicode(help="The server's root folder; terminals start in it or in a folder below it.")
    shell_command = List(
        Unicode(), help="The command a terminal runs, as a list of arguments (default: $SHELL, else bash)."
    ).tag(config=True)
    cull_inactive_timeout = Float(
        0.0, min=0.0,
        help="Close terminals with no input or output for longer than this many seconds; 0 never culls.",
    ).tag(config=True)
    cull_interval = Float(
        300.0, min=0.001, help="Seconds between two checks for inactive terminals."
    ).tag(config=True)

    @default("shell_command")
    def _default_shell_command(self) -> list[str]:
        return [os.environ.get("SHELL") or "bash"]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._records: dict[str, TerminalRecord] = {}
        self._by_pty: dict[PtyWithClients, TerminalRecord] = {}
        # Each terminal is started with the shell_command of the moment (see create_terminal).
        self._ptys = _PtyRegistry(self._on_output, self._on_closed, shell_command=[])
        self._culler = PeriodicCuller("terminal", "inactive", self.cull_inactive_terminals, self.log)

    # -- queries -----------------------------------------------------------------------

    def has_terminal(self, name: str) -> bool:
        return name in self._records

    def _get(self, name: str) -> TerminalRecord:
        try:
            return self._records[name]
        except KeyError:
            raise NotFound(f"Terminal not found: {name}") from None

    def terminal_model(self, name: str) -> dict[str, Any]:
        """The REST model of a terminal; NotFound for an unknown name."""
        return self._get(name).to_model()

    def list_terminals(self) -> list[dict[str, Any]]:
        return [record.to_model() for record in self._records.values()]

    # -- lifecycle ---------------------------------------------------------------------

    def working_directory(self, path: str) -> str:
        """The OS folder of API path ``path`` inside the root; InvalidInput if outside it or not a folder."""
        root = os.path.realpath(self.root_dir or os.getcwd())
        try:
            os_path = resolve_inside_root(root, path)
        except NotFound:
            os_path = ""
        if not os_path or not os.path.isdir(os_path):
            raise InvalidInput(f"cwd {normalize_api_path(path)!r} is not a folder inside the server's root.")
        return os_path

    async def create_terminal(self, name: str | None = None, cwd: str = "") -> dict[str, Any]:
        """Start a shell in the folder ``cwd`` (an API path; the root by default); return its model.

        Without a name the terminal gets the lowest free number ("1", "2", ...), as in Jupyter.
        """
        if name is not None:
            if not TERMINAL_NAME.fullmatch(name):
                raise InvalidInput("A terminal name is 1 to 100 letters, digits or underscores.")
            if name in self._records:
                raise Conflict(f"Terminal already exists: {name}")
        os_cwd = await run_blocking(self.working_directory, cwd)
        options: dict[str, Any] = {"cwd": os_cwd, "shell_command": list(self.shell_command)}
        if name is not None:
            options["name"] = name
        try:
            name, pty = self._ptys.new_named_terminal(**options)
        except Exception as exc:
            self.log.error("Terminal shell %r failed to start: %s", self.shell_command, exc)
            raise TerminalStartFailed(
                "The terminal's shell could not be started; see the server log.", log_detail=str(exc)
            ) from None
        assert name is not None
        record = TerminalRecord(name, pty)
        self._records[name] = record
        self._by_pty[pty] = record
        self.log.info("Terminal %s started (pid %d)", name, pty.ptyproc.pid)
        self._start_culler()
        return record.to_model()

    async def terminate(self, name: str) -> None:
        """Stop terminal ``name``: its shell, every process left in its session, its connections."""
        record = self._get(name)
        del self._records[name]
        self._ptys.forget(record.pty)
        await self._stop(record)
        self.log.info("Terminal %s closed", name)

    async def _stop(self, record: TerminalRecord) -> None:
        pty = record.pty
        session_id = pty.ptyproc.pid
        try:
            await pty.terminate(force=True)
        except Exception as exc:
            self.log.warning("Terminating terminal %s: %s", record.name, exc)
        await run_blocking(kill_session, session_id)
        try:
            await asyncio.wait_for(record.closed.wait(), CLOSE_WAIT_SECONDS)
        except asyncio.TimeoutError:
            self._ptys.close(pty)

    def _on_output(self, pty: PtyWithClients) -> None:
        record = self._by_pty.get(pty)
        if record is not None:
            record.touch()

    def _on_closed(self, pty: PtyWithClients) -> None:
        """The pty ended: its shell exited, or it was terminated."""
        record = self._by_pty.pop(pty, None)
        if record is None:
            return
        record.closed.set()
        if self._records.get(record.name) is record:
            del self._records[record.name]
            self.log.info("Terminal %s ended: its shell exited", record.name)

    # -- clients -------------------------------------------------------------------------

    def connect(self, name: str, client: TerminalClient) -> tuple[TerminalRecord, str]:
        """Attach a client to terminal ``name``; return the terminal and its recent output to replay."""
        record = self._get(name)
        record.pty.clients.append(client)
        record.touch()
        return record, "".join(record.pty.read_buffer)

    def disconnect(self, record: TerminalRecord, client: TerminalClient) -> None:
        if client in record.pty.clients:
            record.pty.clients.remove(client)
            self._resize(record)

    async def send_input(self, record: TerminalRecord, text: str) -> None:
        """Write ``text`` to the terminal, off the event loop and in order (a full pty blocks)."""
        if record.closed.is_set():
            return
        record.touch()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._ptys.blocking_io_executor, record.pty.ptyproc.write, text)
        except (OSError, ValueError) as exc:  # the pty closed meanwhile
            self.log.debug("Terminal %s: input not written: %s", record.name, exc)

    def set_client_size(self, record: TerminalRecord, client: TerminalClient, rows: int, cols: int) -> None:
        """Record a client's window size; the pty takes the smallest of its clients' sizes."""
        if not (0 < rows <= MAX_TERMINAL_SIZE and 0 < cols <= MAX_TERMINAL_SIZE):
            raise InvalidInput(f"A terminal size is 1 to {MAX_TERMINAL_SIZE} rows and columns.")
        client.size = (rows, cols)
        self._resize(record)

    def _resize(self, record: TerminalRecord) -> None:
        if record.closed.is_set():
            return
        try:
            record.pty.resize_to_smallest()
        except OSError as exc:
            self.log.debug("Terminal %s: not resized: %s", record.name, exc)

    # -- culling -------------------------------------------------------------------------

    def _start_culler(self) -> None:
        self._culler.start(self.cull_inactive_timeout, self.cull_interval)

    async def cull_inactive_terminals(self) -> None:
        """Close every terminal without input or output for longer than cull_inactive_timeout (once, now)."""
        if self.cull_inactive_timeout <= 0:
            return
        now = time.time()
        idle = ((name, now - record.last_activity) for name, record in list(self._records.items())
                if now - record.last_activity > self.cull_inactive_timeout)  # each checked when its turn comes
        await self._culler.close_idle(idle, self.terminate)

    # -- server shutdown -----------------------------------------------------------------

    async def shutdown_all(self) -> None:
        """Stop the culler and every terminal with all its processes: what the server does when it stops."""
        self._culler.stop()
        await close_each(list(self._records), self.terminate, self.log, "Closing", "terminal")
        await self._ptys.shutdown()
