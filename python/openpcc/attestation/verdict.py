"""The outcome of verifying evidence: every check with pass or fail and a human reason.

:class:`Check` and :class:`Verdict` are implemented in the Rust core (``openpcc._openpcc.verdict``)
so a verifier returns without building one Python object per claim: ``Verdict.claims`` is built on
first access and then kept. Both are immutable, compare by value and pickle.

``Check(name, ok, detail)``
    One named check (for example ``sevsnp.signature``), whether it passed, and a human reason.

``Verdict(checks, claims=None)``
    ``checks`` is a tuple of :class:`Check` in the order they ran; ``claims`` a dict of what the
    verifier parsed. ``valid`` (also ``bool(verdict)``) is true only when at least one check ran and
    none failed; ``failures`` lists the failed checks; ``to_dict()`` gives the CLI's JSON shape;
    ``Verdict.from_json(text)`` reads that shape back.
"""

from __future__ import annotations

from openpcc._openpcc.verdict import Check, Verdict

__all__ = ["Check", "Verdict"]
