"""KernelBridge's own requests (request_quietly) with a real ipykernel."""

from __future__ import annotations

import asyncio

import pytest

from nbserver.services.kernels.bridge import KernelDied
from nbserver.services.kernels.messages import KernelMessage, server_header

pytestmark = pytest.mark.timeout(60)


def quiet_execute(code: str) -> KernelMessage:
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": False}
    return KernelMessage.from_parts("shell", server_header("execute_request", "server"), {}, {}, content)


@pytest.mark.gen_test(timeout=60)
async def test_quiet_request_returns_its_reply_and_no_client_sees_its_messages(server_app, start_kernel, connect):
    kernel = await start_kernel()
    client = await connect(kernel["id"])
    bridge = server_app.kernel_manager.channels_bridge(kernel["id"])
    request = quiet_execute("print('quiet')")
    reply = await bridge.request_quietly(request, timeout=20)
    assert reply.msg_type == "execute_reply"
    assert reply.parent_msg_id == request.msg_id
    assert reply.content()["status"] == "ok"
    # The kernel sends its iopub in order: everything of the quiet request came before this run's idle.
    loud = await client.run("print('loud')")
    assert loud.stdout == "loud\n"
    assert loud.reply["content"]["execution_count"] == 1  # the quiet one counted nothing
    assert [m for m in client.pending if m["parent_header"].get("msg_id") == request.msg_id] == []
    assert server_app.kernel_manager.kernel_model(kernel["id"])["execution_state"] == "idle"


@pytest.mark.gen_test(timeout=60)
async def test_quiet_request_fails_when_the_bridge_closes_before_the_reply(server_app, start_kernel):
    kernel = await start_kernel()
    bridge = server_app.kernel_manager.channels_bridge(kernel["id"])
    waiting = bridge.request_quietly(quiet_execute("import time; time.sleep(5)"), timeout=20)
    task = asyncio.ensure_future(waiting)
    await asyncio.sleep(0.2)
    bridge.close("stopping")
    with pytest.raises(KernelDied):
        await task
