"""scripts/kill_storm.py, bounded: a real nbserver SIGKILLed 5 times while clients save."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "kill_storm.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_storm_loses_corrupts_and_leaves_nothing():
    result = subprocess.run([sys.executable, str(SCRIPT), "--kills", "5"], capture_output=True, text=True,
                            timeout=280)
    summary = result.stdout.strip().splitlines()[-1]
    assert summary == "kills 5, corrupt 0, lost 0, leftover 0, identity 0", result.stdout + result.stderr
    assert result.returncode == 0
