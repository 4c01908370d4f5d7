"""A compute node's TPM identity: attestation key, PCR-bound request-encryption key, evidence.

On ordinary hardware (and in tests) the TPM is the Debian ``swtpm`` software TPM; on real hosts
it is ``/dev/tpmrm0``. Both go through :class:`openpcc.tpm.TpmClient`, so the same code runs in
both places::

    from openpcc.tpm import DeviceTransport, SwtpmProcess, TpmClient
    client = TpmClient(DeviceTransport("/dev/tpmrm0"))          # real host
    with SwtpmProcess() as tpm:                                   # software TPM
        identity = NodeIdentity.provision(TpmClient(tpm.transport()))
        quote = identity.quote(client_nonce)
        z = identity.ecdh(enc)     # X coordinate of d·enc, computed inside the TPM

What is created (spec §5.4, §6.1):

* an **attestation key** (AK): a restricted signing primary in the endorsement hierarchy,
  RSA-2048/RSASSA-SHA256 like the reference's (or P-256/ECDSA);
* a storage primary (SRK) in the owner hierarchy (flushed once used), and under it the **request-encryption key**
  (REK): P-256, decrypt-only, fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth clear,
  ``authPolicy`` = PolicyPCR over the reference's PCR set {0,1,2,3,4,5,7,8,12} (SHA-256) with
  the values read at provisioning;
* ``TPM2_CertifyCreation`` of the REK by the AK (proof the TPM generated it with this public
  area), and on request ``TPM2_Quote`` over the same PCRs with the client's nonce.

Decryption runs ``TPM2_ECDH_ZGen`` inside a fresh policy session that has executed PolicyPCR: the
private key never leaves the TPM, and after any of the policy PCRs is extended the session's
digest no longer matches ``authPolicy`` and the TPM refuses (``TPMCommandError``). The session is
salted to the SRK and encrypts the response, so the shared point crosses the TPM interface only as
ciphertext (docs/tpm.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from openpcc.attestation import tpm as tpm_verify
from openpcc.attestation.verdict import Verdict
from openpcc.exceptions import MalformedTPMStructureError, TPMCommandError
from openpcc.tpm.client import (
    RH_ENDORSEMENT,
    RH_OWNER,
    SaltedSession,
    Signed,
    TpmClient,
    ecc_ak_template,
    rek_template,
    rsa_ak_template,
    srk_template,
)

REFERENCE_PCRS: tuple[int, ...] = tpm_verify.REFERENCE_PCRS


@dataclass(frozen=True)
class QuoteEvidence:
    """A quote by the AK with the PCR values it covers (SHA-256 bank)."""

    attest: bytes
    signature: bytes
    pcrs: Mapping[int, bytes]
    nonce: bytes


@dataclass
class NodeIdentity:
    """Handles and public evidence of a provisioned node identity. Holds no secret."""

    client: TpmClient = field(repr=False)
    ak_handle: int
    rek_handle: int
    ak_public: bytes
    rek_public: bytes
    creation: Signed
    policy_pcrs: tuple[int, ...]
    pcr_values: dict[int, bytes]
    #: The SRK's ``TPMT_PUBLIC``: the key ECDH_ZGen sessions are salted to. A primary key is
    #: derived from the owner seed, so re-creating it gives this same public area.
    srk_public: bytes = b""

    @classmethod
    def provision(
        cls,
        client: TpmClient,
        *,
        policy_pcrs: tuple[int, ...] = REFERENCE_PCRS,
        ak_algorithm: str = "rsa",
    ) -> NodeIdentity:
        """Creates the AK, the SRK and the PCR-bound REK, and certifies the REK's creation."""
        if ak_algorithm not in ("rsa", "ecc"):
            raise ValueError("ak_algorithm must be 'rsa' or 'ecc'")
        pcr_values = client.pcr_read(policy_pcrs)
        policy = tpm_verify.policy_pcr_digest({i: pcr_values[i] for i in policy_pcrs})
        ak = client.create_primary(
            RH_ENDORSEMENT, rsa_ak_template() if ak_algorithm == "rsa" else ecc_ak_template()
        )
        srk = client.create_primary(RH_OWNER, srk_template())
        rek = client.create(srk.handle, rek_template(policy))
        rek_handle = client.load(srk.handle, rek)
        # The SRK is only needed to load the REK; software TPMs hold as few as 3 objects.
        client.flush(srk.handle)
        creation = client.certify_creation(ak.handle, rek_handle, rek)
        return cls(
            client=client,
            ak_handle=ak.handle,
            rek_handle=rek_handle,
            ak_public=ak.public,
            rek_public=rek.public,
            creation=creation,
            policy_pcrs=tuple(policy_pcrs),
            pcr_values=pcr_values,
            srk_public=srk.public,
        )

    @property
    def creation_attest_2b(self) -> bytes:
        """The CertifyCreation attestation as the reference ships it (``TPM2B_ATTEST``)."""
        return len(self.creation.attest).to_bytes(2, "big") + self.creation.attest

    @property
    def rek_public_key(self) -> bytes:
        """The REK as an uncompressed SEC1 P-256 point (65 bytes): the HPKE recipient key."""
        info = tpm_verify.parse_public(self.rek_public)
        key = info["key"]
        return b"\x04" + bytes.fromhex(key["x"]) + bytes.fromhex(key["y"])

    def quote(self, nonce: bytes, pcrs: tuple[int, ...] | None = None) -> QuoteEvidence:
        """A quote over ``pcrs`` (default: the policy set) with ``nonce`` as qualifying data,
        and the PCR values read right after it."""
        selection = pcrs or self.policy_pcrs
        signed = self.client.quote(self.ak_handle, nonce, selection)
        return QuoteEvidence(
            signed.attest, signed.signature, self.client.pcr_read(selection), nonce
        )

    def ecdh(self, enc: bytes) -> bytes:
        """The X coordinate of ``d·enc`` (32 bytes) for the HPKE DHKEM(P-256) ``dh`` step, computed
        by TPM2_ECDH_ZGen under a PolicyPCR session. ``enc`` is an uncompressed SEC1 point.

        The session is salted to the SRK and encrypts the response: Z crosses the TPM interface
        only as ciphertext under a key the TPM and this process share (see docs/tpm.md)."""
        if len(enc) != 65 or enc[0] != 0x04:
            raise MalformedTPMStructureError("enc must be a 65-byte uncompressed P-256 point")
        session = self._salted_session()
        try:
            self.client.policy_pcr(session.handle, self.policy_pcrs)
            x, _y = self.client.ecdh_zgen_encrypted(
                self.rek_handle, self.rek_public, session, enc[1:33], enc[33:65]
            )
        except TPMCommandError:
            # A successful ECDH_ZGen ends the (not continued) session, even when its response
            # then fails our HMAC check; a failed command leaves it open.
            self.client.flush(session.handle)
            raise
        return x.rjust(32, b"\x00")

    def _salted_session(self) -> SaltedSession:
        """Re-creates the SRK (the same primary key: same seed, same template), checks it is the
        one recorded at provisioning, salts a policy session to it and flushes it again."""
        srk = self.client.create_primary(RH_OWNER, srk_template())
        try:
            if self.srk_public and srk.public != self.srk_public:
                raise MalformedTPMStructureError("the SRK differs from the one at provisioning")
            return self.client.start_salted_policy_session(srk.handle, srk.public)
        finally:
            self.client.flush(srk.handle)

    def dh_function(self) -> Callable[[bytes], bytes]:
        """``ecdh`` as a plain callable, for HPKE's external-DH recipient setup."""
        return self.ecdh

    def verify(self, quote: QuoteEvidence, *, at: datetime | None = None) -> Verdict:
        """Verifies this identity's evidence with the Rust verifiers, as a client would."""
        return tpm_verify.verify_identity(
            quote=quote.attest,
            quote_signature=quote.signature,
            pcrs=quote.pcrs,
            creation=self.creation_attest_2b,
            creation_signature=self.creation.signature,
            rek_public=self.rek_public,
            ak=self.ak_public,
            nonce=quote.nonce,
            policy_pcrs=self.policy_pcrs,
            at=at,
        )

    def close(self) -> None:
        """Flushes the transient objects (a resource-managed device also does this on close)."""
        for handle in (self.rek_handle, self.ak_handle):
            self.client.flush(handle)
