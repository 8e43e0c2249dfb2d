"""A limit on the rate of a kernel's iopub output, so a flood does not bury a browser.

Rates are measured over a sliding window (messages per second and bytes per second) that
counts every output message the kernel sends. While either rate is over its limit, output is
dropped: a *flood*. :class:`OutputThrottle` makes a flood readable:

1. the output goes out up to the limit; a stream message that crosses the data limit is cut
   to the bytes the window still allows (at a line end when there is one), so a 20 MB print
   shows its first megabytes;
2. what follows is dropped, but counted, and the last :data:`TAIL_CHARS` characters of each
   stream (stdout, stderr, per request) are kept;
3. when the flood ends (the kernel goes idle, the rate falls under the limits again, or no
   output comes for a window), ONE notice says how many messages and bytes were dropped, the
   kept tails follow, and the window starts afresh, so running the cell again behaves the same.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

from nbserver.services.kernels.messages import KernelMessage, notice_message, stream_message, with_content

#: The window is counted in this many slices: old traffic leaves the window slice by slice.
SLICES_PER_WINDOW = 20
#: Characters of dropped stream text kept per stream (and request), shown when a flood ends.
TAIL_CHARS = 8 * 1024
#: Streams whose tails one flood keeps; output of more (many cells at once) keeps the latest.
MAX_TAILS = 8
#: Bytes a cut message's header, metadata and JSON framing may take beyond its text.
HEAD_OVERHEAD_BYTES = 1024


class RateDecision(Enum):
    SEND = "send"
    DROP = "drop"


class OutputRateLimiter:
    """Messages and bytes per second over a sliding window; a limit of 0 turns that limit off."""

    def __init__(
        self,
        msg_rate_limit: float,
        data_rate_limit: float,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.msg_rate_limit = msg_rate_limit
        self.data_rate_limit = data_rate_limit
        self.window = max(window, 0.001)
        self._slice = self.window / SLICES_PER_WINDOW
        self.clock = clock
        # [slice start, messages, bytes], oldest first
        self._slices: deque[list[float]] = deque()
        self._messages = 0
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        return self.msg_rate_limit > 0 or self.data_rate_limit > 0

    def _forget_before(self, now: float) -> None:
        while self._slices and self._slices[0][0] <= now - self.window:
            _, messages, nbytes = self._slices.popleft()
            self._messages -= int(messages)
            self._bytes -= int(nbytes)

    def _record(self, now: float, size: int) -> None:
        if not self._slices or now - self._slices[-1][0] >= self._slice:
            self._slices.append([now, 0, 0])
        current = self._slices[-1]
        current[1] += 1
        current[2] += size
        self._messages += 1
        self._bytes += size

    def message_rate(self) -> float:
        return self._messages / self.window

    def data_rate(self) -> float:
        return self._bytes / self.window

    def messages_over(self) -> bool:
        return self.msg_rate_limit > 0 and self.message_rate() > self.msg_rate_limit

    def data_over(self) -> bool:
        return self.data_rate_limit > 0 and self.data_rate() > self.data_rate_limit

    def data_left(self, uncounted: int = 0) -> int | None:
        """Bytes the data limit still allows in the current window, not counting ``uncounted`` of the
        bytes admitted (the message just admitted); None when there is no data limit."""
        if self.data_rate_limit <= 0:
            return None
        return max(0, int(self.data_rate_limit * self.window) - self._bytes + uncounted)

    def admit(self, size: int) -> RateDecision:
        """Count a message of ``size`` bytes and say whether the rates stay under the limits."""
        if not self.enabled:
            return RateDecision.SEND
        now = self.clock()
        self._forget_before(now)
        self._record(now, size)
        return RateDecision.DROP if self.messages_over() or self.data_over() else RateDecision.SEND

    def reset(self) -> None:
        """Start a new window: nothing counted."""
        self._slices.clear()
        self._messages = 0
        self._bytes = 0


def _stream_content(message: KernelMessage) -> tuple[str, str] | None:
    """(name, text) of a stream message; None for other messages and unreadable content."""
    if message.msg_type != "stream":
        return None
    try:
        content: Any = message.content()
    except ValueError:
        return None
    name, text = content.get("name"), content.get("text")
    return (name, text) if isinstance(name, str) and isinstance(text, str) else None


def _cut_head(text: str, max_bytes: int) -> str:
    """The start of ``text`` in at most ``max_bytes`` UTF-8 bytes, ending at a line end if it has one."""
    head = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    line_end = head.rfind("\n")
    return head[:line_end + 1] if line_end >= 0 else head


def _size_text(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


@dataclass
class StreamTail:
    """The last characters of one stream's dropped text, for one request."""

    parent_header: dict[str, Any]
    name: str
    text: str = ""
    cut: bool = False

    def add(self, text: str) -> None:
        joined = self.text + text[-TAIL_CHARS:]
        if len(joined) > TAIL_CHARS or len(text) > TAIL_CHARS:
            self.cut = True
        self.text = joined[-TAIL_CHARS:]

    def shown_text(self) -> str:
        """The tail from its first whole line (when it was cut and a line end follows)."""
        if not self.cut:
            return self.text
        line_end = self.text.find("\n")
        return self.text[line_end + 1:] if 0 <= line_end < len(self.text) - 1 else self.text


