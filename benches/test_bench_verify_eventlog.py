"""Event-log parse + replay + event-data hashing: openpcc against a pure-Python baseline.

The baseline below does the same work as ``openpcc.attestation.eventlog.verify_event_log``:
parse both record layouts, replay every bank (StartupLocality handled), hash the data of the
event types whose data is the measured content, and compare with the expected PCRs. It is written
on ``struct`` and ``hashlib`` (OpenSSL-backed hashes), the way a Python verifier would be.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpcc.attestation.eventlog import verify_event_log

from tests.support.vectors import load_json, read_bytes

GROUP = "eventlog-verify"
LOG_FILE = "openpcc/gce_tcg_event_log.bin"  # 101 events, SHA-1/256/384

_HASHES = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}
_DATA_IS_MEASURED = {0x4, 0x5, 0x80000001, 0x80000006, 0x80000007}
_BOOT_VARIABLES = {0x80000002, 0x8000000C}
_GRUB = (b"grub_cmd: ", b"kernel_cmdline: ", b"module_cmdline: ")


def _python_parse(log: bytes) -> tuple[list[int], list[tuple[int, int, dict[int, bytes], bytes]]]:
    pcr, etype = struct.unpack_from("<II", log, 0)
    (size,) = struct.unpack_from("<I", log, 28)
    data = log[32 : 32 + size]
    if len(data) != size:
        raise ValueError("truncated header")
    events = [(pcr, etype, {4: log[8:28]}, data)]
    pos = 32 + size
    if not data.startswith(b"Spec ID Event03\0"):
        while pos < len(log):
            pcr, etype = struct.unpack_from("<II", log, pos)
            (size,) = struct.unpack_from("<I", log, pos + 28)
            data = log[pos + 32 : pos + 32 + size]
            if len(data) != size:
                raise ValueError("truncated event")
            events.append((pcr, etype, {4: log[pos + 8 : pos + 28]}, data))
            pos += 32 + size
        return [4], events
    (count,) = struct.unpack_from("<I", data, 24)
    table = dict(struct.unpack_from("<HH", data, 28 + 4 * i) for i in range(count))
    while pos < len(log):
        pcr, etype, n = struct.unpack_from("<III", log, pos)
        pos += 12
        digests = {}
        for _ in range(n):
            (alg,) = struct.unpack_from("<H", log, pos)
            digests[alg] = log[pos + 2 : pos + 2 + table[alg]]
            pos += 2 + table[alg]
        (size,) = struct.unpack_from("<I", log, pos)
        data = log[pos + 4 : pos + 4 + size]
        if len(data) != size:
            raise ValueError("truncated event")
        events.append((pcr, etype, digests, data))
        pos += 4 + size
    return [a for a in table if a in _HASHES], events


def _data_ok(etype: int, digests: dict[int, bytes], data: bytes) -> bool:
    measured = [data]
    if etype in _BOOT_VARIABLES:
        name_len, _data_len = struct.unpack_from("<QQ", data, 16)
        measured.append(data[32 + 2 * name_len :])
    elif etype == 0xD:
        prefix = next((p for p in _GRUB if data.startswith(p)), None)
        if prefix is None:
            return True
        measured = [data[len(prefix) :].rstrip(b"\0")]
    elif etype not in _DATA_IS_MEASURED:
        return True
    for candidate in measured:
        if all(hashlib.new(_HASHES[a], candidate).digest() == d for a, d in digests.items() if a in _HASHES):
            return True
    return False


def python_verify(log: bytes, expected: dict[str, dict[int, bytes]]) -> bool:
    banks, events = _python_parse(log)
    locality = 0
    for pcr, etype, _, data in events:
        if etype == 3 and pcr == 0 and data.startswith(b"StartupLocality\0"):
            locality = data[16]
    data_ok = all(_data_ok(t, d, data) for _, t, d, data in events[1:] if t != 3)
    ok = data_ok
    for alg in banks:
        name = _HASHES[alg]
        size = hashlib.new(name).digest_size
        regs: dict[int, bytes] = {}
        for pcr, etype, digests, _ in events:
            if etype == 3:
                continue
            start = bytes(size - 1) + bytes([locality if pcr == 0 else 0])
            regs[pcr] = hashlib.new(name, regs.get(pcr, start) + digests[alg]).digest()
        for index, value in expected.get(name, {}).items():
            ok &= regs.get(index) == value
    return ok


@pytest.fixture(scope="module")
def case() -> tuple[bytes, dict[str, dict[int, bytes]]]:
    entry = next(c for c in load_json("tpm", "expected.json")["eventlogs"] if c["file"] == LOG_FILE)
    expected = {b: {int(i): bytes.fromhex(v) for i, v in regs.items()} for b, regs in entry["expected_pcrs"].items()}
    return read_bytes("tpm", LOG_FILE), expected


def test_baseline_agrees(case) -> None:
    log, expected = case
    assert python_verify(log, expected)
    assert verify_event_log(log, expected_pcrs=expected).valid
    wrong = {b: {i: bytes(len(v)) for i, v in regs.items()} for b, regs in expected.items()}
    assert not python_verify(log, wrong)
    assert not verify_event_log(log, expected_pcrs=wrong).valid


@pytest.mark.benchmark(group=GROUP)
def test_openpcc_verify_event_log(benchmark, case) -> None:
    log, expected = case
    assert benchmark(lambda: verify_event_log(log, expected_pcrs=expected)).valid


@pytest.mark.benchmark(group=GROUP)
def test_python_hashlib_baseline(benchmark, case) -> None:
    log, expected = case
    assert benchmark(python_verify, log, expected)
