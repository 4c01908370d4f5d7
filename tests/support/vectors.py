"""One loader for the third-party test vectors (``tests/data/vectors/<topic>/``).

The root is ``$OPENPCC_VECTORS`` if set, else the repository's copy in ``tests/data/vectors``
(provenance: its ``README.md``; integrity: its ``SHA256SUMS``). A missing topic folder or file skips
the calling test with the exact path looked for, and fails it when ``CI`` is set
(:func:`support.prerequisites.missing`).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from .prerequisites import missing

REPO_ROOT = Path(__file__).resolve().parents[2]
REPOSITORY_VECTORS = REPO_ROOT / "tests" / "data" / "vectors"


def vectors_root() -> Path:
    override = os.environ.get("OPENPCC_VECTORS")
    return Path(override) if override else REPOSITORY_VECTORS


def topic_dir(topic: str) -> Path:
    path = vectors_root() / topic
    if not path.is_dir():
        missing(f"test vectors not found: {path} (OPENPCC_VECTORS overrides the root)")
    return path


def vector_path(topic: str, name: str) -> Path:
    path = topic_dir(topic) / name
    if not path.exists():
        missing(f"test vector file not found: {path}")
    return path


def read_bytes(topic: str, name: str) -> bytes:
    path = vector_path(topic, name)
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def load_json(topic: str, name: str) -> Any:
    return json.loads(read_bytes(topic, name))
