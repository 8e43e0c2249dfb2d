"""Fixtures shared by the contents tests."""

from __future__ import annotations

from typing import Any

import pytest

from nbserver.services.contents import replycache


@pytest.fixture
def settled_at_once(monkeypatch: pytest.MonkeyPatch, server_app: Any) -> None:
    """Files count as settled as soon as they are written (the real rule, which needs both the
    modification and the change time in the past, is tested on its own: ``os.utime`` cannot
    age a file's change time, so no test can make a file settled by back-dating it), and the
    signature database exists already (its creation during a GET changes its stamp)."""
    monkeypatch.setattr(replycache, "SETTLED_SECONDS", -1.0)
    server_app.contents_manager.notary.is_signed("0" * 64)
