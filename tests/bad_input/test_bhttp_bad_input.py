"""Malformed BHTTP input: every case raises its specific exception class, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpcc import bhttp
from openpcc.exceptions import (
    BHTTPDecodeError,
    BHTTPLimitError,
    BHTTPPaddingError,
    BHTTPStateError,
    BHTTPTruncatedError,
    LimitError,
    MalformedInputError,
    UsageError,
)

# Known-length request, offsets:
#   0      framing indicator 00
#   1..4   method   03 'GET'            5..10  scheme 05 'https'
#   11..22 authority 0b 'example.com'   23..24 path 01 '/'
#   25     header section length 0a (10)
#   26..35 field lines 01 'a' 01 'b' | 04 'host' 00
#   36     content length 02, 37..38 'hi'
#   39     trailer section length 05, 40..44 01 'x' 02 'yz'
KNOWN_REQUEST = bhttp.Request(
    method="GET",
    authority="example.com",
    path="/",
    headers=[("a", "b"), ("host", "")],
    content=b"hi",
    trailers=[("x", "yz")],
)
KNOWN = bhttp.encode(KNOWN_REQUEST)
# Where a known-length message may legally end (RFC 9292 §3.8):
# after the control data (25), after the header section (36) and after the content (39); the
# full message is 45 bytes.
KNOWN_ENDS = {25, 36, 39, 45}

# Indeterminate response: 03 | 40c8 | 01 'a' 01 'b' 00 | 02 'hi' 00 | 01 'x' 02 'yz' 00
INDET_RESPONSE = bhttp.Response(headers=[("a", "b")], content=b"hi", trailers=[("x", "yz")])
INDET = bhttp.encode(INDET_RESPONSE, indeterminate=True)
# Legal ends: after the status (3), after the header terminator (8), after the content
# terminator (12); full message 18 bytes. Cutting after the chunk but before its terminator (11)
# is refused here although the reference accepts it.
INDET_ENDS = {3, 8, 12, 18}


def test_layouts_are_as_the_comments_say() -> None:
    assert len(KNOWN) == 45 and KNOWN[25] == 0x0A and KNOWN[36] == 2 and KNOWN[39] == 5
    assert INDET.hex() == "0340c8" + "0161016200" + "02686900" + "01780279" + "7a00"


@pytest.mark.parametrize(
    ("data", "ends"), [(KNOWN, KNOWN_ENDS), (INDET, INDET_ENDS)], ids=["known", "indeterminate"]
)
def test_truncation_at_every_offset(data: bytes, ends: set[int]) -> None:
    for cut in range(len(data) + 1):
        if cut in ends:
            message = bhttp.decode(data[:cut])
            # Only empty sections can have been dropped: re-encoding restores the prefix.
            again = bhttp.encode(message, indeterminate=data is INDET)
            assert again[:cut] == data[:cut]
        else:
            with pytest.raises(BHTTPTruncatedError):
                bhttp.decode(data[:cut])


def test_truncation_is_reported_by_the_stream_decoder_without_losing_data() -> None:
    for cut in range(len(INDET)):
        decoder = bhttp.StreamDecoder()
        decoder.feed(INDET[:cut])
        if cut in INDET_ENDS:
            assert isinstance(decoder.finish()[-1], bhttp.End)
        else:
            with pytest.raises(BHTTPTruncatedError):
                decoder.finish()
        # Fed the rest instead of finishing, the same decoder completes.
        again = bhttp.StreamDecoder()
        events = again.feed(INDET[:cut]) + again.feed(INDET[cut:]) + again.finish()
        assert isinstance(events[-1], bhttp.End)


@pytest.mark.parametrize("indicator", [4, 5, 0x10, 0x3F])
def test_unknown_framing_indicator(indicator: int) -> None:
    with pytest.raises(BHTTPDecodeError, match="framing indicator"):
        bhttp.decode(bytes([indicator]) + KNOWN[1:])


def test_framing_indicator_flips_to_the_other_kind_or_mode() -> None:
    # 00 -> 01: the request bytes are read as a response: 03 is not a valid status.
    with pytest.raises(BHTTPDecodeError, match="status"):
        bhttp.decode(b"\x01" + KNOWN[1:])
    # 00 -> 02: read as indeterminate; the header lines run into bytes that are not valid fields.
    with pytest.raises(BHTTPDecodeError):
        bhttp.decode(b"\x02" + KNOWN[1:])
    # A non-shortest varint (0x4000 = 0) is still a valid framing indicator.
    assert bhttp.decode(b"\x40\x00" + KNOWN[1:]) == KNOWN_REQUEST
    with pytest.raises(BHTTPTruncatedError):
        bhttp.decode(b"\x40")


def test_over_long_varints() -> None:
    eight_byte_max = b"\xff" * 8  # 2^62 - 1
    with pytest.raises(BHTTPLimitError, match="method"):
        bhttp.decode(b"\x00" + eight_byte_max)
    with pytest.raises(BHTTPLimitError, match="header section"):
        bhttp.decode(b"\x01\x40\xc8" + eight_byte_max)
    with pytest.raises(BHTTPTruncatedError, match="content"):
        bhttp.decode(b"\x01\x40\xc8\x00" + eight_byte_max)
    with pytest.raises(BHTTPDecodeError, match="status"):
        bhttp.decode(b"\x01" + eight_byte_max)
    # A field name length larger than the known-length section holding it.
    with pytest.raises(BHTTPDecodeError, match="overruns"):
        bhttp.decode(bytes.fromhex("0140c8 03 c000000000000001 61 00".replace(" ", "")))


def test_header_section_over_the_limit() -> None:
    big = bhttp.Response(headers=[("x", "v" * 16381)])  # 1 + 1 + 2 + 16381 = 16385 bytes
    data = bhttp.encode(big)
    with pytest.raises(BHTTPLimitError) as err:
        bhttp.decode(data)
    assert isinstance(err.value, LimitError) and isinstance(err.value, MalformedInputError)
    assert bhttp.decode(data, max_header_bytes=32768) == big
    many = bhttp.Response(headers=[("x", "v" * 100)] * 200)
    with pytest.raises(BHTTPLimitError):
        bhttp.decode(bhttp.encode(many, indeterminate=True))
    with pytest.raises(BHTTPLimitError):
        bhttp.StreamDecoder(max_header_bytes=100).feed(
            bhttp.encode(bhttp.Response(headers=[("x", "v" * 200)]))
        )


def test_non_zero_padding() -> None:
    padded = bhttp.encode(INDET_RESPONSE, indeterminate=True, pad_to_multiple_of=64)
    assert bhttp.decode(padded) == INDET_RESPONSE
    for at in (len(INDET), len(padded) - 1):
        bad = bytearray(padded)
        bad[at] = 1
        with pytest.raises(BHTTPPaddingError, match=f"offset {at}"):
            bhttp.decode(bytes(bad))
    with pytest.raises(BHTTPPaddingError):
        bhttp.decode(KNOWN + b"\x00\x00\xff")


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("07053a7061746800", "reserved pseudo-field"),
        ("0e016100093a70726f746f636f6c00", "pseudo-field after a regular field"),
        ("03000161", "empty field name"),
        ("050361206200", "invalid character in field name"),
        ("040161010d", "invalid character in field value"),
        ("040161010a", "invalid character in field value"),
        ("0401610100", "invalid character in field value"),
    ],
)
def test_invalid_fields(section: str, problem: str) -> None:
    with pytest.raises(BHTTPDecodeError, match=problem):
        bhttp.decode(bytes.fromhex("0140c8" + section + "0000"))


def test_pseudo_field_in_trailers() -> None:
    with pytest.raises(BHTTPDecodeError, match="pseudo-field in trailers"):
        bhttp.decode(bytes.fromhex("0140c80000" + "0b093a70726f746f636f6c00"))


def test_stream_decoder_refuses_use_after_finish_or_error() -> None:
    decoder = bhttp.StreamDecoder()
    decoder.feed(KNOWN)
    decoder.finish()
    with pytest.raises(BHTTPStateError) as err:
        decoder.feed(b"\x00")
    assert isinstance(err.value, UsageError)
    failed = bhttp.StreamDecoder()
    with pytest.raises(BHTTPDecodeError):
        failed.feed(b"\x07")
    with pytest.raises(BHTTPStateError):
        failed.finish()


def test_random_garbage_never_crashes() -> None:
    import random

    rng = random.Random(1234)
    for _ in range(3000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        if rng.random() < 0.5:
            data = bytes([rng.randrange(4)]) + data
        try:
            bhttp.decode(data)
        except BHTTPDecodeError:
            pass


@settings(max_examples=500, deadline=None)
@given(
    data=st.binary(max_size=200),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
)
def test_mutated_messages_decode_or_raise_a_bhttp_error(
    data: bytes, flips: list[tuple[int, int]]
) -> None:
    for base in (KNOWN, INDET, data):
        mutated = bytearray(base)
        for at, value in flips:
            if mutated:
                mutated[at % len(mutated)] = value
        try:
            message = bhttp.decode(bytes(mutated))
        except BHTTPDecodeError:
            continue
        # Whatever decodes re-encodes and decodes to the same message, in both modes.
        for indeterminate in (False, True):
            assert bhttp.decode(bhttp.encode(message, indeterminate=indeterminate)) == message
