"""The outcome of verifying evidence: every check with pass or fail and a human reason."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    """One named check (for example ``sevsnp.signature``) and its outcome."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """Every check a verifier ran and the claims it parsed.

    ``valid`` is true only when at least one check ran and none failed.
    """

    checks: tuple[Check, ...]
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def __bool__(self) -> bool:
        return self.valid

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        """Builds a verdict from the JSON the Rust verifiers emit (``valid``, ``checks``, ``claims``)."""
        raw = json.loads(text)
        checks = tuple(Check(c["name"], bool(c["ok"]), c["detail"]) for c in raw["checks"])
        return cls(checks=checks, claims=dict(raw.get("claims", {})))

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "claims": self.claims,
        }
