"""Transparency: statement-bundle verification and inclusion-proof verification per second.

Groups (benches/ratios.py prints them as one table):

* ``transparency-bundle-verify``: the reference's ohttp-keys dev bundle checked end to end against
  the staging trusted root and the dev identity policy. ``openpcc`` parses the protobuf bundle and
  verifies it with no cache (cold); ``openpcc-cached`` is the same verifier seeing the same bundle
  again; the peer ``sigstore`` is the ``sigstore`` library alone (``Bundle.from_json`` of the same
  bundle in JSON form, which is all it reads, and ``Verifier.verify_dsse`` with an exact identity).
* ``transparency-inclusion-verify``: the Rekor inclusion proof inside that bundle, checked by
  ``openpcc.transparency.merkle.verify_inclusion`` against ``sigstore``'s own Merkle check.
* ``transparency-log-inclusion``: proving an entry of a 4096-entry tlog-tiles log from its tiles
  (read from disk and recomputed: ``openpcc``), and with the tiles already cached
  (``openpcc-cached``); and checking a ready-made RFC 9162 proof alone (``openpcc-proof-only``). No Python peer serves tiles.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sigstore._internal.merkle import verify_merkle_inclusion
from sigstore.models import Bundle as SigstoreBundle
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity as SigstoreIdentity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpcc.transparency import LOCAL_DEV_IDENTITY_POLICY, StatementVerifier, _protobuf, merkle
from openpcc.transparency.note import Signer
from openpcc.transparency.tlog import (
    DirectoryFetch,
    LogClient,
    LogTrust,
    TileHashStore,
    TransparencyLog,
)

from tests.support.vectors import vector_path

BUNDLE_GROUP = "transparency-bundle-verify"
INCLUSION_GROUP = "transparency-inclusion-verify"
LOG_GROUP = "transparency-log-inclusion"
SUBJECT = (
    "https://github.com/confidentsecurity/T/.github/workflows/deploy-pr.yml@refs/pull/1625/merge"
)


@pytest.fixture(scope="module")
def bundle_bytes() -> bytes:
    return vector_path(
        "sigstore", "reference-dev-bundles/ohttp-key-configs.sigstore.pb"
    ).read_bytes()


@pytest.fixture(scope="module")
def root_path() -> Path:
    return vector_path("sigstore", "trusted-roots/staging-trusted_root.json")


def test_bundle_openpcc_cold(
    paired: Callable[[str, str], Any], bundle_bytes: bytes, root_path: Path
) -> None:
    verifier = StatementVerifier(root_path, LOCAL_DEV_IDENTITY_POLICY, cache_size=0)
    signed = paired(BUNDLE_GROUP, "openpcc")(verifier.verify_statement, bundle_bytes)
    assert signed.subject == SUBJECT


def test_bundle_openpcc_cached(
    paired: Callable[[str, str], Any], bundle_bytes: bytes, root_path: Path
) -> None:
    verifier = StatementVerifier(root_path, LOCAL_DEV_IDENTITY_POLICY)
    verifier.verify_statement(bundle_bytes)
    signed = paired(BUNDLE_GROUP, "openpcc-cached")(verifier.verify_statement, bundle_bytes)
    assert signed.subject == SUBJECT


def test_bundle_sigstore(
    paired: Callable[[str, str], Any], bundle_bytes: bytes, root_path: Path
) -> None:
    as_json = json.dumps(_protobuf.decode(bundle_bytes, _protobuf.BUNDLE))
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root_path)))
    policy = SigstoreIdentity(
        identity=SUBJECT, issuer="https://token.actions.githubusercontent.com"
    )

    def verify() -> bytes:
        _, payload = verifier.verify_dsse(SigstoreBundle.from_json(as_json), policy)
        return payload

    assert paired(BUNDLE_GROUP, "sigstore")(verify).startswith(b'{"_type"')


def _rekor_proof(bundle_bytes: bytes) -> tuple[SigstoreBundle, int, int, bytes, list[bytes], bytes]:
    document = _protobuf.decode(bundle_bytes, _protobuf.BUNDLE)
    entry = document["verificationMaterial"]["tlogEntries"][0]
    proof = entry["inclusionProof"]
    leaf = merkle.leaf_hash(base64.b64decode(entry["canonicalizedBody"]))
    hashes = [base64.b64decode(x) for x in proof["hashes"]]
    parsed = SigstoreBundle.from_json(json.dumps(document))
    return (
        parsed,
        int(proof["logIndex"]),
        int(proof["treeSize"]),
        leaf,
        hashes,
        base64.b64decode(proof["rootHash"]),
    )


def test_inclusion_openpcc(paired: Callable[[str, str], Any], bundle_bytes: bytes) -> None:
    _, index, size, leaf, hashes, root = _rekor_proof(bundle_bytes)
    paired(INCLUSION_GROUP, "openpcc")(merkle.verify_inclusion, index, size, leaf, hashes, root)


def test_inclusion_sigstore(paired: Callable[[str, str], Any], bundle_bytes: bytes) -> None:
    parsed = _rekor_proof(bundle_bytes)[0]
    paired(INCLUSION_GROUP, "sigstore")(verify_merkle_inclusion, parsed.log_entry)


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Signer]:
    signer = Signer.generate("bench.example/log")
    log = TransparencyLog(tmp_path_factory.mktemp("log"), signer)
    for i in range(4096):
        log.append(b"statement %d" % i)
    log.publish()
    return log.directory, signer


def test_log_openpcc_cold(paired: Callable[[str, str], Any], log_dir: tuple[Path, Signer]) -> None:
    directory, signer = log_dir
    client = LogClient(LogTrust(signer.verifier), DirectoryFetch(directory))
    client.update()
    assert paired(LOG_GROUP, "openpcc")(client.require_included, b"statement 3001", 3001) == 3001


def test_log_openpcc_cached(
    paired: Callable[[str, str], Any], log_dir: tuple[Path, Signer]
) -> None:
    directory, _ = log_dir
    store = TileHashStore(DirectoryFetch(directory), 4096)
    root = merkle.subtree_hash(store, 0, 4096)
    leaf = merkle.leaf_hash(b"statement 3001")

    def prove() -> None:
        merkle.verify_inclusion(3001, 4096, leaf, merkle.inclusion_proof(store, 3001, 4096), root)

    paired(LOG_GROUP, "openpcc-cached")(prove)


def test_log_proof_only(paired: Callable[[str, str], Any], log_dir: tuple[Path, Signer]) -> None:
    directory, _ = log_dir
    store = TileHashStore(DirectoryFetch(directory), 4096)
    root = merkle.subtree_hash(store, 0, 4096)
    proof = merkle.inclusion_proof(store, 3001, 4096)
    leaf = merkle.leaf_hash(b"statement 3001")
    paired(LOG_GROUP, "openpcc-proof-only")(merkle.verify_inclusion, 3001, 4096, leaf, proof, root)
