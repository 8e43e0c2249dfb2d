"""JupyterLab's client library, @jupyterlab/services, uses nbserver's terminals as JupyterLab does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.server_process import ServerProcess
from tests.support.terminal_client import TEST_SHELL_ARGS
from tests.test_jupyterlab_services import node_client  # noqa: F401  (the fixture that installs the npm packages)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_jupyterlab_terminal_manager_starts_talks_to_and_shuts_down_a_terminal(node_client, root_dir):  # noqa: F811
    (root_dir / "sub").mkdir()
    script = Path(node_client).with_name("jupyterlab_terminals_client.mjs")
    with ServerProcess(root_dir, *TEST_SHELL_ARGS) as server:
        result = subprocess.run(["node", str(script)], cwd=script.parent, capture_output=True, text=True,
                                timeout=120, env={**os.environ, "NB_URL": server.base_url,
                                                  "NB_TOKEN": server.token})
        log = server.log
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n--- server log ---\n{log[-5000:]}"
    assert "4 passed, 0 failed" in result.stdout
