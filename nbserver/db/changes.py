"""Changes made by other replicas, heard over PostgreSQL LISTEN/NOTIFY, so caches can skip asking.

Writers never call this module: triggers on the tables send the notifications in the writing
transaction itself (``pg_notify`` is delivered on commit and dropped on rollback; see
https://www.postgresql.org/docs/15/sql-notify.html). A payload is ``"<component> <key> <key>..."``
under :data:`PAYLOAD_LIMIT` bytes (PostgreSQL refuses 8000 and more; the triggers send as many
payloads as they need). Every database user may LISTEN on every channel, so a key never names a
file: it is ``p`` (this path) or ``t`` (this folder and everything below it) followed by the first
16 hex digits of the SHA-256 of the owner and the path (:func:`change_key`), computed the same way
in SQL by the triggers.

One :class:`ChangeListener` per server process holds a dedicated connection (not from the pool)
that LISTENs, reconnecting with backoff when it drops. A cache may skip its per-read validation
only while the listener is :attr:`~ChangeListener.live` and the entry was validated in the
current :attr:`~ChangeListener.epoch` (see :class:`Freshness`): notifications sent while the
listener was away are lost, so every (re)connection starts a new epoch and each cached entry is
validated again once. Correctness never depends on a notification arriving; only speed does.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterable

if TYPE_CHECKING:
    from nbserver.db.config import Database

#: The channel every trigger notifies and every listener LISTENs on.
CHANNEL = "nbserver_changes"
#: Bytes a payload stays under (PostgreSQL's limit is 8000 with the default build).
PAYLOAD_LIMIT = 7900
#: Hex digits of a key's hash.
KEY_DIGITS = 16
#: Seconds between the listener's checks that its connection still answers (a peer that
#: vanished without closing the socket is noticed within this plus ``Database.connect_timeout``).
PING_SECONDS = 5.0
#: Backoff between reconnection attempts: first and longest wait, in seconds.
RETRY_FIRST_SECONDS = 0.2
RETRY_MOST_SECONDS = 10.0

log = logging.getLogger("nbserver")


def change_key(kind: str, owner: str, path: str) -> str:
    """The key of ``path`` of ``owner`` (``kind`` ``"p"``: the path, ``"t"``: the tree below it),
    as the SQL triggers compute it: ``left(encode(sha256(convert_to(length(owner) || ':' || owner
    || path, 'UTF8')), 'hex'), 16)``."""
    text = f"{len(owner)}:{owner}{path}".encode("utf-8")
    return kind + hashlib.sha256(text).hexdigest()[:KEY_DIGITS]


def keys_touching(owner: str, path: str) -> frozenset[str]:
    """Every key whose change concerns ``path``: the path's own and the tree key of each folder
    above it (the root included), for matching a cached entry against a notification."""
    parts = path.split("/") if path else []
    folders = ["/".join(parts[:depth]) for depth in range(len(parts) + 1)]
    return frozenset([change_key("p", owner, path), *(change_key("t", owner, folder) for folder in folders)])


def payloads(component: str, keys: Iterable[str]) -> list[str]:
    """The NOTIFY payloads that carry ``keys`` of ``component``, each under :data:`PAYLOAD_LIMIT`
    (what the triggers do in SQL; used to check them and by writers outside a trigger)."""
    found: list[str] = []
    current = component
    for key in dict.fromkeys(keys):
        if len(current) + 1 + len(key) > PAYLOAD_LIMIT:
            found.append(current)
            current = component
        current += " " + key
    if current != component or not found:
        found.append(current)
    return found


@dataclass(frozen=True)
class Change:
    """A committed change another (or this) replica made: ``keys`` of ``component``."""

    component: str
    keys: frozenset[str]

    @classmethod
    def parse(cls, payload: str) -> Change:
        component, *keys = payload.split()
        return cls(component, frozenset(keys))


#: Called with each Change, or with None when notifications may have been missed (the
#: listener connected or lost its connection): everything cached must be validated again.
Subscriber = Callable[["Change | None"], None]


class ChangeListener:
    """The process's LISTEN connection (see the module docstring). Start it on the event loop
    with :meth:`start`; :meth:`stop` closes it."""

    def __init__(self, database: Database) -> None:
        self.database = database
        #: True while LISTEN is in force on a connection that answered its last check.
        self.live = False
        #: Moves on every connection and disconnection.
        self.epoch = 0
        #: The database role the listener (and the pool, from the same URL) connects as.
        self.role: str | None = None
        #: The server process of the LISTEN connection (``pg_stat_activity.pid``), while connected.
        self.backend_pid: int | None = None
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def start(self) -> None:
        """Start listening on the running loop (again after :meth:`stop`); idempotent."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._set_live(False)

    async def _run(self) -> None:
        import psycopg

        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.database.conninfo(), autocommit=True) as conn:
                    self._connection = conn
                    self.backend_pid = conn.info.backend_pid
                    await conn.execute(f"LISTEN {CHANNEL}")
                    row = await (await conn.execute("SELECT current_user::text")).fetchone()
                    self.role = str(row[0]) if row else None
                    self._set_live(True)
                    delay = RETRY_FIRST_SECONDS
                    while True:
                        async for note in conn.notifies(timeout=PING_SECONDS):
                            self._dispatch(note.payload)
                        await asyncio.wait_for(conn.execute("SELECT 1"), self.database.connect_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect; caches validate meanwhile
                if self.live:
                    log.warning("Cross-replica change notifications lost (%s): caches validate every read "
                                "until the listener reconnects", type(exc).__name__)
            finally:
                self._connection = None
                self.backend_pid = None
                self._set_live(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MOST_SECONDS)

    def _set_live(self, live: bool) -> None:
        if live == self.live and not live:
            return
        self.live = live
        self.epoch += 1
        self._broadcast(None)

    def _dispatch(self, payload: str) -> None:
        try:
            change = Change.parse(payload)
        except ValueError:
            return
        self._broadcast(change)

    def _broadcast(self, change: Change | None) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(change)
            except Exception:
                log.exception("A change subscriber failed")


class Freshness:
    """Which cached entries (by any hashable key) may be served without asking the database.

    A cache calls :meth:`begin` before it reads what it caches and :meth:`validated` after, with
    the change keys that concern the entry (:func:`keys_touching`): the entry counts as fresh
    only if no change was heard in between and the listener stayed live in one epoch. A lookup
    asks :meth:`fresh`. A notification of one of ``components`` with a matching key makes the
    entry stale; one of ``clear_components`` (trust: every reply depends on it) makes all stale.
    """

    def __init__(self, listener: ChangeListener | None, components: frozenset[str],
                 clear_components: frozenset[str] = frozenset()) -> None:
        self.listener = listener
        self.components = components
        self.clear_components = clear_components
        #: Entry key -> (epoch it was validated in, its change keys).
        self._fresh: dict[Hashable, tuple[int, frozenset[str]]] = {}
        #: Change key -> the entries it concerns.
        self._by_change: dict[str, set[Hashable]] = {}
        self._heard = 0
        if listener is not None:
            listener.subscribe(self._heard_change)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.unsubscribe(self._heard_change)

    def begin(self) -> int:
        """A token for :meth:`validated`: how much had been heard when the read began."""
        return self._heard

    def validated(self, key: Hashable, token: int, touching: frozenset[str]) -> None:
        """``key``'s entry was read or checked against the database after :meth:`begin` gave ``token``."""
        self._forget(key)
        listener = self.listener
        if listener is not None and listener.live and token == self._heard:
            self._fresh[key] = (listener.epoch, touching)
            for change_key_ in touching:
                self._by_change.setdefault(change_key_, set()).add(key)

    def fresh(self, key: Hashable) -> bool:
        """Whether ``key``'s entry is known current without a query."""
        listener = self.listener
        entry = self._fresh.get(key)
        return entry is not None and listener is not None and listener.live and entry[0] == listener.epoch

    def changed(self, keys: frozenset[str]) -> None:
        """This process changed what entries with these change keys were made from (as if heard)."""
        self._heard += 1
        for change_key_ in keys:
            for key in list(self._by_change.get(change_key_, ())):
                self._forget(key)

    def reset(self) -> None:
        """Every entry is to be validated again (something all of them depend on changed)."""
        self._heard += 1
        self._fresh.clear()
        self._by_change.clear()

    def _forget(self, key: Hashable) -> None:
        entry = self._fresh.pop(key, None)
        if entry is not None:
            for change_key_ in entry[1]:
                entries = self._by_change.get(change_key_)
                if entries is not None:
                    entries.discard(key)
                    if not entries:
                        del self._by_change[change_key_]

    def _heard_change(self, change: Change | None) -> None:
        if change is None or change.component in self.clear_components:
            self.reset()
        elif change.component in self.components:
            self.changed(change.keys)
