"""A packet capture for a test: ``tcpdump`` on one interface (``lo`` by default, or an interface inside a
network namespace), started and stopped by its PID, its pcap parsed here into TCP segments.

The confidentiality tests grep every captured payload for a canary; the unlinkability test reads every
segment's addresses. tcpdump writes the pcap to its standard output (a file this process opened), so it
needs no write access to the test's directory after it drops privileges.

    with Capture(tmp_path, ports=[relay_port, gateway_port]) as cap:
        ...traffic...
    assert not cap.find(canary)

When tcpdump is missing or cannot capture, :func:`support.prerequisites.missing` skips naming what
failed (and fails under ``CI``). ``scripts/install-netdeps.sh`` installs tcpdump.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from .prerequisites import missing

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
SNAPLEN = 70000
BUFFER_KIB = 65536

# pcap link types (https://www.tcpdump.org/linktypes.html): how many bytes precede the IP header and
# where the EtherType sits in them.
_LINK_EN10MB, _LINK_LINUX_SLL, _LINK_LINUX_SLL2 = 1, 113, 276
_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD
_TCP = 6


@dataclass(frozen=True)
class Segment:
    """One captured TCP segment (payload possibly empty)."""

    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    payload: bytes

    @property
    def flow(self) -> tuple[str, int, str, int]:
        return (self.src, self.sport, self.dst, self.dport)


def tcpdump_command(interface: str, ports: Iterable[int] = ()) -> list[str]:
    port_list = sorted(set(ports))
    expression = ["tcp"]
    if port_list:
        expression += ["and", "(", " or ".join(f"port {p}" for p in port_list), ")"]
    # --immediate-mode: hand each packet over at once (else the kernel's ring buffer holds packets
    # for up to a second, and those still held when tcpdump stops are lost); -U: write each packet as
    # it arrives; -n: no name lookups; -s: whole packets (loopback's MTU is 64 KiB); -B: a ring of
    # 64 MiB, so a busy machine that schedules tcpdump late drops nothing (see `dropped`).
    return ["tcpdump", "-i", interface, "--immediate-mode", "-U", "-n", "-s", str(SNAPLEN),
            "-B", str(BUFFER_KIB), "-w", "-", " ".join(expression)]


class Capture:
    """tcpdump on ``interface`` (inside ``netns`` when given) for TCP on ``ports`` (all TCP if empty)."""

    def __init__(self, workdir: Path, *, ports: Iterable[int] = (), interface: str = "lo",
                 netns: str | None = None, name: str = "capture") -> None:
        self.pcap = workdir / f"{name}.pcap"
        self.errors = workdir / f"{name}.tcpdump.txt"
        self.argv = tcpdump_command(interface, ports)
        if netns is not None:
            self.argv = ["ip", "netns", "exec", netns, *self.argv]
        self.interface = interface
        self._proc: subprocess.Popen[bytes] | None = None
        self._segments: list[Segment] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self._proc is not None, "the capture was not started"
        return self._proc.pid

    def start(self) -> None:
        if shutil.which("tcpdump") is None:
            missing("tcpdump is not installed (scripts/install-netdeps.sh installs it)")
        with open(self.pcap, "wb") as out, open(self.errors, "wb") as err:
            self._proc = subprocess.Popen(self.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"listening on" not in self.errors.read_bytes():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                missing(f"tcpdump could not capture on {self.interface}: "
                        f"{self.errors.read_text(errors='replace').strip()[-300:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGINT by PID (tcpdump flushes and exits), SIGKILL if it does not stop in time."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        time.sleep(0.2)  # the last segments of the traffic under test reach the capture
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_S)

    def dropped(self) -> int:
        """Packets the kernel dropped (tcpdump's count when it stopped): a capture that dropped any
        cannot prove a secret was absent."""
        found = re.search(r"(\d+) packets? dropped by kernel", self.errors.read_text(errors="replace"))
        if found is None:
            raise RuntimeError(f"tcpdump did not report its drops: {self.errors.read_text()[-300:]}")
        return int(found.group(1))

    def segments(self) -> list[Segment]:
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError("stop the capture before reading it")
        if self.dropped():
            raise AssertionError(f"the capture on {self.interface} dropped {self.dropped()} packets: it proves nothing")
        if self._segments is None:
            self._segments = list(parse_pcap(self.pcap.read_bytes()))
        return self._segments

    def streams(self) -> dict[tuple[str, int, str, int], bytes]:
        """Each direction of each TCP connection, its payload in sequence order (retransmissions once)."""
        by_flow: dict[tuple[str, int, str, int], dict[int, bytes]] = {}
        for seg in self.segments():
            if seg.payload:
                by_flow.setdefault(seg.flow, {}).setdefault(seg.seq, seg.payload)
        return {flow: b"".join(parts[s] for s in sorted(parts)) for flow, parts in by_flow.items()}

    def payload_bytes(self) -> int:
        return sum(len(s.payload) for s in self.segments())

    def find(self, needle: bytes | str) -> list[tuple[str, int, str, int]]:
        """The flows whose bytes hold ``needle`` in any of :func:`encodings` (empty: nowhere)."""
        forms = encodings(needle.encode() if isinstance(needle, str) else needle)
        return [flow for flow, data in self.streams().items() if any(form in data for form in forms)]

    def addresses(self) -> set[str]:
        return {seg.src for seg in self.segments()} | {seg.dst for seg in self.segments()}


def encodings(secret: bytes) -> list[bytes]:
    """``secret`` as it could travel in clear: raw, hex, and base64 at each of the three alignments
    (the inner characters that do not depend on the neighbouring bytes)."""
    forms = [secret, secret.hex().encode()]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret)
        # character i carries bits [6i, 6i + 6): keep those wholly inside the secret's bits
        first, end = -(-8 * shift // 6), 8 * (shift + len(secret)) // 6
        forms.append(encoded[first:end])
    return [form for form in forms if len(form) >= 8]


def parse_pcap(data: bytes) -> Iterator[Segment]:
    """The TCP segments of a classic pcap file (microsecond or nanosecond, either byte order)."""
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"not a pcap file (magic {magic.hex()})")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    offset = 24
    while offset + 16 <= len(data):
        _, _, captured, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16: offset + 16 + captured]
        offset += 16 + captured
        segment = _tcp_segment(linktype, frame)
        if segment is not None:
            yield segment


def _network_layer(linktype: int, frame: bytes) -> tuple[int, bytes] | None:
    if linktype == _LINK_EN10MB and len(frame) >= 14:
        return struct.unpack("!H", frame[12:14])[0], frame[14:]
    if linktype == _LINK_LINUX_SLL and len(frame) >= 16:
        return struct.unpack("!H", frame[14:16])[0], frame[16:]
    if linktype == _LINK_LINUX_SLL2 and len(frame) >= 20:
        return struct.unpack("!H", frame[0:2])[0], frame[20:]
    return None


def _tcp_segment(linktype: int, frame: bytes) -> Segment | None:
    layer = _network_layer(linktype, frame)
    if layer is None:
        return None
    ethertype, packet = layer
    if ethertype == _ETH_IPV4 and len(packet) >= 20:
        header_len = (packet[0] & 0x0F) * 4
        total = struct.unpack("!H", packet[2:4])[0]
        if packet[9] != _TCP:
            return None
        src, dst = str(ipaddress.IPv4Address(packet[12:16])), str(ipaddress.IPv4Address(packet[16:20]))
        tcp = packet[header_len:total]
    elif ethertype == _ETH_IPV6 and len(packet) >= 40:
        if packet[6] != _TCP:  # extension headers do not occur on these test links
            return None
        length = struct.unpack("!H", packet[4:6])[0]
        src, dst = str(ipaddress.IPv6Address(packet[8:24])), str(ipaddress.IPv6Address(packet[24:40]))
        tcp = packet[40:40 + length]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack("!HHI", tcp[:8])
    data_offset = (tcp[12] >> 4) * 4
    return Segment(src, sport, dst, dport, seq, tcp[data_offset:])
