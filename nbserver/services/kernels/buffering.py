"""Messages kept for a client session while it is disconnected, replayed when it returns.

The buffer is bounded in messages and in bytes; when either bound is passed the oldest
messages go first and are counted, so the client can be told what it missed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from nbserver.services.kernels.messages import KernelMessage


@dataclass
class Replay:
    """What a returning session receives: the kept messages, in order, and what was dropped."""

    messages: list[KernelMessage]
    dropped: int = 0
    #: The parent header of the newest dropped message: the request the loss concerns.
    dropped_parent: dict[str, Any] = field(default_factory=dict)


class SessionBuffer:
    """A bounded first-in first-out queue of one session's messages."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._messages: deque[KernelMessage] = deque()
        self.nbytes = 0
        self.dropped = 0
        self._dropped_parent: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def append(self, message: KernelMessage) -> None:
        self._messages.append(message)
        self.nbytes += message.size
        while self._messages and (len(self._messages) > self.max_messages or self.nbytes > self.max_bytes):
            oldest = self._messages.popleft()
            self.nbytes -= oldest.size
            self.dropped += 1
            self._dropped_parent = oldest.parent_header

    def drain(self) -> Replay:
        """Everything kept, oldest first, and the drop count; the buffer is empty afterwards."""
        replay = Replay(list(self._messages), self.dropped, self._dropped_parent)
        self._messages.clear()
        self.nbytes = 0
        self.dropped = 0
        self._dropped_parent = {}
        return replay
