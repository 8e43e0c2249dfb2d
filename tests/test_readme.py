"""The README's curl walkthrough works as written against a real server."""

import re
import subprocess
from pathlib import Path

from tests.support.server_process import ServerProcess

README = Path(__file__).resolve().parent.parent / "README.md"


def walkthrough_lines() -> list[str]:
    text = README.read_text()
    section = text.split("## The contents API with curl", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    start_block, curl_block = blocks[0], blocks[1]
    assert "--token my-secret-token" in start_block and "--port 8888" in start_block
    return [line for line in curl_block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_curl_walkthrough_runs_as_written(root_dir):
    lines = walkthrough_lines()
    with ServerProcess(root_dir, "--port=0", token="my-secret-token") as server:
        script = "set -e\n" + "\n".join(lines).replace("http://127.0.0.1:8888", server.base_url.rstrip("/"))
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in root_dir.iterdir()) == [".ipynb_checkpoints", ".nbserver", "Untitled.ipynb",
                                                          "greeting.txt"]
    assert (root_dir / "greeting.txt").read_text() == "Hello!"
    assert '"reason": "Not Found"' in result.stdout


def run_section(heading, root_dir, timeout=60):
    """Run the first ``sh`` block under ``heading`` against a real server, as the README shows it."""
    section = README.read_text().split(heading, 1)[1]
    block = re.findall(r"```sh\n(.*?)```", section, re.S)[0]
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    with ServerProcess(root_dir, "--port=0", token="my-secret-token") as server:
        script = "set -e\n" + "\n".join(lines).replace("http://127.0.0.1:8888", server.base_url.rstrip("/"))
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_readme_file_ids_walkthrough_runs_as_written(root_dir):
    out = run_section("## File ids and the trash with curl", root_dir)
    assert '"trashed": true' in out and '"path": "q3-report.txt"' in out
    assert sorted(p.name for p in root_dir.iterdir()) == [".nbserver"]
    assert list((root_dir / ".nbserver" / "trash").iterdir()) == []


def test_readme_upload_and_share_walkthrough_runs_as_written(root_dir):
    out = run_section("## Upload, render and share with curl", root_dir, timeout=240)
    assert '"code": "name_conflict"' in out and "200\n" in out and "404\n" in out
    assert '"relation": "copy"' in out and '"starred": true' in out
    assert sorted(p.name for p in root_dir.iterdir()) == [".nbserver", "chart-Copy1.ipynb", "chart.ipynb"]


def test_readme_search_walkthrough_runs_as_written(root_dir):
    out = run_section("## Search with curl", root_dir)
    assert out.count('"results": [{"id"') == 4, out  # all four searches find it
    assert '"engine": "fts5"' in out
