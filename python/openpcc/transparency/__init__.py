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

from __future__ import annotations

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
from openpcc.transparency.bundle import BUNDLE_MEDIA_TYPES, IN_TOTO_PAYLOAD_TYPE, Bundle
from openpcc.transparency.note import Checkpoint, SignedCheckpoint, Signer, Verifier
from openpcc.transparency.policy import LOCAL_DEV_IDENTITY_POLICY, Identity, IdentityPolicy
from openpcc.transparency.rotation import (
    KeyRotationPeriod,
    encode_key_rotation_periods,
    parse_key_rotation_periods,
    select_active_period,
)
from openpcc.transparency.statements import PredicateType, Statement, Subject
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
