"""Validating v4 notebooks against nbformat's schema without importing nbformat.

Importing nbformat imports jsonschema, which takes about a second, so nbserver reads
the schema files nbformat ships as data and compiles them with fastjsonschema on first
use. The verdict is always nbformat's: ``nbformat.validate`` checks a notebook with the
same compiled schema first and only looks further when that finds an error, so a
notebook the compiled schema accepts is valid for nbformat too. Everything else (a
rejected notebook, whose message nbformat words; one nbformat would repair, such as
missing or duplicate cell ids; a version without a schema file) goes to nbformat itself,
imported then.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import threading
from typing import Any, Callable, NamedTuple

SchemaCheck = Callable[[Any], Any]

log = logging.getLogger("nbserver")


class Verdict(NamedTuple):
    """The outcome of validating one notebook model."""

    #: None for a valid notebook, else what is wrong, as nbformat words it.
    message: str | None
    #: True when the same document always gets this verdict and validating left it unchanged,
    #: so the verdict may be remembered for the file it was read from.
    repeatable: bool


def nbformat_message(nb: Any) -> str | None:
    """nbformat's own verdict (it may repair the model in place, e.g. add missing cell ids)."""
    import nbformat  # imports jsonschema: about a second, so only on this rarer path

    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return f"Notebook validation failed: {exc.message}"
    except Exception as exc:  # nbformat's validator trips over some malformed structures
        return f"Notebook validation failed: malformed document ({type(exc).__name__}: {exc})"
    return None


def _plain_v4_minor(nb: Any) -> int | None:
    """The minor version of a v4 notebook nbformat would validate without repairing it, else None."""
    if not isinstance(nb, dict):
        return None
    major, minor = nb.get("nbformat", 1), nb.get("nbformat_minor", 0)
    if type(major) is not int or major != 4 or type(minor) is not int or minor < 0:
        return None
    if minor >= 5:
        # From 4.5 on nbformat gives cells without an id a random one, and renames duplicates.
        cells = nb.get("cells")
        if not isinstance(cells, list):
            return None
        ids = set()
        for cell in cells:
            if not isinstance(cell, dict) or type(cell.get("id")) is not str:
                return None
            ids.add(cell["id"])
        if len(ids) != len(cells):
            return None
    return minor


def _schema_path(minor: int) -> str | None:
    """nbformat's schema file for v4.<minor>, found without importing nbformat."""
    spec = importlib.util.find_spec("nbformat")
    locations = spec.submodule_search_locations if spec else None
    if not locations:
        return None
    path = os.path.join(list(locations)[0], "v4", f"nbformat.v4.{minor}.schema.json")
    return path if os.path.isfile(path) else None


# Where the schema refers to a cell and to an output, and the field naming each one's kind.
_UNION_SITES = {
    "cell": ("cell_type", ("properties", "cells", "items")),
    "output": ("output_type", ("definitions", "code_cell", "properties", "outputs", "items")),
}


def _count_refs(node: Any, ref: str) -> int:
    if isinstance(node, dict):
        return (node.get("$ref") == ref) + sum(_count_refs(value, ref) for value in node.values())
    if isinstance(node, list):
        return sum(_count_refs(value, ref) for value in node)
    return 0


def _union_members(schema: dict[str, Any], name: str) -> dict[str, str] | None:
    """For a ``oneOf`` union such as ``cell``: kind -> member definition, or None if it is not one.

    Each member must require the kind field and allow a single value of it, so that at most
    one member can match a value: then ``oneOf`` is "the member named by the kind matches".
    """
    kind_field, site = _UNION_SITES[name]
    union = schema["definitions"].get(name)
    if not isinstance(union, dict) or set(union) - {"type", "oneOf", "description"}:
        return None
    if union.get("type") != "object" or not isinstance(union.get("oneOf"), list):
        return None
    node: Any = schema
    for key in site:
        node = node.get(key) if isinstance(node, dict) else None
    ref = f"#/definitions/{name}"
    if node != {"$ref": ref} or _count_refs(schema, ref) != 1:
        return None
    members = {}
    for option in union["oneOf"]:
        member_name = option.get("$ref", "").removeprefix("#/definitions/") if isinstance(option, dict) else ""
        member = schema["definitions"].get(member_name)
        if set(option) != {"$ref"} or not isinstance(member, dict):
            return None
        kinds = member.get("properties", {}).get(kind_field, {}).get("enum")
        if kind_field not in member.get("required", ()) or not isinstance(kinds, list) or len(kinds) != 1:
            return None
        if not isinstance(kinds[0], str) or kinds[0] in members:
            return None
        members[kinds[0]] = member_name
    return members


#: JSON Schema types no value has two of ("integer" is a kind of "number", so not both).
_OVERLAPPING_TYPES = frozenset({"integer", "number"})


