"""The TPM command layer's framing, checked byte for byte against scripted TPM responses."""

from __future__ import annotations

import struct

import pytest
from openpcc.exceptions import MalformedTPMStructureError, TPMCommandError, TPMDeviceError
from openpcc.tpm.client import TpmClient, pcr_selection
from openpcc.tpm.transport import _response_size


class Scripted:
    """Answers each command with the next canned response and records what was sent."""

    def __init__(self, *responses: bytes) -> None:
        self.responses = list(responses)
        self.sent: list[bytes] = []

    def transact(self, command: bytes) -> bytes:
        self.sent.append(command)
        return self.responses.pop(0)

    def close(self) -> None:
        pass


def response(rc: int = 0, body: bytes = b"", tag: int = 0x8001) -> bytes:
    return struct.pack(">HII", tag, 10 + len(body), rc) + body


def test_get_random_command_bytes_and_response() -> None:
    t = Scripted(response(body=b"\x00\x04abcd"))
    assert TpmClient(t).get_random(4) == b"abcd"
    assert t.sent == [bytes.fromhex("80010000000c0000017b0004")]


def test_pcr_selection_bitmap_of_the_reference_set() -> None:
    assert pcr_selection((0, 1, 2, 3, 4, 5, 7, 8, 12)) == bytes.fromhex("00000001000b03bf1100")


def test_error_code_raises_with_the_command_name() -> None:
    with pytest.raises(TPMCommandError) as err:
        TpmClient(Scripted(response(rc=0x99D))).get_random(4)
    assert err.value.command == "GetRandom" and err.value.rc == 0x99D


def test_retry_codes_are_retried() -> None:
    t = Scripted(response(rc=0x922), response(body=b"\x00\x01z"))
    assert TpmClient(t).get_random(1) == b"z"
    assert len(t.sent) == 2


def test_truncated_response_parameters_are_malformed() -> None:
    with pytest.raises(MalformedTPMStructureError):
        TpmClient(Scripted(response(body=b"\x00\x09ab"))).get_random(9)


def test_pcr_read_refuses_mismatched_counts() -> None:
    body = (
        struct.pack(">I", 1)
        + pcr_selection((0, 1))
        + struct.pack(">I", 1)
        + b"\x00\x20"
        + bytes(32)
    )
    with pytest.raises(MalformedTPMStructureError):
        TpmClient(Scripted(response(body=body))).pcr_read((0, 1))


def test_response_size_outside_limits_is_a_device_error() -> None:
    with pytest.raises(TPMDeviceError):
        _response_size(struct.pack(">HII", 0x8001, 4, 0))
    with pytest.raises(TPMDeviceError):
        _response_size(struct.pack(">HII", 0x8001, 1 << 20, 0))
