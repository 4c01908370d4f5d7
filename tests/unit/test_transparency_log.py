"""The transparency log: RFC 9162 proofs, C2SP signed notes and cosignatures against published
vectors, tlog-tiles round trips, and the client refusing split views and unlogged entries."""

from __future__ import annotations

import base64
import hashlib
import itertools
from pathlib import Path

import pytest
from openpcc.exceptions import (
    EntryNotLoggedError,
    LogProofError,
    LogStateError,
    NoteError,
    NoteVerificationError,
    SplitViewError,
)
from openpcc.transparency import merkle
from openpcc.transparency.note import (
    COSIGNATURE_V1,
    Checkpoint,
    Note,
    SignedCheckpoint,
    Signer,
    Verifier,
)
from openpcc.transparency.tlog import (
    DirectoryFetch,
    LogClient,
    LogTrust,
    TileHashStore,
    TransparencyLog,
    Witness,
    entries_path,
    tile_path,
)

h = bytes.fromhex

# RFC 6962 test leaves and roots of the trees of sizes 1..8 (certificate-transparency's
# merkle_tree_test vectors, also used by transparency-dev/merkle).
LEAVES = [
    h(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION_5_OF_8 = [
    h(x)
    for x in (
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )
]
CONSISTENCY_6_TO_8 = [
    h(x)
    for x in (
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )
]
CONSISTENCY_2_TO_5 = [
    h(x)
    for x in (
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    )
]


def _store(count: int) -> merkle.MemoryHashStore:
    store = merkle.MemoryHashStore()
    for leaf in LEAVES[:count]:
        store.append_leaf_hash(merkle.leaf_hash(leaf))
    return store


# --- RFC 6962 / 9162 -----------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_rfc6962_vectors(size: int) -> None:
    assert _store(size).root().hex() == ROOTS[size - 1]


def test_inclusion_and_consistency_proofs_match_rfc6962_vectors() -> None:
    store = _store(8)
    assert merkle.inclusion_proof(store, 5, 8) == INCLUSION_5_OF_8
    assert merkle.consistency_proof(store, 6, 8) == CONSISTENCY_6_TO_8
    assert merkle.consistency_proof(store, 2, 5) == CONSISTENCY_2_TO_5
    merkle.verify_inclusion(5, 8, merkle.leaf_hash(LEAVES[5]), INCLUSION_5_OF_8, h(ROOTS[7]))
    merkle.verify_consistency(6, 8, h(ROOTS[5]), h(ROOTS[7]), CONSISTENCY_6_TO_8)
    merkle.verify_consistency(2, 5, h(ROOTS[1]), h(ROOTS[4]), CONSISTENCY_2_TO_5)


def test_wrong_proofs_are_rejected() -> None:
    leaf = merkle.leaf_hash(LEAVES[5])
    with pytest.raises(LogProofError):
        merkle.verify_inclusion(4, 8, leaf, INCLUSION_5_OF_8, h(ROOTS[7]))
    with pytest.raises(LogProofError):
        merkle.verify_inclusion(5, 8, leaf, INCLUSION_5_OF_8[:-1], h(ROOTS[7]))
    with pytest.raises(LogProofError):
        merkle.verify_inclusion(5, 8, leaf, [*INCLUSION_5_OF_8, INCLUSION_5_OF_8[0]], h(ROOTS[7]))
    with pytest.raises(LogProofError):
        merkle.verify_consistency(6, 8, h(ROOTS[4]), h(ROOTS[7]), CONSISTENCY_6_TO_8)
    with pytest.raises(LogProofError):
        merkle.verify_consistency(8, 6, h(ROOTS[7]), h(ROOTS[5]), CONSISTENCY_6_TO_8)
    with pytest.raises(LogProofError):
        merkle.verify_consistency(8, 8, h(ROOTS[7]), h(ROOTS[6]), [])


def test_every_proof_of_a_300_leaf_tree_verifies() -> None:
    store = merkle.MemoryHashStore()
    for i in range(300):
        store.append_leaf_hash(merkle.leaf_hash(i.to_bytes(4, "big")))
    for size in (1, 2, 3, 7, 8, 9, 255, 256, 257, 300):
        root = store.root(size)
        for index in {0, size // 2, size - 1}:
            proof = merkle.inclusion_proof(store, index, size)
            merkle.verify_inclusion(index, size, store.stored_hash(0, index), proof, root)
        for old in {1, size // 3, size - 1, size}:
            if 0 < old <= size:
                proof = merkle.consistency_proof(store, old, size)
                merkle.verify_consistency(old, size, store.root(old), root, proof)


# --- C2SP signed-note, checkpoints, cosignatures ---------------------------------

# golang.org/x/mod/sumdb/note's documented example: Ed25519 is deterministic, so signing the
# text with the published key must give the published note byte for byte.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = b"If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n".encode()
)

# A published CT log checkpoint (arche2025h1, Ed25519 note key) with a tlog-cosignature/v1 by the
# remora witness, plus signatures from keys we do not know (which must be ignored).
REAL_CHECKPOINT = """arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

\u2014 arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
\u2014 arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
\u2014 transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
\u2014 witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
\u2014 remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
\u2014 witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
""".encode()
REAL_LOG_KEY = (
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
)
REAL_WITNESS_KEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"


def test_signing_reproduces_the_go_sumdb_note_example() -> None:
    signer = Signer.parse(GO_SIGNER)
    assert signer.verifier.encode() == GO_VERIFIER
    assert signer.encode_private() == GO_SIGNER
    note = Note(GO_TEXT, ()).add(signer.sign(GO_TEXT))
    assert note.encode() == GO_NOTE
    assert Note.parse(GO_NOTE).verified_by(Verifier.parse(GO_VERIFIER)) is True
    tampered = Note.parse(GO_NOTE.replace(b"cryptography", b"cryptographY"))
    with pytest.raises(NoteVerificationError):
        tampered.verified_by(Verifier.parse(GO_VERIFIER))


def test_a_published_checkpoint_and_its_witness_cosignature_verify() -> None:
    signed = SignedCheckpoint.parse(REAL_CHECKPOINT)
    assert signed.checkpoint.size == 1432088532
    witness = Verifier.parse(REAL_WITNESS_KEY)
    assert witness.sig_type == COSIGNATURE_V1
    assert signed.verify(Verifier.parse(REAL_LOG_KEY), (witness,), quorum=1) == 1
    # The cosignature's timestamp is the 8 bytes after the key ID.
    assert isinstance(signed.note.verified_by(witness), int)
    forged = SignedCheckpoint.parse(REAL_CHECKPOINT.replace(b"1432088532", b"1432088533"))
    with pytest.raises(NoteVerificationError):
        forged.verify(Verifier.parse(REAL_LOG_KEY))


def test_quorum_not_met_and_unknown_log_are_refused() -> None:
    signed = SignedCheckpoint.parse(REAL_CHECKPOINT)
    other = Signer.generate("witness.example/other", COSIGNATURE_V1).verifier
    with pytest.raises(NoteVerificationError, match="1 of the 2"):
        signed.verify(
            Verifier.parse(REAL_LOG_KEY), (Verifier.parse(REAL_WITNESS_KEY), other), quorum=2
        )
    with pytest.raises(NoteVerificationError, match="origin"):
        signed.verify(Verifier.parse(GO_VERIFIER))


@pytest.mark.parametrize(
    "bad",
    [
        "no blank line\n\u2014 a AAAAAAAA\n".encode(),
        b"text\n\n- name AAAAAAAA\n",
        b"text\n\n\xe2\x80\x94 name not*base64\n",
        b"text\n\n\xe2\x80\x94 name AAAA\n",
        b"text\x01\n\n\xe2\x80\x94 name AAAAAAAA\n",
        b"\xff\n\n",
    ],
)
def test_malformed_notes_raise_note_error(bad: bytes) -> None:
    with pytest.raises(NoteError):
        Note.parse(bad)


@pytest.mark.parametrize(
    "text",
    [
        b"origin\n01\nAAAA\n",
        b"origin\n1\n" + base64.b64encode(b"x" * 31) + b"\n",
        b"\n1\n" + base64.b64encode(b"x" * 32) + b"\n",
        b"origin\n1\n",
    ],
)
def test_malformed_checkpoints_raise_note_error(text: bytes) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse_text(text)


def test_verifier_key_with_wrong_id_is_rejected() -> None:
    with pytest.raises(NoteError):
        Verifier.parse(GO_VERIFIER.replace("c74f20a3", "c74f20a4"))


# --- tlog-tiles ------------------------------------------------------------------


def test_tile_paths_follow_tlog_tiles() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 5, 17) == "tile/1/005.p/17"
    assert entries_path(0, 3) == "tile/entries/000.p/3"
    assert entries_path(1000) == "tile/entries/x001/000"


def _log(tmp_path: Path, name: str = "log.example/openpcc") -> tuple[TransparencyLog, Signer]:
    signer = Signer.generate(name)
    return TransparencyLog(tmp_path / "log", signer), signer


def test_tiles_give_the_same_proofs_as_the_log(tmp_path: Path) -> None:
    log, signer = _log(tmp_path)
    for i in range(600):
        log.append(b"entry %d" % i)
    published = log.publish()
    store = TileHashStore(DirectoryFetch(log.directory), 600)
    assert merkle.subtree_hash(store, 0, 600) == published.checkpoint.root
    for index in (0, 255, 256, 511, 599):
        assert merkle.inclusion_proof(store, index, 600) == log.inclusion_proof(index, 600)
    assert merkle.consistency_proof(store, 300, 600) == log.consistency_proof(300, 600)
    # A restart reloads the same log from its directory.
    again = TransparencyLog(log.directory, signer)
    assert again.size == 600 and again.index_of(b"entry 42") == 42


def _client(
    log: TransparencyLog,
    tmp_path: Path,
    name: str,
    witnesses: tuple[Verifier, ...] = (),
    quorum: int = 0,
) -> LogClient:
    trust = LogTrust(log.signer.verifier, witnesses, quorum)
    return LogClient(trust, DirectoryFetch(log.directory), tmp_path / f"{name}.checkpoint")


def test_client_proves_inclusion_and_refuses_an_absent_key(tmp_path: Path) -> None:
    log, _ = _log(tmp_path)
    key_statement = b"signed ohttp-keys statement"
    log.append(b"image manifest statement")
    index = log.append(key_statement)
    log.publish()
    client = _client(log, tmp_path, "alice")
    client.update()
    assert client.require_included(key_statement) == index
    assert client.require_included(key_statement, index) == index
    with pytest.raises(EntryNotLoggedError):
        client.require_included(b"a key the operator shows only to me")
    with pytest.raises(EntryNotLoggedError):
        client.require_included(b"a key the operator shows only to me", index)


def test_client_keeps_state_and_checks_consistency_across_restarts(tmp_path: Path) -> None:
    log, _ = _log(tmp_path)
    log.append(b"one")
    log.publish()
    _client(log, tmp_path, "alice").update()
    log.append(b"two")
    log.publish()
    restarted = _client(log, tmp_path, "alice")
    assert restarted.latest is not None and restarted.latest.checkpoint.size == 1
    assert restarted.update().size == 2
    assert [entry for _, entry in restarted.entries(0)] == [b"one", b"two"]


def _fork(tmp_path: Path, signer: Signer, entries: list[bytes], name: str) -> TransparencyLog:
    fork = TransparencyLog(tmp_path / name, signer)
    for entry in entries:
        fork.append(entry)
    fork.publish()
    return fork


def test_split_view_is_detected_when_a_client_sees_the_other_history(tmp_path: Path) -> None:
    """The operator shows Alice a log with the honest key and Bob a fork with a unique key."""
    signer = Signer.generate("log.example/openpcc")
    honest = _fork(tmp_path, signer, [b"image", b"key for everyone"], "honest")
    forked = _fork(tmp_path, signer, [b"image", b"key only for bob"], "forked")
    alice = LogClient(
        LogTrust(signer.verifier), DirectoryFetch(honest.directory), tmp_path / "alice"
    )
    bob = LogClient(LogTrust(signer.verifier), DirectoryFetch(forked.directory), tmp_path / "bob")
    alice.update()
    bob.update()
    # Same size, different roots: when Bob's checkpoint reaches Alice (gossip), she refuses it.
    with pytest.raises(SplitViewError, match="different histories"):
        alice.accept((forked.directory / "checkpoint").read_bytes())
    # The fork grows; Bob, who saw the fork, now reads the honest log: no consistency proof exists.
    honest.append(b"later")
    honest.publish()
    bob.fetch = DirectoryFetch(honest.directory)
    with pytest.raises(SplitViewError):
        bob.update()


def _witnessed(
    tmp_path: Path, log: TransparencyLog, witnesses: list[Witness], old_size: int
) -> bytes:
    signed = SignedCheckpoint.parse((log.directory / "checkpoint").read_bytes())
    proof = log.consistency_proof(old_size, signed.checkpoint.size)
    for witness in witnesses:
        signed = SignedCheckpoint(signed.checkpoint, witness.cosign(signed.encode(), proof).note)
    log.write_checkpoint(signed)
    return signed.encode()


def test_witnesses_refuse_to_cosign_a_fork_so_clients_lacking_quorum_refuse_it(
    tmp_path: Path,
) -> None:
    signer = Signer.generate("log.example/openpcc")
    clock = itertools.count(1_700_000_000).__next__
    witnesses = [
        Witness(
            Signer.generate(f"witness{i}.example", COSIGNATURE_V1),
            [signer.verifier],
            tmp_path / f"w{i}.json",
            clock,
        )
        for i in range(2)
    ]
    keys = tuple(w.signer.verifier for w in witnesses)
    honest = _fork(tmp_path, signer, [b"image", b"key for everyone"], "honest")
    _witnessed(tmp_path, honest, witnesses, 0)
    alice = LogClient(
        LogTrust(signer.verifier, keys, 2), DirectoryFetch(honest.directory), tmp_path / "alice"
    )
    assert alice.update().size == 2
    # The witnesses refuse the fork: it is not consistent with what they cosigned.
    forked = _fork(tmp_path, signer, [b"image", b"key only for bob", b"padding"], "forked")
    proof = forked.consistency_proof(2, 3)
    with pytest.raises(SplitViewError, match="refusing to cosign"):
        witnesses[0].cosign((forked.directory / "checkpoint").read_bytes(), proof)
    bob = LogClient(
        LogTrust(signer.verifier, keys, 2), DirectoryFetch(forked.directory), tmp_path / "bob"
    )
    with pytest.raises(NoteVerificationError, match="0 of the 2"):
        bob.update()
    # The honest log grows; the witnesses cosign, and Alice follows.
    honest.append(b"next key")
    honest.publish()
    _witnessed(tmp_path, honest, witnesses, 2)
    assert alice.update().size == 3
    assert alice.require_included(b"next key") == 2


def test_witness_refuses_a_rollback_and_unknown_logs(tmp_path: Path) -> None:
    log, signer = _log(tmp_path)
    witness = Witness(
        Signer.generate("w.example", COSIGNATURE_V1),
        [signer.verifier],
        tmp_path / "w.json",
        lambda: 1,
    )
    log.append(b"a")
    small = log.publish().encode()
    witness.cosign(small, [])
    log.append(b"b")
    large = log.publish()
    witness.cosign(large.encode(), log.consistency_proof(1, 2))
    with pytest.raises(SplitViewError, match="older"):
        witness.cosign(small, [])
    stranger = SignedCheckpoint.sign(
        Checkpoint("other.example/log", 1, b"\0" * 32), Signer.generate("other.example/log")
    )
    with pytest.raises(LogStateError):
        witness.cosign(stranger.encode(), [])


def test_a_tampered_tile_or_entry_bundle_is_caught(tmp_path: Path) -> None:
    log, _ = _log(tmp_path)
    for i in range(5):
        log.append(b"entry %d" % i)
    log.publish()
    client = _client(log, tmp_path, "alice")
    client.update()
    bundle = log.directory / entries_path(0, 5)
    bundle.write_bytes(bundle.read_bytes().replace(b"entry 3", b"entry X"))
    with pytest.raises(EntryNotLoggedError):
        client.require_included(b"entry 3", 3)
    tile = log.directory / tile_path(0, 0, 5)
    data = bytearray(tile.read_bytes())
    data[0] ^= 1
    tile.write_bytes(bytes(data))
    with pytest.raises(EntryNotLoggedError):
        client.require_included(b"entry 4", 4)


def test_saved_state_from_another_key_is_refused(tmp_path: Path) -> None:
    log, _ = _log(tmp_path)
    log.append(b"a")
    log.publish()
    _client(log, tmp_path, "alice").update()
    other = LogTrust(Signer.generate("log.example/openpcc").verifier)
    with pytest.raises(LogStateError):
        LogClient(other, DirectoryFetch(log.directory), tmp_path / "alice.checkpoint")


def test_leaf_hash_is_domain_separated() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


def test_oversized_entries_and_witness_conflicts_are_typed(tmp_path: Path) -> None:
    from openpcc.exceptions import EntryTooLargeError, WitnessConflictError
    from openpcc.transparency.tlog import encode_add_checkpoint, parse_add_checkpoint

    log, signer = _log(tmp_path)
    with pytest.raises(EntryTooLargeError):
        log.append(b"x" * 65536)
    assert log.append(b"x" * 65535) == 0
    signed = log.publish().encode()
    witness = Witness(
        Signer.generate("w.example", COSIGNATURE_V1),
        [signer.verifier],
        tmp_path / "w.json",
        lambda: 5,
    )
    with pytest.raises(WitnessConflictError) as conflict:
        witness.cosign(signed, [], old_size=3)
    assert conflict.value.size == 0
    witness.cosign(signed, [], old_size=0)
    old, proof, checkpoint = parse_add_checkpoint(encode_add_checkpoint(1, [b"\x01" * 32], signed))
    assert (old, proof, checkpoint) == (1, [b"\x01" * 32], signed)
    with pytest.raises(NoteError):
        parse_add_checkpoint(b"old x\n\n" + signed)
