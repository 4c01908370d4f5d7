"""The local signing profile: bundles from our own CA, CT key and log verify through the same
``StatementVerifier`` (the ``sigstore`` library) as the reference's, and are refused under another
root, another identity, or when tampered; every signed statement is in the profile's tlog-tiles log."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpcc.exceptions import BundleVerificationError, IdentityMismatchError, KeyRotationError
from openpcc.ohttp import GatewayKey, encode_key_configs
from openpcc.transparency import Identity, IdentityPolicy, KeyRotationPeriod, StatementVerifier
from openpcc.transparency.local import LocalSigstore
from openpcc.transparency.rotation import encode_key_rotation_periods
from openpcc.transparency.statements import ohttp_keys_statement, public_key_statement
from openpcc.transparency.tlog import DirectoryFetch, LogClient, LogTrust

from tests.support.vectors import vector_path

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://openpcc.localhost/oidc"
OPERATOR = "operator@openpcc.localhost"
POLICY = IdentityPolicy((Identity(issuer=ISSUER, subject=OPERATOR),))
JWK = b'{"kty":"RSA","use":"sig","kid":"0","n":"AQAB","e":"AQAB"}'


@pytest.fixture
def profile(tmp_path: Path) -> tuple[LocalSigstore, Path]:
    local = LocalSigstore.generate(
        "openpcc.localhost", str(tmp_path / "log"), NOW - timedelta(days=1)
    )
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(local.trusted_root()))
    return local, root


def test_ohttp_keys_signed_locally_verify_and_choose_the_key(
    profile: tuple[LocalSigstore, Path],
) -> None:
    local, root = profile
    key = GatewayKey.from_seed(7, 0x0020, bytes(32), [(1, 1)]).key_config
    periods = [KeyRotationPeriod(NOW - timedelta(hours=1), NOW + timedelta(days=30), 7)]
    statement = ohttp_keys_statement(
        encode_key_configs([key]), encode_key_rotation_periods(periods)
    )
    bundle = local.sign_statement(statement, identity=OPERATOR, issuer=ISSUER, at=NOW)
    verifier = StatementVerifier(root, POLICY)
    keys = verifier.ohttp_keys(bundle, NOW + timedelta(days=1))
    assert keys.key_config == key
    with pytest.raises(KeyRotationError):
        verifier.ohttp_keys(bundle, NOW + timedelta(days=31))
    signed = verifier.verify_statement(bundle)
    assert (signed.issuer, signed.subject, signed.integrated_time) == (ISSUER, OPERATOR, NOW)


def test_uri_identities_work_too(profile: tuple[LocalSigstore, Path]) -> None:
    local, root = profile
    workflow = "https://git.example/ops/deploy@refs/heads/main"
    bundle = local.sign_statement(
        public_key_statement(JWK), identity=workflow, issuer=ISSUER, at=NOW
    )
    policy = IdentityPolicy(
        (Identity(issuer=ISSUER, subject_regex=r"https://git\.example/ops/[a-z]+@refs/heads/main"),)
    )
    assert StatementVerifier(root, policy).currency_jwk(bundle) == JWK


def test_other_roots_identities_and_tampering_are_refused(
    profile: tuple[LocalSigstore, Path], tmp_path: Path
) -> None:
    local, root = profile
    bundle = local.sign_statement(
        public_key_statement(JWK), identity=OPERATOR, issuer=ISSUER, at=NOW
    )
    staging = vector_path("sigstore", "trusted-roots/staging-trusted_root.json")
    with pytest.raises(BundleVerificationError):
        StatementVerifier(staging, POLICY).verify_statement(bundle)
    other = LocalSigstore.generate(
        "openpcc.localhost", str(tmp_path / "other"), NOW - timedelta(days=1)
    )
    other_root = tmp_path / "other_root.json"
    other_root.write_text(json.dumps(other.trusted_root()))
    with pytest.raises(BundleVerificationError):
        StatementVerifier(other_root, POLICY).verify_statement(bundle)
    with pytest.raises(IdentityMismatchError):
        StatementVerifier(
            root, IdentityPolicy((Identity(issuer=ISSUER, subject="someone@else"),))
        ).verify_statement(bundle)
    document = json.loads(bundle)
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    statement["predicate"]["jwkRaw"] = base64.b64encode(
        b'{"kty":"RSA","use":"sig","n":"evil"}'
    ).decode()
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(BundleVerificationError):
        StatementVerifier(root, POLICY).verify_statement(json.dumps(document).encode())
    # The reference's staging-signed bundle is not trusted by a local root.
    reference = vector_path(
        "sigstore", "reference-dev-bundles/currency-public-key.sigstore.pb"
    ).read_bytes()
    with pytest.raises(BundleVerificationError):
        StatementVerifier(root, POLICY).verify_statement(reference)


def test_every_signed_statement_is_in_the_profiles_log(
    profile: tuple[LocalSigstore, Path], tmp_path: Path
) -> None:
    local, _ = profile
    bundles = [
        local.sign_statement(
            public_key_statement(JWK + b" " * i), identity=OPERATOR, issuer=ISSUER, at=NOW
        )
        for i in range(3)
    ]
    client = LogClient(
        LogTrust(local.log.signer.verifier), DirectoryFetch(local.log.directory), tmp_path / "seen"
    )
    assert client.update().size == 3
    for i, bundle in enumerate(bundles):
        body = base64.b64decode(
            json.loads(bundle)["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
        )
        assert client.require_included(body) == i
