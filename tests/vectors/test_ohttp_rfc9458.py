"""RFC 9458 Appendix A and the chunked-OHTTP draft example, byte for byte, plus the reference's 0x0030
gateway key (spec §13.3). Vectors: ``tests/data/vectors/ohttp`` (see its README)."""

from __future__ import annotations

from typing import Any

import pytest
from openpcc import ohttp
from openpcc.exceptions import OHTTPDecryptError, TruncatedStreamError
from support.vectors import load_json  # type: ignore[import-not-found]

Vector = dict[str, Any]


def h(vector: Vector, name: str) -> bytes:
    return bytes.fromhex(vector[name])


def gateway_for(vector: Vector) -> ohttp.GatewayKey:
    config = ohttp.KeyConfig.decode(h(vector, "key_config"))
    key = ohttp.GatewayKey.from_secret_key(
        config.key_id, config.kem, h(vector, "server_sk_x25519"), config.symmetric_algorithms
    )
    # The config's public key must be X25519(server_sk).
    assert key.key_config == config
    assert key.key_config.encode() == h(vector, "key_config")
    return key


@pytest.fixture(scope="module")
def rfc() -> Vector:
    vector: Vector = load_json("ohttp", "rfc9458-appendix-a.json")
    return vector


@pytest.fixture(scope="module")
def draft() -> Vector:
    vector: Vector = load_json("ohttp", "chunked-ohttp-draft-example.json")
    return vector


def test_rfc9458_key_config(rfc: Vector) -> None:
    config = ohttp.KeyConfig.decode(h(rfc, "key_config"))
    assert (config.key_id, config.kem) == (rfc["key_id"], rfc["kem_id"])
    assert config.symmetric_algorithms == [(1, 1), (1, 3)]
    assert ohttp.decode_key_configs(ohttp.encode_key_configs([config])) == [config]


def test_rfc9458_request_byte_for_byte(rfc: Vector) -> None:
    key = gateway_for(rfc)
    data, _ = ohttp.encapsulate_request(
        key.key_config, h(rfc, "request_bhttp"), ephemeral_secret_key=h(rfc, "client_ephemeral_sk")
    )
    assert data == h(rfc, "encapsulated_request")
    assert data[7:39] == h(rfc, "client_ephemeral_pk_enc")


def test_rfc9458_gateway_and_response_byte_for_byte(rfc: Vector) -> None:
    key = gateway_for(rfc)
    request, responder = key.decapsulate_request(h(rfc, "encapsulated_request"))
    assert request == h(rfc, "request_bhttp")
    response = responder.encapsulate_response(
        h(rfc, "response_bhttp"), response_nonce=h(rfc, "response_nonce")
    )
    assert response == h(rfc, "encapsulated_response")


def test_rfc9458_client_decapsulates_response(rfc: Vector) -> None:
    key = gateway_for(rfc)
    _, client = ohttp.encapsulate_request(
        key.key_config, h(rfc, "request_bhttp"), ephemeral_secret_key=h(rfc, "client_ephemeral_sk")
    )
    assert client.decapsulate_response(h(rfc, "encapsulated_response")) == h(rfc, "response_bhttp")


