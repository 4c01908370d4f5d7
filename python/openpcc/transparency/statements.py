"""in-toto statements and the OpenPCC predicates (spec §7.1).

A statement is the DSSE payload (``application/vnd.in-toto+json``) of a Sigstore bundle. Each
OpenPCC predicate carries its data base64-encoded under a key, and a named subject carries that
data's SHA-256; :func:`predicate_data` returns the data only when the two agree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from openpcc.exceptions import StatementError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


class PredicateType(StrEnum):
    """The predicate types the reference signs."""

    OHTTP_KEYS = "https://confident.security/v2/ohttp-keys"
    PUBLIC_KEY = "https://confident.security/v1/public-key"
    IMAGE_MANIFEST = "https://confident.security/v2/image-manifest"
    SLSA_PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2"
    SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"


# (predicate key, subject name) pairs per predicate type.
OHTTP_KEYS_FIELD = ("ohttpKeys", "ohttp-keys")
ROTATION_PERIODS_FIELD = ("keyRotationPeriods", "key-rotation-periods")
JWK_FIELD = ("jwkRaw", "jwk")
IMAGE_MANIFEST_FIELD = ("imageManifest", "image-manifest")


@dataclass(frozen=True)
class Subject:
    name: str
    sha256: bytes


@dataclass(frozen=True)
class Statement:
    """An in-toto Statement v1 with SHA-256 subject digests."""

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: dict[str, Any]

    @classmethod
    def from_json(cls, payload: bytes) -> Statement:
        try:
            document = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StatementError("statement is not valid JSON") from exc
        if not isinstance(document, dict) or document.get("_type") != STATEMENT_TYPE:
            raise StatementError(f"statement _type is not {STATEMENT_TYPE}")
        predicate_type, predicate = document.get("predicateType"), document.get("predicate")
        if not isinstance(predicate_type, str) or not isinstance(predicate, dict):
            raise StatementError("statement needs a string predicateType and an object predicate")
        raw_subjects = document.get("subject")
        if not isinstance(raw_subjects, list) or not raw_subjects:
            raise StatementError("statement needs a non-empty subject list")
        subjects = tuple(_subject(item) for item in raw_subjects)
        if len({s.name for s in subjects}) != len(subjects):
            raise StatementError("statement names a subject twice")
        return cls(subjects, predicate_type, predicate)

    def to_json(self) -> bytes:
        document = {
            "_type": STATEMENT_TYPE,
            "subject": [
                {"name": s.name, "digest": {"sha256": s.sha256.hex()}} for s in self.subjects
            ],
            "predicateType": self.predicate_type,
            "predicate": self.predicate,
        }
        return json.dumps(document, separators=(",", ":")).encode()

    def subject(self, name: str) -> Subject:
        for subject in self.subjects:
            if subject.name == name:
                return subject
        raise StatementError(f"statement has no subject named {name!r}")

    def require_type(self, predicate_type: str) -> None:
        if self.predicate_type != predicate_type:
            raise StatementError(
                f"statement predicate type is {self.predicate_type[:100]!r}, expected {predicate_type!r}"
            )


def predicate_data(statement: Statement, field: tuple[str, str]) -> bytes:
    """The base64-decoded ``predicate[key]``, checked against the SHA-256 of subject ``name``."""
    key, name = field
    value = statement.predicate.get(key)
    if not isinstance(value, str):
        raise StatementError(f"predicate has no base64 string {key!r}")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StatementError(f"predicate {key!r} is not valid base64") from exc
    if not hmac.compare_digest(hashlib.sha256(data).digest(), statement.subject(name).sha256):
        raise StatementError(f"predicate {key!r} does not match the digest of subject {name!r}")
    return data


def build_statement(
    predicate_type: str, fields: Sequence[tuple[tuple[str, str], bytes]]
) -> Statement:
    """A statement whose predicate holds each data base64-encoded, with one subject per data."""
    subjects = tuple(Subject(name, hashlib.sha256(data).digest()) for (_, name), data in fields)
    predicate = {key: base64.b64encode(data).decode() for (key, _), data in fields}
    return Statement(subjects, predicate_type, predicate)


def ohttp_keys_statement(key_configs: bytes, rotation_periods_json: bytes) -> Statement:
    return build_statement(
        PredicateType.OHTTP_KEYS,
        [(OHTTP_KEYS_FIELD, key_configs), (ROTATION_PERIODS_FIELD, rotation_periods_json)],
    )


def public_key_statement(jwk_json: bytes) -> Statement:
    return build_statement(PredicateType.PUBLIC_KEY, [(JWK_FIELD, jwk_json)])


def image_manifest_statement(manifest_json: bytes) -> Statement:
    """The reference's image statement: the subject digest covers the manifest's ``artifact_id`` only."""
    artifact_id = image_artifact_id(manifest_json)
    return Statement(
        (Subject(IMAGE_MANIFEST_FIELD[1], hashlib.sha256(artifact_id.encode()).digest()),),
        PredicateType.IMAGE_MANIFEST,
        {IMAGE_MANIFEST_FIELD[0]: base64.b64encode(manifest_json).decode()},
    )


def image_manifest(statement: Statement) -> dict[str, Any]:
    """The verified Packer manifest of an image statement (``custom_data`` required)."""
    statement.require_type(PredicateType.IMAGE_MANIFEST)
    key, name = IMAGE_MANIFEST_FIELD
    value = statement.predicate.get(key)
    if not isinstance(value, str):
        raise StatementError(f"predicate has no base64 string {key!r}")
    try:
        manifest_json = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StatementError(f"predicate {key!r} is not valid base64") from exc
    artifact_id = image_artifact_id(manifest_json)
    digest = hashlib.sha256(artifact_id.encode()).digest()
    if not hmac.compare_digest(digest, statement.subject(name).sha256):
        raise StatementError("image manifest artifact_id does not match the statement's subject")
    manifest: dict[str, Any] = json.loads(manifest_json)
    return manifest


def image_artifact_id(manifest_json: bytes) -> str:
    try:
        manifest = json.loads(manifest_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StatementError("image manifest is not valid JSON") from exc
    if not isinstance(manifest, dict):
        raise StatementError("image manifest is not a JSON object")
    artifact_id = manifest.get("artifact_id")
    if not isinstance(artifact_id, str) or not artifact_id:
        raise StatementError("image manifest has no artifact_id")
    if not isinstance(manifest.get("custom_data"), dict):
        raise StatementError("image manifest has no custom_data")
    return artifact_id


def _subject(item: object) -> Subject:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise StatementError("statement subject needs a name")
    digest = item.get("digest")
    if not isinstance(digest, dict) or not isinstance(digest.get("sha256"), str):
        raise StatementError(f"statement subject {item['name'][:80]!r} has no sha256 digest")
    try:
        raw = bytes.fromhex(digest["sha256"])
    except ValueError as exc:
        raise StatementError("statement subject digest is not hex") from exc
    if len(raw) != 32:
        raise StatementError("statement subject sha256 digest is not 32 bytes")
    return Subject(item["name"], raw)
