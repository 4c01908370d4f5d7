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
* ``transparency-client-verify``: what a client does at start with a stack's log
  (``openpcc.transparency.stack.TransparencyClient.verify``): the checkpoint with two witness
  cosignatures and consistency with the saved one, every entry proven from the tiles, and the three
  statements (gateway keys, currency key, node image) of the local signing profile verified. ``openpcc``
  is a fresh client each time (cold), ``openpcc-cached`` the same client again; the peer ``sigstore``
  verifies the same three bundles with the ``sigstore`` library alone (no log, witness, consistency or
  statement-content checks, so it does less).
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


CLIENT_GROUP = "transparency-client-verify"


@pytest.fixture(scope="module")
def stack_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list[bytes]]:
    import time
    from datetime import UTC, datetime

    from openpcc import ohttp
    from openpcc.services.gateway import write_key_file
    from openpcc.transparency import stack, statements
    from openpcc.transparency.note import COSIGNATURE_V1, SignedCheckpoint
    from openpcc.transparency.tlog import Witness

    from tests.support.currency_key import load_test_currency_key

    root = tmp_path_factory.mktemp("stack-log")
    now = datetime.now(UTC)
    profile = stack.load_or_create_profile(root / "profile", now)
    keys = root / "keys"
    write_key_file(keys, 1, ohttp.X25519_KEM, int(now.timestamp()) - 10, int(now.timestamp()) + 3600, bytes(32))
    configs, periods = stack.gateway_key_material(keys, int(now.timestamp()))
    policy = (Path(__file__).resolve().parents[1] / "policies" / "dev.toml").read_text()
    bundles = [
        profile.sign_statement(statement, identity=stack.LOCAL_IDENTITY, issuer=stack.LOCAL_ISSUER, at=now)
        for statement in (
            statements.ohttp_keys_statement(configs, periods),
            statements.public_key_statement(stack.currency_jwk(load_test_currency_key().public_key())),
            statements.image_manifest_statement(stack.node_image_manifest(policy_toml=policy, model="m", engine="echo")),
        )
    ]
    signer = Signer.generate("bench.example/stack-log")
    log = TransparencyLog(root / "log", signer)
    for bundle in bundles:
        log.append(bundle)
    signed = log.publish()
    witness_keys = []
    for i in range(2):
        witness_signer = Signer.generate(f"bench.example/w{i}", COSIGNATURE_V1)
        witness = Witness(witness_signer, [signer.verifier], root / f"w{i}.json", lambda: int(time.time()))
        line = witness.cosign(signed.encode(), []).note.encode().decode().splitlines()[-1]
        signed = SignedCheckpoint(signed.checkpoint, signed.note.add(line))
        witness_keys.append(witness_signer.verifier.encode())
    log.write_checkpoint(signed)
    settings = {
        "log_url": str(root / "log"),
        "log_key": signer.verifier.encode(),
        "witness_keys": ",".join(witness_keys),
        "min_witnesses": 2,
        "trust_root": str(root / "profile" / "trusted_root.json"),
        "identity_policy": stack.identity_policy_setting(),
        "log_state_file": str(root / "client" / "checkpoint"),
    }
    return root, settings, bundles


def _client(settings: dict[str, Any], root: Path) -> Any:
    from openpcc.transparency import stack

    return stack.TransparencyClient(stack.ClientTrust.from_settings(settings, root))


def test_client_openpcc_cold(paired: Callable[[str, str], Any], stack_log: tuple[Path, dict[str, Any], list[bytes]]) -> None:
    from datetime import UTC, datetime

    root, settings, _ = stack_log
    at = datetime.now(UTC)
    verified = paired(CLIENT_GROUP, "openpcc")(lambda: _client(settings, root).verify(at))
    assert verified.gateway.active_period.key_id == 1


def test_client_openpcc_cached(paired: Callable[[str, str], Any], stack_log: tuple[Path, dict[str, Any], list[bytes]]) -> None:
    from datetime import UTC, datetime

    root, settings, _ = stack_log
    at = datetime.now(UTC)
    client = _client(settings, root)
    client.verify(at)
    verified = paired(CLIENT_GROUP, "openpcc-cached")(client.verify, at)
    assert verified.node_image.engine == "echo"


def test_client_sigstore(paired: Callable[[str, str], Any], stack_log: tuple[Path, dict[str, Any], list[bytes]]) -> None:
    from openpcc.transparency import stack

    _, settings, bundles = stack_log
    verifier = Verifier(trusted_root=TrustedRoot.from_file(settings["trust_root"]))
    policy = SigstoreIdentity(identity=stack.LOCAL_IDENTITY, issuer=stack.LOCAL_ISSUER)

    def verify() -> list[bytes]:
        return [verifier.verify_dsse(SigstoreBundle.from_json(b), policy)[1] for b in bundles]

    assert len(paired(CLIENT_GROUP, "sigstore")(verify)) == 3
