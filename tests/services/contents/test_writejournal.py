"""The write journal: start-up finds a killed server's leftovers and never touches a live one's."""

import os
import time

from nbserver.app import NotebookServerApp
from nbserver.services.contents import fileio
from nbserver.services.contents.writejournal import WriteJournal, recover_interrupted_writes
from tests.support import crashing_writer


def leftover(folder, journal, kind="save", age=0.0):
    """A hidden file as ``journal``'s writer makes one, ``age`` seconds old."""
    journal.note_folder(str(folder))
    path = fileio.FileWriter(journal).derived_path(str(folder / "a.ipynb"), kind)
    with open(path, "wb") as handle:
        handle.write(b"partial")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_a_live_writers_files_and_journal_are_left_alone(root_dir, tmp_path):
    journal = WriteJournal(str(tmp_path / "journal"))
    path = leftover(root_dir, journal, age=3600)
    report = recover_interrupted_writes(journal.directory, min_age=0)
    assert os.path.exists(path) and os.path.exists(journal.path)
    assert (report.removed, report.kept) == (0, 0)


def test_a_dead_writers_leftovers_go_once_old_enough(root_dir, tmp_path):
    journal_dir = tmp_path / "journal"
    crashing_writer.kill_at(root_dir / "a.ipynb", journal_dir, "mid-overwrite")
    [name] = [n for n in os.listdir(root_dir)]
    assert name.startswith(fileio.STAGING_PREFIX)
    assert recover_interrupted_writes(str(journal_dir), min_age=300).kept == 1
    assert os.listdir(root_dir) == [name]
    old = time.time() - 301
    os.utime(root_dir / name, (old, old))
    assert recover_interrupted_writes(str(journal_dir), min_age=300).removed == 1
    assert os.listdir(root_dir) == [] and os.listdir(journal_dir) == []


def test_only_the_dead_writers_files_are_touched(root_dir, tmp_path):
    journal_dir = tmp_path / "journal"
    live = WriteJournal(str(journal_dir))
    live_file = leftover(root_dir, live, kind="upload", age=3600)
    crashing_writer.kill_at(root_dir / "b.ipynb", journal_dir, "mid-overwrite")
    recover_interrupted_writes(str(journal_dir), min_age=0)
    assert os.listdir(root_dir) == [os.path.basename(live_file)]


def test_a_backup_is_not_restored_over_a_file_replaced_since(root_dir, tmp_path):
    target = root_dir / "a.ipynb"
    target.write_bytes(b"old")
    os.link(target, root_dir / "link.ipynb")
    journal_dir = tmp_path / "journal"
    crashing_writer.kill_at(target, journal_dir, "recorded")
    os.unlink(target)
    target.write_bytes(b"written by someone else after the crash")
    report = recover_interrupted_writes(str(journal_dir), min_age=0)
    assert target.read_bytes() == b"written by someone else after the crash"
    assert (report.restored, report.removed) == (0, 1)
    assert sorted(os.listdir(root_dir)) == ["a.ipynb", "link.ipynb"]


def test_server_start_up_restores_a_half_written_file(root_dir, jupyter_env):
    target = root_dir / "a.ipynb"
    target.write_bytes(crashing_writer.NEW_TAIL * 100_000)
    os.link(target, root_dir / "link.ipynb")
    journal_dir = os.path.join(jupyter_env["runtime"], "nbserver-writes")
    crashing_writer.kill_at(target, journal_dir, "mid-overwrite")
    assert target.read_bytes().startswith(crashing_writer.NEW_HEAD)
    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False)
    try:
        app.initialize(argv=[])
        assert app.contents_manager.write_journal_dir == journal_dir
    finally:
        NotebookServerApp.clear_instance()
    assert target.read_bytes() == crashing_writer.NEW_TAIL * 100_000
    assert sorted(os.listdir(root_dir)) == ["a.ipynb", "link.ipynb"]


def test_without_a_journal_saves_go_on_and_choose_crash_safety_over_hard_links(root_dir, tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    journal = WriteJournal(str(tmp_path / "not-a-folder" / "journal"))
    target = root_dir / "a.txt"
    target.write_bytes(b"old")
    os.link(target, root_dir / "b.txt")
    fileio.FileWriter(journal).write(str(target), b"new")
    assert not journal.usable
    # An in-place write could not be undone after a crash: the file is replaced, its link keeps the old bytes.
    assert target.read_bytes() == b"new" and (root_dir / "b.txt").read_bytes() == b"old"


def test_a_dead_writers_partial_folder_copy_goes_too(root_dir, tmp_path):
    """What a server killed in a cross-filesystem move of a folder leaves: a hidden, half-made tree."""
    journal_dir = tmp_path / "journal"
    journal = WriteJournal(str(journal_dir))
    partial = fileio.FileWriter(journal).scratch_path(str(root_dir / "project"), "copy")
    os.makedirs(os.path.join(partial, "data"))
    with open(os.path.join(partial, "data", "table.csv"), "wb") as handle:
        handle.write(b"half")
    (root_dir / "kept.txt").write_bytes(b"a user's file")
    journal.close()  # its lock goes, as with a killed process
    report = recover_interrupted_writes(str(journal_dir), min_age=0)
    assert report.removed == 1
    assert os.listdir(root_dir) == ["kept.txt"]
