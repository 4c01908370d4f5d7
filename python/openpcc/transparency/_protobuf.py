"""A minimal protobuf wire-format reader for the Sigstore bundle messages.

The reference serves its bundles as binary protobuf (``dev.sigstore.bundle.v0.3``); the ``sigstore``
library reads only their JSON form. Rather than pull in generated protobuf classes, this reads the
few messages of ``sigstore_bundle.proto`` / ``sigstore_rekor.proto`` / ``envelope.proto`` and
produces the canonical proto3 JSON mapping (camelCase names, base64 bytes, 64-bit integers as
strings), which ``sigstore.models.Bundle.from_json`` then validates in full.

Every error raises :class:`openpcc.exceptions.BundleFormatError`; the text names the field, never
the bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from openpcc.exceptions import BundleFormatError

# Wire types (protobuf encoding guide).
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_MAX_DEPTH = 8

# HashAlgorithm enum of sigstore_common.proto.
_HASH_ALGORITHMS = {
    0: "HASH_ALGORITHM_UNSPECIFIED",
    1: "SHA2_256",
    2: "SHA2_384",
    3: "SHA2_512",
    4: "SHA3_256",
    5: "SHA3_384",
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise BundleFormatError("protobuf varint runs past the end of the message")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 64:
            raise BundleFormatError("protobuf varint longer than 10 bytes")


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field number, wire type, value)``; LEN values are bytes, the others ints."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise BundleFormatError("protobuf field number 0")
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == _LEN:
            length, pos = _varint(data, pos)
            if length > len(data) - pos:
                raise BundleFormatError(
                    f"protobuf field {number} claims {length} bytes past the end"
                )
            yield number, wire, data[pos : pos + length]
            pos += length
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            if size > len(data) - pos:
                raise BundleFormatError(f"protobuf field {number} is truncated")
            yield number, wire, int.from_bytes(data[pos : pos + size], "little")
            pos += size
        else:
            raise BundleFormatError(f"protobuf field {number} has unsupported wire type {wire}")


# A schema maps a field number to (json name, kind, repeated). A kind is "string", "bytes",
# "int64" (JSON string), "enum:<table>", or a nested schema.
Schema = dict[int, tuple[str, Any, bool]]

_X509_CERTIFICATE: Schema = {1: ("rawBytes", "bytes", False)}
_HASH_OUTPUT: Schema = {1: ("algorithm", "hash_algorithm", False), 2: ("digest", "bytes", False)}
_CHECKPOINT: Schema = {1: ("envelope", "string", False)}
_INCLUSION_PROOF: Schema = {
    1: ("logIndex", "int64", False),
    2: ("rootHash", "bytes", False),
    3: ("treeSize", "int64", False),
    4: ("hashes", "bytes", True),
    5: ("checkpoint", _CHECKPOINT, False),
}
_TLOG_ENTRY: Schema = {
    1: ("logIndex", "int64", False),
    2: ("logId", {1: ("keyId", "bytes", False)}, False),
    3: ("kindVersion", {1: ("kind", "string", False), 2: ("version", "string", False)}, False),
    4: ("integratedTime", "int64", False),
    5: ("inclusionPromise", {1: ("signedEntryTimestamp", "bytes", False)}, False),
    6: ("inclusionProof", _INCLUSION_PROOF, False),
    7: ("canonicalizedBody", "bytes", False),
}
_VERIFICATION_MATERIAL: Schema = {
    1: ("publicKey", {1: ("hint", "string", False)}, False),
    2: ("x509CertificateChain", {1: ("certificates", _X509_CERTIFICATE, True)}, False),
    3: ("tlogEntries", _TLOG_ENTRY, True),
    4: (
        "timestampVerificationData",
        {1: ("rfc3161Timestamps", {1: ("signedTimestamp", "bytes", False)}, True)},
        False,
    ),
    5: ("certificate", _X509_CERTIFICATE, False),
}
_ENVELOPE: Schema = {
    1: ("payload", "bytes", False),
    2: ("payloadType", "string", False),
    3: ("signatures", {1: ("sig", "bytes", False), 2: ("keyid", "string", False)}, True),
}
BUNDLE: Schema = {
    1: ("mediaType", "string", False),
    2: ("verificationMaterial", _VERIFICATION_MATERIAL, False),
    3: (
        "messageSignature",
        {1: ("messageDigest", _HASH_OUTPUT, False), 2: ("signature", "bytes", False)},
        False,
    ),
    4: ("dsseEnvelope", _ENVELOPE, False),
}


def _scalar(name: str, kind: str, wire: int, value: int | bytes) -> Any:
    if kind in ("int64", "hash_algorithm"):
        if wire != _VARINT or not isinstance(value, int):
            raise BundleFormatError(f"protobuf field {name} is not a varint")
        if kind == "int64":
            return str(value)
        if value not in _HASH_ALGORITHMS:
            raise BundleFormatError(f"protobuf field {name} has unknown hash algorithm {value}")
        return _HASH_ALGORITHMS[value]
    if wire != _LEN or not isinstance(value, bytes):
        raise BundleFormatError(f"protobuf field {name} is not length-delimited")
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleFormatError(f"protobuf field {name} is not UTF-8") from exc


def decode(data: bytes, schema: Schema, depth: int = 0) -> dict[str, Any]:
    """Decode ``data`` as the message ``schema`` into its proto3 JSON mapping.

    Unknown fields are rejected rather than skipped: a bundle that carries data this reader does not
    understand is not one the reference produced.
    """
    if depth > _MAX_DEPTH:
        raise BundleFormatError("protobuf nesting too deep")
    out: dict[str, Any] = {}
    for number, wire, value in fields(data):
        if number not in schema:
            raise BundleFormatError(f"unknown protobuf field {number} in a bundle message")
        name, kind, repeated = schema[number]
        if isinstance(kind, dict):
            if wire != _LEN or not isinstance(value, bytes):
                raise BundleFormatError(f"protobuf field {name} is not a message")
            item: Any = decode(value, kind, depth + 1)
        else:
            item = _scalar(name, kind, wire, value)
        if repeated:
            out.setdefault(name, []).append(item)
        elif name in out and isinstance(kind, dict):
            # Protobuf merges repeated occurrences of a singular message; the reference never
            # emits them, so treat one as malformed rather than guess.
            raise BundleFormatError(f"protobuf field {name} occurs twice")
        else:
            out[name] = item
    return out


__all__ = ["BUNDLE", "decode", "fields"]
