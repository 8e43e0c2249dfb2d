"""Atomic writes and path containment, the primitives every disk access goes through."""

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents import fileio
from nbserver.services.contents.writejournal import WriteJournal, recover_interrupted_writes
from tests.support import crashing_writer

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


# -- names derived from a user's file name fit NAME_MAX bytes ------------------------------

def test_fit_name_counts_bytes_and_never_splits_a_character():
    name = "é" * 115 + ".ipynb"  # 236 bytes, 121 characters
    fitted = fileio.fit_name(name, 200)
    assert len(fitted.encode()) <= 200
    assert fitted.endswith(".ipynb") and fitted.startswith("é" * 90)
    assert fitted.encode().decode("utf-8") == fitted  # whole characters only
    assert fileio.fit_name(name, 200) == fitted  # deterministic: lookups find it again


def test_fit_name_keeps_short_names_and_cut_names_stay_unique():
    assert fileio.fit_name("é" * 127) == "é" * 127  # 254 bytes: fits
    first, second = "é" * 140 + "a.txt", "é" * 140 + "b.txt"
    assert fileio.fit_name(first) != fileio.fit_name(second)
    assert all(len(fileio.fit_name(n).encode()) <= 255 for n in (first, second))


def test_fit_name_cuts_a_long_extension_with_the_rest():
    fitted = fileio.fit_name("a." + "x" * 300)
    assert len(fitted.encode()) <= 255 and "~" in fitted


def test_derived_names_of_a_long_name_fit(root_dir):
    target = root_dir / ("é" * 127)  # 254 bytes: the longest name there is
    writer = fileio.FileWriter()
    for kind in ("save", "upload", "backup"):
        assert len(os.path.basename(writer.derived_path(str(target), kind)).encode()) <= 255
    writer.write(str(target), b"one")
    writer.write(str(target), b"two")
    writer.append_chunk(str(target), b"thr", first=True)
    writer.append_chunk(str(target), b"ee", first=False)
    writer.commit_staged(str(target))
    assert target.read_bytes() == b"three"
    assert [p.name for p in root_dir.iterdir()] == [target.name]


# -- saves keep the file's identity ------------------------------------------------------

@pytest.fixture
def writer(tmp_path):
    """The writer of a contents store: journaled, so it may write in place."""
    return fileio.FileWriter(WriteJournal(str(tmp_path / "journal")))


requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
NOBODY = 65534
ACL_XATTR = "system.posix_acl_access"


