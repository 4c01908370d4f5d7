"""Identity policies (spec §7.3), matched against a Fulcio certificate.

Every pattern is matched with ``re.fullmatch``: the whole issuer or subject must match, not a part
of it, and ``$`` cannot match before a trailing newline. The reference's patterns are unanchored
in its README and use unescaped dots (spec §12.2 item 16); ours pair each issuer with the subjects
it may vouch for, so an identity from one issuer cannot borrow another issuer's subject pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from openpcc.exceptions import IdentityMismatchError, TrustRootError

# Fulcio certificate extensions (github.com/sigstore/fulcio docs/oid-info.md).
OIDC_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
FULCIO_OTHERNAME = ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


@dataclass(frozen=True)
class Identity:
    """One trusted signer: an OIDC issuer and a subject (SAN), each exact or a full-match regex."""

    issuer: str | None = None
    subject: str | None = None
    issuer_regex: str | None = None
    subject_regex: str | None = None
    _issuer_re: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _subject_re: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for what, exact, pattern in (
            ("issuer", self.issuer, self.issuer_regex),
            ("subject", self.subject, self.subject_regex),
        ):
            if (exact is None) == (pattern is None):
                raise TrustRootError(f"an identity needs exactly one of {what} and {what}_regex")
            if exact == "" or pattern == "":
                raise TrustRootError(f"an identity's {what} may not be empty")
        object.__setattr__(self, "_issuer_re", _compile("issuer_regex", self.issuer_regex))
        object.__setattr__(self, "_subject_re", _compile("subject_regex", self.subject_regex))

    def matches(self, issuer: str, subject: str) -> bool:
        return _match(self.issuer, self._issuer_re, issuer) and _match(
            self.subject, self._subject_re, subject
        )


@dataclass(frozen=True)
class IdentityPolicy:
    """Accepts a certificate whose (issuer, subject) matches any of ``identities``.

    Implements the ``sigstore`` library's ``VerificationPolicy`` protocol (``verify(cert)``).
    """

    identities: tuple[Identity, ...]

    def __post_init__(self) -> None:
        if not self.identities:
            raise TrustRootError("an identity policy needs at least one identity")

    def verify(self, cert: x509.Certificate) -> None:
        issuer, subject = certificate_identity(cert)
        if not any(identity.matches(issuer, subject) for identity in self.identities):
            raise IdentityMismatchError(
                f"signer {subject[:200]!r} from issuer {issuer[:200]!r} is not allowed by the identity policy"
            )


def certificate_identity(cert: x509.Certificate) -> tuple[str, str]:
    """The OIDC issuer and the single SAN identity of a Fulcio certificate."""
    return _issuer(cert), _subject(cert)


def _compile(name: str, pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise TrustRootError(f"{name} is not a valid regular expression: {exc}") from exc


def _match(exact: str | None, pattern: re.Pattern[str] | None, value: str) -> bool:
    if pattern is not None:
        return pattern.fullmatch(value) is not None
    return value == exact


def _issuer(cert: x509.Certificate) -> str:
    values = []
    for oid, der_string in ((OIDC_ISSUER_V2, True), (OIDC_ISSUER_V1, False)):
        try:
            raw = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        data = raw.value if isinstance(raw, x509.UnrecognizedExtension) else b""
        values.append(_utf8_string(data) if der_string else _decode(data))
    if not values:
        raise IdentityMismatchError("signing certificate has no OIDC issuer extension")
    if len(set(values)) != 1:
        raise IdentityMismatchError("signing certificate's two OIDC issuer extensions disagree")
    return values[0]


def _subject(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise IdentityMismatchError("signing certificate has no subject alternative name") from exc
    names = [*san.get_values_for_type(x509.RFC822Name)]
    names += san.get_values_for_type(x509.UniformResourceIdentifier)
    names += [
        _utf8_string(other.value)
        for other in san.get_values_for_type(x509.OtherName)
        if other.type_id == FULCIO_OTHERNAME
    ]
    if len(names) != 1:
        raise IdentityMismatchError(
            f"signing certificate has {len(names)} identities, expected one"
        )
    return names[0]


def _utf8_string(der: bytes) -> str:
    # A DER UTF8String (tag 0x0C) with a short or long-form length.
    if len(der) < 2 or der[0] != 0x0C:
        raise IdentityMismatchError("certificate identity extension is not a DER UTF8String")
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or len(der) < 2 + count:
            raise IdentityMismatchError("certificate identity extension has a bad length")
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if offset + length != len(der):
        raise IdentityMismatchError("certificate identity extension has a bad length")
    return _decode(der[offset:])


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IdentityMismatchError("certificate identity is not UTF-8") from exc


#: The reference's development policy (``inttest.LocalDevIdentityPolicy``), anchored and with
#: escaped dots, each issuer paired with its own subjects. It accepts both dev bundles.
LOCAL_DEV_IDENTITY_POLICY = IdentityPolicy(
    (
        Identity(
            issuer="https://token.actions.githubusercontent.com",
            subject_regex=r"https://github\.com/confidentsecurity/T/\.github/workflows/[^\s]+",
        ),
        Identity(
            issuer="https://accounts.google.com",
            subject="sigstore-signer@sigstore-test-461110.iam.gserviceaccount.com",
        ),
    )
)
