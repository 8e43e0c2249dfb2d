"""Already-encoded notebook GET replies: served only while the file is unchanged, forgotten on writes."""

from __future__ import annotations

import hashlib
import json
import os
import time

import nbformat
import pytest

from nbserver.services.contents import replycache, sidedigest
from nbserver.services.contents.notary import NotebookNotary
from nbserver.services.contents.replycache import EncodedReply, ReplyCache, settled


def write_notebook(path, source="1+1", with_rich_output=False):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    if with_rich_output:
        cell.outputs.append(nbformat.v4.new_output("display_data", data={"text/html": "<b>x</b>"}))
    nb.cells.append(cell)
    nbformat.write(nb, str(path))


def stats(server_app):
    return server_app.contents_manager.replies.stats()


# -- the cache itself ---------------------------------------------------------------------

def reply(size):
    return EncodedReply(b"x" * size, "p", "2020-01-01T00:00:00Z")


def test_lookup_with_another_stamp_is_a_miss():
    cache = ReplyCache(1000)
    cache.store(("a", True, None, None, False), (1, 2, 3), reply(10))
    assert cache.lookup(("a", True, None, None, False), (1, 2, 4)) is None
    assert cache.lookup(("a", True, None, None, False), (1, 2, 3)) == reply(10)
    assert cache.stats()[:2] == (1, 1)


def test_bytes_held_stay_within_the_bound_least_recently_used_out():
    cache = ReplyCache(250)
    keys = [(name, True, None, None, False) for name in "abc"]
    for key in keys:
        cache.store(key, (1,), reply(100))
    assert cache.stats().size == 200 and cache.stats().entries == 2
    assert cache.lookup(keys[0], (1,)) is None and cache.lookup(keys[2], (1,)) is not None


def test_a_reply_larger_than_the_bound_is_not_kept():
    cache = ReplyCache(50)
    cache.store(("a", True, None, None, False), (1,), reply(51))
    assert cache.stats().entries == 0 and cache.stats().size == 0


