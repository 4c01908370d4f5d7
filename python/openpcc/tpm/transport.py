"""Byte transports to a TPM: a TCP socket (swtpm) and the kernel resource manager device.

Both carry raw TPM 2.0 command and response buffers: the response's 10-byte header gives its
total size, so one reader serves both.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Protocol, Self

from openpcc.exceptions import TPMDeviceError

#: A TPM response is at most a few kilobytes (TPM2_MAX_COMMAND_SIZE is 4096 on common TPMs).
MAX_RESPONSE = 1 << 16
_HEADER = 10


class Transport(Protocol):
    """Sends one command buffer and returns the whole response buffer."""

    def transact(self, command: bytes) -> bytes: ...

    def close(self) -> None: ...


def _response_size(header: bytes) -> int:
    size = int.from_bytes(header[2:6], "big")
    if not _HEADER <= size <= MAX_RESPONSE:
        raise TPMDeviceError(f"TPM response declares {size} bytes")
    return size


class TcpTransport:
    """The swtpm ``--server type=tcp`` data channel on loopback."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise TPMDeviceError(
                f"cannot connect to TPM at {host}:{port}: {exc.strerror}"
            ) from None

    def _recv_exact(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            try:
                chunk = self._sock.recv(n - len(chunks))
            except OSError as exc:
                raise TPMDeviceError(f"TPM socket read failed: {exc}") from None
            if not chunk:
                raise TPMDeviceError("TPM closed the connection mid-response")
            chunks += chunk
        return bytes(chunks)

    def transact(self, command: bytes) -> bytes:
        try:
            self._sock.sendall(command)
        except OSError as exc:
            raise TPMDeviceError(f"TPM socket write failed: {exc}") from None
        header = self._recv_exact(_HEADER)
        return header + self._recv_exact(_response_size(header) - _HEADER)

    def close(self) -> None:
        self._sock.close()


class DeviceTransport:
    """A character device: ``/dev/tpmrm0`` (the kernel resource manager) on real hosts.

    One ``write`` sends a whole command and one ``read`` returns a whole response; this is the
    kernel TPM driver's contract. Use ``tpmrm0``, not ``tpm0``: the resource manager flushes
    transient objects and sessions when the file is closed.
    """

    def __init__(self, path: str | os.PathLike[str] = "/dev/tpmrm0") -> None:
        try:
            self._fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise TPMDeviceError(
                f"cannot open TPM device {os.fspath(path)}: {exc.strerror}"
            ) from None

    def transact(self, command: bytes) -> bytes:
        try:
            os.write(self._fd, command)
            response = os.read(self._fd, MAX_RESPONSE)
        except OSError as exc:
            raise TPMDeviceError(f"TPM device I/O failed: {exc.strerror}") from None
        if len(response) < _HEADER or _response_size(response) != len(response):
            raise TPMDeviceError("TPM device returned a short response")
        return response

    def close(self) -> None:
        os.close(self._fd)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SwtpmProcess:
    """Starts ``swtpm socket --tpm2`` on loopback with a fresh state directory.

    Usable as a context manager; :meth:`transport` opens a connection to its data channel.
    The TPM is started (``startup-clear``) by swtpm itself, so no TPM2_Startup is needed.
    """

    def __init__(self, *, startup_timeout: float = 10.0) -> None:
        binary = shutil.which("swtpm")
        if binary is None:
            raise TPMDeviceError("swtpm is not installed (scripts/install-swtpm.sh installs it)")
        self._state = tempfile.TemporaryDirectory(prefix="openpcc-swtpm-")
        self.port = _free_port()
        self.ctrl_port = _free_port()
        self._proc = subprocess.Popen(
            [
                binary,
                "socket",
                "--tpm2",
                "--server",
                f"type=tcp,port={self.port},bindaddr=127.0.0.1",
                "--ctrl",
                f"type=tcp,port={self.ctrl_port},bindaddr=127.0.0.1",
                "--flags",
                "not-need-init,startup-clear",
                "--tpmstate",
                f"dir={self._state.name}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_ready(startup_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self._cleanup()
                raise TPMDeviceError(f"swtpm exited at start: {err.strip()[:200]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TPMDeviceError("swtpm did not open its port in time")

    @property
    def state_dir(self) -> Path:
        return Path(self._state.name)

    def transport(self) -> TcpTransport:
        return TcpTransport("127.0.0.1", self.port)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._proc.stderr:
            self._proc.stderr.close()
        self._state.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
