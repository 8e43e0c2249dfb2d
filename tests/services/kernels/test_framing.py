"""The wire framings of framing.py against the test client's own reading of the protocol docs."""

from __future__ import annotations

import json

import pytest

from nbserver.services.kernels.framing import (
    WireProtocol,
    decode_frame,
    encode_frame,
)
from nbserver.services.kernels.messages import InvalidMessage, KernelMessage
from tests.support import kernel_client


def sample(buffers: list[bytes] | None = None, channel: str = "shell") -> dict:
    return {
        "channel": channel,
        "header": {"msg_id": "m1", "msg_type": "comm_msg", "session": "s", "username": "u",
                   "date": "2024-01-01T00:00:00Z", "version": "5.3"},
        "parent_header": {"msg_id": "p0"},
        "metadata": {"k": "é"},
        "content": {"comm_id": "c", "data": {"x": [1, 2]}},
        "buffers": buffers or [],
    }


def as_kernel_message(message: dict) -> KernelMessage:
    return KernelMessage.from_parts(message["channel"], message["header"], message["parent_header"],
                                    message["metadata"], message["content"], message["buffers"])


def same_message(decoded: dict, expected: dict) -> None:
    for key in ("channel", "header", "parent_header", "metadata", "content"):
        assert decoded[key] == expected[key], key
    assert [bytes(b) for b in decoded.get("buffers", [])] == expected["buffers"]


@pytest.mark.parametrize("buffers", [[], [b"\x00\x01", b"", b"tail"]], ids=["plain", "buffers"])
def test_legacy_encoding_reads_back_per_the_protocol(buffers):
    message = sample(buffers, channel="iopub")
    payload, binary = encode_frame(WireProtocol.LEGACY, as_kernel_message(message))
    assert binary == bool(buffers)
    decoded = kernel_client.decode_legacy(payload if binary else payload.decode())
    same_message(decoded, message)
    assert decoded["msg_id"] == "m1" and decoded["msg_type"] == "comm_msg"


@pytest.mark.parametrize("buffers", [[], [b"\x00\x01", b"tail"]], ids=["plain", "buffers"])
def test_v1_encoding_reads_back_per_the_protocol(buffers):
    message = sample(buffers, channel="iopub")
    payload, binary = encode_frame(WireProtocol.V1, as_kernel_message(message))
    assert binary
    same_message(kernel_client.decode_v1(payload), message)


@pytest.mark.parametrize("buffers", [[], [b"\xff" * 10, b"x"]], ids=["plain", "buffers"])
def test_client_frames_decode_in_both_protocols(buffers):
    message = sample(buffers)
    for protocol, frame in ((WireProtocol.LEGACY, kernel_client.encode_legacy(message)),
                            (WireProtocol.V1, kernel_client.encode_v1(message))):
        decoded = decode_frame(protocol, frame)
        assert decoded.channel == "shell"
        assert decoded.header == message["header"]
        assert json.loads(decoded.content_bytes) == message["content"]
        assert decoded.buffers == buffers


def test_text_frame_is_accepted_on_a_v1_connection():
    decoded = decode_frame(WireProtocol.V1, json.dumps(sample()))
    assert decoded.msg_type == "comm_msg"


@pytest.mark.parametrize("frame", [
    "not json",
    "[]",
    json.dumps({**sample(), "channel": "iopub"}),
    json.dumps({**sample(), "header": {"msg_type": "x"}}),
    json.dumps({**sample(), "content": "text"}),
    b"\x00",
    b"\x00\x00\x00\x05" + b"\x00" * 8,
    b"\x00\x00\x00\x02\x00\x00\x00\x0c\x00\x00\x00\x0b{}",
])
def test_bad_legacy_frames_are_refused(frame):
    with pytest.raises(InvalidMessage):
        decode_frame(WireProtocol.LEGACY, frame)


@pytest.mark.parametrize("frame", [
    b"\x01",
    (3).to_bytes(8, "little") + b"\x00" * 24,
    (1 << 40).to_bytes(8, "little"),
    kernel_client.encode_v1(sample())[:-3],
    kernel_client.encode_v1({**sample(), "channel": "iopub"}),
])
def test_bad_v1_frames_are_refused(frame):
    with pytest.raises(InvalidMessage):
        decode_frame(WireProtocol.V1, frame)
