"""The contents model's type names (Jupyter Server's REST API, ``services/api/api.yaml``: a
Contents object's ``type`` and ``format``), apart from the stores so that the save-body rules
(:mod:`.savebody`, run in notebook worker processes too) import no store."""

from __future__ import annotations

from typing import Any

#: A contents model: ``name``, ``path``, ``type``, ``content``... as the REST API sends it.
Model = dict[str, Any]
CONTENT_TYPES = ("directory", "file", "notebook")
FILE_FORMATS = ("text", "base64")
#: The model's ``hash_algorithm`` (the digest in ``hash``, Jupyter Server 2.11's field).
HASH_ALGORITHM = "sha256"