def test_a_file_written_just_now_is_not_settled(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    info = os.stat(path)
    assert not settled(info)
    assert settled(info, now=time.time() + replycache.SETTLED_SECONDS + 0.1)


# -- through the API ----------------------------------------------------------------------

@pytest.mark.gen_test
async def test_repeated_get_is_served_from_the_cache_with_the_same_body_and_headers(
        api, root_dir, server_app, settled_at_once):
    write_notebook(root_dir / "n.ipynb")
    first = await api.get("api/contents/n.ipynb")
    second = await api.get("api/contents/n.ipynb")
    assert stats(server_app).hits == 1
    assert second.body == first.body
    for header in ("Last-Modified", "Location", "Content-Type"):
        assert second.headers[header] == first.headers[header]
    model = json.loads(second.body)
    assert model["last_modified"] == first.json()["last_modified"] and model["content"]["cells"][0]["source"] == "1+1"


@pytest.mark.gen_test
async def test_each_query_has_its_own_reply(api, root_dir, server_app, settled_at_once):
    write_notebook(root_dir / "n.ipynb")
    await api.get("api/contents/n.ipynb")
    hashed = (await api.get("api/contents/n.ipynb?hash=1")).json()
    assert hashed["hash"] and stats(server_app).hits == 0
    assert (await api.get("api/contents/n.ipynb")).json()["hash"] is None


@pytest.mark.gen_test
async def test_file_id_requests_are_not_served_from_the_cache(api, root_dir, server_app, settled_at_once):
    write_notebook(root_dir / "n.ipynb")
    await api.get("api/contents/n.ipynb")
    model = (await api.get("api/contents/n.ipynb?file_id=1")).json()
    assert "file_id" in model and stats(server_app).hits == 0


@pytest.mark.gen_test
async def test_outside_edit_of_the_same_size_within_the_same_tick_is_never_served_stale(api, root_dir, server_app):
    # The real rule: a file written just now is not kept, since a second write in the same clock
    # tick would leave its size, mtime and ctime unchanged.
    path = root_dir / "n.ipynb"
    for _ in range(20):
        write_notebook(path, "a = 1")
        assert (await api.get("api/contents/n.ipynb")).json()["content"]["cells"][0]["source"] == "a = 1"
        with open(path, "r+b") as handle:  # same size, in place
            text = handle.read().replace(b"a = 1", b"b = 2")
            handle.seek(0)
            handle.write(text)
        assert (await api.get("api/contents/n.ipynb")).json()["content"]["cells"][0]["source"] == "b = 2"
    assert stats(server_app).entries == 0 and stats(server_app).hits == 0


@pytest.mark.gen_test
async def test_outside_edit_keeping_size_and_mtime_is_seen(api, root_dir, server_app, settled_at_once):
    path = root_dir / "n.ipynb"
    write_notebook(path, "a = 1")
    old = os.stat(path)
    await api.get("api/contents/n.ipynb")
    path.write_bytes(path.read_bytes().replace(b"a = 1", b"b = 2"))
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # the change time still moves
    assert os.stat(path).st_size == old.st_size
    assert (await api.get("api/contents/n.ipynb")).json()["content"]["cells"][0]["source"] == "b = 2"


@pytest.mark.gen_test
async def test_a_save_forgets_the_replies(api, root_dir, server_app, settled_at_once):
    write_notebook(root_dir / "n.ipynb", "a = 1")
    await api.get("api/contents/n.ipynb")
    assert stats(server_app).entries == 1
    model = (await api.get("api/contents/n.ipynb")).json()
    model["content"]["cells"][0]["source"] = "b = 2"
    response = await api.put("api/contents/n.ipynb", {"type": "notebook", "content": model["content"]})
    assert response.status == 200 and stats(server_app).entries == 0
    assert (await api.get("api/contents/n.ipynb")).json()["content"]["cells"][0]["source"] == "b = 2"


@pytest.mark.gen_test
async def test_trusting_the_notebook_forgets_the_replies(api, root_dir, server_app, settled_at_once):
    write_notebook(root_dir / "n.ipynb", with_rich_output=True)
    await api.get("api/contents/n.ipynb")
    assert (await api.get("api/contents/n.ipynb")).json()["content"]["cells"][0]["metadata"]["trusted"] is False
    assert stats(server_app).hits == 1
    assert (await api.post("api/contents/n.ipynb/trust")).status == 201
    assert stats(server_app).entries == 0
    assert (await api.get("api/contents/n.ipynb")).json()["content"]["cells"][0]["metadata"]["trusted"] is True


@pytest.mark.gen_test
async def test_another_process_signing_the_notebook_is_seen(api, root_dir, server_app, settled_at_once):
    write_notebook(root_dir / "n.ipynb", with_rich_output=True)
    await api.get("api/contents/n.ipynb")
    assert (await api.get("api/contents/n.ipynb")).json()["content"]["cells"][0]["metadata"]["trusted"] is False
    other = NotebookNotary(db_file=server_app.contents_manager.notary.db_file,
                           secret_file=server_app.contents_manager.notary.secret_file)
    try:
        nb = json.loads((root_dir / "n.ipynb").read_text())
        assert other.sign(other.digest(nb))
    finally:
        other.close()
    assert (await api.get("api/contents/n.ipynb")).json()["content"]["cells"][0]["metadata"]["trusted"] is True


@pytest.mark.gen_test
async def test_delete_and_rename_forget_the_replies(api, root_dir, server_app, settled_at_once):
    write_notebook(root_dir / "n.ipynb")
    await api.get("api/contents/n.ipynb")
    assert (await api.patch("api/contents/n.ipynb", {"path": "m.ipynb"})).status == 200
    assert stats(server_app).entries == 0
    assert (await api.get("api/contents/n.ipynb")).status == 404


@pytest.mark.gen_test
async def test_no_replies_are_kept_with_a_zero_bound(api, root_dir, server_app, settled_at_once):
    server_app.contents_manager.reply_cache_bytes = 0
    write_notebook(root_dir / "n.ipynb")
    await api.get("api/contents/n.ipynb")
    await api.get("api/contents/n.ipynb")
    assert stats(server_app) == (0, 0, 0, 0)


@pytest.mark.gen_test
async def test_a_write_keeps_the_replies_of_other_notebooks(api, root_dir, server_app, settled_at_once):
    (root_dir / "d").mkdir()
    for name in ("a.ipynb", "b.ipynb", "d/c.ipynb"):
        write_notebook(root_dir / name)
        await api.get(f"api/contents/{name}")
    assert stats(server_app).entries == 3
    model = (await api.get("api/contents/a.ipynb")).json()
    # the save signs a.ipynb in the trust database: the others' replies do not depend on that
    assert (await api.put("api/contents/a.ipynb", {"type": "notebook", "content": model["content"]})).status == 200
    assert (await api.put("api/contents/t.txt", {"type": "file", "format": "text", "content": "x"})).status == 201
    assert stats(server_app).entries == 2  # b and d/c stay
    hits = stats(server_app).hits
    await api.get("api/contents/b.ipynb")
    assert stats(server_app).hits == hits + 1
    assert (await api.patch("api/contents/d", {"path": "e"})).status == 200
    assert stats(server_app).entries == 1  # the reply of d/c.ipynb went with its folder
    assert (await api.get("api/contents/e/c.ipynb")).status == 200


def test_forget_drops_a_path_and_what_is_below_it_only():
    cache = ReplyCache(1000)
    for path in ("d", "d/x.ipynb", "d/sub/y.ipynb", "dd/z.ipynb", "e.ipynb"):
        cache.store((path, True, None, None, False), (1,), EncodedReply(b"{}", path, "t"))
    cache.forget("d")
    assert [key[0] for key in cache._entries] == ["dd/z.ipynb", "e.ipynb"]
    cache.forget("")
    assert cache.stats().entries == 0


@pytest.mark.gen_test
async def test_a_kept_reply_is_tagged_from_its_stamp_and_revalidates(api, root_dir, server_app, settled_at_once):
    path = root_dir / "n.ipynb"
    write_notebook(path, "a = 1")
    first = await api.get("api/contents/n.ipynb")
    kept = await api.get("api/contents/n.ipynb")
    assert stats(server_app).hits == 1
    assert kept.headers["Etag"].startswith('W/"') and first.headers["Etag"] == kept.headers["Etag"]
    again = await api.get("api/contents/n.ipynb", headers={"If-None-Match": kept.headers["Etag"]})
    assert again.status == 304 and again.body == b""
    write_notebook(path, "b = 2")  # another version, another tag: the body comes again
    changed = await api.get("api/contents/n.ipynb", headers={"If-None-Match": kept.headers["Etag"]})
    assert changed.status == 200 and changed.json()["content"]["cells"][0]["source"] == "b = 2"
    assert changed.headers["Etag"] != kept.headers["Etag"]


@pytest.mark.gen_test
async def test_a_reply_not_kept_is_tagged_from_the_file_and_revalidates(api, root_dir, server_app):
    # Written just now, so not settled: not kept, tagged from the file's bytes (not by tornado's
    # SHA-1 of the body), and the same file read again gives the same tag.
    path = root_dir / "n.ipynb"
    write_notebook(path, "a = 1")
    first = await api.get("api/contents/n.ipynb")
    tag = first.headers["Etag"]
    assert tag.startswith('W/"') and tag != '"' + hashlib.sha1(first.body).hexdigest() + '"'
    again = await api.get("api/contents/n.ipynb", headers={"If-None-Match": tag})
    assert again.status == 304 and again.body == b"" and stats(server_app).entries == 0
    write_notebook(path, "a = 2")  # same size, other bytes
    changed = await api.get("api/contents/n.ipynb", headers={"If-None-Match": tag})
    assert changed.status == 200 and changed.headers["Etag"] != tag
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))  # same bytes, other last_modified
    touched = await api.get("api/contents/n.ipynb", headers={"If-None-Match": changed.headers["Etag"]})
    assert touched.status == 200 and touched.headers["Etag"] != changed.headers["Etag"]


