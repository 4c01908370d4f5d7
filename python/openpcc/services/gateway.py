"""The OHTTP gateway role: ``openpcc gateway --config FILE``.

Reads the ``[gateway]`` table (see docs/edge.md and docs/configuration.md) and starts the Rust
gateway, which decapsulates plain and chunked OHTTP, forwards allowed inner requests to
``bank_url`` / ``router_url`` and serves its key configurations (``GET /.well-known/ohttp-gateway``, ``application/ohttp-keys``).

Keys are JSON files in ``keys_dir`` that every replica reads (and reloads when they change). One
replica, the one with ``manage_keys = true``, writes them: a first key when there is none, and
the next key half a lifetime before the current one ends, active ``key_overlap_secs`` before the
current one expires, so clients learn it before it is needed and both work during the overlap.

A request whose encapsulated key this replica opened within ``replay_window_secs`` is refused as
a replay (400); copies sent to other replicas are stopped downstream by the credit's single-use
nonce (docs/edge.md, "Replays").
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openpcc.config import GATEWAY_KEMS
from openpcc.exceptions import EdgeConfigError
from openpcc.gateway_keys import KeyWindow, key_windows
from openpcc.services._edge import RoleProcess, role_config

ROLE = "gateway"

#: KEM ids the gateway accepts in key files.
KEMS = GATEWAY_KEMS

#: Read by the Python role only.
PYTHON_ONLY = {"manage_keys", "kem", "key_lifetime_secs", "key_overlap_secs"}


def write_key_file(
    keys_dir: str | Path, key_id: int, kem: int, active_from: int, active_until: int, seed: bytes | None = None
) -> Path:
    """Writes a key file atomically (dot-file, then rename) with mode 0600; returns its path."""
    if kem not in KEMS:
        raise EdgeConfigError("kem must be 0x0020 (X25519) or 0x0030 (X25519Kyber768Draft00)")
    if not 0 <= key_id <= 255 or active_until <= active_from:
        raise EdgeConfigError("key_id must be 0..255 and active_until after active_from")
    seed = os.urandom(32) if seed is None else seed
    directory = Path(keys_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"key-{active_from:012d}-{key_id:03d}.json"
    body = {"key_id": key_id, "kem": kem, "seed": seed.hex(), "active_from": active_from, "active_until": active_until}
    temporary = directory / f".{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(body, handle)
    os.replace(temporary, directory / name)
    return directory / name


def rotate(keys_dir: str | Path, kem: int, lifetime: int, overlap: int, now: int | None = None) -> list[Path]:
    """Writes the keys that are due and removes long-expired ones; returns the files written."""
    if not 0 < 2 * overlap < lifetime:
        raise EdgeConfigError("key_overlap_secs must be positive and under half of key_lifetime_secs")
    now = int(time.time()) if now is None else now
    windows = key_windows(keys_dir)
    for w in windows:
        if w.active_until < now - overlap:
            w.path.unlink(missing_ok=True)
    live = [w for w in windows if w.active_until >= now]
    written = []
    if not any(w.active_from <= now <= w.active_until for w in live):
        written.append(write_key_file(keys_dir, _next_id(live), kem, now - 1, now - 1 + lifetime))
        live = key_windows(keys_dir)
        live = [w for w in live if w.active_until >= now]
    newest = max(live, key=lambda w: w.active_until)
    if newest.active_until - now <= lifetime // 2:
        start = newest.active_until - overlap
        written.append(write_key_file(keys_dir, _next_id(live), kem, start, start + lifetime))
    return written


def _next_id(live: list[KeyWindow]) -> int:
    used = {w.key_id for w in live}
    last = max(live, key=lambda w: w.active_until).key_id if live else 0
    for step in range(1, 257):
        candidate = (last + step) % 256
        if candidate not in used:
            return candidate
    raise EdgeConfigError("all 256 key ids are in use")


def load(path: str | Path | None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The gateway's settings (``[gateway]`` in docs/configuration.md) from ``path`` (defaults when
    ``None``) and ``env`` (default: the process environment); an empty ``keys_dir`` becomes
    ``<home>/gateway/keys``."""
    cfg = role_config(ROLE, path, env)
    merged = dict(cfg.values)
    merged["keys_dir"] = merged["keys_dir"] or str(cfg.home / cfg.label / "keys")
    return merged


def main(config: str | Path | None) -> int:
    merged = load(config)
    managed = bool(merged["manage_keys"])
    lifetime, overlap = int(merged["key_lifetime_secs"]), int(merged["key_overlap_secs"])

    def tick() -> None:
        rotate(merged["keys_dir"], int(merged["kem"]), lifetime, overlap)

    if managed:
        tick()
    server_settings = {k: v for k, v in merged.items() if k not in PYTHON_ONLY}
    return RoleProcess(ROLE, server_settings, tick if managed else None).run()
