"""DocumentWriter: what it reads of a file the indexer found."""

from __future__ import annotations

from pathlib import Path

from nbserver.services.search.extract import Limits
from nbserver.services.search.index import FTS5, SQLiteSearchIndex
from nbserver.services.search.writer import DocumentWriter, ExtractSettings, Found


def test_a_file_replaced_by_a_symlink_after_its_stat_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("classified")
    listed = tmp_path / "root" / "notes.txt"
    listed.parent.mkdir()
    listed.write_text("ordinary")
    writer = DocumentWriter(SQLiteSearchIndex(str(tmp_path / "s.sqlite"), str(tmp_path / "m.sqlite"), FTS5),
                            ExtractSettings(Limits(1000, 100, 1000), 1000))
    item = Found("notes.txt", "file", "fp", str(listed))
    assert writer.read_os_path(item) == b"ordinary"
    listed.unlink()
    listed.symlink_to(secret)
    assert writer.read_os_path(item) is None
