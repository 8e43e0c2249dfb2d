"""Atomic writes and path containment, the primitives every disk access goes through."""

import os
import subprocess
import sys
import textwrap

import pytest

from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents import fileio

SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from nbserver.services.contents.fileio import atomic_write

    def chunks():
        yield b"new content " * 10000
        print("writing", flush=True)
        time.sleep(60)
        yield b"never"

    atomic_write(sys.argv[1], chunks())
""")


def test_killed_writer_leaves_the_old_file_intact(root_dir):
    target = root_dir / "notebook.ipynb"
    target.write_bytes(b"the original")
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target)], stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline().strip() == b"writing"
        writer.kill()
    finally:
        writer.wait(timeout=10)
        writer.stdout.close()
    assert target.read_bytes() == b"the original"
    leftovers = [p.name for p in root_dir.iterdir() if p.name != "notebook.ipynb"]
    assert all(name.startswith(fileio.STAGING_PREFIX) for name in leftovers)


def test_atomic_write_returns_sha256_and_leaves_no_temp_file(root_dir):
    import hashlib

    digest = fileio.atomic_write(str(root_dir / "a.txt"), [b"ab", b"c"])
    assert digest == hashlib.sha256(b"abc").hexdigest()
    assert [p.name for p in root_dir.iterdir()] == ["a.txt"]


def test_failed_write_removes_its_temp_file(root_dir):
    def failing():
        yield b"part"
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        fileio.atomic_write(str(root_dir / "a.txt"), failing())
    assert list(root_dir.iterdir()) == []


@pytest.mark.parametrize("path", ["..", "a/../..", "a/..", "../etc/passwd"])
def test_dotdot_components_are_invalid(tmp_path, path):
    with pytest.raises(InvalidInput):
        fileio.resolve_inside_root(str(tmp_path), path)


def test_nul_byte_is_invalid(tmp_path):
    with pytest.raises(InvalidInput):
        fileio.resolve_inside_root(str(tmp_path), "a\x00b")


def test_leading_slash_and_empty_parts_stay_inside(tmp_path):
    assert fileio.resolve_inside_root(str(tmp_path), "/etc//passwd") == os.path.join(str(tmp_path), "etc", "passwd")


def test_is_inside_compares_components_not_prefixes():
    assert fileio.is_inside("/srv/nb", "/srv/nb/a")
    assert fileio.is_inside("/srv/nb", "/srv/nb")
    assert not fileio.is_inside("/srv/nb", "/srv/nb2/a")
    assert fileio.is_inside("/", "/anything")


def test_symlink_escape_is_not_found_unless_allowed(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "out").symlink_to(tmp_path)
    with pytest.raises(NotFound):
        fileio.resolve_inside_root(str(root), "out/x")
    assert fileio.resolve_inside_root(str(root), "out/x", allow_outside_root=True).endswith("out/x")
