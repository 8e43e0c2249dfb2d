"""Fuzz a running nbserver's contents and checkpoint routes with schemathesis, against Jupyter
Server's own OpenAPI document (from the installed jupyter_server package).

Usage: python scripts/schemathesis_contents.py [--max-time SECONDS]
Starts nbserver on 127.0.0.1 with a fresh temporary root, runs schemathesis with the checks
not_a_server_error and response_schema_conformance, stops the server, and exits with
schemathesis' status (0: no 5xx and no response that breaks the schema).

Jupyter's document is Swagger 2.0, which cannot say "nullable": its Contents model types
content, format, mimetype, hash and hash_algorithm as strings while its own descriptions say
they are null when not requested (and content is a list for a directory, an object for a
notebook). Jupyter Server itself answers that way, so the schema is read as its descriptions
state: those fields get x-nullable, and content any JSON type. Nothing else is changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.server_process import ServerProcess  # noqa: E402

NULLABLE_FIELDS = ("content", "format", "mimetype", "hash", "hash_algorithm", "size")


def jupyter_server_spec() -> dict:
    import jupyter_server

    path = Path(jupyter_server.__file__).parent / "services" / "api" / "api.yaml"
    return yaml.safe_load(path.read_text())


def spec_as_described(spec: dict) -> dict:
    properties = spec["definitions"]["Contents"]["properties"]
    for name in NULLABLE_FIELDS:
        properties[name]["x-nullable"] = True
    properties["content"].pop("type", None)
    return spec


def run(max_time: int, workdir: Path) -> int:
    spec_path = workdir / "jupyter_server_api.yaml"
    spec_path.write_text(yaml.safe_dump(spec_as_described(jupyter_server_spec())))
    root = workdir / "root"
    root.mkdir()
    for name in ("0", "a", "data"):
        (root / name).mkdir()
        (root / name / "notes.txt").write_text("some text\n")
    schemathesis = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    with ServerProcess(root, token="schemathesis-token", env={"JUPYTER_CONFIG_DIR": str(workdir / "cfg"),
                                                              "JUPYTER_RUNTIME_DIR": str(workdir / "rt")}) as server:
        command = [
            schemathesis, "run", str(spec_path), "--url", server.base_url.rstrip("/"),
            "--include-path-regex", "^/api/contents",
            "-H", f"Authorization: token {server.token}",
            "--checks", "not_a_server_error,response_schema_conformance",
            "--max-examples", "50", "--max-time", str(max_time), "--seed", "20261122",
            "--request-timeout", "10", "--no-color", "--report-dir", str(workdir / "report"),
        ]
        result = subprocess.run(command, cwd=workdir, timeout=max_time + 120)
    return result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=int, default=90, help="schemathesis time budget in seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        sys.exit(run(args.max_time, Path(workdir)))


if __name__ == "__main__":
    main()
