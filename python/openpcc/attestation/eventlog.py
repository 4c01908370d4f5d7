"""TCG (UEFI measured boot) event logs: parse, replay per PCR bank, verify against a quote.

The raw log is parsed and replayed here, on the verifier, and the data of every event whose data
is the measured content (separators, EFI variables, EFI actions, GRUB command lines ...) is hashed
and compared with its digest: the node's own parse is never trusted.
"""

from __future__ import annotations

import json
from typing import Any

from openpcc._openpcc import eventlog as _eventlog
from openpcc.attestation.verdict import Verdict

__all__ = ["parse_event_log", "replay", "verify_event_log"]


def verify_event_log(log: bytes, *, expected_pcrs: dict[str, dict[int, bytes]] | None = None) -> Verdict:
    """Parses and replays ``log``, hashes event data, and compares with ``expected_pcrs``.

    ``expected_pcrs`` maps a bank name (``sha1``, ``sha256``, ``sha384``, ``sha512``) to the
    PCR values a quote attests, by index. The verdict's claims hold ``pcrs`` (replayed values,
    hex, keyed by bank name then index as a string), ``format`` and an ``events`` summary
    (kernel command line, Secure Boot state, boot applications, data-check counts).
    Raises ``UnsupportedError`` for an unknown bank name; bad logs give a failed check.
    """
    return _eventlog.verify_event_log(bytes(log), expected_pcrs)


def parse_event_log(log: bytes) -> list[dict[str, Any]]:
    """Every record of ``log``, header included, as dicts.

    Keys: ``index``, ``offset``, ``pcr``, ``type``, ``type_name``, ``digests`` (bank name →
    hex), ``data`` (hex), ``data_check`` (``match``, ``match-variable-contents``,
    ``match-grub-string``, ``mismatch``, ``advisory-mismatch`` or ``not-applicable``) and
    ``decoded`` (``efi_variable``, ``image_load``, ``separator``, ``startup_locality``, ``text``
    or ``None``). Raises ``EvidenceFormatError`` when the log does not parse.
    """
    events: list[dict[str, Any]] = json.loads(_eventlog.parse_event_log(bytes(log)))
    return events


def replay(log: bytes) -> dict[str, dict[int, bytes]]:
    """Replayed PCR values: bank name → PCR index → value. Raises ``EvidenceFormatError``."""
    return _eventlog.replay(bytes(log))
