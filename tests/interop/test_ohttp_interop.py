"""Live OHTTP interop with the reference's github.com/openpcc/ohttp v0.0.80 over loopback HTTP, both
suites (0x0030, 0x0020), all four request/response pairings, each side in the module's default
configuration and in OpenPCC's (fixed 532-byte chunks, messages padded to multiples of 532):

* the reference gateway (``ohttp.Middleware``; harness ``tests/interop/ohttp``) against our client
  (``encapsulate_request`` / ``ChunkedRequestSealer``, then ``ResponseOpener`` by the response's
  ``Content-Type``);
* the reference client (``ohttp.Transport``) against our gateway (``RequestOpener`` by the request's
  ``Content-Type``, ``ResponseSealer`` of the form the response needs) behind a loopback HTTP server.

The harness is built once per session into a temporary directory. Without ``go`` (>= 1.25) on PATH the
tests skip saying so; with ``CI`` set a missing or old Go, or a failed build, fails them. The recorded
exchanges in ``ohttp-vectors.json`` are checked without Go by ``test_ohttp_vectors.py``."""

from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
from openpcc import bhttp, ohttp
from openpcc.exceptions import OpenPCCError
from support.go_interop import go_build

pytestmark = pytest.mark.interop

HARNESS_DIR = Path(__file__).resolve().parent / "ohttp"
MIN_GO = (1, 25)
MEM_GATEWAY_SEED = bytes.fromhex("0f4eda2e6c806018fb1082a6b0d8dc30c3aee556b41ac47cda7db81a57985997")
KEYS = {1: (ohttp.REFERENCE_KEM, MEM_GATEWAY_SEED), 2: (ohttp.X25519_KEM, bytes([0x22]) * 32)}
BODY = b"openpcc live interop " * 250  # 5250 bytes: more than one 4096-byte request chunk
DIGEST = hashlib.sha256(BODY).hexdigest()
FORMS = ["plain", "chunked"]
PATHS = ["/plain", "/chunked"]
CONFIGS = ["default", "openpcc"]
OPENPCC_CHUNK = ohttp.REFERENCE_CHUNK_LEN  # 532


def _request_type(form: str) -> str:
    return ohttp.CHUNKED_REQUEST_MEDIA_TYPE if form == "chunked" else ohttp.REQUEST_MEDIA_TYPE


def _response_type(path: str) -> str:
    """What the target's answer on ``path`` makes the gateway send: /chunked streams with a trailer."""
    return ohttp.CHUNKED_RESPONSE_MEDIA_TYPE if path == "/chunked" else ohttp.RESPONSE_MEDIA_TYPE


@pytest.fixture(scope="session")
def ohttp_peer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("ohttp-peer") / "ohttp-peer"
    return go_build(
        HARNESS_DIR, binary, min_version=MIN_GO, needed_for="the ohttp peer (github.com/openpcc/ohttp v0.0.80)",
        goflags="-mod=mod", timeout=900,
    )


# --- the reference gateway against our client ----------------------------------------------


