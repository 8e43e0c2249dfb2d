"""The many-clients load generator (benchmarks/manyclients.py) in a short run against nbserver:
every request kind of the mix is exercised and nbserver answers each without an error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import manyclients  # noqa: E402
from servers import NBSERVER, RunningServer, ServerCommand, kill_leftovers  # noqa: E402


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_short_mixed_load_exercises_every_kind_without_errors(tmp_path: Path, token: str) -> None:
    spec = ServerCommand(NBSERVER, Path(sys.executable), [sys.executable, "-m", "nbserver"], [])
    clients = 10  # one of them on a kernel
    server = manyclients.start_server(spec, tmp_path, token, clients, "smoke")
    try:
        run = manyclients.run_mix(server, clients, duration=4.0, processes=2, warmup=0.5, log=lambda _: None)
    finally:
        server.stop()
        kill_leftovers(str(tmp_path))
    assert (run["errors"], run["problems"]) == (0, [])
    assert run["kernel_clients"] == 1
    unexercised = [kind for kind, data in run["kinds"].items() if data["sent"] == 0]
    assert unexercised == []
    assert sum(data["count"] for data in run["kinds"].values()) > 0
    assert run["client_cpu_cores"] > 0 and run["server_cpu_cores"] > 0
    completed = sum(data["count"] for data in run["kinds"].values())
    assert run["server_cpu_ms_per_request"] == pytest.approx(1000 * run["server_cpu_cores"] * 4.0 / completed)
    assert run["client_cpu_ms_per_request"] == pytest.approx(1000 * run["client_cpu_cores"] * 4.0 / completed)
