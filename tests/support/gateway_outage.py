"""The gateway-outage scenario, shared by the tests of nbserver on each kind of kernel gateway."""

from __future__ import annotations

import asyncio

from tests.support.kernel_client import KernelWebsocketClient
from tests.support.tcp_proxy import TCPProxy

#: Output the scenario's cell prints, 0.1 s apart: three seconds of it.
PRINTED_LINES = 30


async def cut_gateway_mid_output(client: KernelWebsocketClient, proxy: TCPProxy, outage: float = 2.0) -> None:
    """Cut the gateway connection while a cell prints, send five cells during the outage, restore it.

    Asserts that the five cells each ran once, in order, after the connection came back, and that
    the printing cell's whole output arrived (the gateway kept its session's output meanwhile).
    """
    await client.run("counter = 0")
    printing = await client.execute(
        f"import time\nfor i in range({PRINTED_LINES}):\n    print(i, flush=True); time.sleep(0.1)")
    first = await client.receive(lambda m: m["header"]["msg_type"] == "stream"
                                 and m["parent_header"].get("msg_id") == printing)
    proxy.sever()
    queued = [await client.execute("counter += 1; print('queued', counter)") for _ in range(5)]
    await asyncio.sleep(outage)
    proxy.restore()
    for number, msg_id in enumerate(queued, start=1):
        result = await client.result(msg_id, timeout=90)
        assert result.reply["content"]["status"] == "ok"
        assert result.stdout == f"queued {number}\n"
    assert (await client.run("print(counter)")).stdout == "5\n", "a queued message ran twice or not at all"
    printed = await client.result(printing, timeout=30)
    assert first["content"]["text"] + printed.stdout == "".join(f"{i}\n" for i in range(PRINTED_LINES))
