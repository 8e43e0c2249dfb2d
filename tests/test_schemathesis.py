"""Jupyter Server's OpenAPI document, fuzzed against nbserver's contents routes."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "schemathesis_contents.py"


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_contents_api_has_no_5xx_and_matches_jupyter_servers_schema():
    result = subprocess.run([sys.executable, str(SCRIPT), "--max-time", "90"], capture_output=True, text=True,
                            timeout=380)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
