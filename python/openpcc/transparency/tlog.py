"""A transparency log in the C2SP tlog-tiles layout, its clients and its witnesses.

The log (``TransparencyLog``) appends entries (signed statement bundles), keeps every
complete-subtree hash, and publishes a static directory any HTTP server can serve:

* ``checkpoint``: a signed note (c2sp.org/tlog-checkpoint), later cosigned by witnesses;
* ``tile/<L>/<N>[.p/<W>]``: the hashes at tree level ``8·L``, 256 per full tile;
* ``tile/entries/<N>[.p/<W>]``: the entries, each prefixed by its big-endian u16 length.

A client (``LogClient``) reads only that layout through a ``fetch(path) -> bytes`` function. It
verifies the checkpoint's log signature and a quorum of witness cosignatures, proves consistency
with the last checkpoint it saved (``state_path``), and proves an entry's inclusion from the tiles;
every hash it reads is authenticated by recomputing the signed root. A ``Witness`` cosigns a
checkpoint only after the same consistency check against the last one it cosigned.

Nothing here reads the clock except where a caller passes ``clock``.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from openpcc.exceptions import (
    EntryNotLoggedError,
    EntryTooLargeError,
    LogProofError,
    LogStateError,
    NoteError,
    OpenPCCError,
    SplitViewError,
    TransparencyError,
    WitnessConflictError,
)
from openpcc.transparency import merkle
from openpcc.transparency.note import Checkpoint, SignedCheckpoint, Signer, Verifier

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY_BYTES = 0xFFFF

Fetch = Callable[[str], bytes]


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` with ``N`` split in 3-digit elements, all but the last prefixed ``x``."""
    return _path(f"tile/{level}", index, width)


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    return _path("tile/entries", index, width)


