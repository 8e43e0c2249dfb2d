"""benchmarks/replicas.py in a short run: two replicas on one PostgreSQL database behind HAProxy
answer the contents mix without an error, and both serve requests. Skipped without HAProxy
(apt-get install haproxy; CI does not install it: the benchmark is the place for it)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import replicas  # noqa: E402


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_replicas_behind_haproxy_serve_a_short_mix_without_errors(postgres_url: str) -> None:
    if not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()):
        pytest.skip("HAProxy is not installed (apt-get install haproxy)")
    results = replicas.run_both(postgres_url, clients=6, duration=2.0, processes=1, warmup=0.5, log=lambda _: None,
                                baseline=False)
    proxied = results["two replicas via HAProxy"]
    assert (proxied["errors"], proxied["problems"]) == (0, [])
    assert sum(data["count"] for data in proxied["kinds"].values()) > 0
    assert set(proxied["shares"]) == {"replica1", "replica2"}
    assert all(count > 0 for count in proxied["responses"].values())


def test_the_readme_shows_the_haproxy_configuration_the_benchmark_measures() -> None:
    readme = (BENCH_DIR.parent / "README.md").read_text()
    shown = readme.split("#### Behind a load balancer", 1)[1].split("```", 2)[1]
    measured = replicas.HAPROXY_CONFIG.split("defaults", 1)[1].split("{servers}", 1)[0].replace("{port}", "8888")
    servers = "\n".join(replicas.SERVER_LINE.format(number=n, port=8880 + n) for n in (1, 2))
    assert measured + servers in shown
