"""TPM 2.0 commands a compute node needs, marshalled by hand (TPM 2.0 Library Part 3).

Layouts: a command is ``tag u16 | size u32 | commandCode u32 | handles | [authSize u32 |
auth areas] | parameters``; a response is ``tag u16 | size u32 | responseCode u32 | handles |
[parameterSize u32] | parameters | [auth areas]``. All integers big-endian.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time
from dataclasses import dataclass
from typing import Self

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # TPM parameter encryption is AES-CFB; cryptography >= 47 files CFB under "decrepit".
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB

from openpcc.exceptions import MalformedTPMStructureError, TPMCommandError
from openpcc.tpm.transport import Transport

ST_NO_SESSIONS = 0x8001
ST_SESSIONS = 0x8002
RS_PW = 0x40000009
RH_OWNER = 0x40000001
RH_NULL = 0x40000007
RH_ENDORSEMENT = 0x4000000B
ALG_RSA = 0x0001
ALG_SHA256 = 0x000B
ALG_AES = 0x0006
ALG_NULL = 0x0010
ALG_RSASSA = 0x0014
ALG_ECDSA = 0x0018
ALG_ECC = 0x0023
ALG_CFB = 0x0043
ECC_NIST_P256 = 0x0003
SE_POLICY = 0x01
#: TPMA_SESSION: encrypt (the first response parameter is encrypted with the session key).
SESSION_ENCRYPT = 0x40

# TPMA_OBJECT bits.
FIXED_TPM = 1 << 1
FIXED_PARENT = 1 << 4
SENSITIVE_DATA_ORIGIN = 1 << 5
USER_WITH_AUTH = 1 << 6
NO_DA = 1 << 10
RESTRICTED = 1 << 16
DECRYPT = 1 << 17
SIGN = 1 << 18

# TPM_RC_YIELDED, TPM_RC_TESTING, TPM_RC_RETRY: the TPM asks for the same command again.
_TRANSIENT = frozenset({0x908, 0x90A, 0x922})
_RETRIES = 20

_CC = {
    "CreatePrimary": 0x131,
    "CertifyCreation": 0x14A,
    "Create": 0x153,
    "ECDH_ZGen": 0x154,
    "Load": 0x157,
    "Quote": 0x158,
    "FlushContext": 0x165,
    "StartAuthSession": 0x176,
    "GetRandom": 0x17B,
    "PCR_Read": 0x17E,
    "PolicyPCR": 0x17F,
    "PCR_Extend": 0x182,
    "PolicyGetDigest": 0x189,
}


def u16(v: int) -> bytes:
    return struct.pack(">H", v)


def u32(v: int) -> bytes:
    return struct.pack(">I", v)


def tpm2b(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError("TPM2B payload longer than 65535 bytes")
    return u16(len(data)) + data


def pcr_selection(pcrs: list[int] | tuple[int, ...], bank: int = ALG_SHA256) -> bytes:
    """``TPML_PCR_SELECTION`` with one bank and a 3-byte (24-PCR) bitmap."""
    bitmap = bytearray(max(3, max(pcrs, default=0) // 8 + 1))
    for pcr in pcrs:
        bitmap[pcr // 8] |= 1 << (pcr % 8)
    return u32(1) + u16(bank) + bytes([len(bitmap)]) + bytes(bitmap)


def password_auth(password: bytes = b"") -> bytes:
    """``TPMS_AUTH_COMMAND`` for the password session."""
    return u32(RS_PW) + tpm2b(b"") + b"\x00" + tpm2b(password)


class Reader:
    """Bounds-checked reader over a response's parameter area."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise MalformedTPMStructureError("truncated TPM response")
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def u16(self) -> int:
        value: int = struct.unpack(">H", self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def tpm2b(self) -> bytes:
        return self.take(self.u16())

    def rest(self) -> bytes:
        return self.take(len(self._data) - self._pos)


@dataclass(frozen=True)
class Created:
    """What TPM2_Create / TPM2_CreatePrimary return that later commands need."""

    public: bytes  # TPMT_PUBLIC (the TPM2B's payload)
    private: bytes  # TPM2B_PRIVATE payload (Create only; empty for primaries)
    creation_hash: bytes
    creation_ticket: bytes  # marshalled TPMT_TK_CREATION
    handle: int = 0  # CreatePrimary only


@dataclass(frozen=True)
class Signed:
    """A TPM-signed attestation: ``TPMS_ATTEST`` and ``TPMT_SIGNATURE``."""

    attest: bytes
    signature: bytes


def kdfa(key: bytes, label: bytes, context_u: bytes, context_v: bytes, bits: int) -> bytes:
    """TPM 2.0 Part 1 §11.4.10.2 KDFa with SHA-256 (SP 800-108 counter-mode HMAC)."""
    out = b""
    counter = 1
    while len(out) * 8 < bits:
        block = u32(counter) + label + b"\x00" + context_u + context_v + u32(bits)
        out += hmac.new(key, block, hashlib.sha256).digest()
        counter += 1
    return out[: bits // 8]


def kdfe(z: bytes, label: bytes, party_u: bytes, party_v: bytes, bits: int) -> bytes:
    """TPM 2.0 Part 1 §11.4.10.3 KDFe with SHA-256 (SP 800-56A concatenation KDF)."""
    out = b""
    counter = 1
    while len(out) * 8 < bits:
        out += hashlib.sha256(u32(counter) + z + label + b"\x00" + party_u + party_v).digest()
        counter += 1
    return out[: bits // 8]


def ecc_point(public: bytes) -> tuple[bytes, bytes]:
    """(x, y) of an ECC ``TPMT_PUBLIC``: its ``unique`` field, the last two TPM2Bs."""
    r = Reader(public)
    if r.u16() != ALG_ECC:
        raise MalformedTPMStructureError("salt key is not an ECC key")
    r.u16()  # nameAlg
    r.u32()  # objectAttributes
    r.tpm2b()  # authPolicy
    if r.u16() != ALG_NULL:  # symmetric: algorithm, keyBits, mode
        r.u16()
        r.u16()
    if r.u16() != ALG_NULL:  # scheme and its hash
        r.u16()
    r.u16()  # curveID
    if r.u16() != ALG_NULL:  # kdf and its hash
        r.u16()
    return r.tpm2b(), r.tpm2b()


def object_name(public: bytes) -> bytes:
    """A SHA-256 object's name: ``nameAlg || SHA-256(TPMT_PUBLIC)``."""
    return u16(ALG_SHA256) + hashlib.sha256(public).digest()


@dataclass(frozen=True)
class SaltedSession:
    """A salted policy session: its handle, the session key both sides derived, and the TPM's
    latest nonce (needed for the next command's HMAC)."""

    handle: int
    session_key: bytes = b""
    nonce_tpm: bytes = b""

    def __repr__(self) -> str:  # the session key stays out of logs
        return f"SaltedSession(handle={self.handle:#x})"


class TpmClient:
    """Runs TPM 2.0 commands over a :class:`~openpcc.tpm.transport.Transport`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- framing ---------------------------------------------------------------------------

    def _run(
        self,
        name: str,
        handles: bytes = b"",
        params: bytes = b"",
        auths: list[bytes] | None = None,
        response_handles: int = 0,
    ) -> tuple[list[int], Reader]:
        if auths:
            area = b"".join(auths)
            body = handles + u32(len(area)) + area + params
            tag = ST_SESSIONS
        else:
            body = handles + params
            tag = ST_NO_SESSIONS
        command = u16(tag) + u32(10 + len(body)) + u32(_CC[name]) + body
        for attempt in range(_RETRIES):
            response = Reader(self._transport.transact(command))
            rtag, _size, rc = response.u16(), response.u32(), response.u32()
            if rc not in _TRANSIENT or attempt == _RETRIES - 1:
                break
            time.sleep(0.01 * (attempt + 1))
        if rc != 0:
            raise TPMCommandError(name, rc)
        out_handles = [response.u32() for _ in range(response_handles)]
        if rtag == ST_SESSIONS:
            return out_handles, Reader(response.take(response.u32()))
        return out_handles, Reader(response.rest())

    # -- commands --------------------------------------------------------------------------

    def get_random(self, n: int) -> bytes:
        _, r = self._run("GetRandom", params=u16(n))
        return r.tpm2b()

    def create_primary(self, hierarchy: int, template: bytes) -> Created:
        params = tpm2b(tpm2b(b"") + tpm2b(b"")) + tpm2b(template) + tpm2b(b"") + u32(0)
        (handle,), r = self._run("CreatePrimary", u32(hierarchy), params, [password_auth()], 1)
        public = r.tpm2b()
        r.tpm2b()  # creationData
        creation_hash = r.tpm2b()
        ticket = _read_ticket(r)
        return Created(public, b"", creation_hash, ticket, handle)

    def create(self, parent: int, template: bytes) -> Created:
        params = tpm2b(tpm2b(b"") + tpm2b(b"")) + tpm2b(template) + tpm2b(b"") + u32(0)
        _, r = self._run("Create", u32(parent), params, [password_auth()])
        private = r.tpm2b()
        public = r.tpm2b()
        r.tpm2b()  # creationData
        creation_hash = r.tpm2b()
        return Created(public, private, creation_hash, _read_ticket(r))

    def load(self, parent: int, created: Created) -> int:
        params = tpm2b(created.private) + tpm2b(created.public)
        (handle,), _ = self._run("Load", u32(parent), params, [password_auth()], 1)
        return handle

    def certify_creation(
        self, signer: int, obj: int, created: Created, qualifying: bytes = b""
    ) -> Signed:
        params = (
            tpm2b(qualifying)
            + tpm2b(created.creation_hash)
            + u16(ALG_NULL)
            + created.creation_ticket
        )
        _, r = self._run("CertifyCreation", u32(signer) + u32(obj), params, [password_auth()])
        return Signed(attest=r.tpm2b(), signature=r.rest())

    def quote(self, signer: int, nonce: bytes, pcrs: list[int] | tuple[int, ...]) -> Signed:
        params = tpm2b(nonce) + u16(ALG_NULL) + pcr_selection(pcrs)
        _, r = self._run("Quote", u32(signer), params, [password_auth()])
        return Signed(attest=r.tpm2b(), signature=r.rest())

    def pcr_read(self, pcrs: list[int] | tuple[int, ...]) -> dict[int, bytes]:
        """SHA-256 PCR values; loops because a TPM returns at most 8 digests per read."""
        wanted = sorted(set(pcrs))
        values: dict[int, bytes] = {}
        while wanted:
            _, r = self._run("PCR_Read", params=pcr_selection(wanted))
            r.u32()  # pcrUpdateCounter
            returned = _read_selection(r)
            digests = [r.tpm2b() for _ in range(r.u32())]
            if not returned or len(returned) != len(digests):
                raise MalformedTPMStructureError("PCR_Read returned no or mismatched values")
            values.update(zip(returned, digests, strict=True))
            wanted = [p for p in wanted if p not in values]
        return values

    def pcr_extend(self, pcr: int, digest: bytes) -> None:
        params = u32(1) + u16(ALG_SHA256) + digest
        self._run("PCR_Extend", u32(pcr), params, [password_auth()])

    def start_policy_session(self) -> int:
        params = (
            tpm2b(secrets.token_bytes(32))
            + tpm2b(b"")
            + bytes([SE_POLICY])
            + u16(ALG_NULL)
            + u16(ALG_SHA256)
        )
        (handle,), _ = self._run("StartAuthSession", u32(RH_NULL) + u32(RH_NULL), params, None, 1)
        return handle

    def start_salted_policy_session(self, salt_key: int, salt_public: bytes) -> SaltedSession:
        """A policy session salted to the loaded ECC decrypt key ``salt_key`` (whose
        ``TPMT_PUBLIC`` is ``salt_public``), with AES-128-CFB parameter encryption.

        The salt is ECDH between an ephemeral key of ours and ``salt_key``: only the TPM and we
        know it, so only we can derive the session key (KDFa "ATH") that encrypts responses
        (TPM 2.0 Part 1 §19.6: salted sessions, §21: session-based encryption)."""
        tpm_x, tpm_y = ecc_point(salt_public)
        tpm_key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(tpm_x, "big"), int.from_bytes(tpm_y, "big"), ec.SECP256R1()
        ).public_key()
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        numbers = ephemeral.public_key().public_numbers()
        eph_x, eph_y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        z = ephemeral.exchange(ec.ECDH(), tpm_key)
        salt = kdfe(z, b"SECRET", eph_x, tpm_x.rjust(32, b"\x00"), 256)
        nonce_caller = secrets.token_bytes(32)
        params = (
            tpm2b(nonce_caller)
            + tpm2b(tpm2b(eph_x) + tpm2b(eph_y))
            + bytes([SE_POLICY])
            + u16(ALG_AES)
            + u16(128)
            + u16(ALG_CFB)
            + u16(ALG_SHA256)
        )
        (handle,), r = self._run("StartAuthSession", u32(salt_key) + u32(RH_NULL), params, None, 1)
        nonce_tpm = r.tpm2b()
        session_key = kdfa(salt, b"ATH", nonce_tpm, nonce_caller, 256)
        return SaltedSession(handle, session_key, nonce_tpm)

    def policy_pcr(self, session: int, pcrs: list[int] | tuple[int, ...]) -> None:
        """PolicyPCR with an empty digest: the TPM folds in the PCRs' current values."""
        self._run("PolicyPCR", u32(session), tpm2b(b"") + pcr_selection(pcrs))

    def policy_get_digest(self, session: int) -> bytes:
        _, r = self._run("PolicyGetDigest", u32(session))
        return r.tpm2b()

    def ecdh_zgen(self, key: int, session: int, x: bytes, y: bytes) -> tuple[bytes, bytes]:
        """Z = d·P inside the TPM, authorised by ``session`` (not continued: flushed after use)."""
        auth = u32(session) + tpm2b(secrets.token_bytes(32)) + b"\x00" + tpm2b(b"")
        _, r = self._run("ECDH_ZGen", u32(key), tpm2b(tpm2b(x) + tpm2b(y)), [auth])
        point = Reader(r.tpm2b())
        return point.tpm2b(), point.tpm2b()

    def ecdh_zgen_encrypted(
        self, key: int, key_public: bytes, session: SaltedSession, x: bytes, y: bytes
    ) -> tuple[bytes, bytes]:
        """ECDH_ZGen with the response encrypted under the salted ``session``: Z crosses the
        TPM interface only as AES-128-CFB ciphertext. The command carries the session HMAC
        (key = session key: no PolicyAuthValue) and the response HMAC is checked before the
        point is decrypted."""
        code = _CC["ECDH_ZGen"]
        params = tpm2b(tpm2b(x) + tpm2b(y))
        nonce_caller = secrets.token_bytes(32)
        attrs = bytes([SESSION_ENCRYPT])
        cp_hash = hashlib.sha256(u32(code) + object_name(key_public) + params).digest()
        command_hmac = hmac.new(
            session.session_key, cp_hash + nonce_caller + session.nonce_tpm + attrs, hashlib.sha256
        ).digest()
        auth = u32(session.handle) + tpm2b(nonce_caller) + attrs + tpm2b(command_hmac)
        encrypted, response_auth = self._run_with_response_auth("ECDH_ZGen", u32(key), params, auth)
        r = Reader(response_auth)
        nonce_tpm, _attrs, response_hmac = r.tpm2b(), r.take(1), r.tpm2b()
        rp_hash = hashlib.sha256(u32(0) + u32(code) + encrypted).digest()
        expected = hmac.new(
            session.session_key, rp_hash + nonce_tpm + nonce_caller + _attrs, hashlib.sha256
        ).digest()
        if not hmac.compare_digest(expected, response_hmac):
            raise MalformedTPMStructureError("ECDH_ZGen response HMAC does not verify")
        body = Reader(encrypted)
        ciphertext = body.tpm2b()
        stream = kdfa(session.session_key, b"CFB", nonce_tpm, nonce_caller, 256)
        decryptor = Cipher(algorithms.AES(stream[:16]), CFB(stream[16:])).decryptor()
        point = Reader(decryptor.update(ciphertext) + decryptor.finalize())
        return point.tpm2b(), point.tpm2b()

    def _run_with_response_auth(
        self, name: str, handles: bytes, params: bytes, auth: bytes
    ) -> tuple[bytes, bytes]:
        """One command with one session; returns (response parameters, response auth area)."""
        body = handles + u32(len(auth)) + auth + params
        command = u16(ST_SESSIONS) + u32(10 + len(body)) + u32(_CC[name]) + body
        for attempt in range(_RETRIES):
            # A transient code means the TPM did not run the command: the session is unchanged.
            response = Reader(self._transport.transact(command))
            _tag, _size, rc = response.u16(), response.u32(), response.u32()
            if rc not in _TRANSIENT or attempt == _RETRIES - 1:
                break
            time.sleep(0.01 * (attempt + 1))
        if rc != 0:
            raise TPMCommandError(name, rc)
        parameters = response.take(response.u32())
        return parameters, response.rest()

    def flush(self, handle: int) -> None:
        self._run("FlushContext", params=u32(handle))


def _read_ticket(r: Reader) -> bytes:
    tag = r.take(2)
    hierarchy = r.take(4)
    digest = r.tpm2b()
    return tag + hierarchy + tpm2b(digest)


def _read_selection(r: Reader) -> list[int]:
    out: list[int] = []
    for _ in range(r.u32()):
        r.u16()
        bitmap = r.take(r.take(1)[0])
        out.extend(
            i * 8 + bit for i, byte in enumerate(bitmap) for bit in range(8) if byte >> bit & 1
        )
    return out


# -- templates (TPMT_PUBLIC) -------------------------------------------------------------------


def rsa_ak_template() -> bytes:
    """RSA-2048 restricted signing key, RSASSA-SHA256 (what the reference's AK is)."""
    attrs = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | RESTRICTED | SIGN
    return (
        u16(ALG_RSA)
        + u16(ALG_SHA256)
        + u32(attrs)
        + tpm2b(b"")
        + u16(ALG_NULL)
        + u16(ALG_RSASSA)
        + u16(ALG_SHA256)
        + u16(2048)
        + u32(0)
        + tpm2b(b"")
    )


def ecc_ak_template() -> bytes:
    """P-256 restricted signing key, ECDSA-SHA256."""
    attrs = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | RESTRICTED | SIGN
    return (
        u16(ALG_ECC)
        + u16(ALG_SHA256)
        + u32(attrs)
        + tpm2b(b"")
        + u16(ALG_NULL)
        + u16(ALG_ECDSA)
        + u16(ALG_SHA256)
        + u16(ECC_NIST_P256)
        + u16(ALG_NULL)
        + tpm2b(b"")
        + tpm2b(b"")
    )


def srk_template() -> bytes:
    """P-256 storage parent (restricted decrypt, AES-128-CFB), the usual SRK shape."""
    attrs = (
        FIXED_TPM
        | FIXED_PARENT
        | SENSITIVE_DATA_ORIGIN
        | USER_WITH_AUTH
        | NO_DA
        | RESTRICTED
        | DECRYPT
    )
    return (
        u16(ALG_ECC)
        + u16(ALG_SHA256)
        + u32(attrs)
        + tpm2b(b"")
        + u16(ALG_AES)
        + u16(128)
        + u16(ALG_CFB)
        + u16(ALG_NULL)
        + u16(ECC_NIST_P256)
        + u16(ALG_NULL)
        + tpm2b(b"")
        + tpm2b(b"")
    )


def rek_template(auth_policy: bytes) -> bytes:
    """P-256 request-encryption key: decrypt only, usable only through ``auth_policy``
    (userWithAuth clear), generated inside and bound to this TPM and parent."""
    attrs = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | NO_DA | DECRYPT
    return (
        u16(ALG_ECC)
        + u16(ALG_SHA256)
        + u32(attrs)
        + tpm2b(auth_policy)
        + u16(ALG_NULL)
        + u16(ALG_NULL)
        + u16(ECC_NIST_P256)
        + u16(ALG_NULL)
        + tpm2b(b"")
        + tpm2b(b"")
    )
