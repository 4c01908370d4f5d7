"""Our tlog-tiles log read by an independent implementation: golang.org/x/mod's ``sumdb/note`` opens
our checkpoint with our verifier key, and ``sumdb/tlog`` reads our tiles (C2SP paths), recomputes the
tree, and checks inclusion and consistency proofs against our signed root (harness
``tests/interop/tlog``). Without ``go`` (>= 1.26) the test skips saying so; with ``CI`` set it fails."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from openpcc.transparency.note import COSIGNATURE_V1, SignedCheckpoint, Signer
from openpcc.transparency.tlog import TransparencyLog, Witness
from support.go_interop import go_build

pytestmark = pytest.mark.interop

HARNESS_DIR = Path(__file__).resolve().parent / "tlog"
MIN_GO = (1, 26)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("tlog-harness") / "tlog-harness"
    return go_build(
        HARNESS_DIR, binary, min_version=MIN_GO, needed_for="the tlog harness (golang.org/x/mod)",
        goflags="-mod=mod", timeout=900,
    )


def _check(
    harness: Path, log: TransparencyLog, old_size: int, indexes: list[int], entries: list[bytes]
) -> dict:
    request = {
        "old_size": old_size,
        "records": [{"index": i, "data": base64.b64encode(entries[i]).decode()} for i in indexes],
    }
    out = subprocess.run(
        [str(harness), str(log.directory), log.signer.verifier.encode()],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("size", [1, 7, 256, 257, 1000, 70000])
def test_go_sumdb_reads_our_tiles_and_checkpoint(harness: Path, tmp_path: Path, size: int) -> None:
    log = TransparencyLog(tmp_path / "log", Signer.generate("log.example/openpcc"))
    entries = [b"statement %d" % i for i in range(size)]
    for entry in entries:
        log.append(entry)
    signed = log.publish()
    # Witness cosignatures (type 0x04) in the note must not disturb a verifier that does not know them.
    witness = Witness(
        Signer.generate("w.example", COSIGNATURE_V1),
        [log.signer.verifier],
        tmp_path / "w",
        lambda: 1,
    )
    log.write_checkpoint(
        SignedCheckpoint(signed.checkpoint, witness.cosign(signed.encode(), []).note)
    )
    indexes = sorted({0, size // 3, size // 2, size - 1})
    old = max(1, size // 2)
    result = _check(harness, log, old, indexes, entries)
    assert result == {
        "size": size,
        "root": base64.b64encode(signed.checkpoint.root).decode(),
        "records_ok": len(indexes),
        "consistent": True,
    }


def test_go_sumdb_rejects_a_tampered_tile(harness: Path, tmp_path: Path) -> None:
    log = TransparencyLog(tmp_path / "log", Signer.generate("log.example/openpcc"))
    entries = [b"e%d" % i for i in range(10)]
    for entry in entries:
        log.append(entry)
    log.publish()
    tile = log.directory / "tile/0/000.p/10"
    data = bytearray(tile.read_bytes())
    data[40] ^= 1
    tile.write_bytes(bytes(data))
    out = subprocess.run(
        [str(harness), str(log.directory), log.signer.verifier.encode()],
        input=json.dumps(
            {
                "old_size": 0,
                "records": [{"index": 1, "data": base64.b64encode(entries[1]).decode()}],
            }
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1 and "ProveRecord" in out.stderr