@pytest.mark.gen_test
async def test_a_reply_not_kept_changes_tag_with_trust(api, root_dir, server_app):
    write_notebook(root_dir / "n.ipynb", with_rich_output=True)
    untrusted = await api.get("api/contents/n.ipynb")
    assert untrusted.json()["content"]["cells"][0]["metadata"]["trusted"] is False
    assert (await api.post("api/contents/n.ipynb/trust", {})).status == 201
    trusted = await api.get("api/contents/n.ipynb", headers={"If-None-Match": untrusted.headers["Etag"]})
    assert trusted.status == 200 and trusted.json()["content"]["cells"][0]["metadata"]["trusted"] is True
    assert trusted.headers["Etag"] != untrusted.headers["Etag"]


def test_content_tag_moves_with_every_part_of_the_reply():
    key = ("n.ipynb", True, None, None, False)
    model = {"path": "n.ipynb", "last_modified": "t1", "writable": True, "message": None, "content": {"x": 1}}

    def tag(file_bytes=b"{}", trusted=False, key=key, **changes):
        content_tag = replycache.ContentTag()
        content_tag.file_digest, content_tag.trusted = replycache.content_fingerprint(file_bytes), trusted
        return content_tag.etag(key, {**model, **changes})

    assert tag() == tag(content={"other": "parsed content is in the file's bytes"})
    assert len({tag(), tag(b"{ }"), tag(trusted=True), tag(key=(*key[:-1], True)), tag(last_modified="t2"),
                tag(writable=False), tag(message="invalid")}) == 7
    # With ?hash=1 the SHA-256 the reply needed anyway stands for the bytes (hashed aside).
    hashed = replycache.ContentTag()
    hashed.file_digest = sidedigest.digest_aside("sha256", (b"{}",))
    assert hashed.etag(key, model) != tag() and hashed.etag(key, model).startswith('W/"')
    assert replycache.ContentTag().etag(key, model) is None  # a read that did not fill it in


