"""The reference's signed statements (spec §7, §13.1) verify offline against the trust roots they
were made with, give the key configuration of spec §13.3, and tampering, a wrong identity or an
expired rotation period are refused with typed errors."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpcc.exceptions import (
    BundleFormatError,
    BundleVerificationError,
    IdentityMismatchError,
    KeyRotationError,
    StatementError,
    TransparencyError,
)
from openpcc.ohttp import GatewayKey, encode_key_configs
from openpcc.transparency import (
    LOCAL_DEV_IDENTITY_POLICY,
    Bundle,
    Identity,
    IdentityPolicy,
    PredicateType,
    StatementVerifier,
    _protobuf,
    load_trusted_root,
)

from tests.support.vectors import vector_path

TOPIC = "sigstore"
DEV_SEED = bytes.fromhex("0f4eda2e6c806018fb1082a6b0d8dc30c3aee556b41ac47cda7db81a57985997")
ACTIVE_FROM = datetime(2025, 9, 18, 18, 0, 13, 132674, tzinfo=UTC)
ACTIVE_UNTIL = datetime(2026, 3, 18, 18, 0, 13, 132674, tzinfo=UTC)
INSIDE_PERIOD = datetime(2026, 1, 1, tzinfo=UTC)
CURRENCY_JWK = (
    b'{"kty":"RSA","use":"sig","kid":"0","n":"4b3FO0vEQ2YcQDVrAW1AikkuFqBj_7Fv4cC20RsHe_etGIhXcNIr'
    b"ijV9qYcqxoBuZno11dEMEZGhEknSnDtNy0EkuMmg18w-GdjxceiKJNNtmzJZs-EM9KbUABn3gCkfOUbIPVYiboHK5XU2W5X9"
    b'AcF7XtMLHZpTxeMDDuUUTHU","e":"AQAB"}'
)
GITHUB = "https://token.actions.githubusercontent.com"
GOOGLE = "https://accounts.google.com"
GOOGLE_SIGNER = "sigstore-signer@sigstore-test-461110.iam.gserviceaccount.com"


def _read(name: str) -> bytes:
    return vector_path(TOPIC, name).read_bytes()


def _root(instance: str) -> Path:
    return vector_path(TOPIC, f"trusted-roots/{instance}-trusted_root.json")


@pytest.fixture(scope="module")
def staging() -> StatementVerifier:
    return StatementVerifier(_root("staging"), LOCAL_DEV_IDENTITY_POLICY)


@pytest.fixture(scope="module")
def ohttp_bundle() -> bytes:
    return _read("reference-dev-bundles/ohttp-key-configs.sigstore.pb")


@pytest.fixture(scope="module")
def currency_bundle() -> bytes:
    return _read("reference-dev-bundles/currency-public-key.sigstore.pb")


def _txtar(name: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    current = None
    for line in _read(f"reference-testdata/{name}").decode().splitlines():
        if line.startswith("-- ") and line.endswith(" --"):
            current = line[3:-3]
            sections[current] = ""
        elif current is not None:
            sections[current] += line.strip()
    return sections


# --- the dev bundles -------------------------------------------------------------


def test_ohttp_keys_bundle_verifies_on_staging_and_gives_the_seeded_key(
    staging: StatementVerifier, ohttp_bundle: bytes
) -> None:
    keys = staging.ohttp_keys(ohttp_bundle, INSIDE_PERIOD)
    expected = GatewayKey.from_seed(1, 0x0030, DEV_SEED, [(1, 1)]).key_config
    assert keys.key_config == expected
    assert keys.key_configs == encode_key_configs([expected])
    assert len(keys.key_configs) == 1227 and keys.key_configs[:5] == bytes.fromhex("04c9010030")
    # spec §13.3: the X25519 half and the start of the Kyber768 half of the public key.
    assert (
        keys.key_config.public_key[:32].hex()
        == "43f39b8b1a493650689ae718f0d2630b3cf5b63c660c6fcb5c49686d646e232d"
    )
    assert keys.key_config.public_key[32:48].hex() == "ede001b083470ba169750cae7e097989"
    assert keys.active_period.key_id == 1
    assert (keys.active_period.active_from, keys.active_period.active_until) == (
        ACTIVE_FROM,
        ACTIVE_UNTIL,
    )
    signed = staging.verify_statement(ohttp_bundle)
    assert (signed.issuer, signed.subject) == (
        GITHUB,
        "https://github.com/confidentsecurity/T/.github/workflows/deploy-pr.yml@refs/pull/1625/merge",
    )
    assert (
        datetime(2025, 9, 18, 20, 55, 42, tzinfo=UTC)
        <= signed.integrated_time
        <= datetime(2025, 9, 18, 21, 5, 42, tzinfo=UTC)
    )


def test_the_rotation_period_is_checked_at_the_given_time(
    staging: StatementVerifier, ohttp_bundle: bytes
) -> None:
    # Active when active_from < t <= active_until (keyrotation/period.go).
    assert staging.ohttp_keys(ohttp_bundle, ACTIVE_UNTIL).active_period.key_id == 1
    for outside in (
        ACTIVE_UNTIL + timedelta(microseconds=1),
        ACTIVE_FROM,
        datetime(2026, 3, 19, tzinfo=UTC),
    ):
        with pytest.raises(KeyRotationError, match="no OHTTP key rotation period is active"):
            staging.ohttp_keys(ohttp_bundle, outside)
    with pytest.raises(KeyRotationError, match="timezone-aware"):
        staging.ohttp_keys(ohttp_bundle, datetime(2026, 1, 1))


def test_currency_bundle_verifies_and_gives_the_test_jwk(
    staging: StatementVerifier, currency_bundle: bytes
) -> None:
    assert staging.currency_jwk(currency_bundle) == CURRENCY_JWK
    signed = staging.verify_statement(currency_bundle, PredicateType.PUBLIC_KEY)
    assert (signed.issuer, signed.subject) == (GOOGLE, GOOGLE_SIGNER)


def test_production_root_rejects_staging_bundles(
    ohttp_bundle: bytes, currency_bundle: bytes
) -> None:
    production = StatementVerifier(_root("production"), LOCAL_DEV_IDENTITY_POLICY)
    for bundle in (ohttp_bundle, currency_bundle):
        with pytest.raises(BundleVerificationError):
            production.verify_statement(bundle)


def test_wrong_predicate_type_is_refused(
    staging: StatementVerifier, currency_bundle: bytes
) -> None:
    with pytest.raises(StatementError, match="predicate type"):
        staging.ohttp_keys(currency_bundle, INSIDE_PERIOD)


# --- identity policies -----------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        # Another workflow of the same repository.
        IdentityPolicy(
            (
                Identity(
                    issuer=GITHUB,
                    subject_regex=r"https://github\.com/confidentsecurity/T/\.github/workflows/release\.yml@.+",
                ),
            )
        ),
        # The right subject under the wrong issuer (the reference's alternation would allow it).
        IdentityPolicy(
            (
                Identity(
                    issuer=GOOGLE,
                    subject_regex=r"https://github\.com/confidentsecurity/T/\.github/workflows/.+",
                ),
            )
        ),
        # A prefix of the subject: full-match semantics refuse what an unanchored search accepts.
        IdentityPolicy(
            (
                Identity(
                    issuer=GITHUB,
                    subject_regex=r"https://github\.com/confidentsecurity/T/\.github/workflows/deploy-pr\.yml",
                ),
            )
        ),
        # An unescaped dot would match any character; an exact issuer with a different host.
        IdentityPolicy(
            (Identity(issuer="https://token.actions.githubusercontent.co", subject_regex=r".+"),)
        ),
    ],
)
def test_wrong_identity_is_refused(policy: IdentityPolicy, ohttp_bundle: bytes) -> None:
    verifier = StatementVerifier(_root("staging"), policy)
    with pytest.raises(IdentityMismatchError):
        verifier.verify_statement(ohttp_bundle)


def test_policy_with_both_exact_and_regex_is_refused() -> None:
    with pytest.raises(TransparencyError):
        Identity(issuer=GITHUB, issuer_regex=".*", subject="x")
    with pytest.raises(TransparencyError):
        Identity(issuer=GITHUB, subject_regex="(")


# --- tampering -------------------------------------------------------------------


def _document(bundle: bytes) -> dict:
    return _protobuf.decode(bundle, _protobuf.BUNDLE)


def _b64_flip(value: str, offset: int = 10) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[offset % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _tamper_payload(doc: dict) -> None:
    statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    statement["predicate"]["keyRotationPeriods"] = base64.b64encode(
        b'[{"active_from":"2025-09-18T18:00:13.132674Z","active_until":"2099-03-18T18:00:13.132674Z","key_id":1}]'
    ).decode()
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()


TAMPERINGS = {
    "payload": _tamper_payload,
    "signature": lambda doc: doc["dsseEnvelope"]["signatures"][0].update(
        sig=_b64_flip(doc["dsseEnvelope"]["signatures"][0]["sig"], 20)
    ),
    "certificate": lambda doc: doc["verificationMaterial"]["certificate"].update(
        rawBytes=_b64_flip(doc["verificationMaterial"]["certificate"]["rawBytes"], 400)
    ),
    "log-body": lambda doc: doc["verificationMaterial"]["tlogEntries"][0].update(
        canonicalizedBody=_b64_flip(
            doc["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"], 60
        )
    ),
    "integrated-time": lambda doc: doc["verificationMaterial"]["tlogEntries"][0].update(
        integratedTime=str(int(doc["verificationMaterial"]["tlogEntries"][0]["integratedTime"]) + 1)
    ),
    "inclusion-proof": lambda doc: doc["verificationMaterial"]["tlogEntries"][0][
        "inclusionProof"
    ].update(
        rootHash=_b64_flip(
            doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["rootHash"], 3
        )
    ),
}


@pytest.mark.parametrize("where", sorted(TAMPERINGS))
def test_tampered_bundles_are_refused(
    where: str, staging: StatementVerifier, ohttp_bundle: bytes
) -> None:
    doc = _document(ohttp_bundle)
    TAMPERINGS[where](doc)
    with pytest.raises(BundleVerificationError):
        staging.ohttp_keys(json.dumps(doc).encode(), INSIDE_PERIOD)


def test_subject_digest_mismatch_is_refused_even_if_signed(ohttp_bundle: bytes) -> None:
    from openpcc.transparency.statements import OHTTP_KEYS_FIELD, Statement, predicate_data

    statement = Statement.from_json(
        base64.b64decode(_document(ohttp_bundle)["dsseEnvelope"]["payload"])
    )
    statement.predicate["ohttpKeys"] = base64.b64encode(b"\x00" * 10).decode()
    with pytest.raises(StatementError, match="does not match the digest"):
        predicate_data(statement, OHTTP_KEYS_FIELD)


@pytest.mark.parametrize("cut", [1, 2, 50, 2000, 9000])
def test_truncated_protobuf_is_a_format_error(cut: int, ohttp_bundle: bytes) -> None:
    with pytest.raises(BundleFormatError):
        Bundle.from_bytes(ohttp_bundle[:cut])


def test_unknown_fields_and_media_types_are_format_errors(ohttp_bundle: bytes) -> None:
    with pytest.raises(BundleFormatError, match="unknown protobuf field"):
        Bundle.from_bytes(ohttp_bundle + b"\x48\x01")  # field 9, varint 1
    doc = _document(ohttp_bundle)
    doc["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.9+json"
    with pytest.raises(BundleFormatError, match="media type"):
        Bundle.from_bytes(json.dumps(doc).encode())
    with pytest.raises(BundleFormatError):
        Bundle.from_bytes(b"{not json")


def test_protobuf_and_json_forms_verify_alike(
    staging: StatementVerifier, ohttp_bundle: bytes
) -> None:
    as_json = json.dumps(_document(ohttp_bundle)).encode()
    assert (
        staging.verify_statement(as_json).statement
        == staging.verify_statement(ohttp_bundle).statement
    )


def test_cache_returns_the_same_verified_statement(ohttp_bundle: bytes) -> None:
    verifier = StatementVerifier(
        load_trusted_root(_root("staging")), LOCAL_DEV_IDENTITY_POLICY, cache_size=1
    )
    first = verifier.verify_statement(ohttp_bundle)
    assert verifier.verify_statement(ohttp_bundle) is first
    assert first.bundle_sha256 == hashlib.sha256(ohttp_bundle).digest()


# --- the reference's transparency/testdata ---------------------------------------

GOOGLE_ONLY = IdentityPolicy((Identity(issuer=GOOGLE, subject=GOOGLE_SIGNER),))


def test_reference_hash_bundles_verify_over_their_messages() -> None:
    verifier = StatementVerifier(_root("staging"), GOOGLE_ONLY)
    bundles = _txtar("hash-bundles.txt")
    assert len(bundles) >= 4
    for name, text in bundles.items():
        bundle = Bundle.from_base64(text)
        assert not bundle.is_dsse
        message = b"hello mars!" if "mars" in name else b"hello world!"
        assert verifier.verify_artifact(bundle, message) == (GOOGLE, GOOGLE_SIGNER)
        assert verifier.verify_artifact(
            bundle, hashlib.sha256(message).digest(), prehashed=True
        ) == (GOOGLE, GOOGLE_SIGNER)
        with pytest.raises(BundleVerificationError):
            verifier.verify_artifact(bundle, message + b" ")


def test_reference_statement_bundles_verify_and_their_predicates_match() -> None:
    verifier = StatementVerifier(_root("staging"), GOOGLE_ONLY)
    bundles = _txtar("statement-bundles.txt")
    assert len(bundles) >= 5
    for text in bundles.values():
        statement = verifier.verify_statement(base64.b64decode(text)).statement
        for subject in statement.subjects:
            key = "original" + subject.name.capitalize()
            assert (
                hashlib.sha256(base64.b64decode(statement.predicate[key])).digest()
                == subject.sha256
            )


def test_a_signed_key_absent_from_the_log_is_refused(
    staging: StatementVerifier, ohttp_bundle: bytes, currency_bundle: bytes, tmp_path: Path
) -> None:
    from openpcc.exceptions import EntryNotLoggedError
    from openpcc.transparency import LoggedStatementVerifier
    from openpcc.transparency.note import Signer
    from openpcc.transparency.tlog import DirectoryFetch, LogClient, LogTrust, TransparencyLog

    log = TransparencyLog(tmp_path / "log", Signer.generate("log.example/openpcc"))
    index = log.append(currency_bundle)
    log.publish()
    client = LogClient(
        LogTrust(log.signer.verifier), DirectoryFetch(log.directory), tmp_path / "seen"
    )
    client.update()
    logged = LoggedStatementVerifier(staging, client)
    assert logged.currency_jwk(currency_bundle, index=index) == CURRENCY_JWK
    # Validly signed, but never published to the log: a key shown only to this client.
    with pytest.raises(EntryNotLoggedError):
        logged.ohttp_keys(ohttp_bundle, INSIDE_PERIOD)
