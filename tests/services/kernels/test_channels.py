"""The channels websocket with a real ipykernel: execution, stdin, interrupt, restart, clients."""

from __future__ import annotations

import asyncio
import os
import random
import re
import struct
import time
from datetime import datetime

import pytest
from tornado.httpclient import HTTPClientError

from tests.support.kernel_client import V1, KernelWebsocketClient

pytestmark = pytest.mark.timeout(60)

ECHO_COMM_TARGET = """
def _echo_target(comm, open_msg):
    @comm.on_msg
    def _echo(msg):
        comm.send({"echo": msg["content"]["data"]}, buffers=msg["buffers"])

get_ipython().kernel.comm_manager.register_target("echo", _echo_target)
"""


def is_status(state):
    return lambda m: m["header"]["msg_type"] == "status" and m["content"]["execution_state"] == state


@pytest.mark.gen_test(timeout=60)
async def test_execute_streams_output_and_reply(start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    assert client.protocol is None
    result = await client.run("print('hello, kernel')")
    assert result.reply["channel"] == "shell"
    assert result.reply["header"]["msg_type"] == "execute_reply"
    assert result.reply["content"]["status"] == "ok"
    assert result.stdout == "hello, kernel\n"
    assert [m["header"]["msg_type"] for m in result.iopub][:2] == ["status", "execute_input"]


@pytest.mark.gen_test(timeout=60)
async def test_traffic_updates_last_activity(api, start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    await asyncio.sleep(0.05)
    await client.run("pass")
    model = (await api.get(f"api/kernels/{kernel['id']}")).json()
    assert datetime.fromisoformat(model["last_activity"]) > datetime.fromisoformat(kernel["last_activity"])
    assert model["connections"] == 1


@pytest.mark.gen_test(timeout=60)
async def test_v1_subprotocol_is_chosen_when_offered(start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"], subprotocols=[V1])
    assert client.protocol == V1
    result = await client.run("6 * 7")
    assert result.reply["content"]["status"] == "ok"
    assert result.of_type("execute_result")[0]["content"]["data"]["text/plain"] == "42"


@pytest.mark.gen_test(timeout=60)
async def test_kernel_starts_in_the_folder_of_its_path(start_kernel, connect, root_dir):
    (root_dir / "sub").mkdir()
    (root_dir / "sub" / "nb.ipynb").write_text("{}")
    kernel = await start_kernel(path="sub/nb.ipynb")
    client = await connect(kernel["id"])
    result = await client.run("import os; print(os.getcwd())")
    assert result.stdout.strip() == os.path.realpath(root_dir / "sub")


@pytest.mark.gen_test(timeout=60)
async def test_error_reply_carries_the_traceback(start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    result = await client.run("1 / 0")
    assert result.reply["content"]["status"] == "error"
    assert result.reply["content"]["ename"] == "ZeroDivisionError"
    error = result.of_type("error")[0]["content"]
    assert error["ename"] == "ZeroDivisionError"
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))
    assert "division by zero" in traceback and "1 / 0" in traceback


@pytest.mark.gen_test(timeout=60)
async def test_input_is_answered_through_input_reply(start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    msg_id = await client.execute("name = input('Your name? '); print('hi', name)", allow_stdin=True)
    request = await client.receive(lambda m: m["channel"] == "stdin")
    assert request["header"]["msg_type"] == "input_request"
    assert request["content"]["prompt"] == "Your name? "
    reply = client.message("input_reply", {"value": "Ada"}, channel="stdin")
    reply["parent_header"] = request["header"]
    await client.send(reply)
    result = await client.result(msg_id)
    assert result.reply["content"]["status"] == "ok"
    assert "hi Ada" in result.stdout


@pytest.mark.gen_test(timeout=60)
async def test_interrupt_stops_a_sleeping_cell_within_3_seconds(api, start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    msg_id = await client.execute("import time; time.sleep(60)")
    await client.receive(lambda m: m["header"]["msg_type"] == "execute_input")
    await asyncio.sleep(0.3)
    assert (await api.get(f"api/kernels/{kernel['id']}")).json()["execution_state"] == "busy"
    started = time.monotonic()
    response = await api.post(f"api/kernels/{kernel['id']}/interrupt")
    assert response.status == 204
    result = await client.result(msg_id, timeout=3)
    assert time.monotonic() - started < 3
    assert result.reply["content"]["status"] == "error"
    assert result.reply["content"]["ename"] == "KeyboardInterrupt"
    assert (await api.get(f"api/kernels/{kernel['id']}")).json()["execution_state"] == "idle"


@pytest.mark.gen_test(timeout=60)
async def test_restart_clears_state_and_clients_see_restarting(api, start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    await client.run("x = 1")
    response = await api.post(f"api/kernels/{kernel['id']}/restart")
    assert response.status == 200
    assert response.json()["id"] == kernel["id"]
    assert response.json()["execution_state"] == "idle"
    await client.receive(is_status("restarting"))
    result = await client.run("print(x)")
    assert result.reply["content"]["ename"] == "NameError"


@pytest.mark.gen_test(timeout=60)
async def test_two_clients_both_see_iopub_but_each_gets_only_its_replies(api, start_kernel, connect):
    kernel = await start_kernel()
    first = await connect(kernel["id"])
    second = await connect(kernel["id"])
    assert (await api.get(f"api/kernels/{kernel['id']}")).json()["connections"] == 2
    assert (await api.get("api/status")).json()["connections"] == 2
    first_id = await first.execute("print('from first')")
    second_id = await second.execute("print('from second')")
    first_result = await first.result(first_id)
    second_result = await second.result(second_id)
    assert first_result.stdout == "from first\n"
    assert second_result.stdout == "from second\n"
    # Each also saw the other's output on iopub, and neither saw the other's reply.
    other_output = await first.receive(
        lambda m: m["parent_header"].get("msg_id") == second_id and m["header"]["msg_type"] == "stream"
    )
    assert other_output["content"]["text"] == "from second\n"
    await second.receive(
        lambda m: m["parent_header"].get("msg_id") == first_id and m["header"]["msg_type"] == "stream"
    )
    await first.run("pass")
    await second.run("pass")
    for client, other_id in ((first, second_id), (second, first_id)):
        replies = [m for m in client.pending if m["channel"] == "shell"]
        assert all(m["parent_header"]["msg_id"] != other_id for m in replies)


@pytest.mark.parametrize("subprotocols", [None, [V1]], ids=["legacy", "v1"])
@pytest.mark.gen_test(timeout=60)
async def test_comm_message_with_binary_buffers_round_trips(start_kernel, connect, subprotocols):
    kernel = await start_kernel()
    client = await connect(kernel["id"], subprotocols=subprotocols)
    assert (await client.run(ECHO_COMM_TARGET)).reply["content"]["status"] == "ok"
    comm_id = "comm-under-test"
    await client.send(client.message("comm_open", {"comm_id": comm_id, "target_name": "echo", "data": {}}))
    buffers = [b"\x00\x01\x02binary\xff", bytes(range(256)) * 4]
    await client.send(client.message("comm_msg", {"comm_id": comm_id, "data": {"n": 1}}, buffers=buffers))
    echoed = await client.receive(lambda m: m["header"]["msg_type"] == "comm_msg")
    assert echoed["content"]["data"] == {"echo": {"n": 1}}
    assert [bytes(b) for b in echoed["buffers"]] == buffers


def big_output_code(tag: str, lines: int = 3000) -> str:
    """A cell printing ``lines`` numbered 1,000-byte lines (3 MB: one stream message well above
    the size the server writes from the ZeroMQ frame without copying)."""
    return f"for i in range({lines}):\n    print({tag!r}, f'{{i:06d}}', 'x' * {991 - len(tag)})"


def big_output(tag: str, lines: int = 3000) -> str:
    return "".join(f"{tag} {i:06d} {'x' * (991 - len(tag))}\n" for i in range(lines))


@pytest.fixture
def unlimited_output(server_app):
    """No iopub rate limit: the default 1 MB/s would cut a few MB of output short."""
    server_app.kernel_manager.iopub_data_rate_limit = 0


COMPRESSIONS = pytest.mark.parametrize("compression", [None, {}], ids=["plain", "deflate"])
PROTOCOLS = pytest.mark.parametrize("subprotocols", [None, [V1]], ids=["legacy", "v1"])


async def connect_with(app, connect, kernel_id, subprotocols, compression):
    """A client of the protocol; with permessage-deflate on both ends when ``compression``."""
    app.settings["websocket_compression_options"] = compression
    client = await connect(kernel_id, subprotocols=subprotocols, compression_options=compression)
    extensions = client.connection.headers.get("Sec-WebSocket-Extensions", "")
    assert ("permessage-deflate" in extensions) == (compression is not None)
    return client


@COMPRESSIONS
@PROTOCOLS
@pytest.mark.gen_test(timeout=60)
async def test_megabytes_of_output_arrive_intact(app, unlimited_output, start_kernel, connect, subprotocols,
                                                 compression):
    client = await connect_with(app, connect, (await start_kernel())["id"], subprotocols, compression)
    result = await client.run(big_output_code("big"))
    assert result.reply["content"]["status"] == "ok"
    assert result.stdout == big_output("big")


@COMPRESSIONS
@PROTOCOLS
@pytest.mark.gen_test(timeout=60)
async def test_big_binary_buffers_round_trip_intact(app, unlimited_output, start_kernel, connect, subprotocols,
                                                    compression):
    client = await connect_with(app, connect, (await start_kernel())["id"], subprotocols, compression)
    assert (await client.run(ECHO_COMM_TARGET)).reply["content"]["status"] == "ok"
    await client.send(client.message("comm_open", {"comm_id": "big", "target_name": "echo", "data": {}}))
    rng = random.Random(3)
    buffers = [rng.randbytes(300_000), b"small", rng.randbytes(1_500_000)]
    await client.send(client.message("comm_msg", {"comm_id": "big", "data": {"n": 2}}, buffers=buffers))
    echoed = await client.receive(lambda m: m["header"]["msg_type"] == "comm_msg")
    assert echoed["content"]["data"] == {"echo": {"n": 2}}
    assert [bytes(b) for b in echoed["buffers"]] == buffers


@pytest.mark.gen_test(timeout=60)
async def test_big_output_kept_for_an_absent_session_arrives_intact(unlimited_output, start_kernel, connect):
    kernel = await start_kernel()
    away = await connect(kernel["id"], session_id="away-session")
    code = "import sys, time\ntime.sleep(0.5)\n" + big_output_code("first") + "\nsys.stdout.flush()\n"
    code += "time.sleep(0.3)\n" + big_output_code("second")
    msg_id = await away.execute(code)
    await away.close_and_drain()
    # While that session's output waits in its buffer, more big frames pass through the bridge.
    other = await connect(kernel["id"])
    assert (await other.run(big_output_code("other"))).stdout == big_output("other")
    back = await connect(kernel["id"], session_id="away-session")
    result = await back.result(msg_id)
    assert result.reply["content"]["status"] == "ok"
    assert result.stdout == big_output("first") + big_output("second")


@pytest.mark.gen_test(timeout=60)
async def test_reconnecting_session_receives_every_missed_message_in_order(start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"], session_id="blip-session")
    code = "import time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.03)"
    msg_id = await client.execute(code)
    first_output = await client.receive(lambda m: m["header"]["msg_type"] == "stream")
    before = [first_output] + await client.close_and_drain()
    await asyncio.sleep(0.6)  # the cell keeps printing while the client is away
    again = await connect(kernel["id"], session_id="blip-session")
    after = await again.result(msg_id)
    ours = [m for m in before if m["parent_header"].get("msg_id") == msg_id] + after.iopub
    text = "".join(m["content"]["text"] for m in ours if m["header"]["msg_type"] == "stream")
    assert [int(n) for n in re.findall(r"\d+", text)] == list(range(40))
    assert len(after.iopub) > 3, "the replay should carry output printed while away"
    assert after.reply["content"]["status"] == "ok"


@pytest.mark.gen_test(timeout=60)
async def test_buffer_overflow_drops_oldest_and_tells_the_client(server_app, start_kernel, connect):
    server_app.kernel_manager.buffer_max_messages = 5
    kernel = await start_kernel()
    client = await connect(kernel["id"], session_id="small-buffer")
    msg_id = await client.execute("import time\nfor i in range(30):\n    print(i, flush=True)\n    time.sleep(0.01)")
    await client.close_and_drain()
    await asyncio.sleep(1.5)  # the cell finishes while the session is away
    back = await connect(kernel["id"], session_id="small-buffer")
    notice = await back.receive()
    assert notice["header"]["msg_type"] == "stream" and notice["content"]["name"] == "stderr"
    assert re.match(r"\d+ messages for this session were dropped", notice["content"]["text"])
    assert notice["parent_header"]["msg_id"] == msg_id
    kept = [await back.receive() for _ in range(5)]
    assert all(m["parent_header"]["msg_id"] == msg_id for m in kept)
    assert any(m["header"]["msg_type"] == "execute_reply" for m in kept)
    with pytest.raises(asyncio.TimeoutError):
        await back.receive(timeout=0.5)


@pytest.mark.gen_test(timeout=60)
async def test_output_flood_is_rate_limited_with_a_notice(server_app, start_kernel, connect):
    server_app.kernel_manager.iopub_msg_rate_limit = 50
    server_app.kernel_manager.rate_limit_window = 1
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    result = await client.run("from IPython.display import display\nfor i in range(400):\n    display(i)")
    assert result.reply["content"]["status"] == "ok"
    notices = [m for m in result.of_type("stream") if "IOPub message rate exceeded" in m["content"]["text"]]
    assert len(notices) == 1
    assert notices[0]["content"]["name"] == "stderr"
    assert len(result.of_type("display_data")) < 200


FLOOD_CELL = "print('\\n'.join(f'line {i:07d}' for i in range(2_000_000)))"  # 26 MB of stdout


def _flood_shape(result) -> tuple[str, list[str], str]:
    """(stdout sent before the notice, the notices, stdout sent after them) of one run."""
    before, notices, after = [], [], []
    for message in result.of_type("stream"):
        text = message["content"]["text"]
        if message["content"]["name"] == "stderr":
            notices.append(text)
        else:
            (after if notices else before).append(text)
    return "".join(before), notices, "".join(after)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", [None, V1], ids=["json", "v1"])
@pytest.mark.gen_test(timeout=180)
@pytest.mark.timeout(180)
async def test_output_flood_shows_the_start_one_notice_and_the_end_on_every_run(
        server_app, start_kernel, connect, protocol):
    limits = server_app.kernel_manager
    assert (limits.iopub_data_rate_limit, limits.rate_limit_window) == (1_000_000, 3.0)  # the defaults
    kernel = await start_kernel()
    client = await connect(kernel["id"], subprotocols=[protocol] if protocol else None)
    for _ in range(2):
        result = await client.run(FLOOD_CELL, timeout=150)
        assert result.reply["content"]["status"] == "ok"
        head, notices, tail = _flood_shape(result)
        # The first megabytes, whole lines, up to the 3 MB the window allows.
        assert head.startswith("line 0000000\nline 0000001\n") and head.endswith("\n")
        assert 1_000_000 < len(head) <= 3_000_000
        assert len(notices) == 1
        assert re.search(r"did not send .*\(\d+\.\d MB\)", notices[0]) and "last lines" in notices[0]
        # How it ended: the last lines, in order.
        assert tail.endswith("line 1999998\nline 1999999\n") and tail.startswith("line ")
        assert (await client.run("print('after')")).stdout == "after\n"


@pytest.mark.slow
@pytest.mark.gen_test(timeout=120)
async def test_a_flood_followed_by_quiet_is_reported_before_the_cell_ends(server_app, start_kernel, connect):
    server_app.kernel_manager.rate_limit_window = 1
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    msg_id = await client.execute("import time\n" + FLOOD_CELL + "\ntime.sleep(8)\nprint('woke')")
    notice = await client.receive(lambda m: m["header"]["msg_type"] == "stream"
                                  and m["content"]["name"] == "stderr", timeout=60)
    assert "did not send" in notice["content"]["text"] and notice["parent_header"]["msg_id"] == msg_id
    await client.receive(lambda m: m["header"]["msg_type"] == "stream"
                         and m["content"]["text"].endswith("line 1999998\nline 1999999\n"), timeout=10)
    assert not any(is_status("idle")(m) and m["parent_header"].get("msg_id") == msg_id for m in client.pending)
    result = await client.result(msg_id, timeout=60)
    assert result.stdout.endswith("\nwoke\n")  # later output flows as usual


@pytest.mark.gen_test(timeout=60)
async def test_bad_messages_get_a_notice_and_the_bridge_keeps_working(start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    for frame in ("not json", '{"channel": "iopub", "header": {"msg_id": "1", "msg_type": "x"}}',
                  '{"channel": "shell", "header": {}}', b"\x00\x00\x00\x09garbage"):
        await client.send_raw(frame)
        notice = await client.receive(lambda m: m["header"]["msg_type"] == "stream")
        assert notice["content"]["name"] == "stderr"
        assert notice["content"]["text"].startswith("nbserver refused a message")
    assert (await client.run("print('still fine')")).stdout == "still fine\n"


def _v1_frame(parts: list[bytes]) -> bytes:
    offsets = [8 * (len(parts) + 2)]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    return struct.pack(f"<{len(offsets) + 1}Q", len(offsets), *offsets) + b"".join(parts)


def _legacy_binary_frame(message_json: bytes) -> bytes:
    return struct.pack("!II", 1, 8) + message_json


DEEP = b"[" * 979 + b"]" * 979
DEEPER = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
HEADER = b'{"msg_id": "m1", "msg_type": "kernel_info_request", "session": "s", "username": "u", "version": "5.3"}'


def _bad_frames(protocol: str | None) -> list[str | bytes]:
    """Frames that are not messages the server can take: too deep, non-finite numbers."""
    if protocol == V1:
        return [_v1_frame([b"shell", HEADER, b"{}", b"{}", b'{"x":' + DEEP + b"}"]),
                _v1_frame([b"shell", DEEPER, b"{}", b"{}", b"{}"]),
                _v1_frame([b"shell", HEADER, b"{}", b"{}", b'{"x": NaN}']),
                _v1_frame([b"shell", HEADER, b"{}", b"{}", b'{"x": 1e400}'])]
    message = b'{"channel": "shell", "header": ' + HEADER + b', "parent_header": {}, "metadata": {}, "content": %s}'
    return [(message % (b'{"x": ' + DEEP + b"}")).decode(), DEEPER.decode(), (message % b'{"x": NaN}').decode(),
            _legacy_binary_frame(message % (b'{"x": ' + DEEP + b"}")), _legacy_binary_frame(DEEPER)]


@pytest.mark.parametrize("protocol", [None, V1], ids=["json", "v1"])
@pytest.mark.gen_test(timeout=60)
async def test_deep_or_non_finite_frames_get_a_notice_and_the_socket_stays_open(start_kernel, connect, protocol):
    kernel = await start_kernel()
    client = await connect(kernel["id"], subprotocols=[protocol] if protocol else None)
    for frame in _bad_frames(protocol):
        await client.send_raw(frame)
        notice = await client.receive(lambda m: m["header"]["msg_type"] == "stream")
        assert notice["content"]["name"] == "stderr"
        text = notice["content"]["text"]
        assert text.startswith("nbserver refused a message") and ("deeper than 512" in text or "/x is" in text)
    assert not client.closed
    assert (await client.run("print('still fine')")).stdout == "still fine\n"


@pytest.mark.gen_test(timeout=60)
async def test_v1_frame_with_bad_offsets_gets_a_notice(start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"], subprotocols=[V1])
    await client.send_raw((7).to_bytes(8, "little") + b"\xff" * 20)
    notice = await client.receive(lambda m: m["header"]["msg_type"] == "stream")
    assert "refused" in notice["content"]["text"]
    assert (await client.run("1")).reply["content"]["status"] == "ok"


@pytest.mark.gen_test(timeout=30)
async def test_channels_of_unknown_kernel_is_404(http_server, base_url, token):
    with pytest.raises(HTTPClientError) as info:
        await KernelWebsocketClient.connect(base_url, token, "00000000-0000-0000-0000-000000000000")
    assert info.value.code == 404


@pytest.mark.gen_test(timeout=60)
async def test_channels_without_token_is_401(start_kernel, base_url):
    kernel = await start_kernel()
    with pytest.raises(HTTPClientError) as info:
        await KernelWebsocketClient.connect(base_url, "wrong-token", kernel["id"])
    assert info.value.code == 401


@pytest.mark.gen_test(timeout=60)
async def test_shutting_kernel_down_closes_its_websockets(api, start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    assert (await api.delete(f"api/kernels/{kernel['id']}")).status == 204
    assert await client.connection.read_message() is None
