"""OHTTP key rotation periods (spec §2.3, §7.1): which key config a client may use, and when.

A period is active at time ``t`` when ``active_from < t <= active_until`` (the reference's
``keyrotation/period.go``). Of the active periods the one with the latest ``active_from`` wins,
and its ``key_id`` names the key config to use. The time is always an argument: nothing here reads
the clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from openpcc.exceptions import KeyRotationError, StatementError

# RFC 3339 with up to nine fractional digits, as Go's time.RFC3339Nano writes it.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)


@dataclass(frozen=True, order=True)
class KeyRotationPeriod:
    """One key's active window. Times are timezone-aware UTC; sub-microsecond digits are dropped."""

    active_from: datetime
    active_until: datetime
    key_id: int

    def is_active(self, at: datetime) -> bool:
        return self.active_from < _aware(at) <= self.active_until

    def to_json_object(self) -> dict[str, object]:
        return {
            "active_from": format_rfc3339nano(self.active_from),
            "active_until": format_rfc3339nano(self.active_until),
            "key_id": self.key_id,
        }


def parse_key_rotation_periods(data: bytes) -> list[KeyRotationPeriod]:
    """Parse the reference's ``[{"active_from", "active_until", "key_id"}]`` JSON."""
    try:
        items = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StatementError("key rotation periods are not valid JSON") from exc
    if not isinstance(items, list) or not items:
        raise StatementError("key rotation periods must be a non-empty JSON array")
    periods = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"active_from", "active_until", "key_id"}:
            raise StatementError(
                "a key rotation period needs exactly active_from, active_until, key_id"
            )
        key_id = item["key_id"]
        if type(key_id) is not int or not 0 <= key_id <= 255:
            raise StatementError("a key rotation period's key_id must be an integer 0..255")
        period = KeyRotationPeriod(
            parse_rfc3339(item["active_from"]), parse_rfc3339(item["active_until"]), key_id
        )
        if period.active_until <= period.active_from:
            raise StatementError(f"key rotation period for key {key_id} ends before it starts")
        periods.append(period)
    return periods


def encode_key_rotation_periods(periods: Sequence[KeyRotationPeriod]) -> bytes:
    """The JSON the reference signs (Go ``encoding/json`` field order, no spaces)."""
    return json.dumps([p.to_json_object() for p in periods], separators=(",", ":")).encode()


def select_active_period(periods: Sequence[KeyRotationPeriod], at: datetime) -> KeyRotationPeriod:
    """The active period with the latest ``active_from``; ``KeyRotationError`` if none is active."""
    active = [p for p in periods if p.is_active(at)]
    if not active:
        windows = ", ".join(
            f"key {p.key_id}: {format_rfc3339nano(p.active_from)}..{format_rfc3339nano(p.active_until)}"
            for p in periods[:8]
        )
        raise KeyRotationError(
            f"no OHTTP key rotation period is active at {format_rfc3339nano(_aware(at))} ({windows})"
        )
    return max(active, key=lambda p: p.active_from)


def parse_rfc3339(value: object) -> datetime:
    if not isinstance(value, str):
        raise StatementError("a timestamp must be an RFC 3339 string")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise StatementError(f"not an RFC 3339 timestamp: {value[:40]!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0").ljust(9, "0")[:6])
    try:
        stamp = datetime.fromisoformat(
            f"{year}-{month}-{day}T{hour}:{minute}:{second}.{micros:06d}"
            + ("+00:00" if zone == "Z" else zone)
        )
    except ValueError as exc:
        raise StatementError(f"not a valid date: {value[:40]!r}") from exc
    return stamp.astimezone(UTC)


def format_rfc3339nano(at: datetime) -> str:
    """Go's ``time.RFC3339Nano`` for a UTC time: trailing fractional zeros trimmed, ``Z`` suffix."""
    at = _aware(at).astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if at.microsecond:
        text += "." + f"{at.microsecond:06d}".rstrip("0")
    return text + "Z"


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise KeyRotationError("a verification time must be timezone-aware")
    return at
