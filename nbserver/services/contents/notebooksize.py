"""A bounded estimate of a notebook model's encoded size, to tell small notebooks from large ones.

Parsing or encoding a notebook holds several times its size in memory, so large ones take turns
(``FileContentsManager.notebook_jobs``). A small one (an empty notebook being created, a save of
a few hundred kilobytes) costs little memory and need not queue behind them; telling the two
apart must cost far less than the encoding itself, so the walk stops as soon as the limit is
passed and counts every value as at least :data:`VALUE_BYTES`.
"""

from __future__ import annotations

from typing import Any

#: Bytes counted for each value besides a string's characters: its quotes, key and separators.
VALUE_BYTES = 16


def encoded_size_within(value: Any, limit: int) -> bool:
    """Whether ``value`` (JSON data: dicts, lists, strings, numbers) encodes to about ``limit``
    bytes or fewer: string characters plus :data:`VALUE_BYTES` per value, keys included. Visits at
    most ``limit // VALUE_BYTES`` values, so a large notebook is told apart after little work."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        total += VALUE_BYTES
        kind = type(item)  # exact types first: the isinstance calls only for subclasses (NotebookNode)
        if kind is str or (kind is not dict and kind is not list and isinstance(item, str)):
            total += len(item)
        elif kind is dict or kind is list or isinstance(item, (dict, list)):
            if total + len(item) * VALUE_BYTES > limit:  # each element counts at least that much
                return False
            if kind is dict or isinstance(item, dict):
                try:
                    total += sum(map(len, item))  # the keys (JSON's are strings)
                except TypeError:  # a key without a length
                    total += sum(len(key) for key in item if isinstance(key, str))
                stack.extend(item.values())
            else:
                stack.extend(item)
        if total > limit:
            return False
    return True