@dataclass
class Flood:
    """What one flood dropped."""

    parent_header: dict[str, Any]
    reason: str  # "message" or "data": the limit that started it
    started: float
    last_drop: float
    messages: int = 0
    nbytes: int = 0
    tails: OrderedDict[tuple[str, str], StreamTail] = field(default_factory=OrderedDict)

    def drop(self, message: KernelMessage, now: float, nbytes: int | None = None) -> None:
        """Count a dropped message (or ``nbytes`` of one cut short) and keep its stream text's tail."""
        self.last_drop = now
        if nbytes is None:
            self.messages += 1
            self.nbytes += message.size
        else:
            self.nbytes += nbytes
        stream = _stream_content(message)
        if stream is None:
            return
        name, text = stream
        key = (str(message.parent_msg_id or ""), name)
        tail = self.tails.get(key)
        if tail is None:
            tail = self.tails[key] = StreamTail(message.parent_header, name)
            while len(self.tails) > MAX_TAILS:
                self.tails.popitem(last=False)
        self.tails.move_to_end(key)
        tail.add(text)


class OutputThrottle:
    """Which of a kernel's iopub output messages go out, and what a client is told of the rest."""

    def __init__(self, limiter: OutputRateLimiter, server_session: str) -> None:
        self.limiter = limiter
        self.server_session = server_session
        self.flood: Flood | None = None

    def filter(self, message: KernelMessage) -> list[KernelMessage]:
        """The messages to send for an output message from the kernel, in order (maybe none)."""
        decision = self.limiter.admit(message.size)
        if self.flood is not None:
            if decision is RateDecision.SEND:
                # The rate fell back under the limits: report the flood, then carry on.
                return [*self.end_flood(), message]
            self.flood.drop(message, self.limiter.clock())
            return []
        if decision is RateDecision.SEND:
            return [message]
        now = self.limiter.clock()
        reason = "message" if self.limiter.messages_over() else "data"
        self.flood = Flood(message.parent_header, reason, now, now)
        head = self._head(message) if reason == "data" else None
        if head is None:
            self.flood.drop(message, now)
            return []
        self.flood.drop(message, now, nbytes=message.size - head.size)
        return [head]

    def _head(self, message: KernelMessage) -> KernelMessage | None:
        """The part of a stream message that fits the data the window still allows, if any."""
        stream = _stream_content(message)
        left = self.limiter.data_left(uncounted=message.size)
        if stream is None or left is None:
            return None
        allowed = left - (message.size - len(message.content_bytes)) - HEAD_OVERHEAD_BYTES
        name, text = stream
        head = _cut_head(text, allowed) if allowed > 0 else ""
        if not head:
            return None
        return with_content(message, {"name": name, "text": head})

    def end_flood(self) -> list[KernelMessage]:
        """The notice and kept tails of the current flood, and a new window; nothing without a flood."""
        flood, self.flood = self.flood, None
        if flood is None:
            return []
        self.limiter.reset()
        notice = notice_message(self._notice_text(flood), flood.parent_header, self.server_session)
        tails = [stream_message(tail.name, tail.shown_text(), tail.parent_header, self.server_session)
                 for tail in flood.tails.values() if tail.text]
        return [notice, *tails]

    def _notice_text(self, flood: Flood) -> str:
        limiter = self.limiter
        limit = (f"{limiter.msg_rate_limit:g} messages/s (MappingKernelManager.iopub_msg_rate_limit)"
                 if flood.reason == "message" else
                 f"{_size_text(int(limiter.data_rate_limit))}/s (MappingKernelManager.iopub_data_rate_limit)")
        what = f"{flood.messages} output message{'s' if flood.messages != 1 else ''}"
        if flood.messages == 0:
            what = "the rest of a message"
        text = (f"IOPub {flood.reason} rate exceeded: nbserver did not send {what} "
                f"({_size_text(flood.nbytes)}) of this kernel's output, over the limit of {limit} "
                f"averaged over {limiter.window:g} s (MappingKernelManager.rate_limit_window).")
        if any(tail.text for tail in flood.tails.values()):
            text += " The last lines of the output that was not sent follow."
        return text
