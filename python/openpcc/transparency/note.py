"""C2SP signed notes, checkpoints and witness cosignatures.

* signed-note (c2sp.org/signed-note): text ending in a newline, a blank line, then lines
  ``— <key name> base64(key ID (4) || signature)``. Ed25519 signatures are type ``0x01``.
* tlog-checkpoint (c2sp.org/tlog-checkpoint): the note text ``<origin>\\n<size>\\n<base64 root>\\n``
  plus optional extension lines.
* tlog-cosignature (c2sp.org/tlog-cosignature): a witness's type ``0x04`` signature, whose bytes
  are ``timestamp (u64 BE) || Ed25519 signature`` over
  ``cosignature/v1\\ntime <timestamp>\\n`` + the checkpoint text.

Key IDs are ``SHA-256(name || 0x0A || type || public key)[:4]``. Verifier keys are written
``<name>+<hex key ID>+<base64(type || public key)>`` and signer keys
``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>`` (the Go ``sumdb/note`` encoding).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from openpcc.exceptions import NoteError, NoteVerificationError, TooFewWitnessesError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
SIGNATURE_PREFIX = "\u2014 "
MAX_SIGNATURES = 32
MAX_NOTE_BYTES = 64 * 1024
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("a key name must be non-empty, without spaces or '+'")


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: Ed25519 note signer (0x01) or witness cosigner (0x04)."""

    name: str
    sig_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.sig_type not in (ED25519, COSIGNATURE_V1) or len(self.public_key) != 32:
            raise NoteError(
                "only Ed25519 (0x01) and cosignature/v1 (0x04) keys of 32 bytes are supported"
            )

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public_key)

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        parts = vkey.split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>")
        name, hex_id, b64 = parts
        try:
            declared = bytes.fromhex(hex_id)
            raw = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError("verifier key has a bad key ID or base64") from exc
        if not raw:
            raise NoteError("verifier key is empty")
        verifier = cls(name, raw[0], raw[1:])
        if verifier.key_id != declared:
            raise NoteError("verifier key's ID does not match its name and key")
        return verifier

    def encode(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()}"

    def verify(self, text: bytes, signature: bytes) -> int | None:
        """Check a signature over a note text; returns the cosignature timestamp for 0x04 keys."""
        public = Ed25519PublicKey.from_public_bytes(self.public_key)
        timestamp = None
        message = text
        if self.sig_type == COSIGNATURE_V1:
            if len(signature) != 72:
                raise NoteVerificationError(f"cosignature from {self.name!r} is not 72 bytes")
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp >= 1 << 63:
                raise NoteVerificationError(
                    f"cosignature from {self.name!r} has an invalid timestamp"
                )
            message = cosigned_message(text, timestamp)
            signature = signature[8:]
        try:
            public.verify(signature, message)
        except InvalidSignature as exc:
            raise NoteVerificationError(f"signature from {self.name!r} does not verify") from exc
        return timestamp


