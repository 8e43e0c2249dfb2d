"""The application as a person starts it: command line, config files, ports, base URL, signals."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest
from tornado import web

from nbserver.app import NotebookServerApp
from nbserver.base.handlers import BaseHandler
from tests.support.server_process import ServerProcess


def fetch_json(url: str, token: str | None = None) -> tuple[int, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if body.startswith(b"{") else body


def test_help_lists_the_jupyter_flags():
    result = subprocess.run([sys.executable, "-m", "nbserver", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    for option in ("--port", "--ip", "--root-dir", "--token", "--base-url", "--no-browser", "--config"):
        assert option in result.stdout


def test_help_all_lists_every_configurable_class():
    result = subprocess.run([sys.executable, "-m", "nbserver", "--help-all"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    for name in ("NotebookServerApp.max_body_size", "ContentsManager.allow_hidden",
                 "FileContentsManager.allow_symlinks_outside_root"):
        assert name in result.stdout


def test_console_script_is_installed():
    # The script pip installed beside this interpreter, whatever PATH says.
    script = Path(sysconfig.get_path("scripts")) / "nbserver"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == __import__("nbserver").__version__


def test_defaults_are_localhost_8888_and_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = NotebookServerApp()
    app.initialize(argv=[])
    assert (app.ip, app.port, app.root_dir) == ("127.0.0.1", 8888, str(tmp_path))
    assert len(app.identity_provider.token) >= 32


@pytest.mark.parametrize("function, argv, value", [
    ("keep_freed_memory", [], 64 * 1024 * 1024),
    ("keep_freed_memory", ["--NotebookServerApp.malloc_keep_bytes=0"], 0),
    ("limit_arenas", [], 1),
    ("limit_arenas", ["--NotebookServerApp.malloc_arena_max=0"], 0),
])
def test_start_up_sets_glibcs_malloc_options(tmp_path, monkeypatch, function, argv, value):
    calls = []
    monkeypatch.setattr(f"nbserver.app.{function}", lambda number: calls.append(number) or False)
    app = NotebookServerApp()
    app.initialize(argv=[f"--root-dir={tmp_path}", *argv])
    assert calls == [value]


def test_missing_root_dir_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nbserver", f"--root-dir={tmp_path / 'nope'}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "not a directory" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_port_0_serves_and_logs_one_url_with_the_token(root_dir):
    with ServerProcess(root_dir) as server:
        assert server.log.count("?token=process-token") == 1
        status, body = fetch_json(server.base_url + "api/contents", server.token)
        assert status == 200 and body["type"] == "directory"


def test_log_lines_carry_level_timestamp_and_name(root_dir):
    with ServerProcess(root_dir) as server:
        url_line = next(line for line in server.lines if "?token=process-token" in line)
    assert re.match(r"\[I \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} NotebookServerApp\] ", url_line), url_line


def test_taken_port_moves_to_the_next_free_one(root_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with ServerProcess(root_dir, f"--port={port}") as server:
            assert server.port != port and port < server.port <= port + 50


def test_base_url_prefixes_every_route(root_dir):
    with ServerProcess(root_dir, "--base-url=/prefix/") as server:
        assert server.base_url.endswith("/prefix/")
        assert fetch_json(server.base_url + "api/contents", server.token)[0] == 200
        root = server.base_url.replace("/prefix/", "/")
        assert fetch_json(root + "api/contents", server.token)[0] == 404


def test_config_file_sets_traits(root_dir, tmp_path):
    config = tmp_path / "my_config.json"
    config.write_text(json.dumps({"NotebookServerApp": {"base_url": "/fromconfig/"},
                                  "ContentsManager": {"allow_hidden": True}}))
    (root_dir / ".visible-now").write_text("x")
    with ServerProcess(root_dir, f"--config={config}") as server:
        assert server.base_url.endswith("/fromconfig/")
        status, body = fetch_json(server.base_url + "api/contents", server.token)
        assert [c["name"] for c in body["content"]] == [".visible-now"]


def test_config_file_in_jupyter_config_dir_is_found(root_dir, jupyter_env):
    with open(f"{jupyter_env['config']}/nbserver_config.py", "w") as handle:
        handle.write("c.NotebookServerApp.base_url = '/py-config/'\n")
    with ServerProcess(root_dir) as server:
        assert server.base_url.endswith("/py-config/")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly(root_dir, sig):
    server = ServerProcess(root_dir).wait_until_serving()
    assert server.stop(sig) == 0
    assert "Shutting down" in server.log and "Traceback" not in server.log


# Importing either takes about a second (jsonschema compiles a grammar at import); start-up must not.
SLOW_IMPORTS = ("nbformat", "jsonschema")


def test_building_the_application_imports_neither_nbformat_nor_jsonschema(root_dir):
    script = (
        "import sys\n"
        "from nbserver.app import NotebookServerApp\n"
        f"app = NotebookServerApp(root_dir={str(root_dir)!r}, open_browser=False)\n"
        "app.initialize(argv=[])\n"
        "app.build_web_application()\n"
        f"print(sorted(name for name in {SLOW_IMPORTS!r} if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_serving_a_valid_notebook_imports_neither_nbformat_nor_jsonschema(root_dir):
    (root_dir / "a.ipynb").write_text(json.dumps(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"cell_type": "code", "id": "c1", "metadata": {}, "source": "1", "outputs": [],
             "execution_count": None}]}))
    with ServerProcess(root_dir, env={"PYTHONPROFILEIMPORTTIME": "1"}) as server:
        assert fetch_json(server.base_url + "api/status", server.token)[0] == 200
        status, model = fetch_json(server.base_url + "api/contents/a.ipynb", server.token)
        assert status == 200 and "message" not in model
        server.stop()
    imported = {line.rsplit("|", 1)[-1].strip() for line in server.lines if line.startswith("import time:")}
    assert "nbserver.app" in imported  # the import log is there
    assert not [name for name in imported if name.split(".")[0] in SLOW_IMPORTS]


class UndeclaredHandler(BaseHandler):
    def get(self) -> None:
        self.finish("no access check would say who may see this")


class PlainTornadoHandler(web.RequestHandler):
    def get(self) -> None:
        self.finish("this bypasses the access pipeline")


@pytest.mark.parametrize("handler,problem", [
    (UndeclaredHandler, "declares no auth_resource"),
    (PlainTornadoHandler, "does not derive from BaseHandler"),
])
def test_a_handler_without_an_access_declaration_stops_the_start(server_app, monkeypatch, handler, problem):
    routes = server_app.route_table()
    monkeypatch.setattr(server_app, "route_table", lambda: [*routes, (r"/extra", handler)])
    with pytest.raises(TypeError, match=problem) as raised:
        server_app.build_web_application()
    assert handler.__qualname__ in str(raised.value)


def test_a_handler_declaring_an_unknown_action_stops_the_start(server_app, monkeypatch):
    class TypoHandler(BaseHandler):
        auth_resource = "contents"
        auth_actions = {"GET": "raed"}

    routes = server_app.route_table()
    monkeypatch.setattr(server_app, "route_table", lambda: [*routes, (r"/extra", TypoHandler)])
    with pytest.raises(TypeError, match="unknown actions"):
        server_app.build_web_application()


def test_every_handler_of_the_server_declares_its_access(server_app):
    server_app.build_web_application()  # raises when one does not


def test_a_gateway_url_puts_the_kernels_on_the_gateway_and_its_token_out_of_the_log(root_dir):
    from nbserver.services.kernels.gateway.manager import GatewayKernelManager

    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False)
    try:
        app.initialize(argv=["--gateway-url=http://127.0.0.1:9/", "--GatewayClient.auth_token=gw-secret-token",
                             "--MappingKernelManager.cull_idle_timeout=7"])
        assert isinstance(app.kernel_manager, GatewayKernelManager)
        assert app.kernel_manager.cull_idle_timeout == 7, "MappingKernelManager's settings do not carry over"
        assert "gw-secret-token" in app.log_secrets()
    finally:
        NotebookServerApp.clear_instance()


@pytest.mark.parametrize("argv, frozen", [([], True), (["--NotebookServerApp.gc_freeze=False"], False)])
def test_start_up_objects_leave_the_garbage_collectors_generations(root_dir, argv, frozen):
    with ServerProcess(root_dir, "--log-level=DEBUG", *argv) as server:
        status, _ = fetch_json(server.base_url + "api/status", server.token)
        deadline = time.monotonic() + 10
        while frozen and "garbage collector's generations" not in server.log and time.monotonic() < deadline:
            time.sleep(0.05)
        found = re.search(r"(\d+) objects moved out of the garbage collector's generations", server.log)
    assert status == 200 and (found is not None) == frozen
    if found:
        assert int(found.group(1)) > 10_000  # the modules' objects, at least