@pytest.mark.gen_test
@pytest.mark.parametrize("kept", [False, True])
async def test_a_large_reply_goes_out_whole_with_its_length(api, root_dir, server_app, monkeypatch, kept):
    # Past SEPARATE_BODY_BYTES the headers go out before the body instead of joined to it: the
    # reply is still one message of the stated length, not chunked, and still revalidates.
    from nbserver.base.handlers import SEPARATE_BODY_BYTES

    if kept:
        monkeypatch.setattr(replycache, "SETTLED_SECONDS", -1.0)
        server_app.contents_manager.notary.is_signed("0" * 64)
    from tornado.http1connection import HTTP1Connection

    first_chunks = []
    write_headers = HTTP1Connection.write_headers

    def spy(self, start_line, headers, chunk=None):
        if not self.is_client:
            first_chunks.append(len(chunk or b""))
        return write_headers(self, start_line, headers, chunk)
    monkeypatch.setattr(HTTP1Connection, "write_headers", spy)
    source = "x = 'é'  # " + "0123456789" * (SEPARATE_BODY_BYTES // 5)
    write_notebook(root_dir / "big.ipynb", source)
    replies = [await api.get("api/contents/big.ipynb") for _ in range(2)]
    assert first_chunks == [0, 0]  # no body joined to the headers
    for reply in replies:
        assert len(reply.body) > SEPARATE_BODY_BYTES
        assert int(reply.headers["Content-Length"]) == len(reply.body)
        assert "Transfer-Encoding" not in reply.headers
        assert reply.json()["content"]["cells"][0]["source"] == source
    assert stats(server_app).hits == (1 if kept else 0)
    again = await api.get("api/contents/big.ipynb", headers={"If-None-Match": replies[1].headers["Etag"]})
    assert again.status == 304 and again.body == b""
