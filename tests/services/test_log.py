"""The log and witness roles as real processes (stopped by PID): entries added over HTTP, checkpoints
cosigned by two witnesses through c2sp.org/tlog-witness, read back by a client that verifies the quorum,
consistency and inclusion over HTTP; a forked checkpoint refused by the witnesses."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from openpcc import config
from openpcc.exceptions import EntryNotLoggedError
from openpcc.transparency.cli import HTTPFetch
from openpcc.transparency.note import SignedCheckpoint, Signer, Verifier
from openpcc.transparency.tlog import LogClient, LogTrust, TransparencyLog, encode_add_checkpoint
from support.servers import RoleProcess, free_port, role_process

ORIGIN = "log.test/openpcc"


def _post(
    url: str, body: bytes, content_type: str = "application/octet-stream"
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _data_dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def stack(
    tmp_path: Path,
) -> Iterator[tuple[RoleProcess, Signer, list[RoleProcess], list[Verifier], list[Path]]]:
    signer = Signer.generate(ORIGIN)
    log_dir = _data_dir(tmp_path, "log")
    config.write_key_file(log_dir / "log.key", signer.encode_private().encode())
    with ExitStack() as stack:
        witnesses, dirs = [], []
        for i in range(2):
            port = free_port()
            wdir = _data_dir(tmp_path, f"w{i}")
            text = f'[witness]\nport = {port}\ndata_dir = "{wdir}"\nname = "witness{i}.test"\nlog_keys = "{signer.verifier.encode()}"\n'
            witnesses.append(
                stack.enter_context(role_process("witness", text, tmp_path / f"w{i}-run", port))
            )
            dirs.append(wdir)
        keys = [Verifier.parse((d / "witness.vkey").read_text().strip()) for d in dirs]
        port = free_port()
        urls = ",".join(w.url for w in witnesses)
        text = f'[log]\nport = {port}\ndata_dir = "{log_dir}"\norigin = "{ORIGIN}"\nwitness_urls = "{urls}"\n'
        log = stack.enter_context(role_process("log", text, tmp_path / "log-run", port))
        yield log, signer, witnesses, keys, dirs


def test_entries_are_cosigned_and_proven_over_http(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log, signer, _, keys, _ = stack
    indexes = []
    for entry in (b"ohttp-keys statement", b"image statement", b"ohttp-keys statement"):
        status, body = _post(log.url + "/add", entry)
        assert status == 200, body
        indexes.append(json.loads(body)["index"])
    assert indexes == [0, 1, 0]  # idempotent
    client = LogClient(
        LogTrust(signer.verifier, tuple(keys), 2),
        HTTPFetch(log.url),
        tmp_path / "client.checkpoint",
    )
    checkpoint = client.update()
    assert checkpoint.size == 2
    assert client.require_included(b"image statement") == 1
    with pytest.raises(EntryNotLoggedError):
        client.require_included(b"a key shown only to me")
    # /lookup gives a client the index of a statement it was shown.
    from openpcc.transparency.merkle import leaf_hash

    with urllib.request.urlopen(
        log.url + "/lookup/" + leaf_hash(b"image statement").hex(), timeout=10
    ) as resp:
        assert json.loads(resp.read()) == {"index": 1}
    _post(log.url + "/add", b"third")
    assert client.update().size == 3  # consistent with the saved size-2 checkpoint


def test_witnesses_refuse_a_fork_and_answer_conflicts(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log, signer, witnesses, _, _ = stack
    assert _post(log.url + "/add", b"key for everyone")[0] == 200
    # A fork of the same size signed with the log's key: the witness has seen size 1 with another root.
    fork = TransparencyLog(tmp_path / "fork", signer)
    fork.append(b"key only for bob")
    forked = fork.publish()
    status, body = _post(
        witnesses[0].url + "/add-checkpoint", encode_add_checkpoint(1, [], forked.encode())
    )
    assert status == 422 and b"refusing to cosign" in body
    # A wrong "old" size gets the witness's own size back (c2sp.org/tlog-witness 409).
    status, body = _post(
        witnesses[0].url + "/add-checkpoint", encode_add_checkpoint(0, [], forked.encode())
    )
    assert status == 409 and body == b"1\n"
    # A checkpoint from an unknown log key is refused.
    stranger = TransparencyLog(tmp_path / "stranger", Signer.generate(ORIGIN))
    stranger.append(b"x")
    status, _ = _post(
        witnesses[0].url + "/add-checkpoint",
        encode_add_checkpoint(1, [], stranger.publish().encode()),
    )
    assert status == 403
    # The log's checkpoint carries both cosignatures.
    with urllib.request.urlopen(log.url + "/checkpoint", timeout=10) as resp:
        served = SignedCheckpoint.parse(resp.read())
    assert len(served.note.signatures) == 3


def test_tile_paths_are_checked(stack) -> None:  # type: ignore[no-untyped-def]
    log = stack[0]
    for bad in ("/tile/../log.key", "/tile/0/abc", "/tile/entries/000.p/9999"):
        try:
            with urllib.request.urlopen(log.url + bad, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == 404


def test_a_new_checkpoint_is_served_only_after_the_witnesses_were_asked(tmp_path: Path) -> None:
    """While a witness has not answered, GET /checkpoint keeps serving the previous checkpoint, so a
    client that requires cosignatures never sees a bare one."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    release = threading.Event()

    class SlowWitness(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            release.wait(10)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    slow = ThreadingHTTPServer(("127.0.0.1", 0), SlowWitness)
    server = threading.Thread(target=slow.serve_forever, daemon=True)
    server.start()
    log_dir = _data_dir(tmp_path, "log")
    port = free_port()
    text = (
        f'[log]\nport = {port}\ndata_dir = "{log_dir}"\norigin = "{ORIGIN}"\n'
        f'witness_urls = "http://127.0.0.1:{slow.server_address[1]}"\n'
    )
    try:
        with role_process("log", text, tmp_path / "log-run", port) as log:
            answers: list[tuple[int, bytes]] = []
            adding = threading.Thread(target=lambda: answers.append(_post(log.url + "/add", b"entry")))
            adding.start()
            deadline = time.monotonic() + 10
            while not (log_dir / "tiles" / "tile" / "entries" / "000.p" / "1").exists():
                assert time.monotonic() < deadline, "the log did not append the entry"
                time.sleep(0.05)
            with urllib.request.urlopen(log.url + "/checkpoint", timeout=10) as resp:
                assert SignedCheckpoint.parse(resp.read()).checkpoint.size == 0
            release.set()
            adding.join(20)
            assert answers and answers[0][0] == 200
            with urllib.request.urlopen(log.url + "/checkpoint", timeout=10) as resp:
                assert SignedCheckpoint.parse(resp.read()).checkpoint.size == 1
    finally:
        release.set()
        slow.shutdown()
        slow.server_close()
