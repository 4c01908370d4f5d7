"""The instant a verifier judges certificates and collateral at."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from openpcc.exceptions import EvidenceFormatError


def unix_seconds(at: datetime | None) -> int:
    """Seconds since the Unix epoch; ``None`` means now, a naive datetime is taken as UTC."""
    if at is None:
        return int(time.time())
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    seconds = int(at.timestamp())
    if seconds < 0:
        raise EvidenceFormatError("instant before 1970 is not supported")
    return seconds
