"""The pieces of openpcc.transparency.stack that need no running log: identity policy settings, the
statement content made from the gateway's key files and a node's policy, and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpcc import ohttp
from openpcc.exceptions import StatementError, TrustRootError
from openpcc.services.gateway import write_key_file
from openpcc.transparency import stack
from openpcc.transparency.rotation import parse_key_rotation_periods
from openpcc.transparency.statements import image_manifest, image_manifest_statement

REPO = Path(__file__).resolve().parents[2]


def test_identity_policy_setting_round_trips_and_matches_in_full() -> None:
    policy = stack.parse_identity_policy(stack.identity_policy_setting("ops@example.org", "https://idp.example"))
    assert policy.identities[0].matches("https://idp.example", "ops@example.org")
    assert not policy.identities[0].matches("https://idp.example", "ops@example.org.evil")
    regex = stack.parse_identity_policy('[{"issuer": "https://idp.example", "subject_regex": "ops-[0-9]+@example\\\\.org"}]')
    assert regex.identities[0].matches("https://idp.example", "ops-7@example.org")
    assert not regex.identities[0].matches("https://idp.example", "ops-7@exampleXorg")


@pytest.mark.parametrize(
    "text",
    ["", "{}", "[]", "[1]", '[{"issuer": "x"}]', '[{"issuer": "x", "subject": "y", "extra": "z"}]',
     '[{"issuer": "x", "subject": 3}]', '[{"issuer": "x", "subject_regex": "("}]'],
)
def test_bad_identity_policy_settings_are_refused(text: str) -> None:
    with pytest.raises(TrustRootError):
        stack.parse_identity_policy(text)


def test_gateway_key_material_holds_the_live_keys_and_their_periods(tmp_path: Path) -> None:
    write_key_file(tmp_path, 1, ohttp.X25519_KEM, 1000, 2000, bytes(32))
    write_key_file(tmp_path, 2, ohttp.X25519_KEM, 1900, 3000, bytes(range(32)))
    write_key_file(tmp_path, 9, ohttp.X25519_KEM, 100, 500, bytes(32))  # ended: not published
    configs, periods = stack.gateway_key_material(tmp_path, 1500)
    assert [c.key_id for c in ohttp.decode_key_configs(configs)] == [1, 2]
    parsed = parse_key_rotation_periods(periods)
    assert [(p.key_id, int(p.active_from.timestamp()), int(p.active_until.timestamp())) for p in parsed] == [
        (1, 1000, 2000), (2, 1900, 3000)
    ]
    with pytest.raises(StatementError, match="no live gateway key"):
        stack.gateway_key_material(tmp_path, 5000)


def test_a_gateway_key_file_with_a_bad_seed_is_refused(tmp_path: Path) -> None:
    path = write_key_file(tmp_path, 1, ohttp.X25519_KEM, 1000, 2000, bytes(32))
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "seed": "zz"}))
    with pytest.raises(StatementError, match="unusable"):
        stack.gateway_key_material(tmp_path, 1500)


def test_node_image_manifest_pins_the_policy_and_model() -> None:
    policy = (REPO / "policies" / "dev.toml").read_text()
    manifest = stack.node_image_manifest(policy_toml=policy, model="m", engine="llama", model_sha256="ab" * 32)
    parsed = image_manifest(image_manifest_statement(manifest))
    image = stack.NodeImage.from_manifest(parsed)
    assert image.attestation_policy == policy and image.model_sha256 == "ab" * 32
    assert image.tpm_pcrs == {0: ("00" * 32,), 7: ("00" * 32,)}
    # The artifact id names the pinned values, so the statement's subject digest covers them.
    other = stack.node_image_manifest(policy_toml=policy, model="m2", engine="llama", model_sha256="ab" * 32)
    assert json.loads(other)["artifact_id"] != parsed["artifact_id"]
    with pytest.raises(StatementError, match="not valid TOML"):
        stack.node_image_manifest(policy_toml="[[[", model="m", engine="e")


def test_currency_jwk_has_the_reference_form() -> None:
    from openpcc.credits import public_key_from_jwk
    from openpcc.transparency import LOCAL_DEV_IDENTITY_POLICY, StatementVerifier
    from support.vectors import vector_path

    # The reference's dev currency statement holds exactly this form of its key.
    verifier = StatementVerifier(vector_path("sigstore", "trusted-roots/staging-trusted_root.json"), LOCAL_DEV_IDENTITY_POLICY)
    bundle = vector_path("sigstore", "reference-dev-bundles/currency-public-key.sigstore.pb").read_bytes()
    reference = verifier.currency_jwk(bundle)
    assert stack.currency_jwk(public_key_from_jwk(json.loads(reference))) == reference


def test_client_trust_is_off_without_a_log_and_complete_with_one(tmp_path: Path) -> None:
    assert stack.ClientTrust.from_settings({"log_url": ""}, tmp_path) is None
    with pytest.raises(TrustRootError, match="log_key, trust_root, identity_policy"):
        stack.ClientTrust.from_settings({"log_url": "http://127.0.0.1:3900"}, tmp_path)


def test_a_trusted_root_is_described_for_the_report(tmp_path: Path) -> None:
    profile = stack.load_or_create_profile(tmp_path / "profile", datetime.now(UTC))
    assert "local development root" in stack.describe_trust_root(tmp_path / "profile" / "trusted_root.json")
    assert stack.load_or_create_profile(tmp_path / "profile", datetime.now(UTC)).name == profile.name
    from support.vectors import vector_path

    described = stack.describe_trust_root(vector_path("sigstore", "trusted-roots/staging-trusted_root.json"))
    assert "local development root" not in described and "sigstage" in described
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(TrustRootError):
        stack.describe_trust_root(tmp_path / "bad.json")
