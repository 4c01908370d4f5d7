"""A local signing profile: our own CA, CT key and log, issuing Sigstore bundles offline.

For self-hosted stacks and tests, ``LocalSigstore`` plays the three Sigstore services on one machine:

* a **certificate authority** (ECDSA P-256) issuing short-lived (10 minute) code-signing certificates
  to a local identity, with the Fulcio issuer extensions and an embedded SCT, as Fulcio does;
* a **CT log key** that signs that SCT (RFC 6962 precertificate entry);
* a **Rekor-compatible log**: every signed statement's ``dsse`` 0.0.1 entry is appended to our own
  tlog-tiles log (``TransparencyLog``, so witnesses and ``LogClient`` see the same tree); the bundle
  carries the entry's inclusion proof, a Rekor-style checkpoint and a signed entry timestamp (SET).

``trusted_root()`` is a Sigstore ``trusted_root.json`` naming exactly those keys, so the bundles verify
through the same ``StatementVerifier`` (the ``sigstore`` library) as the reference's, with nothing
bypassed. A development trust root is an explicit file the client is configured with; nothing here is
a "skip verification" switch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from openpcc.exceptions import TrustRootError
from openpcc.transparency.bundle import IN_TOTO_PAYLOAD_TYPE
from openpcc.transparency.note import Signer
from openpcc.transparency.policy import OIDC_ISSUER_V1, OIDC_ISSUER_V2
from openpcc.transparency.statements import Statement
from openpcc.transparency.tlog import TransparencyLog

SCT_LIST_OID = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
CERT_LIFETIME = timedelta(minutes=10)
ROOT_LIFETIME = timedelta(days=3650)
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(_spki(key)).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _utf8_string(text: str) -> bytes:
    raw = text.encode()
    return b"\x0c" + _der_length(len(raw)) + raw


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LocalSigstore:
    """Keys and log of the local profile. ``name`` names the CA, the logs and the log's note key."""

    name: str
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate
    ct_key: ec.EllipticCurvePrivateKey
    log_key: ec.EllipticCurvePrivateKey
    log: TransparencyLog
    created: datetime

    @classmethod
    def generate(cls, name: str, log_directory: str, now: datetime) -> LocalSigstore:
        if now.tzinfo is None:
            raise TrustRootError("the profile's creation time must be timezone-aware")
        ca_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openpcc"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + ROOT_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        log = TransparencyLog(log_directory, Signer.generate(name))
        return cls(
            name,
            ca_key,
            ca_cert,
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
            log,
            now - timedelta(minutes=1),
        )

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the keys (0600), the CA certificate and ``trusted_root.json`` under ``directory``."""
        from openpcc import config

        path = config.ensure_private_dir(Path(directory))
        for name, key in (("ca", self.ca_key), ("ct", self.ct_key), ("rekor", self.log_key)):
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            config.write_key_file(path / f"{name}.key", pem)
        config.write_key_file(path / "log.key", self.log.signer.encode_private().encode())
        (path / "ca.pem").write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        profile = {
            "name": self.name,
            "created": _rfc3339(self.created),
            "log": str(self.log.directory),
        }
        (path / "profile.json").write_text(json.dumps(profile, indent=2) + "\n")
        (path / "trusted_root.json").write_text(json.dumps(self.trusted_root(), indent=2) + "\n")
        (path / "log.vkey").write_text(self.log.signer.verifier.encode() + "\n")
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> LocalSigstore:
        from openpcc import config

        path = Path(directory)
        try:
            profile = json.loads((path / "profile.json").read_text())
            keys = {}
            for name in ("ca", "ct", "rekor"):
                key = serialization.load_pem_private_key(
                    config.read_key_file(path / f"{name}.key"), None
                )
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise TrustRootError(f"{name}.key is not an EC key")
                keys[name] = key
            ca_cert = x509.load_pem_x509_certificate((path / "ca.pem").read_bytes())
            signer = Signer.parse(config.read_key_file(path / "log.key").decode().strip())
            created = datetime.fromisoformat(profile["created"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TrustRootError(
                f"cannot load the signing profile in {path}: {type(exc).__name__}"
            ) from exc
        log = TransparencyLog(profile["log"], signer)
        return cls(profile["name"], keys["ca"], ca_cert, keys["ct"], keys["rekor"], log, created)

    def trusted_root(self) -> dict[str, Any]:
        """The Sigstore trusted root naming this profile's CA, log key and CT key."""
        start = {"start": _rfc3339(self.created)}

        def log_entry(key: ec.EllipticCurvePrivateKey, url: str) -> dict[str, Any]:
            public = key.public_key()
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki(public)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": start,
                },
                "logId": {"keyId": _b64(_key_id(public))},
            }

        ca_der = self.ca_cert.public_bytes(serialization.Encoding.DER)
        return {
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [log_entry(self.log_key, f"https://{self.name}/log")],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "openpcc", "commonName": self.name},
                    "uri": f"https://{self.name}/ca",
                    "certChain": {"certificates": [{"rawBytes": _b64(ca_der)}]},
                    "validFor": start,
                }
            ],
            "ctlogs": [log_entry(self.ct_key, f"https://{self.name}/ct")],
            "timestampAuthorities": [],
        }

    def sign_statement(
        self, statement: Statement, *, identity: str, issuer: str, at: datetime
    ) -> bytes:
        """A v0.3 JSON bundle: ``statement`` in a DSSE envelope signed by a fresh key certified for
        ``identity`` (an email address or a URI) from ``issuer``, logged, with its inclusion proof."""
        if at.tzinfo is None:
            raise TrustRootError("a signing time must be timezone-aware")
        signing_key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue(signing_key.public_key(), identity, issuer, at)
        payload = statement.to_json()
        pae = b"DSSEv1 %d %s %d %s" % (
            len(IN_TOTO_PAYLOAD_TYPE),
            IN_TOTO_PAYLOAD_TYPE.encode(),
            len(payload),
            payload,
        )
        signature = signing_key.sign(pae, ec.ECDSA(hashes.SHA256()))
        envelope = {
            "payload": _b64(payload),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": _b64(signature), "keyid": ""}],
        }
        entry = self._log_entry(envelope, payload, signature, cert, int(at.timestamp()))
        bundle = {
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {
                "certificate": {"rawBytes": _b64(cert.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [entry],
            },
            "dsseEnvelope": envelope,
        }
        return json.dumps(bundle, separators=(",", ":")).encode()

    def _issue(
        self, public: ec.EllipticCurvePublicKey, identity: str, issuer: str, at: datetime
    ) -> x509.Certificate:
        san: x509.GeneralName = (
            x509.RFC822Name(identity)
            if "@" in identity and "://" not in identity
            else x509.UniformResourceIdentifier(identity)
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(at - timedelta(seconds=1))
            .not_valid_after(at + CERT_LIFETIME)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(OIDC_ISSUER_V1, issuer.encode()), critical=False
            )
            .add_extension(
                x509.UnrecognizedExtension(OIDC_ISSUER_V2, _utf8_string(issuer)), critical=False
            )
        )
        # The SCT signs the certificate without its SCT extension (RFC 6962 precertificate entry).
        precert = builder.sign(self.ca_key, hashes.SHA256())
        sct = self._sct(precert.tbs_certificate_bytes, int(at.timestamp() * 1000))
        return builder.add_extension(
            x509.UnrecognizedExtension(SCT_LIST_OID, sct), critical=False
        ).sign(self.ca_key, hashes.SHA256())

    def _sct(self, tbs: bytes, millis: int) -> bytes:
        issuer_key_hash = _key_id(self.ca_key.public_key())
        signed = (
            b"\x00\x00"
            + millis.to_bytes(8, "big")
            + (1).to_bytes(2, "big")
            + issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + b"\x00\x00"
        )
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            b"\x00"
            + _key_id(self.ct_key.public_key())
            + millis.to_bytes(8, "big")
            + b"\x00\x00"
            + b"\x04\x03"
            + len(signature).to_bytes(2, "big")
            + signature
        )
        listed = len(sct).to_bytes(2, "big") + sct
        tls_list = len(listed).to_bytes(2, "big") + listed
        return b"\x04" + _der_length(len(tls_list)) + tls_list

    def _log_entry(
        self,
        envelope: dict[str, Any],
        payload: bytes,
        signature: bytes,
        cert: x509.Certificate,
        integrated: int,
    ) -> dict[str, Any]:
        pem = cert.public_bytes(serialization.Encoding.PEM)
        body = json.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest(),
                    },
                    "payloadHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(payload).hexdigest(),
                    },
                    "signatures": [{"signature": _b64(signature), "verifier": _b64(pem)}],
                },
            },
            separators=(",", ":"),
        ).encode()
        index = self.log.append(body)
        self.log.publish()
        size = self.log.size
        root = self.log.root(size)
        log_id = _key_id(self.log_key.public_key())
        set_payload = rfc8785.dumps(
            {
                "body": _b64(body),
                "integratedTime": integrated,
                "logID": log_id.hex(),
                "logIndex": index,
            }
        )
        note = f"{self.name} - {int.from_bytes(log_id[:8], 'big')}\n{size}\n{_b64(root)}\n".encode()
        note_signature = self.log_key.sign(note, ec.ECDSA(hashes.SHA256()))
        checkpoint = note + f"\n\u2014 {self.name} {_b64(log_id[:4] + note_signature)}\n".encode()
        return {
            "logIndex": str(index),
            "logId": {"keyId": _b64(log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(integrated),
            "inclusionPromise": {
                "signedEntryTimestamp": _b64(
                    self.log_key.sign(set_payload, ec.ECDSA(hashes.SHA256()))
                )
            },
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": _b64(root),
                "treeSize": str(size),
                "hashes": [_b64(h) for h in self.log.inclusion_proof(index, size)],
                "checkpoint": {"envelope": checkpoint.decode()},
            },
            "canonicalizedBody": _b64(body),
        }
