"""One loader for the shared third-party vectors (``../shared/vectors/<topic>/``).

The root is ``$OPENPCC_VECTORS`` if set, else ``<repo>/../shared/vectors``. When a
topic folder is missing the calling test is skipped with the exact path looked for.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def vectors_root() -> Path:
    override = os.environ.get("OPENPCC_VECTORS")
    if override:
        return Path(override)
    return REPO_ROOT.parent / "shared" / "vectors"


def topic_dir(topic: str) -> Path:
    path = vectors_root() / topic
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared vectors not found in CI: {path}")
        pytest.skip(f"shared vectors not found: {path} (set OPENPCC_VECTORS to their root)")
    return path


def vector_path(topic: str, name: str) -> Path:
    path = topic_dir(topic) / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared vector file not found in CI: {path}")
        pytest.skip(f"shared vector file not found: {path}")
    return path


def read_bytes(topic: str, name: str) -> bytes:
    path = vector_path(topic, name)
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def load_json(topic: str, name: str) -> Any:
    return json.loads(read_bytes(topic, name))
