"""The currency protobufs (``Credit``, ``Nonce``, ``Currency``, ``BlindSignRequest``) through the Rust
prost types; see ``openpcc.credits``. Decoders raise ``MalformedCreditError`` for a message that does
not parse or lacks a field; lengths and signatures are checked by ``openpcc.credits``."""

from typing import TypeAlias

_Bytes: TypeAlias = bytes | bytearray | memoryview

def encode_credit(value: _Bytes, timestamp: int, nonce: _Bytes, signature: _Bytes) -> bytes:
    """``Credit{value: Currency{value}, nonce: Nonce{timestamp{seconds}, nonce}, signature}``."""

def decode_credit(data: _Bytes) -> tuple[bytes, int, bytes, bytes]:
    """``(value, timestamp, nonce, signature)``; every field must be present."""

def encode_nonce(timestamp: int, nonce: _Bytes) -> bytes:
    """``Nonce{timestamp{seconds}, nonce}`` (the credithole's lock body carries it)."""

def decode_nonce(data: _Bytes) -> tuple[int, bytes]:
    """``(timestamp, nonce)``."""

def encode_currency(value: _Bytes) -> bytes:
    """``Currency{currency: value}``."""

def decode_currency(data: _Bytes) -> bytes:
    """The blind bytes inside a ``Currency``."""

def encode_blind_sign_request(value: _Bytes, blinded_message: _Bytes) -> bytes:
    """``BlindSignRequest{value: Currency{value}, blinded_message}``."""

def decode_blind_sign_request(data: _Bytes) -> tuple[bytes, bytes]:
    """``(value, blinded_message)``."""