class Signer:
    """An Ed25519 private key that signs notes (0x01) or cosigns checkpoints (0x04)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey, sig_type: int = ED25519) -> None:
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, sig_type, public)
        self._key = private_key

    @classmethod
    def generate(cls, name: str, sig_type: int = ED25519) -> Signer:
        return cls(name, Ed25519PrivateKey.generate(), sig_type)

    @classmethod
    def parse(cls, skey: str) -> Signer:
        prefix = "PRIVATE+KEY+"
        if not skey.startswith(prefix):
            raise NoteError("a signer key starts with PRIVATE+KEY+")
        parts = skey[len(prefix) :].split("+", 2)
        if len(parts) != 3:
            raise NoteError("a signer key is PRIVATE+KEY+<name>+<hex ID>+<base64 key>")
        name, hex_id, b64 = parts
        try:
            raw = base64.b64decode(b64, validate=True)
            declared = bytes.fromhex(hex_id)
        except (ValueError, binascii.Error) as exc:
            raise NoteError("signer key has a bad key ID or base64") from exc
        if len(raw) != 33:
            raise NoteError("signer key is not a type byte and a 32-byte Ed25519 seed")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]), raw[0])
        if signer.verifier.key_id != declared:
            raise NoteError("signer key's ID does not match its name and key")
        return signer

    def encode_private(self) -> str:
        seed = self._key.private_bytes_raw()
        b64 = base64.b64encode(bytes([self.verifier.sig_type]) + seed).decode()
        return f"PRIVATE+KEY+{self.verifier.name}+{self.verifier.key_id.hex()}+{b64}"

    def __repr__(self) -> str:
        return f"Signer({self.verifier.encode()!r})"

    def sign(self, text: bytes, *, timestamp: int | None = None) -> str:
        """A signature line (without newline) over ``text``; cosigners need ``timestamp``."""
        if self.verifier.sig_type == COSIGNATURE_V1:
            if timestamp is None or not 0 <= timestamp < 1 << 63:
                raise NoteError("a cosignature needs a timestamp in 0..2**63-1")
            raw = timestamp.to_bytes(8, "big") + self._key.sign(cosigned_message(text, timestamp))
        else:
            raw = self._key.sign(text)
        blob = base64.b64encode(self.verifier.key_id + raw).decode()
        return f"{SIGNATURE_PREFIX}{self.verifier.name} {blob}"


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + text


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    text: bytes
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, data: bytes) -> Note:
        if len(data) > MAX_NOTE_BYTES:
            raise NoteError(f"note of {len(data)} bytes exceeds {MAX_NOTE_BYTES}")
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("note is not UTF-8") from exc
        if any(ord(c) < 0x20 and c != "\n" for c in decoded):
            raise NoteError("note contains a control character")
        split = decoded.rfind("\n\n")
        if split < 0 or not decoded.endswith("\n"):
            raise NoteError("note has no blank line before its signatures")
        text, lines = decoded[: split + 1], decoded[split + 2 : -1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
        return cls(text.encode(), tuple(_parse_signature_line(line) for line in lines))

    def encode(self) -> bytes:
        lines = [
            f"{SIGNATURE_PREFIX}{s.name} {base64.b64encode(s.key_id + s.signature).decode()}"
            for s in self.signatures
        ]
        return self.text + b"\n" + "".join(line + "\n" for line in lines).encode()

    def add(self, line: str) -> Note:
        return Note(self.text, (*self.signatures, _parse_signature_line(line)))

    def verified_by(self, verifier: Verifier) -> int | None | bool:
        """``False`` if ``verifier`` did not sign; otherwise verify (raising if bad) and return its timestamp or ``True``."""
        found: int | None | bool = False
        for sig in self.signatures:
            if sig.name == verifier.name and hmac.compare_digest(sig.key_id, verifier.key_id):
                stamp = verifier.verify(self.text, sig.signature)
                found = True if stamp is None else stamp
        return found


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("a note signature line starts with an em dash and a space")
    parts = line[len(SIGNATURE_PREFIX) :].split(" ")
    if len(parts) != 2 or not _BASE64.fullmatch(parts[1]):
        raise NoteError("a note signature line is '— <name> <base64>'")
    _check_name(parts[0])
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise NoteError("note signature is not valid base64") from exc
    if len(raw) < 5:
        raise NoteError("note signature is shorter than a key ID and one byte")
    return NoteSignature(parts[0], raw[:4], raw[4:])


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, tree size, root hash and extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> bytes:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "".join(line + "\n" for line in lines).encode()

    @classmethod
    def parse_text(cls, text: bytes) -> Checkpoint:
        lines = text.decode("utf-8", errors="strict").split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError(
                "a checkpoint has an origin, a size and a root hash, each on its own line"
            )
        origin, size, root, *extensions = lines[:-1]
        if not origin or not re.fullmatch(r"0|[1-9][0-9]{0,19}", size) or int(size) >= 1 << 63:
            raise NoteError(
                "checkpoint origin is empty or its size is not a decimal without leading zeros"
            )
        try:
            raw_root = base64.b64decode(root, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError("checkpoint root hash is not base64") from exc
        if len(raw_root) != 32 or any(not line for line in extensions):
            raise NoteError("checkpoint root hash is not 32 bytes, or an extension line is empty")
        return cls(origin, int(size), raw_root, tuple(extensions))


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: Note

    @classmethod
    def parse(cls, data: bytes) -> SignedCheckpoint:
        note = Note.parse(data)
        return cls(Checkpoint.parse_text(note.text), note)

    @classmethod
    def sign(cls, checkpoint: Checkpoint, signer: Signer) -> SignedCheckpoint:
        text = checkpoint.text()
        return cls(checkpoint, Note(text, ()).add(signer.sign(text)))

    def cosign(self, signer: Signer, timestamp: int) -> SignedCheckpoint:
        return SignedCheckpoint(
            self.checkpoint, self.note.add(signer.sign(self.note.text, timestamp=timestamp))
        )

    def encode(self) -> bytes:
        return self.note.encode()

    def verify(
        self, log_key: Verifier, witnesses: tuple[Verifier, ...] = (), quorum: int = 0
    ) -> int:
        """Check the log's signature and at least ``quorum`` witness cosignatures; returns how many verified.

        Signatures from unknown keys are ignored (signed-note); a bad signature from a known key
        rejects the whole checkpoint.
        """
        if self.checkpoint.origin != log_key.name:
            raise NoteVerificationError(
                f"checkpoint origin {self.checkpoint.origin[:100]!r} is not the log {log_key.name!r}"
            )
        if self.note.verified_by(log_key) is False:
            raise NoteVerificationError(f"checkpoint is not signed by the log key {log_key.name!r}")
        cosigned = sum(1 for w in witnesses if self.note.verified_by(w) is not False)
        if cosigned < quorum:
            raise TooFewWitnessesError(
                f"checkpoint of size {self.checkpoint.size} has {cosigned} of the {quorum} witness cosignatures required"
            )
        return cosigned
