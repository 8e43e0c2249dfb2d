"""End to end inside a network namespace with nothing but loopback up (``unshare --net``): the
system resolver and real sockets, so even a broken guard could not reach beyond this machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"),
                    reason="needs root, unshare and ip")
def test_refused_forms_get_no_connection_with_real_sockets() -> None:
    command = f"ip link set lo up && exec {sys.executable} -m tests.support.netns_fetch_probe"
    result = subprocess.run(["unshare", "--net", "sh", "-c", command], cwd=REPO, capture_output=True,
                            text=True, timeout=100)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["log_when_blocked"] == []
    assert {url: answer.split()[0] for url, answer in report["blocked"].items()} == {
        url: "403" for url in report["blocked"]}, report["blocked"]
    assert report["allowed"].startswith("200 ") and report["log"] == ["/nb.ipynb"]
