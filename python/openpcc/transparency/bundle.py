"""Sigstore bundles as the reference serves them (spec §7.1): binary protobuf or JSON.

The reference stores and serves ``dev.sigstore.bundle.v0.3`` bundles as **binary protobuf**; its
test data holds the same as base64. ``Bundle.from_bytes`` accepts either that or the JSON form
(media types v0.1, v0.2 and v0.3), converts protobuf to JSON with ``_protobuf`` and lets the
``sigstore`` library validate the structure.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle as SigstoreBundle

from openpcc.exceptions import BundleFormatError
from openpcc.transparency import _protobuf

#: The bundle media types this module reads: v0.1 and v0.2 (JSON media types with a version
#: parameter) and v0.3, which the reference produces.
BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
)

#: DSSE payload type of in-toto statements.
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"

# A bundle is a few kilobytes; refuse anything absurd before parsing.
MAX_BUNDLE_BYTES = 1 << 20


@dataclass(frozen=True)
class Bundle:
    """A parsed (not yet verified) Sigstore bundle."""

    document: dict[str, Any]
    sigstore: SigstoreBundle

    @classmethod
    def from_bytes(cls, data: bytes) -> Bundle:
        """Parse a binary protobuf bundle, or a JSON bundle if ``data`` starts with ``{``."""
        data = bytes(data)
        if len(data) > MAX_BUNDLE_BYTES:
            raise BundleFormatError(f"bundle of {len(data)} bytes exceeds {MAX_BUNDLE_BYTES}")
        if data.lstrip()[:1] == b"{":
            try:
                document = json.loads(data)
            except (ValueError, UnicodeDecodeError) as exc:
                raise BundleFormatError("bundle is not valid JSON") from exc
            if not isinstance(document, dict):
                raise BundleFormatError("bundle JSON is not an object")
        else:
            document = _protobuf.decode(data, _protobuf.BUNDLE)
        return cls.from_document(document)

    @classmethod
    def from_base64(cls, text: str | bytes) -> Bundle:
        """Parse a base64 (standard alphabet) protobuf or JSON bundle, as the reference's test data holds."""
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BundleFormatError("bundle is not valid base64") from exc
        return cls.from_bytes(raw)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Bundle:
        media_type = document.get("mediaType")
        if media_type not in BUNDLE_MEDIA_TYPES:
            raise BundleFormatError(f"unsupported bundle media type {str(media_type)[:80]!r}")
        try:
            inner = SigstoreBundle.from_json(json.dumps(document))
        except (SigstoreError, ValueError, TypeError, KeyError) as exc:
            raise BundleFormatError(
                f"bundle does not match the Sigstore schema: {_short(exc)}"
            ) from exc
        return cls(document=document, sigstore=inner)

    @property
    def media_type(self) -> str:
        return str(self.document["mediaType"])

    @property
    def is_dsse(self) -> bool:
        """True for a DSSE envelope (a signed statement), False for a message signature (a signed hash)."""
        return "dsseEnvelope" in self.document

    @property
    def certificate(self) -> x509.Certificate:
        return self.sigstore.signing_certificate

    @property
    def integrated_time(self) -> datetime | None:
        """The transparency log's integrated time (the reference's ``BundleMetadata.Timestamp``);
        ``None`` for a Rekor v2 entry, whose time comes from RFC 3161 timestamps instead."""
        seconds = self.sigstore.log_entry._inner.integrated_time
        return datetime.fromtimestamp(int(seconds), tz=UTC) if seconds else None


def _short(exc: BaseException) -> str:
    # Schema errors can quote input; keep only the first line, bounded.
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
