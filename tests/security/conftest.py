"""Fixtures of the security tests: a root with a notebook and a folder for the route walks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def populated_root(root_dir: Path) -> Path:
    (root_dir / "a.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (root_dir / "sub").mkdir()
    return root_dir
