"""encoded_size_within: a bounded estimate of a notebook model's encoded size."""

from __future__ import annotations

import json

from nbserver.services.contents.notebooks import empty_notebook
from nbserver.services.contents.notebooksize import VALUE_BYTES, encoded_size_within


def test_an_empty_notebook_is_small() -> None:
    assert encoded_size_within(empty_notebook(), 1024)


def test_a_notebook_with_a_large_output_is_not_within_the_limit() -> None:
    nb = empty_notebook()
    nb["cells"].append({"cell_type": "code", "source": "print(x)", "metadata": {}, "execution_count": 1,
                        "outputs": [{"output_type": "stream", "name": "stdout", "text": "x" * 300_000}]})
    assert not encoded_size_within(nb, 256 * 1024)
    assert encoded_size_within(nb, 400_000)


def test_the_estimate_is_close_to_the_json_size_and_not_below_it() -> None:
    nb = empty_notebook()
    nb["cells"] = [{"cell_type": "markdown", "source": f"cell {n} " * 20, "metadata": {}, "id": f"c{n}"}
                   for n in range(50)]
    size = len(json.dumps(nb))
    assert encoded_size_within(nb, 2 * size)
    assert not encoded_size_within(nb, size // 2)


def test_every_value_counts_even_when_its_text_is_empty() -> None:
    assert not encoded_size_within([0] * 100, 100 * VALUE_BYTES - 1)
    assert not encoded_size_within({f"k{n}": "" for n in range(100)}, 100 * VALUE_BYTES - 1)
    assert encoded_size_within([0] * 100, 200 * VALUE_BYTES)


def test_a_huge_list_is_told_large_without_walking_it() -> None:
    assert not encoded_size_within([[0] * 1_000_000], 1024)


def test_subclasses_and_odd_keys_count_as_their_base_types() -> None:
    class Node(dict):  # as nbformat's NotebookNode
        pass

    class Text(str):
        pass

    nb = Node(cells=[Node(source=Text("x" * 2000))], metadata=Node())
    assert not encoded_size_within(nb, 1500) and encoded_size_within(nb, 3000)
    assert not encoded_size_within({1: "y" * 2000}, 1500) and encoded_size_within({1: "y" * 2000}, 3000)
