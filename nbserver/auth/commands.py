"""The ``nbserver password``, ``nbserver list`` and ``nbserver stop <port>`` subcommands."""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import Any

from jupyter_core.application import JupyterApp, base_flags
from traitlets import Bool, Float

from nbserver.auth.identity import write_private_file
from nbserver.auth.passwords import hash_password
from nbserver.auth.serverinfo import running_servers, stop_server

CONFIG_FILE_NAME = "nbserver_config.json"


def save_hashed_password(config_dir: str, hashed: str) -> str:
    """Set ``IdentityProvider.hashed_password`` in ``<config_dir>/nbserver_config.json``, keeping the rest."""
    path = os.path.join(config_dir, CONFIG_FILE_NAME)
    config: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    config.setdefault("IdentityProvider", {})["hashed_password"] = hashed
    write_private_file(path, (json.dumps(config, indent=2) + "\n").encode())
    return path


def read_new_password() -> str:
    """Ask twice on a terminal; read one line from a pipe (for scripts)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat the password: "):
        raise ValueError("The passwords do not match.")
    return first


class PasswordApp(JupyterApp):
    name = "nbserver-password"
    description = (
        "Set the login password: store its salted scrypt hash in the Jupyter config dir "
        f"({CONFIG_FILE_NAME}). Existing browser sessions end when the server restarts with it."
    )

    def start(self) -> None:
        try:
            hashed = hash_password(read_new_password())
        except ValueError as exc:
            print(f"nbserver password: {exc}", file=sys.stderr)
            sys.exit(1)
        path = save_hashed_password(self.config_dir, hashed)
        print(f"Password hash saved in {path}")


class ListApp(JupyterApp):
    name = "nbserver-list"
    description = "List the running nbservers of this user, with their URLs."
    json = Bool(False, help="Print one JSON object per server.").tag(config=True)
    flags = dict(base_flags, json=({"ListApp": {"json": True}}, "Print one JSON object per server."))

    def start(self) -> None:
        servers = running_servers(self.runtime_dir)
        if self.json:
            for info in servers:
                print(json.dumps(info, sort_keys=True))
            return
        print("Running nbservers:")
        for info in servers:
            url = info["url"] + (f"?token={info['token']}" if info.get("token") else "")
            print(f"{url} :: {info.get('root_dir', '')}")


class StopApp(JupyterApp):
    name = "nbserver-stop"
    description = "Stop the running nbserver listening on the given port (default 8888)."
    timeout = Float(10.0, help="Seconds to wait for the server to exit.").tag(config=True)

    def start(self) -> None:
        port = int(self.extra_args[0]) if self.extra_args else 8888
        servers = [info for info in running_servers(self.runtime_dir) if info.get("port") == port]
        if not servers:
            print(f"nbserver stop: no running nbserver on port {port}", file=sys.stderr)
            sys.exit(1)
        for info in servers:
            print(f"Stopping the server on port {port} (pid {info['pid']})")
            if not stop_server(info, self.timeout):
                print(f"nbserver stop: the server on port {port} did not stop", file=sys.stderr)
                sys.exit(1)


subcommands = {
    "password": (PasswordApp, PasswordApp.description.splitlines()[0]),
    "list": (ListApp, ListApp.description),
    "stop": (StopApp, StopApp.description),
}
