"""The rendered-HTML cache's bound and the sandboxing policy (nbserver/services/files/rendering.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from nbserver.services.files.rendering import NotebookRenderer, sandbox_policy


def test_the_policy_sandboxes_without_same_origin() -> None:
    for scripts in (True, False):
        policy = sandbox_policy(scripts, "*")
        assert policy.startswith("sandbox") and "allow-same-origin" not in policy
        assert ("allow-scripts" in policy) is scripts and "frame-ancestors *" in policy


def test_the_cache_keeps_the_newest_versions_within_its_bytes() -> None:
    services: Any = SimpleNamespace(render_cache_mb=250 / (1024 * 1024))  # 250 bytes
    renderer = NotebookRenderer(services)
    keys = [(f"id{number}", 1, 1, 1, number) for number in range(4)]
    for key in keys:
        renderer._remember(key, b"x" * 100)
    assert list(renderer._cache) == keys[2:] and renderer._cached_bytes == 200
    renderer._remember(("huge", 1, 1, 1, 1), b"y" * 1000)  # larger than the whole cache: not kept
    assert list(renderer._cache) == keys[2:]
