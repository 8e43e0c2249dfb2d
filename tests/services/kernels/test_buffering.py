"""SessionBuffer: bounded in messages and bytes, oldest dropped first and counted."""

from __future__ import annotations

from nbserver.services.kernels.buffering import SessionBuffer
from nbserver.services.kernels.messages import KernelMessage


def message(n: int, size: int = 0) -> KernelMessage:
    return KernelMessage.from_parts("iopub", {"msg_id": str(n), "msg_type": "stream"}, {"msg_id": f"p{n}"},
                                    {}, {"text": "x" * size})


def test_drain_returns_messages_in_order_and_empties():
    buffer = SessionBuffer(max_messages=10, max_bytes=10_000)
    for n in range(3):
        buffer.append(message(n))
    replay = buffer.drain()
    assert [m.msg_id for m in replay.messages] == ["0", "1", "2"]
    assert replay.dropped == 0
    assert len(buffer) == 0 and buffer.nbytes == 0


def test_message_limit_drops_the_oldest_and_counts_them():
    buffer = SessionBuffer(max_messages=2, max_bytes=10_000)
    for n in range(5):
        buffer.append(message(n))
    replay = buffer.drain()
    assert [m.msg_id for m in replay.messages] == ["3", "4"]
    assert replay.dropped == 3
    assert replay.dropped_parent == {"msg_id": "p2"}


def test_byte_limit_drops_the_oldest():
    size = message(0, 100).size
    buffer = SessionBuffer(max_messages=100, max_bytes=2 * size)
    for n in range(4):
        buffer.append(message(n, 100))
    assert [m.msg_id for m in buffer.drain().messages] == ["2", "3"]


def test_a_message_larger_than_the_byte_limit_is_dropped_itself():
    buffer = SessionBuffer(max_messages=100, max_bytes=50)
    buffer.append(message(0, 1000))
    replay = buffer.drain()
    assert replay.messages == [] and replay.dropped == 1
