"""Digests of large buffers on a helper thread: the same digest as hashing at once, whichever thread computes it."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest

from nbserver.services.contents import fileio, sidedigest

LARGE = [b"a" * sidedigest.PARALLEL_MIN_BYTES, b"b" * 1000, b""]


def test_a_large_digest_runs_on_a_helper_and_equals_hashlib():
    threads = []
    original = sidedigest._hexdigest

    def spy(algorithm, chunks):
        threads.append(threading.current_thread().name)
        return original(algorithm, chunks)

    sidedigest._hexdigest = spy
    try:
        pending = sidedigest.digest_aside("sha256", LARGE)
        assert pending.hexdigest() == hashlib.sha256(b"".join(LARGE)).hexdigest()
    finally:
        sidedigest._hexdigest = original
    assert threads[0].startswith("nbserver-digest") and sidedigest._busy == 0


def test_a_small_digest_or_busy_helpers_hash_at_once(monkeypatch):
    assert sidedigest.digest_aside("sha1", [b"x"])._future is None
    monkeypatch.setattr(sidedigest, "_busy", sidedigest.HELPERS)
    pending = sidedigest.digest_aside("sha256", LARGE)
    assert pending._future is None and pending.hexdigest() == hashlib.sha256(b"".join(LARGE)).hexdigest()


@pytest.mark.parametrize("method", ["replace", "in_place"])
def test_a_large_write_returns_the_sha256_of_the_bytes_written(root_dir, method):
    target = root_dir / "big.bin"
    target.write_bytes(b"old")
    digest, written = fileio.FileWriter(method=method).write(str(target), tuple(LARGE))
    data = target.read_bytes()
    assert data == b"".join(LARGE) and written.st_size == len(data)
    assert digest == hashlib.sha256(data).hexdigest()


@pytest.mark.gen_test
@pytest.mark.parametrize("content", [1, 0])
async def test_a_large_notebooks_get_hash_is_the_sha256_of_its_file(api, root_dir, content):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "x" * sidedigest.PARALLEL_MIN_BYTES}]}
    (root_dir / "big.ipynb").write_text(json.dumps(nb, indent=1))
    model = (await api.get("api/contents/big.ipynb", params={"hash": 1, "content": content})).json()
    assert model["hash"] == hashlib.sha256((root_dir / "big.ipynb").read_bytes()).hexdigest()
    assert (model["content"] is not None) == bool(content)
