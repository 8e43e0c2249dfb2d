"""The floor a server can only add to: jupyter_client talking straight to a kernel.

Run with the interpreter whose kernel is measured (each server's own environment), it starts
one ``python3`` kernel, times ``pass`` round trips and a large output, and prints JSON. It
imports nothing of the benchmark, so it runs in the jupyter_server environment as well.

    python floor.py ROUND_TRIPS STREAM_BYTES TIMEOUT
"""

from __future__ import annotations

import json
import queue
import sys
import time

from jupyter_client.manager import start_new_kernel


def stream_code(total_bytes: int) -> str:
    """A cell printing ``total_bytes`` of text in 1,000-byte lines."""
    return ("import sys\n_line = 'x' * 999 + '\\n'\n"
            f"for _ in range({total_bytes // 1000}):\n    sys.stdout.write(_line)\n")


def round_trip(client, code: str, timeout: float) -> float:
    sent = time.perf_counter()
    msg_id = client.execute(code)
    while True:
        reply = client.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return time.perf_counter() - sent


def drain_iopub(client) -> None:
    while True:
        try:
            client.get_iopub_msg(timeout=0.05)
        except queue.Empty:
            return


def main() -> None:
    round_trips, stream_bytes, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        for _ in range(10):
            round_trip(client, "pass", timeout)
        samples = [round_trip(client, "pass", timeout) for _ in range(round_trips)]
        drain_iopub(client)
        received = 0
        started = time.perf_counter()
        msg_id = client.execute(stream_code(stream_bytes))
        deadline = started + timeout
        while True:
            message = client.get_iopub_msg(timeout=max(0.01, deadline - time.perf_counter()))
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "stream":
                received += len(message["content"]["text"].encode("utf-8"))
            elif message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
        elapsed = time.perf_counter() - started
        print(json.dumps({"round_trips": samples, "stream_bytes": received, "stream_seconds": elapsed}))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
