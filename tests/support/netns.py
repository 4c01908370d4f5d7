"""Network namespaces a test makes and deletes: ``ip netns add``, veth pairs between two namespaces,
an address on each end, routes. Nothing touches the host's own interfaces or routes: both ends of every
veth pair live inside the test's namespaces, and deleting a namespace deletes its interfaces.

    with Namespaces() as net:
        client, relay = net.add("client"), net.add("relay")
        net.link(client, "10.77.1.2", relay, "10.77.1.1")
        net.popen(client, [sys.executable, ...])

When a namespace cannot be made (no ``ip``, no CAP_SYS_ADMIN), :func:`support.prerequisites.missing`
skips naming the command and its error (and fails under ``CI``). ``scripts/install-netdeps.sh`` installs
iproute2.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Self

from . import edge
from .prerequisites import missing

PREFIX_LEN = 30  # each veth link is its own /30


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=False)


class Namespaces:
    """Namespaces named ``opc<tag><name>`` (unique per instance), all deleted when the block ends."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.names: list[str] = []
        self._links = 0

    def __enter__(self) -> Self:
        if shutil.which("ip") is None:
            missing("the ip command is not installed (scripts/install-netdeps.sh installs iproute2)")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _must(self, *args: str) -> None:
        done = _ip(*args)
        if done.returncode != 0:
            missing(f"`ip {' '.join(args)}` failed: {done.stderr.strip()[:300]}")

    def add(self, name: str) -> str:
        """A new namespace with its loopback up; returns its full name."""
        full = f"opc{self.tag}{name}"[:32]
        self._must("netns", "add", full)
        self.names.append(full)
        self._must("-n", full, "link", "set", "lo", "up")
        return full

    def link(self, ns_a: str, addr_a: str, ns_b: str, addr_b: str) -> tuple[str, str]:
        """A veth pair from ``ns_a`` (address ``addr_a``) to ``ns_b`` (``addr_b``), both up, on one /30.
        Returns the two interface names."""
        self._links += 1
        end_a, end_b = f"v{self.tag}{self._links}a", f"v{self.tag}{self._links}b"
        self._must("-n", ns_a, "link", "add", end_a, "type", "veth", "peer", "name", end_b, "netns", ns_b)
        for ns, end, addr in ((ns_a, end_a, addr_a), (ns_b, end_b, addr_b)):
            self._must("-n", ns, "addr", "add", f"{addr}/{PREFIX_LEN}", "dev", end)
            self._must("-n", ns, "link", "set", end, "up")
        return end_a, end_b

    def route(self, ns: str, destination: str, via: str) -> None:
        self._must("-n", ns, "route", "add", destination, "via", via)

    def argv(self, ns: str, argv: list[str]) -> list[str]:
        """``argv`` run inside ``ns`` (``ip netns exec`` execs it: the PID is the command's own)."""
        return ["ip", "netns", "exec", ns, *argv]

    def popen(self, ns: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(self.argv(ns, argv), **kwargs)

    def run(self, ns: str, argv: list[str], timeout: float = 30, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(ns, argv), capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=cwd)

    def close(self) -> None:
        """Deletes every namespace made here (their veth ends go with them)."""
        for name in reversed(self.names):
            _ip("netns", "del", name)
        self.names.clear()


def role_in(net: Namespaces, ns: str, role: str, config: Path) -> edge.Proc:
    """``openpcc <role> --config FILE`` inside ``ns``, once it printed its listening line; stop it with
    ``.stop()`` (by PID)."""
    popen = net.popen(
        ns, [sys.executable, "-m", "openpcc", role, "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        port, lines = edge._wait_for_listen_line(popen)
    except RuntimeError:
        popen.kill()
        popen.wait(5)
        raise
    return edge.Proc(popen, port, lines)


def exists(name: str) -> bool:
    return Path("/run/netns", name).exists() or name in _ip("netns", "list").stdout.split()


def pid_namespace_name(pid: int) -> str:
    """The network namespace inode of a process, to show it differs from another's."""
    return os.readlink(f"/proc/{pid}/ns/net")
