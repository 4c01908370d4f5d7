"""Transparency: signed statements for keys and images, verified offline, on a log anyone can audit.

* :mod:`.bundle`, :mod:`.statements`, :mod:`.policy`, :mod:`.verify`: the reference's Sigstore
  bundles holding in-toto statements (spec §7), verified with the ``sigstore`` library against a
  trusted root file and an anchored identity policy.
* :mod:`.rotation`: the OHTTP key rotation periods that choose the key a client uses (spec §2.3).
* :mod:`.merkle`, :mod:`.note`, :mod:`.tlog`: a C2SP tlog-tiles log with signed-note checkpoints,
  witness cosignatures (tlog-cosignature), and the client that refuses split views and unlogged
  entries.
* :mod:`.stack`: the wiring: an operator publishing a stack's gateway keys, currency key and node
  image with the local signing profile (:mod:`.local`), and the client verifying them from the log.

Errors are in ``openpcc.exceptions`` under ``TransparencyError``. See docs/transparency.md.
"""

# The names below load on first use (PEP 562): importing one submodule, e.g. .rotation for the client's
# key choice, must not pull in sigstore and pydantic, which only the bundle and verify modules need.
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real names, for type checkers
    from openpcc.exceptions import (
        BundleFormatError,
        BundleVerificationError,
        EntryNotLoggedError,
        IdentityMismatchError,
        KeyRotationError,
        LogProofError,
        LogStateError,
        NoteError,
        NoteVerificationError,
        SplitViewError,
        StatementError,
        TooFewWitnessesError,
        TransparencyError,
        TrustRootError,
    )
    from openpcc.transparency.bundle import (
        BUNDLE_MEDIA_TYPES,
        IN_TOTO_PAYLOAD_TYPE,
        Bundle,
    )
    from openpcc.transparency.note import (
        Checkpoint,
        SignedCheckpoint,
        Signer,
        Verifier,
    )
    from openpcc.transparency.policy import (
        LOCAL_DEV_IDENTITY_POLICY,
        Identity,
        IdentityPolicy,
    )
    from openpcc.transparency.rotation import (
        KeyRotationPeriod,
        encode_key_rotation_periods,
        parse_key_rotation_periods,
        select_active_period,
    )
    from openpcc.transparency.statements import (
        PredicateType,
        Statement,
        Subject,
    )
    from openpcc.transparency.tlog import (
        DirectoryFetch,
        LogClient,
        LogTrust,
        TransparencyLog,
        Witness,
    )
    from openpcc.transparency.verify import (
        LoggedStatementVerifier,
        OHTTPKeys,
        SignedStatement,
        StatementVerifier,
        load_trusted_root,
    )

_EXPORTS: dict[str, str] = {
    "BUNDLE_MEDIA_TYPES": "openpcc.transparency.bundle",
    "IN_TOTO_PAYLOAD_TYPE": "openpcc.transparency.bundle",
    "LOCAL_DEV_IDENTITY_POLICY": "openpcc.transparency.policy",
    "Bundle": "openpcc.transparency.bundle",
    "BundleFormatError": "openpcc.exceptions",
    "BundleVerificationError": "openpcc.exceptions",
    "Checkpoint": "openpcc.transparency.note",
    "DirectoryFetch": "openpcc.transparency.tlog",
    "EntryNotLoggedError": "openpcc.exceptions",
    "Identity": "openpcc.transparency.policy",
    "IdentityMismatchError": "openpcc.exceptions",
    "IdentityPolicy": "openpcc.transparency.policy",
    "KeyRotationError": "openpcc.exceptions",
    "KeyRotationPeriod": "openpcc.transparency.rotation",
    "LogClient": "openpcc.transparency.tlog",
    "LogProofError": "openpcc.exceptions",
    "LogStateError": "openpcc.exceptions",
    "LogTrust": "openpcc.transparency.tlog",
    "LoggedStatementVerifier": "openpcc.transparency.verify",
    "NoteError": "openpcc.exceptions",
    "NoteVerificationError": "openpcc.exceptions",
    "OHTTPKeys": "openpcc.transparency.verify",
    "PredicateType": "openpcc.transparency.statements",
    "SignedCheckpoint": "openpcc.transparency.note",
    "SignedStatement": "openpcc.transparency.verify",
    "Signer": "openpcc.transparency.note",
    "SplitViewError": "openpcc.exceptions",
    "Statement": "openpcc.transparency.statements",
    "StatementError": "openpcc.exceptions",
    "StatementVerifier": "openpcc.transparency.verify",
    "Subject": "openpcc.transparency.statements",
    "TooFewWitnessesError": "openpcc.exceptions",
    "TransparencyError": "openpcc.exceptions",
    "TransparencyLog": "openpcc.transparency.tlog",
    "TrustRootError": "openpcc.exceptions",
    "Verifier": "openpcc.transparency.note",
    "Witness": "openpcc.transparency.tlog",
    "encode_key_rotation_periods": "openpcc.transparency.rotation",
    "load_trusted_root": "openpcc.transparency.verify",
    "parse_key_rotation_periods": "openpcc.transparency.rotation",
    "select_active_period": "openpcc.transparency.rotation",
}

__all__ = [
    "BUNDLE_MEDIA_TYPES",
    "IN_TOTO_PAYLOAD_TYPE",
    "LOCAL_DEV_IDENTITY_POLICY",
    "Bundle",
    "BundleFormatError",
    "BundleVerificationError",
    "Checkpoint",
    "DirectoryFetch",
    "EntryNotLoggedError",
    "Identity",
    "IdentityMismatchError",
    "IdentityPolicy",
    "KeyRotationError",
    "KeyRotationPeriod",
    "LogClient",
    "LogProofError",
    "LogStateError",
    "LogTrust",
    "LoggedStatementVerifier",
    "NoteError",
    "NoteVerificationError",
    "OHTTPKeys",
    "PredicateType",
    "SignedCheckpoint",
    "SignedStatement",
    "Signer",
    "SplitViewError",
    "Statement",
    "StatementError",
    "StatementVerifier",
    "Subject",
    "TooFewWitnessesError",
    "TransparencyError",
    "TransparencyLog",
    "TrustRootError",
    "Verifier",
    "Witness",
    "encode_key_rotation_periods",
    "load_trusted_root",
    "parse_key_rotation_periods",
    "select_active_period",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
