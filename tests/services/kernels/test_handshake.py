"""The handshake watches: the stdin socket's (once done, the kernel's ROUTER can reach us) and the
shell socket's, which connects a starting kernel's other channels only once the kernel listens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import zmq
import zmq.asyncio

from nbserver.services.kernels.handshake import StagedChannels, connect_staged

CHANNELS = ("shell", "control", "stdin", "iopub")


def fake_connection(context: zmq.Context, ports: dict[str, int], **extra: object) -> SimpleNamespace:
    """What connect_staged uses of a jupyter_client kernel manager."""
    return SimpleNamespace(context=context, _make_url=lambda channel: f"tcp://127.0.0.1:{ports[channel]}", **extra)


def closed_ports(context: zmq.Context) -> tuple[dict[str, zmq.Socket], dict[str, int]]:
    """A "kernel" not listening yet: its ROUTERs (a PUB for iopub) and the ports they will bind."""
    kernel, ports = {}, {}
    for channel in CHANNELS:
        socket = context.socket(zmq.PUB if channel == "iopub" else zmq.ROUTER, socket_class=zmq.Socket)
        socket.linger = 0
        ports[channel] = socket.bind_to_random_port("tcp://127.0.0.1")
        socket.unbind(f"tcp://127.0.0.1:{ports[channel]}")
        kernel[channel] = socket
    return kernel, ports


@contextlib.contextmanager
def staged_on_closed_ports() -> Iterator[tuple[StagedChannels, dict[str, zmq.Socket], dict[str, int]]]:
    """Channels staged by connect_staged towards a "kernel" that does not listen yet; all closed after."""
    context = zmq.asyncio.Context()
    kernel, ports = closed_ports(context)
    staged = connect_staged(fake_connection(context, ports), b"client-1")
    assert staged is not None
    try:
        yield staged, kernel, ports
    finally:
        staged.close()
        for stream in staged.streams.values():
            stream.close(linger=0)
        for socket in kernel.values():
            socket.close(linger=0)
        context.term()


def start_listening(kernel: dict[str, zmq.Socket], ports: dict[str, int]) -> None:
    """The kernel binds its sockets: the staged channels' retries now reach it."""
    for channel in CHANNELS:
        kernel[channel].bind(f"tcp://127.0.0.1:{ports[channel]}")


@pytest.mark.gen_test(timeout=20)
async def test_stdin_done_only_after_the_router_appears_and_then_it_can_address_us():
    with staged_on_closed_ports() as (staged, kernel, ports):
        await asyncio.sleep(0.3)
        assert not staged.stdin_watch.done.is_set()
        start_listening(kernel, ports)
        await asyncio.wait_for(staged.stdin_watch.done.wait(), 10)
        # The property the kernel needs: a message addressed to our identity is delivered, not dropped.
        kernel["stdin"].setsockopt(zmq.ROUTER_MANDATORY, 1)
        got: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        staged.streams["stdin"].on_recv(lambda parts: got.done() or got.set_result(parts))
        kernel["stdin"].send_multipart([b"client-1", b"input_request"])
        received = await asyncio.wait_for(got, 10)
        assert received == [b"input_request"]


@pytest.mark.gen_test(timeout=20)
async def test_only_shell_tries_to_connect_until_the_kernel_listens_then_every_channel_works():
    with staged_on_closed_ports() as (staged, kernel, ports):
        # Sent while nothing listens: it waits in the control stream, which is not connected yet.
        staged.streams["control"].send_multipart([b"interrupt"])
        await asyncio.sleep(0.2)
        assert not staged.shell_watch.done.is_set()
        # Only the shell socket has connected to an endpoint (and so retries); the others have none yet.
        endpoints = {channel: stream.socket.get(zmq.LAST_ENDPOINT) for channel, stream in staged.streams.items()}
        assert endpoints == {"shell": f"tcp://127.0.0.1:{ports['shell']}".encode(),
                             "control": b"", "stdin": b"", "iopub": b""}
        start_listening(kernel, ports)
        await asyncio.wait_for(staged.shell_watch.done.wait(), 10)
        received = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(
            None, lambda: kernel["control"].poll(10_000) and kernel["control"].recv_multipart()), 15)
        assert received == [b"client-1", b"interrupt"]
        # iopub subscribed to every topic once connected: a message published after it arrives.
        got: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        staged.streams["iopub"].on_recv(lambda parts: got.done() or got.set_result(parts))
        for _ in range(100):
            kernel["iopub"].send_multipart([b"status", b"idle"])
            try:
                assert await asyncio.wait_for(asyncio.shield(got), 0.1) == [b"status", b"idle"]
                break
            except asyncio.TimeoutError:
                continue
        assert got.done()


def test_a_curve_connection_is_not_built_here():
    context = zmq.Context()
    try:
        assert connect_staged(fake_connection(context, {}, curve_publickey=b"k"), b"x") is None
        assert connect_staged(SimpleNamespace(context=context), b"x") is None
    finally:
        context.term()


def test_the_reconnect_interval_grows_with_the_kernels_starting_at_once():
    from nbserver.services.kernels.manager import MAX_RECONNECT_INTERVAL_MS, RECONNECT_INTERVAL_MS, reconnect_interval_ms

    assert reconnect_interval_ms(0) == reconnect_interval_ms(1) == RECONNECT_INTERVAL_MS
    assert reconnect_interval_ms(5) == 5 * RECONNECT_INTERVAL_MS
    assert reconnect_interval_ms(1000) == MAX_RECONNECT_INTERVAL_MS
