"""RFC 9162 (RFC 6962) Merkle tree hashing, inclusion and consistency proofs.

``HashStore`` is anything that can give the hash of a *complete* subtree (``level``, ``index``):
the log keeps them in memory, and a client reads them from C2SP tlog-tiles. Proofs are built from
those with the recursive definitions of RFC 9162 §2.1.3.1 / §2.1.4.1 and checked with the
iterative algorithms of §2.1.3.2 / §2.1.4.2, which need nothing but the proof.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol

from openpcc.exceptions import LogProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class HashStore(Protocol):
    def stored_hash(self, level: int, index: int) -> bytes:
        """The root of the complete subtree of ``2**level`` leaves starting at ``index << level``."""
        ...


def _split(size: int) -> int:
    """The largest power of two strictly smaller than ``size`` (``size >= 2``)."""
    return 1 << ((size - 1).bit_length() - 1)


def subtree_hash(store: HashStore, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the tree covers; complete aligned subtrees come from ``store``."""
    size = end - start
    if size <= 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and start % size == 0:
        return store.stored_hash(size.bit_length() - 1, start // size)
    k = _split(size)
    return node_hash(subtree_hash(store, start, start + k), subtree_hash(store, start + k, end))


def inclusion_proof(store: HashStore, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise LogProofError(f"leaf {index} is not in a tree of size {size}")
    return _path(store, index, 0, size)


def _path(store: HashStore, index: int, start: int, end: int) -> list[bytes]:
    if end - start == 1:
        return []
    k = _split(end - start)
    if index < start + k:
        return [*_path(store, index, start, start + k), subtree_hash(store, start + k, end)]
    return [*_path(store, index, start + k, end), subtree_hash(store, start, start + k)]


def consistency_proof(store: HashStore, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1); empty when the sizes are equal or 0."""
    if not 0 <= old_size <= new_size:
        raise LogProofError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    return _subproof(store, old_size, 0, new_size, True)


def _subproof(store: HashStore, m: int, start: int, end: int, complete: bool) -> list[bytes]:
    size = end - start
    if m == size:
        return [] if complete else [subtree_hash(store, start, end)]
    k = _split(size)
    if m <= k:
        return [
            *_subproof(store, m, start, start + k, complete),
            subtree_hash(store, start + k, end),
        ]
    return [*_subproof(store, m - k, start + k, end, False), subtree_hash(store, start, start + k)]


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise LogProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for sibling in proof:
        _check_hash(sibling)
        if sn == 0:
            raise LogProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(sibling, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LogProofError("inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    if not hmac.compare_digest(root_from_inclusion(index, size, leaf, proof), root):
        raise LogProofError(
            f"inclusion proof for leaf {index} does not lead to the root of size {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: the tree of ``new_size`` extends the tree of ``old_size``."""
    if not 0 <= old_size <= new_size:
        raise LogProofError(f"tree shrank from {old_size} to {new_size}")
    if old_size == new_size:
        if proof or not hmac.compare_digest(old_root, new_root):
            raise LogProofError(f"two different roots for tree size {new_size}")
        return
    if old_size == 0:
        if proof:
            raise LogProofError("consistency proof from an empty tree must be empty")
        return
    if not proof:
        raise LogProofError("consistency proof is empty")
    for node in proof:
        _check_hash(node)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise LogProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or not (hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)):
        raise LogProofError(
            f"tree of size {new_size} is not an extension of the tree of size {old_size}"
        )


class MemoryHashStore:
    """All complete-subtree hashes of a growing tree, level by level."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append_leaf_hash(self, leaf: bytes) -> None:
        self.levels[0].append(leaf)
        level = 0
        # Each time a level gains an even-indexed right sibling, its parent becomes complete.
        while len(self.levels[level]) % 2 == 0:
            if len(self.levels) == level + 1:
                self.levels.append([])
            row = self.levels[level]
            self.levels[level + 1].append(node_hash(row[-2], row[-1]))
            level += 1

    def stored_hash(self, level: int, index: int) -> bytes:
        try:
            return self.levels[level][index]
        except IndexError as exc:
            raise LogProofError(f"no complete subtree at level {level} index {index}") from exc

    def root(self, size: int | None = None) -> bytes:
        return subtree_hash(self, 0, self.size if size is None else size)


def _check_hash(value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise LogProofError(f"proof hash of {len(value)} bytes, expected {HASH_SIZE}")