@pytest.fixture(scope="module")
def reference_gateway(ohttp_peer: Path) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [str(ohttp_peer), "gateway"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(proc.stdout.readline())
        assert sorted(info["urls"]) == CONFIGS
        assert all(urlsplit(url).hostname == "127.0.0.1" for url in info["urls"].values())
        yield info
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _post(url: str, content_type: str, body: bytes) -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", parts.path or "/", body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


def _seal_request(
    config: ohttp.KeyConfig, form: str, setup: str, inner: bhttp.Request
) -> tuple[bytes, ohttp.ClientContext]:
    """Seals ``inner`` as our client does: in the ``openpcc`` setup padded to multiples of 532 and
    (chunked) cut into fixed 532-byte chunks, as the reference client is configured (spec §2.6)."""
    chunked = form == "chunked"
    if setup == "openpcc":
        message = bhttp.encode(
            inner,
            indeterminate=chunked,
            pad_to_multiple_of=OPENPCC_CHUNK,
            max_encoded_chunk_len=OPENPCC_CHUNK,
        )
    else:
        message = bhttp.encode(inner, indeterminate=chunked)
    if not chunked:
        return ohttp.encapsulate_request(config, message)
    fixed = OPENPCC_CHUNK if setup == "openpcc" else None
    sealer = ohttp.ChunkedRequestSealer(config, fixed_chunk_len=fixed)
    wire = sealer.feed(message) + sealer.finish()
    return b"".join(wire), sealer.client_context


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("key_id", sorted(KEYS))
@pytest.mark.parametrize("setup", CONFIGS)
def test_reference_gateway_answers_our_client(
    reference_gateway: dict[str, Any], setup: str, key_id: int, form: str, path: str
) -> None:
    configs = [ohttp.KeyConfig.decode(bytes.fromhex(c)) for c in reference_gateway["key_configs"]]
    config = next(c for c in configs if c.key_id == key_id)
    assert config.kem == KEYS[key_id][0]
    inner = bhttp.Request(
        method="POST",
        scheme="https",
        authority="ohttp.invalid",
        path=path,
        headers=[("content-type", "application/octet-stream")],
        content=BODY,
    )
    wire, client = _seal_request(config, form, setup, inner)
    status, content_type, body = _post(reference_gateway["urls"][setup], _request_type(form), wire)
    assert status == 200
    assert content_type == _response_type(path), "the reference picks the form from the response"
    opener = ohttp.ResponseOpener(client, content_type)
    plaintext = b"".join(opener.feed(body)) + opener.finish()
    if setup == "openpcc":
        assert len(plaintext) % OPENPCC_CHUNK == 0, "the OpenPCC gateway pads responses"
    reply = bhttp.decode_response(plaintext)
    assert reply.status == 200
    assert reply.content == f"reference {path} {DIGEST}".encode()
    assert (dict(reply.trailers).get(b"x-digest") == DIGEST.encode()) == (path == "/chunked")


# --- the reference client against our gateway -----------------------------------------------


def _read_body(headers: Any, rfile: BufferedIOBase) -> bytes:
    """The outer request body: Content-Length, or HTTP/1.1 chunked transfer coding (the reference
    client streams chunked OHTTP requests)."""
    if headers.get("Transfer-Encoding", "").lower() != "chunked":
        return rfile.read(int(headers.get("Content-Length", "0")))
    body = bytearray()
    for _ in range(1 << 16):
        size = int(rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body += rfile.read(size)
        rfile.readline()
    raise ValueError("too many transfer chunks")


class OurGateway(BaseHTTPRequestHandler):
    """Our OHTTP gateway: opens by the request's media type, answers /plain with a known-length
    response (plain OHTTP) and /chunked with a streamed, trailered one (chunked OHTTP)."""

    protocol_version = "HTTP/1.1"
    keys: ClassVar[dict[int, ohttp.GatewayKey]] = {}

    def do_POST(self) -> None:
        try:
            body = _read_body(self.headers, self.rfile)
            key = self.keys.get(body[0]) if body else None
            if key is None:
                raise ValueError("unknown key id")
            opener = ohttp.RequestOpener(key, self.headers.get("Content-Type", ""))
            request = bhttp.decode_request(b"".join(opener.feed(body)) + opener.finish())
            assert opener.response_context is not None
            wire, media_type = self._answer(opener.response_context, request)
        except (OpenPCCError, ValueError) as err:
            self.send_error(400, type(err).__name__)
            return
        self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(wire)))
        self.end_headers()
        self.wfile.write(wire)

    @staticmethod
    def _answer(context: ohttp.ResponseContext, request: bhttp.Request) -> tuple[bytes, str]:
        path = request.path.decode()
        digest = hashlib.sha256(request.content).hexdigest()
        streamed = path == "/chunked"
        announced = [("trailer", "X-Digest")] if streamed else []
        reply = bhttp.Response(
            status=200,
            headers=[("content-type", "text/plain"), *announced],
            content=f"openpcc {path} {digest}".encode(),
            trailers=[("x-digest", digest)] if streamed else None,
        )
        sealer = ohttp.ResponseSealer(context, chunked=streamed)
        pieces = sealer.feed(bhttp.encode(reply, indeterminate=streamed)) + sealer.finish()
        return b"".join(pieces), sealer.media_type

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: no request line or client address in the test output."""


@pytest.fixture(scope="module")
def our_gateway() -> Iterator[tuple[str, list[ohttp.KeyConfig]]]:
    keys = {
        key_id: ohttp.GatewayKey.from_seed(key_id, kem, seed, [ohttp.HKDF_SHA256_AES128GCM])
        for key_id, (kem, seed) in KEYS.items()
    }
    handler = type("Gateway", (OurGateway,), {"keys": keys})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/", [k.key_config for k in keys.values()]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_reference_client_against_our_gateway(
    ohttp_peer: Path, our_gateway: tuple[str, list[ohttp.KeyConfig]]
) -> None:
    url, configs = our_gateway
    payload = {"url": url, "key_configs": [c.encode().hex() for c in configs], "body": BODY.hex()}
    run = subprocess.run(
        [str(ohttp_peer), "client"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout)
    seen = set()
    for r in results:
        case = (r["config"], r["kem"], r["request_form"], r["path"])
        seen.add(case)
        assert r["request_media_type"] == _request_type(r["request_form"]), case
        assert r["response_media_type"] == _response_type(r["path"]), case
        assert r["status"] == 200, case
        assert r["response_body"] == f"openpcc {r['path']} {DIGEST}", case
        assert (r["trailers"].get("X-Digest") == DIGEST) == (r["path"] == "/chunked"), case
    assert len(seen) == 16, (
        "2 client configurations x 2 suites x 2 request forms x 2 response forms"
    )
