"""Key rotation mid-run with no failed request, the next key published before it is active, and
two gateway replicas sharing one key directory (one writes, both read and reload)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from support import edge

from .conftest import gateway_config, relay_config

BANK = "confsec-bank.invalid"
LIFETIME, OVERLAP = 8, 3
RUN_SECONDS = 13.0


def test_rotation_without_failed_requests(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    keys_dir = tmp_path / "keys"
    with edge.upstream(state) as up:
        writer = gateway_config(tmp_path, up.url, keys_dir, manage_keys=True, kem=32,
                                key_lifetime_secs=LIFETIME, key_overlap_secs=OVERLAP)
        with edge.role("gateway", writer) as gw:
            reader_dir = tmp_path / "replica"
            reader_dir.mkdir()
            reader = gateway_config(reader_dir, up.url, keys_dir, manage_keys=False)
            with edge.role("gateway", reader) as replica, edge.role("relay", relay_config(tmp_path, gw.url)) as relay:
                used: set[int] = set()
                announced_early = False
                statuses: list[int] = []
                deadline = time.monotonic() + RUN_SECONDS
                i = 0
                while time.monotonic() < deadline and i < 2000:
                    i += 1
                    now = int(time.time())
                    periods = json.loads(edge.get(gw.url, "/key-rotation-periods")[2])
                    announced_early |= any(p["active_from"] > now for p in periods)
                    config = edge.key_config(gw.url)
                    used.add(config.key_id)
                    target = relay.url if i % 2 else replica.url
                    reply = edge.send_plain(target, config, edge.inner_request(BANK, "/balance", b"r"))
                    statuses.append(reply.status)
                    time.sleep(0.05)
    assert statuses and all(s == 200 for s in statuses), [s for s in statuses if s != 200][:5]
    assert len(used) >= 2, used
    assert announced_early, "the next key must be published before it becomes active"
