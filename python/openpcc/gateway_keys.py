"""The gateway's key files: one JSON file per OHTTP key (id, KEM, seed, validity window) in a directory
that every gateway replica reads. The gateway role writes them (:mod:`openpcc.services.gateway`); the
supervisor and the transparency publisher read their public facts from here, below the services layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KeyWindow", "key_windows"]


@dataclass(frozen=True)
class KeyWindow:
    """A key file's public facts (never its seed)."""

    path: Path
    key_id: int
    kem: int
    active_from: int
    active_until: int


def key_windows(keys_dir: str | Path) -> list[KeyWindow]:
    """The windows of the readable key files, oldest first (unreadable files are skipped)."""
    windows = []
    for path in sorted(Path(keys_dir).glob("[!.]*.json")):
        try:
            data = json.loads(path.read_text())
            windows.append(KeyWindow(path, int(data["key_id"]), int(data["kem"]),
                                     int(data["active_from"]), int(data["active_until"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(windows, key=lambda w: w.active_from)