def test_rfc9458_negative_cases(rfc: Vector) -> None:
    key = gateway_for(rfc)
    data = bytearray(h(rfc, "encapsulated_request"))
    for i in range(39, len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0x01
        with pytest.raises(OHTTPDecryptError):
            key.decapsulate_request(bytes(flipped))
    _, client = ohttp.encapsulate_request(
        key.key_config, b"", ephemeral_secret_key=h(rfc, "client_ephemeral_sk")
    )
    with pytest.raises(ohttp.MalformedMessageError):
        client.decapsulate_response(h(rfc, "encapsulated_response")[:31])


def split_by(data: bytes, lengths: list[int]) -> list[bytes]:
    pieces, offset = [], 0
    for n in lengths:
        pieces.append(data[offset : offset + n])
        offset += n
    assert offset == len(data)
    return pieces


def seal_draft_request(draft: Vector) -> tuple[list[bytes], ohttp.ClientContext]:
    key = gateway_for(draft)
    sealer = ohttp.ChunkedRequestSealer(
        key.key_config, ephemeral_secret_key=h(draft, "client_ephemeral_sk")
    )
    wire: list[bytes] = []
    for chunk in split_by(h(draft, "request_bhttp"), draft["request_chunk_plaintext_lengths"]):
        if chunk:
            wire += sealer.feed(chunk)
    wire += sealer.finish()
    return wire, sealer.client_context


def test_chunked_request_byte_for_byte(draft: Vector) -> None:
    wire, _ = seal_draft_request(draft)
    parts = [bytes.fromhex(p) for p in draft["encapsulated_request_parts"]]
    assert wire == [parts[0] + parts[1], *parts[2:]]
    assert b"".join(wire) == h(draft, "encapsulated_request")


@pytest.mark.parametrize("step", [None, 1, 5, 17])
def test_chunked_request_opened_whole_or_in_pieces(draft: Vector, step: int | None) -> None:
    key = gateway_for(draft)
    stream = h(draft, "encapsulated_request")
    opener = ohttp.ChunkedRequestOpener(key)
    pieces = (
        [stream] if step is None else [stream[i : i + step] for i in range(0, len(stream), step)]
    )
    plaintexts = [pt for piece in pieces for pt in opener.feed(piece)]
    assert plaintexts == split_by(h(draft, "request_bhttp"), [12, 13])
    assert opener.finish() == b""


def test_chunked_response_byte_for_byte(draft: Vector) -> None:
    key = gateway_for(draft)
    opener = ohttp.ChunkedRequestOpener(key)
    opener.feed(h(draft, "encapsulated_request"))
    opener.finish()
    assert opener.response_context is not None
    sealer = ohttp.ChunkedResponseSealer(
        opener.response_context, response_nonce=h(draft, "response_nonce")
    )
    wire: list[bytes] = []
    for chunk in split_by(h(draft, "response_bhttp"), draft["response_chunk_plaintext_lengths"]):
        if chunk:
            wire += sealer.feed(chunk)
    wire += sealer.finish()
    assert wire == [bytes.fromhex(p) for p in draft["encapsulated_response_parts"]]


def test_chunked_response_opened_by_client(draft: Vector) -> None:
    _, client = seal_draft_request(draft)
    opener = ohttp.ChunkedResponseOpener(client)
    stream = h(draft, "encapsulated_response")
    got = [pt for byte in stream for pt in opener.feed(bytes([byte]))]
    assert got == [b"\x01", b"\x40\xc8"]
    assert opener.finish() == b""


def test_chunked_draft_negative_cases(draft: Vector) -> None:
    key = gateway_for(draft)
    parts = [bytes.fromhex(p) for p in draft["encapsulated_request_parts"]]

    dropped_final = ohttp.ChunkedRequestOpener(key)
    dropped_final.feed(b"".join(parts[:4]))
    with pytest.raises(TruncatedStreamError):
        dropped_final.finish()

    reordered = ohttp.ChunkedRequestOpener(key)
    with pytest.raises(OHTTPDecryptError):
        reordered.feed(b"".join([parts[0], parts[1], parts[3], parts[2], parts[4]]))

    # The last request chunk re-framed as the final one: sealed without the "final" aad.
    no_final_aad = ohttp.ChunkedRequestOpener(key)
    no_final_aad.feed(b"".join(parts[:3]) + b"\x00" + parts[3][1:])
    with pytest.raises(OHTTPDecryptError):
        no_final_aad.finish()


REFERENCE_SEED = bytes.fromhex("0f4eda2e6c806018fb1082a6b0d8dc30c3aee556b41ac47cda7db81a57985997")


def test_reference_gateway_key_from_seed() -> None:
    """Spec §13.3: the mem-gateway seed reproduces the key in the signed dev bundle."""
    key = ohttp.GatewayKey.from_seed(
        1, ohttp.REFERENCE_KEM, REFERENCE_SEED, [ohttp.HKDF_SHA256_AES128GCM]
    )
    public_key = key.key_config.public_key
    assert len(public_key) == 1216
    assert (
        public_key[:32].hex() == "43f39b8b1a493650689ae718f0d2630b3cf5b63c660c6fcb5c49686d646e232d"
    )
    assert public_key[32:48].hex() == "ede001b083470ba169750cae7e097989"
    assert len(key.key_config.encode()) == 1225
    assert len(ohttp.encode_key_configs([key.key_config])) == 1227
