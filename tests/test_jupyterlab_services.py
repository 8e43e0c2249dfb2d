"""JupyterLab's client library, @jupyterlab/services, runs a notebook end to end against nbserver.

The npm packages are installed by this test into tests/js/node_modules (never committed).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server_process import ServerProcess

JS_DIR = Path(__file__).resolve().parent / "js"


@pytest.fixture(scope="module")
def node_client() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for this test (.ci/run installs them)")
    if not (JS_DIR / "node_modules" / "@jupyterlab" / "services").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR,
                       check=True, timeout=300)
    return JS_DIR / "jupyterlab_services_client.mjs"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_jupyterlab_services_drives_a_notebook_end_to_end(node_client, root_dir):
    with ServerProcess(root_dir) as server:
        result = subprocess.run(["node", str(node_client)], cwd=JS_DIR, capture_output=True, text=True,
                                timeout=200, env={**os.environ, "NB_URL": server.base_url,
                                                  "NB_TOKEN": server.token})
        log = server.log
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n--- server log ---\n{log[-5000:]}"
    assert "11 passed, 0 failed" in result.stdout