def _disjoint_one_of_as_any_of(node: Any) -> None:
    """Turn, in place, each ``oneOf`` whose members each admit one JSON type, no two the same
    (``misc/multiline_string``: a string or an array of strings), into ``anyOf``: no value can match
    two members, so the verdict is the same, but fastjsonschema's ``oneOf`` tries every member, and
    the one that fails raises an exception for every source and output text of a notebook, while
    its ``anyOf`` stops at the first that passes."""
    if isinstance(node, dict):
        members = node.get("oneOf")
        if isinstance(members, list) and members and all(
                isinstance(member, dict) and isinstance(member.get("type"), str) for member in members):
            types = [member["type"] for member in members]
            if len(set(types)) == len(types) and not _OVERLAPPING_TYPES.issubset(types):
                node["anyOf"] = node.pop("oneOf")
        for value in node.values():
            _disjoint_one_of_as_any_of(value)
    elif isinstance(node, list):
        for value in node:
            _disjoint_one_of_as_any_of(value)


def _member_passes(checks: dict[str, SchemaCheck], item: dict[str, Any], kind_field: str) -> bool:
    """Check ``item`` against the union member its ``kind_field`` names: False when it names none,
    the member's exception when it does not pass."""
    kind = item.get(kind_field)
    check = checks.get(kind) if type(kind) is str else None
    if check is None:
        return False
    check(item)
    return True


class SchemaValidator:
    """nbformat's v4.<minor> schema compiled by fastjsonschema; a call says whether a notebook passes.

    Cells and outputs are checked against the member of their union that their
    ``cell_type``/``output_type`` names instead of trying every member in turn: the same
    verdict (see :func:`_union_members`) for a quarter of the time; so is a ``oneOf`` of disjoint
    types (see :func:`_disjoint_one_of_as_any_of`).
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        import fastjsonschema

        cells, outputs = _union_members(schema, "cell"), _union_members(schema, "output")
        schema = copy.deepcopy(schema)
        _disjoint_one_of_as_any_of(schema)
        if cells is None or outputs is None or cells.get("code") != "code_cell":
            self._whole: SchemaCheck | None = fastjsonschema.compile(schema)
            return
        self._whole = None
        schema["properties"]["cells"]["items"] = {"type": "object"}
        schema["definitions"]["code_cell"]["properties"]["outputs"]["items"] = {"type": "object"}

        def member(name: str) -> SchemaCheck:
            return fastjsonschema.compile(
                {"$schema": schema.get("$schema"), "definitions": schema["definitions"],
                 "$ref": f"#/definitions/{name}"})

        self._notebook = fastjsonschema.compile(schema)
        self._cells = {kind: member(name) for kind, name in cells.items()}
        self._outputs = {kind: member(name) for kind, name in outputs.items()}

    def __call__(self, nb: Any) -> bool:
        try:
            if self._whole is not None:
                self._whole(nb)
                return True
            self._notebook(nb)
            for cell in nb["cells"]:
                if not _member_passes(self._cells, cell, "cell_type"):
                    return False
                if cell["cell_type"] == "code":
                    for output in cell["outputs"]:
                        if not _member_passes(self._outputs, output, "output_type"):
                            return False
        except Exception:  # the schema's error, or a structure it did not expect: nbformat will word it
            return False
        return True


_validators: dict[int, SchemaValidator | None] = {}
_validators_lock = threading.Lock()


def schema_validator(minor: int) -> SchemaValidator | None:
    """The compiled validator for v4.<minor>, made on first use; None when there is none to use."""
    with _validators_lock:
        if minor not in _validators:
            _validators[minor] = _load_validator(minor)
        return _validators[minor]


def _load_validator(minor: int) -> SchemaValidator | None:
    if os.environ.get("NBFORMAT_VALIDATOR", "fastjsonschema") != "fastjsonschema":
        return None  # nbformat was told to check with another library: leave every verdict to it
    try:
        import fastjsonschema  # noqa: F401
    except ImportError:
        return None
    path = _schema_path(minor)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return SchemaValidator(json.load(handle))
    except Exception:  # an unreadable or unexpected schema file: nbformat still validates
        log.warning("Cannot compile %s; notebooks are validated by nbformat alone", path, exc_info=True)
        return None


def validate_notebook(nb: Any) -> Verdict:
    """Validate a notebook model as ``nbformat.validate`` does, cheaply when it is a plain v4 one."""
    minor = _plain_v4_minor(nb)
    if minor is None:
        return Verdict(nbformat_message(nb), repeatable=False)
    check = schema_validator(minor)
    if check is not None and check(nb):
        return Verdict(None, repeatable=True)
    return Verdict(nbformat_message(nb), repeatable=True)