def _path(prefix: str, index: int, width: int) -> str:
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    parts = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    encoded = "/".join([*("x" + p for p in parts[:-1]), parts[-1]])
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"{prefix}/{encoded}{suffix}"


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def decode_entry_bundle(data: bytes, count: int) -> list[bytes]:
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise LogProofError("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + length > len(data):
            raise LogProofError("entry bundle ends inside an entry")
        entries.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    if len(entries) != count:
        raise LogProofError(f"entry bundle holds {len(entries)} entries, expected {count}")
    return entries


# --- the log ------------------------------------------------------------------


class TransparencyLog:
    """An append-only log whose state is its tlog-tiles directory (reloaded on start)."""

    def __init__(self, directory: str | os.PathLike[str], signer: Signer) -> None:
        self.directory = Path(directory)
        self.signer = signer
        self.origin = signer.verifier.name
        self._hashes = merkle.MemoryHashStore()
        self._entries: list[bytes] = []
        self._index: dict[bytes, int] = {}
        self._lock = threading.Lock()
        self._reload()

    @property
    def size(self) -> int:
        return self._hashes.size

    def append(self, entry: bytes) -> int:
        """Add ``entry`` (idempotent: an entry already logged keeps its index); returns its index."""
        entry = bytes(entry)
        if len(entry) > MAX_ENTRY_BYTES:
            raise EntryTooLargeError(f"entry of {len(entry)} bytes exceeds {MAX_ENTRY_BYTES}")
        leaf = merkle.leaf_hash(entry)
        with self._lock:
            if leaf in self._index:
                return self._index[leaf]
            index = self.size
            self._hashes.append_leaf_hash(leaf)
            self._entries.append(entry)
            self._index[leaf] = index
            return index

    def lookup(self, leaf_hash: bytes) -> int | None:
        """The index of the entry whose RFC 9162 leaf hash is ``leaf_hash``, if logged."""
        return self._index.get(bytes(leaf_hash))

    def index_of(self, entry: bytes) -> int:
        try:
            return self._index[merkle.leaf_hash(bytes(entry))]
        except KeyError as exc:
            raise EntryNotLoggedError("entry is not in the log") from exc

    def publish(self) -> SignedCheckpoint:
        """Write the tiles for the current size and a freshly signed ``checkpoint``."""
        with self._lock:
            size = self.size
            self._write_tiles(size)
            signed = SignedCheckpoint.sign(
                Checkpoint(self.origin, size, self._hashes.root(size)), self.signer
            )
            _atomic_write(self.directory / "checkpoint", signed.encode())
            return signed

    def write_checkpoint(self, signed: SignedCheckpoint) -> None:
        """Replace ``checkpoint`` with the same checkpoint carrying more (witness) signatures."""
        current = SignedCheckpoint.parse((self.directory / "checkpoint").read_bytes())
        if current.checkpoint != signed.checkpoint:
            raise LogStateError("a cosigned checkpoint must be the one the log last published")
        _atomic_write(self.directory / "checkpoint", signed.encode())

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return merkle.consistency_proof(self._hashes, old_size, new_size)

    def root(self, size: int) -> bytes:
        return self._hashes.root(size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof(self._hashes, index, size)

    def _write_tiles(self, size: int) -> None:
        level = 0
        while True:
            count = size >> (TILE_HEIGHT * level)
            if count == 0:
                break
            row = (
                self._hashes.levels[TILE_HEIGHT * level]
                if TILE_HEIGHT * level < len(self._hashes.levels)
                else []
            )
            for n in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
                width = min(TILE_WIDTH, count - n * TILE_WIDTH)
                target = self.directory / tile_path(level, n, width)
                if not target.exists():
                    _atomic_write(target, b"".join(row[n * TILE_WIDTH : n * TILE_WIDTH + width]))
                if level == 0:
                    bundle = self.directory / entries_path(n, width)
                    if not bundle.exists():
                        chunk = self._entries[n * TILE_WIDTH : n * TILE_WIDTH + width]
                        _atomic_write(bundle, encode_entry_bundle(chunk))
            if count < TILE_WIDTH:
                break
            level += 1

    def _reload(self) -> None:
        path = self.directory / "checkpoint"
        if not path.exists():
            return
        try:
            signed = SignedCheckpoint.parse(path.read_bytes())
            signed.verify(self.signer.verifier)
            entries = read_entries(
                DirectoryFetch(self.directory), 0, signed.checkpoint.size, signed.checkpoint.size
            )
        except (OSError, OpenPCCError) as exc:
            raise LogStateError(f"cannot reload the log from {self.directory}: {exc}") from exc
        for entry in entries:
            self.append(entry)
        if self._hashes.root() != signed.checkpoint.root:
            raise LogStateError("the log's entries do not match its checkpoint")


def read_entries(fetch: Fetch, start: int, end: int, size: int) -> list[bytes]:
    """Entries ``[start, end)`` of a tree of ``size`` from its entry bundles (not yet authenticated)."""
    out: list[bytes] = []
    for n in range(start // TILE_WIDTH, (end + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        bundle = decode_entry_bundle(fetch(entries_path(n, width)), width)
        lo, hi = max(start - n * TILE_WIDTH, 0), min(end - n * TILE_WIDTH, width)
        out.extend(bundle[lo:hi])
    return out


# --- reading tiles ------------------------------------------------------------


class DirectoryFetch:
    """``fetch`` over a local tlog-tiles directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __call__(self, path: str) -> bytes:
        try:
            return (self.root / path).read_bytes()
        except OSError as exc:
            raise LogProofError(f"log resource {path} is missing") from exc


class TileHashStore:
    """Complete-subtree hashes of a tree of ``size``, read from its tiles (cached per tile)."""

    def __init__(self, fetch: Fetch, size: int) -> None:
        self.fetch, self.size = fetch, size
        self._tiles: dict[tuple[int, int, int], bytes] = {}
        self._hashes: dict[tuple[int, int], bytes] = {}

    def stored_hash(self, level: int, index: int) -> bytes:
        cached = self._hashes.get((level, index))
        if cached is None:
            cached = self._hashes[(level, index)] = self._compute(level, index)
        return cached

    def _compute(self, level: int, index: int) -> bytes:
        tile_level, rise = divmod(level, TILE_HEIGHT)
        first = index << rise  # first node of the tile row under this subtree
        count = self.size >> (TILE_HEIGHT * tile_level)
        if first + (1 << rise) > count:
            raise LogProofError(
                f"subtree at level {level} index {index} is not complete in size {self.size}"
            )
        n = first // TILE_WIDTH
        width = min(TILE_WIDTH, count - n * TILE_WIDTH)
        tile = self._tile(tile_level, n, width)
        offset = first - n * TILE_WIDTH
        row = [tile[32 * i : 32 * i + 32] for i in range(offset, offset + (1 << rise))]
        while len(row) > 1:
            row = [merkle.node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
        return row[0]

    def _tile(self, level: int, n: int, width: int) -> bytes:
        key = (level, n, width)
        if key not in self._tiles:
            data = self.fetch(tile_path(level, n, width))
            if len(data) != 32 * width:
                raise LogProofError(
                    f"tile {tile_path(level, n, width)} has {len(data)} bytes, expected {32 * width}"
                )
            self._tiles[key] = data
        return self._tiles[key]


# --- the client -----------------------------------------------------------------


@dataclass(frozen=True)
class LogTrust:
    """What a client trusts: the log's key, the witnesses' keys and how many must cosign."""

    log_key: Verifier
    witnesses: tuple[Verifier, ...] = ()
    quorum: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.quorum <= len(self.witnesses):
            raise LogStateError(
                f"witness quorum {self.quorum} is not between 0 and {len(self.witnesses)}"
            )


class LogClient:
    """Follows one log: verified checkpoints, consistency with the last one seen, inclusion of entries."""

    def __init__(
        self, trust: LogTrust, fetch: Fetch, state_path: str | os.PathLike[str] | None = None
    ) -> None:
        self.trust, self.fetch = trust, fetch
        self.state_path = Path(state_path) if state_path is not None else None
        self.latest: SignedCheckpoint | None = self._load_state()
        self._accepted = b""  # the bytes of the checkpoint last accepted in full

    def update(self) -> Checkpoint:
        """Fetch the log's checkpoint, verify it and its consistency with the last one seen; save it."""
        return self.accept(self.fetch("checkpoint"))

    def accept(self, data: bytes) -> Checkpoint:
        """Verify a checkpoint from any source (the log, a peer, a gossip channel) against our view."""
        data = bytes(data)
        if self.latest is not None and data == self._accepted:
            return self.latest.checkpoint  # these exact bytes were verified and accepted already
        signed = SignedCheckpoint.parse(data)
        signed.verify(self.trust.log_key, self.trust.witnesses, self.trust.quorum)
        new = signed.checkpoint
        old = self.latest.checkpoint if self.latest is not None else None
        if old is not None:
            self._check_consistent(old, new)
            if new.size <= old.size:
                return old  # the same or an older consistent view: keep (and do not rewrite) ours
        self.latest, self._accepted = signed, data
        self._save_state()
        return new

    def require_included(self, entry: bytes, index: int | None = None) -> int:
        """Prove ``entry`` is in the tree of the latest checkpoint; returns its index.

        Without ``index`` the client reads the log's entries to find it (a monitor's view).
        Raises ``EntryNotLoggedError`` if the entry is absent or its proof fails.
        """
        if self.latest is None:
            raise LogStateError("no verified checkpoint yet: call update() first")
        checkpoint = self.latest.checkpoint
        entry = bytes(entry)
        try:
            if index is None:
                index = self._find(entry, checkpoint.size)
            if not 0 <= index < checkpoint.size:
                raise EntryNotLoggedError(
                    f"index {index} is outside the log of size {checkpoint.size}"
                )
            logged = read_entries(self.fetch, index, index + 1, checkpoint.size)[0]
            if logged != entry:
                raise EntryNotLoggedError(f"the log holds a different entry at index {index}")
            store = TileHashStore(self.fetch, checkpoint.size)
            proof = merkle.inclusion_proof(store, index, checkpoint.size)
            merkle.verify_inclusion(
                index, checkpoint.size, merkle.leaf_hash(entry), proof, checkpoint.root
            )
        except LogProofError as exc:
            raise EntryNotLoggedError(f"entry is not provably in the log: {exc}") from exc
        return index

    def entries(self, start: int) -> Iterator[tuple[int, bytes]]:
        """Entries from ``start`` up to the latest checkpoint, each proven against its root."""
        if self.latest is None:
            raise LogStateError("no verified checkpoint yet: call update() first")
        checkpoint = self.latest.checkpoint
        store = TileHashStore(self.fetch, checkpoint.size)
        if merkle.subtree_hash(store, 0, checkpoint.size) != checkpoint.root:
            raise LogProofError("the log's tiles do not match its checkpoint")
        for offset, entry in enumerate(
            read_entries(self.fetch, start, checkpoint.size, checkpoint.size)
        ):
            index = start + offset
            if merkle.leaf_hash(entry) != store.stored_hash(0, index):
                raise LogProofError(f"entry {index} does not match its tile")
            yield index, entry

    def _check_consistent(self, old: Checkpoint, new: Checkpoint) -> None:
        if old.origin != new.origin:
            raise LogStateError("checkpoint is for another log than the saved state")
        small, large = (old, new) if old.size <= new.size else (new, old)
        try:
            if small.size == large.size:
                merkle.verify_consistency(small.size, large.size, small.root, large.root, [])
                return
            # The larger tree's tiles give the proof; its signed root authenticates them.
            store = TileHashStore(self.fetch, large.size)
            proof = merkle.consistency_proof(store, small.size, large.size)
            merkle.verify_consistency(small.size, large.size, small.root, large.root, proof)
        except LogProofError as exc:
            raise SplitViewError(
                f"checkpoint of size {new.size} (root {new.root.hex()[:16]}) is inconsistent with the "
                f"checkpoint of size {old.size} (root {old.root.hex()[:16]}) seen before: the log shows "
                "different histories to different clients"
            ) from exc

    def _find(self, entry: bytes, size: int) -> int:
        for index, logged in enumerate(read_entries(self.fetch, 0, size, size)):
            if logged == entry:
                return index
        raise EntryNotLoggedError("entry is not in the log")

    def _load_state(self) -> SignedCheckpoint | None:
        if self.state_path is None or not self.state_path.exists():
            return None
        try:
            signed = SignedCheckpoint.parse(self.state_path.read_bytes())
            signed.verify(self.trust.log_key)
        except (OSError, NoteError, TransparencyError) as exc:
            raise LogStateError(f"saved checkpoint {self.state_path} is unusable: {exc}") from exc
        return signed

    def _save_state(self) -> None:
        if self.state_path is not None and self.latest is not None:
            _atomic_write(self.state_path, self.latest.encode())


# --- witnesses --------------------------------------------------------------------


class Witness:
    """Cosigns a log's checkpoints, each only if consistent with the last one it cosigned.

    ``state_path`` keeps the last cosigned checkpoint per log origin (JSON); ``clock`` gives the
    cosignature timestamp in POSIX seconds.
    """

    def __init__(
        self,
        signer: Signer,
        logs: Sequence[Verifier],
        state_path: str | os.PathLike[str],
        clock: Callable[[], int],
    ) -> None:
        self.signer, self.clock = signer, clock
        self.logs = {log.name: log for log in logs}
        self.state_path = Path(state_path)
        self._lock = threading.Lock()

    def cosign(
        self, data: bytes, proof: Sequence[bytes], old_size: int | None = None
    ) -> SignedCheckpoint:
        """Verify the log's signature and consistency from our last view; return the checkpoint cosigned.

        ``old_size`` is the size the caller believes we last cosigned (c2sp.org/tlog-witness): if it
        is not, ``WitnessConflictError`` carries ours so the caller can resend a proof from it.
        """
        signed = SignedCheckpoint.parse(data)
        log_key = self.logs.get(signed.checkpoint.origin)
        if log_key is None:
            raise LogStateError(
                f"this witness does not follow the log {signed.checkpoint.origin[:100]!r}"
            )
        signed.verify(log_key)
        new = signed.checkpoint
        with self._lock:
            state = self._load()
            seen = _seen(state, new.origin)
            if old_size is not None and old_size != (seen[0] if seen is not None else 0):
                raise WitnessConflictError(seen[0] if seen is not None else 0)
            if seen is not None:
                old_size, old_root = seen
                if new.size < old_size:
                    raise SplitViewError(
                        f"checkpoint of size {new.size} is older than the {old_size} already cosigned"
                    )
                try:
                    merkle.verify_consistency(old_size, new.size, old_root, new.root, proof)
                except LogProofError as exc:
                    raise SplitViewError(
                        f"checkpoint of size {new.size} is not consistent with the size {old_size} "
                        "this witness cosigned: refusing to cosign"
                    ) from exc
            state[new.origin] = {"size": new.size, "root": base64.b64encode(new.root).decode()}
            _atomic_write(self.state_path, json.dumps(state, sort_keys=True).encode())
        return signed.cosign(self.signer, self.clock())

    def _load(self) -> dict[str, dict[str, object]]:
        if not self.state_path.exists():
            return {}
        try:
            state = json.loads(self.state_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise LogStateError(f"witness state {self.state_path} is unreadable") from exc
        if not isinstance(state, dict):
            raise LogStateError(f"witness state {self.state_path} is not a JSON object")
        return state


def parse_add_checkpoint(body: bytes) -> tuple[int, list[bytes], bytes]:
    """A c2sp.org/tlog-witness ``add-checkpoint`` body: ``old <N>``, proof hashes, blank line, checkpoint."""
    head, sep, checkpoint = body.partition(b"\n\n")
    lines = head.split(b"\n")
    if not sep or not lines[0].startswith(b"old ") or not lines[0][4:].isdigit():
        raise NoteError(
            "add-checkpoint body is 'old <size>', proof lines, a blank line, a checkpoint"
        )
    try:
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
    except ValueError as exc:
        raise NoteError("add-checkpoint proof line is not base64") from exc
    if len(proof) > 63 or any(len(p) != 32 for p in proof):
        raise NoteError(
            "add-checkpoint proof has more than 63 lines or a hash that is not 32 bytes"
        )
    return int(lines[0][4:]), proof, checkpoint


def encode_add_checkpoint(old_size: int, proof: Sequence[bytes], checkpoint: bytes) -> bytes:
    lines = [f"old {old_size}".encode(), *(base64.b64encode(p) for p in proof)]
    return b"\n".join(lines) + b"\n\n" + checkpoint


def _seen(state: dict[str, dict[str, object]], origin: str) -> tuple[int, bytes] | None:
    entry = state.get(origin)
    if entry is None:
        return None
    size, root = (
        entry.get("size") if isinstance(entry, dict) else None,
        entry.get("root") if isinstance(entry, dict) else None,
    )
    if type(size) is not int or not isinstance(root, str):
        raise LogStateError(f"witness state for {origin[:100]!r} is malformed")
    try:
        return size, base64.b64decode(root, validate=True)
    except ValueError as exc:
        raise LogStateError(f"witness state for {origin[:100]!r} is malformed") from exc


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
