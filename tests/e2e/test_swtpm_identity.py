"""Compute-node identity on the swtpm software TPM: real TPM 2.0 commands end to end.

swtpm is installed by ``scripts/install-swtpm.sh`` when missing and we are root; otherwise the
module is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpcc.attestation import tpm as tpm_verify
from openpcc.exceptions import MalformedTPMStructureError, TPMCommandError, TPMDeviceError
from openpcc.node_identity import REFERENCE_PCRS, NodeIdentity
from openpcc.tpm import DeviceTransport, SwtpmProcess, TcpTransport, TpmClient
from openpcc.tpm.client import rek_template

from tests.support.swtpm import ensure_swtpm


@pytest.fixture(scope="module")
def swtpm() -> Iterator[SwtpmProcess]:
    ensure_swtpm()
    with SwtpmProcess() as proc:
        yield proc


@pytest.fixture
def fresh_swtpm() -> Iterator[SwtpmProcess]:
    """A TPM of its own, for tests that extend PCRs or load extra objects."""
    ensure_swtpm()
    with SwtpmProcess() as proc:
        yield proc


@pytest.fixture(scope="module")
def identity(swtpm: SwtpmProcess) -> Iterator[NodeIdentity]:
    client = TpmClient(swtpm.transport())
    node = NodeIdentity.provision(client)
    yield node
    node.close()
    client.close()


def test_identity_evidence_verifies_with_the_rust_verifiers(identity: NodeIdentity) -> None:
    nonce = os.urandom(32)
    quote = identity.quote(nonce)
    verdict = identity.verify(quote)
    assert verdict.valid, verdict.failures
    names = {c.name for c in verdict.checks}
    assert {
        "tpm.quote.signature",
        "tpm.quote.nonce",
        "tpm.quote.pcr_selection",
        "tpm.quote.pcr_digest",
        "tpm.creation.signature",
        "tpm.creation.object_name",
        "tpm.rek.attributes",
        "tpm.rek.policy",
    } <= names
    assert bytes.fromhex(verdict.claims["rek_public_key"]) == identity.rek_public_key
    assert verdict.claims["nonce"] == nonce.hex()
    # The quote is also a plain quote for the CLI's verifier.
    plain = tpm_verify.verify_quote(
        quote.attest, quote.signature, identity.ak_public, nonce=nonce, pcrs=quote.pcrs
    )
    assert plain.valid, plain.failures


def test_identity_evidence_fails_for_another_nonce_and_other_pcrs(identity: NodeIdentity) -> None:
    quote = identity.quote(b"\x01" * 32)
    stale = tpm_verify.verify_quote(
        quote.attest, quote.signature, identity.ak_public, nonce=b"\x02" * 32, pcrs=quote.pcrs
    )
    assert [c.name for c in stale.failures] == ["tpm.quote.nonce"]
    forged = dict(quote.pcrs)
    forged[12] = hashlib.sha256(b"another model").digest()
    wrong = tpm_verify.verify_quote(
        quote.attest, quote.signature, identity.ak_public, nonce=b"\x01" * 32, pcrs=forged
    )
    assert [c.name for c in wrong.failures] == ["tpm.quote.pcr_digest"]
    rek = tpm_verify.check_rek(identity.rek_public, pcrs=forged)
    assert [c.name for c in rek.failures] == ["tpm.rek.policy"]


def test_rek_public_area_is_decrypt_only_and_policy_bound(identity: NodeIdentity) -> None:
    info = tpm_verify.parse_public(identity.rek_public)
    assert set(info["attributes"]) >= {"fixedTPM", "fixedParent", "sensitiveDataOrigin", "decrypt"}
    assert not {"userWithAuth", "sign", "restricted"} & set(info["attributes"])
    assert bytes.fromhex(info["authPolicy"]) == tpm_verify.policy_pcr_digest(identity.pcr_values)


def test_policy_digest_matches_the_tpm_own_computation(identity: NodeIdentity) -> None:
    client = identity.client
    session = client.start_policy_session()
    try:
        client.policy_pcr(session, REFERENCE_PCRS)
        assert client.policy_get_digest(session) == tpm_verify.policy_pcr_digest(
            client.pcr_read(REFERENCE_PCRS)
        )
    finally:
        client.flush(session)


def test_ecdh_in_tpm_matches_software_ecdh(identity: NodeIdentity) -> None:
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    enc = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    rek = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), identity.rek_public_key)
    assert identity.ecdh(enc) == ephemeral.exchange(ec.ECDH(), rek)


def test_hpke_message_sealed_to_the_rek_opens_through_the_tpm(identity: NodeIdentity) -> None:
    """DHKEM(P-256), HKDF-SHA256, AES-128-GCM as the reference's compute requests (spec §5.4)."""
    hpke = pytest.importorskip("openpcc.hpke")
    suite = hpke.Suite(hpke.KEM.P256, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
    info = b"openpcc compute request"
    enc, sender = suite.setup_sender(identity.rek_public_key, info)
    ciphertexts = [sender.seal(b"prompt part %d" % i, b"aad") for i in range(3)]
    recipient = suite.setup_recipient_external(
        enc, identity.rek_public_key, identity.dh_function(), info
    )
    assert [recipient.open(ct, b"aad") for ct in ciphertexts] == [
        b"prompt part %d" % i for i in range(3)
    ]
    # A message sealed to another key does not open with the TPM's DH.
    _sk, other_pk = suite.generate_key_pair()
    enc2, ct2 = suite.seal(other_pk, b"not for this node", info)
    wrong = suite.setup_recipient_external(
        enc2, identity.rek_public_key, identity.dh_function(), info
    )
    with pytest.raises(hpke.OpenError):
        wrong.open(ct2)


def test_bad_enc_is_refused_before_the_tpm(identity: NodeIdentity) -> None:
    with pytest.raises(MalformedTPMStructureError):
        identity.ecdh(b"\x04" + b"\x00" * 63)


def test_extending_any_policy_pcr_stops_decryption(fresh_swtpm: SwtpmProcess) -> None:
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    enc = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    with TpmClient(fresh_swtpm.transport()) as client:
        for pcr in REFERENCE_PCRS:
            node = NodeIdentity.provision(client, ak_algorithm="ecc")
            try:
                assert len(node.ecdh(enc)) == 32
                client.pcr_extend(pcr, hashlib.sha256(f"tamper {pcr}".encode()).digest())
                with pytest.raises(TPMCommandError) as err:
                    node.ecdh(enc)
                assert err.value.command == "ECDH_ZGen"
                assert err.value.rc & 0xBF == 0x9D  # TPM_RC_POLICY_FAIL (format-one, any session)
                # The evidence no longer matches the key either: a client would refuse it.
                quote = node.quote(os.urandom(16))
                assert not node.verify(quote).valid
            finally:
                node.close()


def test_a_key_with_user_auth_would_be_flagged(fresh_swtpm: SwtpmProcess) -> None:
    """Negative control for the REK checks: a key that allows password use fails them."""
    from openpcc.tpm.client import ALG_ECC, NO_DA, RH_OWNER, USER_WITH_AUTH, srk_template

    with TpmClient(fresh_swtpm.transport()) as client:
        srk = client.create_primary(RH_OWNER, srk_template())
        try:
            values = client.pcr_read(REFERENCE_PCRS)
            template = bytearray(rek_template(tpm_verify.policy_pcr_digest(values)))
            assert int.from_bytes(template[0:2], "big") == ALG_ECC
            attrs = int.from_bytes(template[4:8], "big") | USER_WITH_AUTH | NO_DA
            template[4:8] = attrs.to_bytes(4, "big")
            created = client.create(srk.handle, bytes(template))
            verdict = tpm_verify.check_rek(created.public, pcrs=values)
            assert [c.name for c in verdict.failures] == ["tpm.rek.attributes"]
        finally:
            client.flush(srk.handle)


def test_tcp_transport_reports_unreachable_tpm() -> None:
    with pytest.raises(TPMDeviceError):
        TcpTransport("127.0.0.1", 1)


def test_device_transport_reports_missing_device(tmp_path: Path) -> None:
    with pytest.raises(TPMDeviceError):
        DeviceTransport(tmp_path / "tpmrm0")


@pytest.mark.skipif(not os.path.exists("/dev/tpmrm0"), reason="no /dev/tpmrm0 on this machine")
def test_real_device_reads_pcrs() -> None:
    with TpmClient(DeviceTransport("/dev/tpmrm0")) as client:
        values = client.pcr_read(REFERENCE_PCRS)
    assert sorted(values) == sorted(REFERENCE_PCRS)


class _Recording:
    """A transport that keeps every command and response it carries (what a bus sniffer sees)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.seen: list[bytes] = []

    def transact(self, command: bytes) -> bytes:
        response = self.inner.transact(command)
        self.seen += [command, response]
        return response

    def close(self) -> None:
        self.inner.close()


def test_ecdh_zgen_session_never_carries_z_in_the_clear(identity: NodeIdentity) -> None:
    """The decryption session is salted to the SRK and encrypts ECDH_ZGen's response: neither
    coordinate of the shared point appears on the TPM interface, and the result is still Z."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ephemeral = ec.generate_private_key(ec.SECP256R1())
    enc = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    rek = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), identity.rek_public_key)
    z = ephemeral.exchange(ec.ECDH(), rek)
    original = identity.client._transport
    recording = _Recording(original)
    identity.client._transport = recording
    try:
        assert identity.ecdh(enc) == z
    finally:
        identity.client._transport = original
    wire = b"".join(recording.seen)
    assert recording.seen, "the ECDH ran over the recorded transport"
    assert z not in wire
    assert z[:16] not in wire and z[16:] not in wire


class _Tampering(_Recording):
    """Flips one bit of the ECDH_ZGen response's encrypted point (a man in the middle)."""

    def transact(self, command: bytes) -> bytes:
        response = bytearray(self.inner.transact(command))
        if command[6:10] == (0x154).to_bytes(4, "big") and len(response) > 20:
            response[20] ^= 1  # inside outPoint, after the header and parameterSize
        return bytes(response)


def test_ecdh_zgen_refuses_a_tampered_encrypted_response(identity: NodeIdentity) -> None:
    enc = b"\x04" + identity.rek_public_key[1:]  # any valid point: the REK's own
    original = identity.client._transport
    identity.client._transport = _Tampering(original)
    try:
        with pytest.raises(MalformedTPMStructureError, match="response HMAC"):
            identity.ecdh(enc)
    finally:
        identity.client._transport = original
    assert len(identity.ecdh(enc)) == 32  # the session was cleaned up; the next one works
