"""The stdin socket's handshake watch: once it says done, the kernel's ROUTER can reach us."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import zmq
import zmq.asyncio

from nbserver.services.kernels.handshake import connect_watched


def fake_connection(context: zmq.Context, port: int, **extra: object) -> SimpleNamespace:
    """What connect_watched uses of a jupyter_client kernel manager."""
    return SimpleNamespace(context=context, _make_url=lambda channel: f"tcp://127.0.0.1:{port}", **extra)


@pytest.mark.gen_test(timeout=20)
async def test_done_only_after_the_router_appears_and_then_it_can_address_us():
    context = zmq.asyncio.Context()
    router = context.socket(zmq.ROUTER, socket_class=zmq.Socket)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    router.unbind(f"tcp://127.0.0.1:{port}")  # nobody listens yet: the kernel is still starting
    stream, watch = connect_watched(fake_connection(context, port), "stdin", b"client-1")
    try:
        await asyncio.sleep(0.3)
        assert not watch.done.is_set()
        router.bind(f"tcp://127.0.0.1:{port}")
        await asyncio.wait_for(watch.done.wait(), 10)
        # The property the kernel needs: a message addressed to our identity is delivered, not dropped.
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        got: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        stream.on_recv(lambda parts: got.done() or got.set_result(parts))
        router.send_multipart([b"client-1", b"input_request"])
        received = await asyncio.wait_for(got, 10)
        assert received == [b"input_request"]
    finally:
        watch.close()
        stream.close(linger=0)
        router.close(linger=0)
        context.term()


def test_a_curve_connection_is_not_built_here():
    context = zmq.Context()
    try:
        assert connect_watched(fake_connection(context, 1, curve_publickey=b"k"), "stdin", b"x") is None
        assert connect_watched(SimpleNamespace(context=context), "stdin", b"x") is None
    finally:
        context.term()
