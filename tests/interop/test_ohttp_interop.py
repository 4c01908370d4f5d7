"""OHTTP interop with the Go reference: github.com/openpcc/twoway (what github.com/openpcc/ohttp seals and
opens with) over cloudflare/circl HPKE, on the reference suite 0x0030 and the mem-gateway key.

Both directions, plain and chunked: Go client -> openpcc gateway -> Go client, and openpcc client -> Go
gateway -> openpcc client. Skipped when Go (or its module proxy) is unavailable."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from openpcc import ohttp
from support.prerequisites import missing

pytestmark = pytest.mark.interop

PEER_DIR = Path(__file__).resolve().parent / "ohttp"
SEED = bytes.fromhex("0f4eda2e6c806018fb1082a6b0d8dc30c3aee556b41ac47cda7db81a57985997")
GO_REQUEST = b"go request " * 100
GO_RESPONSE = b"go response " * 100
OUR_REQUEST = b"openpcc request " * 70
OUR_RESPONSE = b"openpcc response " * 70


@pytest.fixture(scope="module")
def peer_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        missing("go is not installed (not on PATH)")
    binary = tmp_path_factory.mktemp("ohttp-peer") / "ohttp-peer"
    build = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=PEER_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if build.returncode != 0:
        missing(f"could not build the Go peer: {build.stderr.strip()[-300:]}")
    return binary


def chunked_open(
    opener: ohttp.ChunkedRequestOpener | ohttp.ChunkedResponseOpener, data: bytes
) -> bytes:
    return b"".join(opener.feed(data)) + opener.finish()


def test_interop_with_go_reference(peer_binary: Path) -> None:
    key = ohttp.GatewayKey.from_seed(1, ohttp.REFERENCE_KEM, SEED, [ohttp.HKDF_SHA256_AES128GCM])
    proc = subprocess.Popen(
        [str(peer_binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        go_requests = json.loads(proc.stdout.readline())

        # openpcc gateway opens the Go client's requests and answers them.
        request, responder = key.decapsulate_request(bytes.fromhex(go_requests["plain_request"]))
        assert request == GO_REQUEST
        plain_response = responder.encapsulate_response(OUR_RESPONSE)
        chunked_request = bytes.fromhex(go_requests["chunked_request"])
        opener = ohttp.ChunkedRequestOpener(key)
        assert chunked_open(opener, chunked_request) == GO_REQUEST
        assert opener.response_context is not None
        sealer = ohttp.ChunkedResponseSealer(
            opener.response_context, max_chunk_len=ohttp.REFERENCE_CHUNK_LEN
        )
        chunked_response = b"".join(sealer.feed(OUR_RESPONSE) + sealer.finish())

        # openpcc client requests for the Go gateway.
        our_plain, plain_client = ohttp.encapsulate_request(key.key_config, OUR_REQUEST)
        our_sealer = ohttp.ChunkedRequestSealer(
            key.key_config, fixed_chunk_len=ohttp.REFERENCE_CHUNK_LEN
        )
        our_chunked = b"".join(our_sealer.feed(OUR_REQUEST) + our_sealer.finish())

        message = {
            "plain_response": plain_response.hex(),
            "chunked_response": chunked_response.hex(),
            "plain_request": our_plain.hex(),
            "chunked_request": our_chunked.hex(),
        }
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline())
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        assert proc.wait(timeout=60) == 0, "Go peer failed (see stderr)"

    # The Go client opened openpcc's responses.
    assert bytes.fromhex(reply["plain_response_pt"]) == OUR_RESPONSE
    assert bytes.fromhex(reply["chunked_response_pt"]) == OUR_RESPONSE
    # The Go gateway opened openpcc's requests (the chunked one with its 532-byte zero padding).
    assert bytes.fromhex(reply["plain_request_pt"]) == OUR_REQUEST
    padded = bytes.fromhex(reply["chunked_request_pt"])
    assert padded[: len(OUR_REQUEST)] == OUR_REQUEST and not any(padded[len(OUR_REQUEST) :])
    assert len(padded) % ohttp.REFERENCE_CHUNK_LEN == 0
    # openpcc's client opens the Go gateway's responses.
    assert plain_client.decapsulate_response(bytes.fromhex(reply["plain_response"])) == GO_RESPONSE
    chunked_reply = ohttp.ChunkedResponseOpener(our_sealer.client_context)
    assert chunked_open(chunked_reply, bytes.fromhex(reply["chunked_response"])) == GO_RESPONSE