def posix_acl(extra_user: int) -> bytes:
    """The system.posix_acl_access value of 'u::rw-,u:<extra_user>:r--,g::r--,m::r--,o::---' (mode 0640)."""
    import struct

    undefined = 0xFFFFFFFF
    entries = [(0x01, 6, undefined), (0x02, 4, extra_user), (0x04, 4, undefined), (0x10, 4, undefined),
               (0x20, 0, undefined)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


def shared_file(path, content=b"old content"):
    """A file as people share one: owned by nobody, mode 0640, a user attribute and an ACL."""
    path.write_bytes(content)
    os.chown(path, NOBODY, NOBODY)
    os.chmod(path, 0o640)
    os.setxattr(path, "user.project", b"apollo")
    os.setxattr(path, ACL_XATTR, posix_acl(1234))
    return path


def identity(path):
    info = os.stat(path)
    attributes = {name: os.getxattr(path, name) for name in os.listxattr(path)}
    return info.st_uid, info.st_gid, info.st_mode, attributes


@requires_root
@pytest.mark.parametrize("method", ["auto", "in_place"])
def test_save_keeps_owner_group_mode_xattrs_and_acl(root_dir, method):
    target = shared_file(root_dir / "shared.ipynb")
    before = identity(target)
    assert before[3][ACL_XATTR] == posix_acl(1234)
    fileio.FileWriter(method=method).write(str(target), b"new content")
    assert target.read_bytes() == b"new content"
    assert identity(target) == before
    assert [p.name for p in root_dir.iterdir()] == ["shared.ipynb"]


def test_hard_link_sees_the_new_content(root_dir, writer):
    target = root_dir / "a.ipynb"
    target.write_bytes(b"old")
    os.link(target, root_dir / "link.ipynb")
    inode = target.stat().st_ino
    digest, written = writer.write(str(target), [b"new ", b"and longer"])
    assert (root_dir / "link.ipynb").read_bytes() == b"new and longer"
    assert target.stat().st_ino == inode == written.st_ino and written.st_size == 14
    import hashlib
    assert digest == hashlib.sha256(b"new and longer").hexdigest()
    assert sorted(p.name for p in root_dir.iterdir()) == ["a.ipynb", "link.ipynb"]


def test_shorter_content_in_place_is_truncated(root_dir):
    target = root_dir / "a.txt"
    target.write_bytes(b"a long old content")
    fileio.FileWriter(method="in_place").write(str(target), b"short")
    assert target.read_bytes() == b"short"


def test_replace_method_breaks_hard_links_as_documented(root_dir):
    target = root_dir / "a.txt"
    target.write_bytes(b"old")
    os.link(target, root_dir / "link.txt")
    fileio.FileWriter(method="replace").write(str(target), b"new")
    assert (root_dir / "link.txt").read_bytes() == b"old" and target.read_bytes() == b"new"


def test_new_file_gets_the_umask_mode(root_dir):
    fileio.FileWriter().write(str(root_dir / "new.txt"), b"x")
    assert stat_mode(root_dir / "new.txt") == fileio.NEW_FILE_MODE


def stat_mode(path):
    import stat

    return stat.S_IMODE(os.stat(path).st_mode)


def test_symlink_is_written_through(root_dir):
    (root_dir / "real.txt").write_bytes(b"old")
    (root_dir / "link.txt").symlink_to("real.txt")
    fileio.FileWriter().write(str(root_dir / "link.txt"), b"new")
    assert (root_dir / "link.txt").is_symlink() and (root_dir / "real.txt").read_bytes() == b"new"


@pytest.fixture
def immutable_folder(root_dir):
    """A folder in which no file can be created (chattr +i, even for root) holding a writable file."""
    folder = root_dir / "locked"
    folder.mkdir()
    (folder / "a.ipynb").write_bytes(b"old content")
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_read_only_folder_writable_file_is_written_in_place(immutable_folder, tmp_path):
    target = immutable_folder / "a.ipynb"
    with pytest.raises(PermissionError):
        (immutable_folder / "probe").write_bytes(b"")
    inode = target.stat().st_ino
    journal = WriteJournal(str(tmp_path / "journal"))
    fileio.FileWriter(journal).write(str(target), b"new content")
    assert target.read_bytes() == b"new content" and target.stat().st_ino == inode
    assert os.listdir(immutable_folder) == ["a.ipynb"]
    assert os.listdir(tmp_path / "journal" / "backups") == []  # the backup went there, and is gone


def test_failed_in_place_write_puts_the_old_content_back(root_dir, writer):
    target = root_dir / "a.txt"
    target.write_bytes(b"the original content")
    os.link(target, root_dir / "b.txt")
    inode = target.stat().st_ino

    def failing():
        yield b"part"
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        writer.write(str(target), failing())
    assert target.read_bytes() == b"the original content" == (root_dir / "b.txt").read_bytes()
    assert target.stat().st_ino == inode
    assert sorted(p.name for p in root_dir.iterdir()) == ["a.txt", "b.txt"]


# -- a writer killed at any moment of the in-place path: start-up recovery gives old or new -------

OLD = b"OLD" * 100_000


@pytest.mark.parametrize("stage", crashing_writer.STAGES)
def test_killed_in_place_writer_is_recovered_to_the_old_content(root_dir, tmp_path, stage):
    target = root_dir / "a.ipynb"
    target.write_bytes(OLD)
    os.link(target, root_dir / "link.ipynb")  # a hard link: the in-place path
    inode = target.stat().st_ino
    journal_dir = tmp_path / "journal"
    crashing_writer.kill_at(target, journal_dir, stage)
    if stage == "mid-overwrite":
        assert target.read_bytes()[:3] == b"NEW" and target.read_bytes()[-3:] == b"OLD"  # a mix, for now
    report = recover_interrupted_writes(str(journal_dir), min_age=0)
    assert target.read_bytes() == OLD and target.stat().st_ino == inode
    assert (root_dir / "link.ipynb").read_bytes() == OLD
    assert sorted(os.listdir(root_dir)) == ["a.ipynb", "link.ipynb"]
    assert os.listdir(journal_dir) == [] and report.kept == 0
    assert report.restored == (0 if stage == "backup-copied" else 1)


def test_killed_replacing_writer_leaves_old_content_and_a_temp_file_recovery_removes(root_dir, tmp_path):
    target = root_dir / "a.ipynb"
    target.write_bytes(OLD)
    journal_dir = tmp_path / "journal"
    crashing_writer.kill_at(target, journal_dir, "mid-overwrite")
    assert target.read_bytes() == OLD and len(os.listdir(root_dir)) == 2
    assert recover_interrupted_writes(str(journal_dir), min_age=300).kept == 1  # too young to go
    assert recover_interrupted_writes(str(journal_dir), min_age=0).removed == 1
    assert os.listdir(root_dir) == ["a.ipynb"] and os.listdir(journal_dir) == []


# -- a large old version is freed after the save ------------------------------------------

@pytest.fixture
def held_unlinks():
    """The unlinks queued by saves wait until the test sets the event it gets."""
    release = threading.Event()
    blocker = fileio._unlinker.submit(release.wait, 30)
    try:
        yield release
    finally:
        release.set()
        blocker.result(30)
        fileio.wait_for_unlinks(30)


def retired_names(folder):
    return [name for name in os.listdir(folder) if name.startswith(fileio.STAGING_PREFIX) and "-old-" in name]


@pytest.mark.parametrize("commit", ["write", "upload"])
def test_a_large_old_version_is_unlinked_after_the_save_returns(root_dir, writer, held_unlinks, commit):
    """The rename frees none of the old file's blocks (a hidden hard link holds them); the unlink
    runs on the unlink thread afterwards, and nothing is left once it has."""
    target = root_dir / "a.ipynb"
    target.write_bytes(OLD)
    old_inode = target.stat().st_ino
    if commit == "write":
        writer.write(str(target), b"new")
    else:
        staging = root_dir / (fileio.STAGING_PREFIX + "staged")
        staging.write_bytes(b"new")
        writer.commit_staged(str(target), str(staging))
    assert target.read_bytes() == b"new" and target.stat().st_nlink == 1
    [retired] = retired_names(root_dir)
    assert os.stat(root_dir / retired).st_ino == old_inode and (root_dir / retired).read_bytes() == OLD
    held_unlinks.set()
    fileio.wait_for_unlinks(30)
    assert os.listdir(root_dir) == ["a.ipynb"]


def test_a_small_or_linked_old_version_is_freed_by_the_rename(root_dir, writer, held_unlinks):
    small = root_dir / "small.txt"
    small.write_bytes(b"s" * (fileio.RETIRE_MIN_BYTES - 1))
    writer.write(str(small), b"new")
    replacing = fileio.FileWriter(None, "replace")  # replaces even a hard-linked file
    linked = root_dir / "linked.txt"
    linked.write_bytes(OLD)
    os.link(linked, root_dir / "other-name.txt")
    replacing.write(str(linked), b"new")
    assert retired_names(root_dir) == [] and (root_dir / "other-name.txt").read_bytes() == OLD


def test_without_hard_links_the_save_still_replaces(root_dir, writer, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")  # fs.protected_hardlinks, or a filesystem without links

    monkeypatch.setattr(fileio.os, "link", refuse)
    target = root_dir / "a.ipynb"
    target.write_bytes(OLD)
    writer.write(str(target), b"new")
    assert target.read_bytes() == b"new" and os.listdir(root_dir) == ["a.ipynb"]


def test_a_failed_rename_drops_the_retired_link_and_keeps_the_old_file(root_dir, writer, monkeypatch):
    import errno

    def fail(*args, **kwargs):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(fileio.os, "replace", fail)
    target = root_dir / "a.ipynb"
    target.write_bytes(OLD)
    with pytest.raises(OSError):
        writer.write(str(target), b"new")
    assert target.read_bytes() == OLD and target.stat().st_nlink == 1 and os.listdir(root_dir) == ["a.ipynb"]


def test_a_killed_writer_s_retired_old_version_is_swept_at_start_up(root_dir, tmp_path):
    target = root_dir / "a.ipynb"
    target.write_bytes(OLD)
    journal_dir = tmp_path / "journal"
    crashing_writer.kill_at(target, journal_dir, "retired")
    assert target.read_bytes() == crashing_writer.NEW_HEAD + crashing_writer.NEW_TAIL
    assert len(retired_names(root_dir)) == 1
    assert recover_interrupted_writes(str(journal_dir), min_age=0).removed == 1
    assert os.listdir(root_dir) == ["a.ipynb"]


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A real 128 KiB tmpfs, unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize("old_size,new_size", [(70_000, 10_000), (40_000, 100_000)])
def test_full_disk_in_place_keeps_the_old_content(tiny_tmpfs, writer, old_size, new_size):
    """No room for the backup (70 KB twice), or for the new content after it: ENOSPC, the old file intact."""
    import errno

    target = tiny_tmpfs / "a.ipynb"
    target.write_bytes(b"o" * old_size)
    os.link(target, tiny_tmpfs / "link.ipynb")
    with pytest.raises(OSError) as raised:
        writer.write(str(target), [b"n" * (new_size // 2), b"n" * (new_size // 2)])
    assert raised.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"o" * old_size
    assert sorted(os.listdir(tiny_tmpfs)) == ["a.ipynb", "link.ipynb"]


def test_full_disk_replacing_keeps_the_old_content(tiny_tmpfs, writer):
    import errno

    target = tiny_tmpfs / "a.ipynb"
    target.write_bytes(b"o" * 40_000)
    with pytest.raises(OSError) as raised:
        writer.write(str(target), b"n" * 100_000)
    assert raised.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"o" * 40_000 and os.listdir(tiny_tmpfs) == ["a.ipynb"]
