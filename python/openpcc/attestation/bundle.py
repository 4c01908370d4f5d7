"""Evidence bundles: the reference's ``SignedEvidenceList`` (spec §6.1) and our node's pieces.

A bundle is a protobuf list of pieces ``(type, data, signature)``. The 20 reference types keep
their numbers and meaning. openpcc adds pieces the reference lacks; their numbers start at
``0x4F500001`` ("OP" in the high bytes), far above anything a sequentially numbered reference
enum will reach, so a reference verifier treats them as unknown and skips them, and still finds
the reference pieces it needs (``TPM_QUOTE``, ``TPM_CERTIFY_REK_CREATION``, ``TPMT_PUBLIC``,
``AK_TPMT_PUBLIC``, the TEE report). Unknown types survive a decode/encode round trip.

Extension pieces (data layout; signature empty unless stated):

* ``OPENPCC_TCG_EVENT_LOG``: the raw TCG event log (``binary_bios_measurements``), replayed and
  hashed by the verifier, instead of the reference's node-parsed ``FirmwareLogState``.
* ``OPENPCC_COLLECTED_AT``: 8-byte big-endian Unix seconds at which the quote was taken. It is
  authenticated by the quote's qualifying data (see :func:`quote_qualifying_data`).
* ``OPENPCC_NVIDIA_EVIDENCE``: NVIDIA SPDM evidence (the JSON ``openpcc verify nvidia`` takes),
  verified offline; its SPDM nonce is :func:`gpu_nonce`.
* ``OPENPCC_TDX_COLLATERAL``: TDX collateral as the JSON ``openpcc verify tdx`` takes (the
  reference's ``TDX_COLLATERAL`` is a protobuf this verifier does not read).
* ``OPENPCC_SEVSNP_VCEK``: the VCEK or VLEK (DER or PEM) for the SNP report.
* ``OPENPCC_SEVSNP_CRL``: AMD's CRL for the report's ARK (DER or PEM); checked when present (a
  caller's own CRL, ``verify_evidence(sevsnp_crl=...)``, takes its place).
* ``OPENPCC_SOFTWARE_REQUEST_KEY``: the node's declaration that its request-encryption key (the
  uncompressed P-256 point in ``data``) is held in its process, not in a TPM (the node setting
  ``danger_software_request_key``). ``verify_evidence`` fails ``node.software_request_key`` for it
  unless the policy sets ``danger_allow_software_request_key`` and not ``require_tee``.
* ``OPENPCC_ROUTER_NONCE``: the nonce a router asked the node to quote this bundle over (``data``; added
  by the router to the evidence it hands out in manifests, docs/router.md). It is not trusted by itself:
  a client verifies the bundle with ``nonce=`` that value, so the quote's signature covers it and the
  collection time it is bound with, and ``max_evidence_age`` bounds how old the evidence is.

Bindings (what the node must put where; all checked by ``verify_evidence``):

* TPM quote qualifying data = ``SHA-256("openpcc-quote-v1" || u64be(collected_at) || nonce)``
  when an ``OPENPCC_COLLECTED_AT`` piece is present, else the client nonce itself.
* TEE ``report_data`` (64 bytes) =
  ``SHA-512("openpcc-report-ak-v1" || u8(len(nonce)) || nonce || REK name || AK name)``, names
  being ``nameAlg || H(TPMT_PUBLIC)``: the TEE vouches for the REK *and* the AK, so the quote and
  its PCRs count. The older ``SHA-512(nonce || REK name)`` still binds the REK, but a bare AK is
  then not trusted (``policy.tpm.ak_trust`` fails) unless it carries a vendor certificate. The
  reference's ``SHA-256(quote signature) || 0^32`` (which binds the quote, hence its AK) is
  accepted only when the policy sets ``accept_reference_binding``.
* GPU SPDM nonce = ``SHA-256(SHA-512(nonce || REK name))``: derived from the value the CPU report
  carries, so the GPU evidence is bound to the CPU report and to the client nonce.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum

from openpcc._openpcc import attestation as _core
from openpcc.exceptions import EvidenceFormatError

__all__ = [
    "EvidenceList",
    "EvidencePiece",
    "EvidenceType",
    "decode_tpm_quote",
    "encode_tpm_quote",
    "gpu_nonce",
    "quote_qualifying_data",
    "reference_report_data",
    "report_data",
]

_EXTENSION_BASE = 0x4F500000


class EvidenceType(IntEnum):
    """Piece types: the reference's proto numbers (0-19) and openpcc's extensions."""

    UNSPECIFIED = 0
    TPM_CERTIFY_REK_CREATION = 1
    GCE_AK_CERTIFICATE = 2
    TPMT_PUBLIC = 3
    SEVSNP_REPORT = 4
    TDX_REPORT = 5
    NVIDIA_ETA = 6
    GCE_AK_INTERMEDIATE_CERTIFICATE = 7
    NVIDIA_INTERMEDIATE_CERTIFICATE = 8
    AZURE_AK_CERTIFICATE = 9
    EVENT_LOG = 10
    TPM_QUOTE = 11
    IMAGE_SIGSTORE_BUNDLE = 12
    TDX_COLLATERAL = 13
    NVIDIA_SWITCH_ETA = 14
    NVIDIA_SWITCH_INTERMEDIATE_CERTIFICATE = 15
    SEVSNP_EXTENDED_REPORT = 16
    AK_TPMT_PUBLIC = 17
    AZURE_CVM_RUNTIME_DATA = 18
    TEE_TICKSTAMP = 19
    OPENPCC_TCG_EVENT_LOG = _EXTENSION_BASE + 1
    OPENPCC_COLLECTED_AT = _EXTENSION_BASE + 2
    OPENPCC_NVIDIA_EVIDENCE = _EXTENSION_BASE + 3
    OPENPCC_TDX_COLLATERAL = _EXTENSION_BASE + 4
    OPENPCC_SEVSNP_VCEK = _EXTENSION_BASE + 5
    OPENPCC_SEVSNP_CRL = _EXTENSION_BASE + 6
    OPENPCC_SOFTWARE_REQUEST_KEY = _EXTENSION_BASE + 7
    OPENPCC_ROUTER_NONCE = _EXTENSION_BASE + 8

    @classmethod
    def parse(cls, name: str | int) -> EvidenceType:
        """A type from its name (``TPM_QUOTE``, ``evidence_type_tpm_quote``, any case) or number."""
        if isinstance(name, int) and not isinstance(name, bool):
            return cls(name)
        key = str(name).strip().upper().removeprefix("EVIDENCE_TYPE_")
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"unknown evidence type {name!r}") from None


def type_name(kind: int) -> str:
    """``TPM_QUOTE`` for a known type, ``UNKNOWN_<n>`` otherwise."""
    try:
        return EvidenceType(kind).name
    except ValueError:
        return f"UNKNOWN_{kind}"


@dataclass(frozen=True)
class EvidencePiece:
    """One ``SignedEvidencePiece``. ``kind`` is an int so that unknown types are kept."""

    kind: int
    data: bytes
    signature: bytes = b""

    @property
    def name(self) -> str:
        return type_name(self.kind)

    def __repr__(self) -> str:  # sizes only: evidence bytes stay out of logs
        return f"EvidencePiece({self.name}, data={len(self.data)} bytes, signature={len(self.signature)} bytes)"


@dataclass(frozen=True)
class EvidenceList:
    """A ``SignedEvidenceList``: pieces in wire order."""

    pieces: tuple[EvidencePiece, ...]

    @classmethod
    def decode(cls, data: bytes) -> EvidenceList:
        """Raises :class:`~openpcc.exceptions.EvidenceFormatError` when ``data`` is not the protobuf."""
        return cls(
            tuple(EvidencePiece(k, d, s) for k, d, s in _core.decode_evidence_list(bytes(data)))
        )

    @classmethod
    def of(cls, pieces: Iterable[EvidencePiece]) -> EvidenceList:
        return cls(tuple(pieces))

    def encode(self) -> bytes:
        """Protobuf bytes; every piece writes its type, data and signature, zero values included."""
        return _core.encode_evidence_list([(p.kind, p.data, p.signature) for p in self.pieces])

    def __iter__(self) -> Iterator[EvidencePiece]:
        return iter(self.pieces)

    def __len__(self) -> int:
        return len(self.pieces)

    def all_of(self, kind: int) -> tuple[EvidencePiece, ...]:
        return tuple(p for p in self.pieces if p.kind == kind)

    def first(self, kind: int) -> EvidencePiece | None:
        """The first piece of ``kind`` (the reference's rule: first of each type wins)."""
        return next((p for p in self.pieces if p.kind == kind), None)

    def kinds(self) -> list[str]:
        return [p.name for p in self.pieces]


def decode_tpm_quote(data: bytes) -> tuple[bytes, dict[int, bytes]]:
    """``(TPMS_ATTEST, {pcr: value})`` from a ``TPM_QUOTE`` piece's ``TPMQuoteAttestation``."""
    attest, pcrs = _core.decode_tpm_quote(bytes(data))
    return attest, dict(pcrs)


def encode_tpm_quote(attest: bytes, pcrs: Mapping[int, bytes]) -> bytes:
    """A ``TPMQuoteAttestation`` (PCR entries in ascending index order)."""
    return _core.encode_tpm_quote(bytes(attest), [(int(i), bytes(v)) for i, v in pcrs.items()])


def quote_qualifying_data(nonce: bytes, collected_at: int | None) -> bytes:
    """What the node passes to TPM2_Quote as qualifying data (see the module docstring)."""
    if collected_at is None:
        return bytes(nonce)
    return hashlib.sha256(
        b"openpcc-quote-v1" + collected_at.to_bytes(8, "big") + bytes(nonce)
    ).digest()


#: Domain tag of the report data that binds the AK as well as the REK.
REPORT_DATA_AK_TAG = b"openpcc-report-ak-v1"


def report_data(nonce: bytes, rek_name: bytes, ak_name: bytes | None = None) -> bytes:
    """The 64-byte TEE ``report_data``. With ``ak_name`` it binds the client nonce, the REK and
    the AK: ``SHA-512(tag || u8(len(nonce)) || nonce || REK name || AK name)`` (the form a node
    with a bare AK must use: only then do its quote and PCRs count). Without, the older
    ``SHA-512(nonce || REK name)``, which vouches for the REK but not the AK."""
    if ak_name is None:
        return hashlib.sha512(bytes(nonce) + bytes(rek_name)).digest()
    if len(nonce) > 255:
        raise EvidenceFormatError("a nonce bound with the AK is at most 255 bytes")
    return hashlib.sha512(
        REPORT_DATA_AK_TAG + bytes([len(nonce)]) + bytes(nonce) + bytes(rek_name) + bytes(ak_name)
    ).digest()


def reference_report_data(quote_signature: bytes) -> bytes:
    """The reference's binding: ``SHA-256(TPMT_SIGNATURE of the quote)`` right-padded to 64."""
    return hashlib.sha256(bytes(quote_signature)).digest().ljust(64, b"\x00")


def gpu_nonce(nonce: bytes, rek_name: bytes) -> bytes:
    """The 32-byte SPDM nonce the GPU evidence must carry: bound to the CPU report's data."""
    return hashlib.sha256(report_data(nonce, rek_name)).digest()


def node_bundle(
    *,
    ak_public: bytes,
    creation_attest: bytes,
    creation_signature: bytes,
    rek_public: bytes,
    rek_name: bytes,
    quote_attest: bytes,
    quote_signature: bytes,
    pcrs: Mapping[int, bytes],
    collected_at: int | None,
    event_log: bytes | None = None,
    extra: Iterable[EvidencePiece] = (),
) -> EvidenceList:
    """Our node's bundle, in the reference's order (TEE pieces first when ``extra`` holds them):
    AK public, CertifyRekCreation (``TPM2B_ATTEST``), REK ``TPMT_PUBLIC`` (signature = its name),
    the quote, then openpcc's pieces."""
    extra = tuple(extra)
    tee_kinds = {
        EvidenceType.SEVSNP_REPORT,
        EvidenceType.TDX_REPORT,
        EvidenceType.SEVSNP_EXTENDED_REPORT,
    }
    pieces = [p for p in extra if p.kind in tee_kinds]
    pieces += [
        EvidencePiece(EvidenceType.AK_TPMT_PUBLIC, bytes(ak_public)),
        EvidencePiece(
            EvidenceType.TPM_CERTIFY_REK_CREATION, bytes(creation_attest), bytes(creation_signature)
        ),
        EvidencePiece(EvidenceType.TPMT_PUBLIC, bytes(rek_public), bytes(rek_name)),
        EvidencePiece(
            EvidenceType.TPM_QUOTE, encode_tpm_quote(quote_attest, pcrs), bytes(quote_signature)
        ),
    ]
    if event_log is not None:
        pieces.append(EvidencePiece(EvidenceType.OPENPCC_TCG_EVENT_LOG, bytes(event_log)))
    if collected_at is not None:
        pieces.append(
            EvidencePiece(EvidenceType.OPENPCC_COLLECTED_AT, collected_at.to_bytes(8, "big"))
        )
    pieces += [p for p in extra if p.kind not in tee_kinds]
    return EvidenceList.of(pieces)


def bundle_from_identity(
    identity: object,
    nonce: bytes,
    *,
    collected_at: int | None = None,
    event_log: bytes | None = None,
    extra: Iterable[EvidencePiece] = (),
) -> EvidenceList:
    """Quotes with ``identity`` (an :class:`openpcc.node_identity.NodeIdentity`) for the client's
    ``nonce`` and returns the node's bundle. ``collected_at`` (Unix seconds) defaults to now."""
    import time

    from openpcc.attestation import tpm as tpm_verify

    when = int(time.time()) if collected_at is None else collected_at
    quote = identity.quote(quote_qualifying_data(nonce, when))  # type: ignore[attr-defined]
    return node_bundle(
        ak_public=identity.ak_public,  # type: ignore[attr-defined]
        creation_attest=identity.creation_attest_2b,  # type: ignore[attr-defined]
        creation_signature=identity.creation.signature,  # type: ignore[attr-defined]
        rek_public=identity.rek_public,  # type: ignore[attr-defined]
        rek_name=tpm_verify.public_name(identity.rek_public),  # type: ignore[attr-defined]
        quote_attest=quote.attest,
        quote_signature=quote.signature,
        pcrs=quote.pcrs,
        collected_at=when,
        event_log=event_log,
        extra=extra,
    )
