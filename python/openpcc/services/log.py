"""The transparency log role: ``openpcc log --config FILE`` (default port 3900).

It keeps a C2SP tlog-tiles log (``openpcc.transparency.tlog``) in ``<data_dir>/tiles`` and serves it:

* ``GET /checkpoint`` and ``GET /tile/...``: the static tlog-tiles resources, for clients, monitors and
  witnesses (``LogClient``, ``openpcc transparency monitor --log http://...``);
* ``POST /add`` (``application/octet-stream``, one entry, at most 65535 bytes): appends the entry
  (idempotent), publishes a new checkpoint, asks every witness in ``witness_urls`` to cosign it
  (c2sp.org/tlog-witness ``add-checkpoint``) and answers JSON ``{"index", "size"}``;
* ``GET /lookup/<hex SHA-256 leaf hash>``: the index of an entry, so a client shown a statement can
  prove it without reading the whole log.

The store is the tile directory itself: tlog-tiles is a static, append-only file format that any HTTP
server or CDN can publish, and the log reloads from it (checking its own signed checkpoint) on start.
The signing key is ``<data_dir>/log.key`` (mode 0600), made on first start; its verifier key is written
to ``<data_dir>/log.vkey`` for clients to pin.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import threading
from pathlib import Path

from aiohttp import ClientSession, web

from openpcc import config
from openpcc.exceptions import TransparencyError
from openpcc.services import _http
from openpcc.transparency.note import SignedCheckpoint, Signer
from openpcc.transparency.tlog import TransparencyLog, encode_add_checkpoint

ROLE = "log"
_TILE_PATH = re.compile(r"tile/(?:entries|[0-9]{1,2})/(?:x[0-9]{3}/)*[0-9]{3}(?:\.p/[0-9]{1,3})?")

log = logging.getLogger("openpcc.services.log")


def load_or_create_signer(path: Path, name: str, sig_type: int) -> Signer:
    """The role's note key at ``path`` (0600), made on first use; its verifier key beside it (``.vkey``)."""
    if path.exists():
        signer = Signer.parse(config.read_key_file(path).decode().strip())
        if signer.verifier.name != name:
            raise TransparencyError(
                f"key file {path} is for {signer.verifier.name!r}, not {name!r}"
            )
    else:
        signer = Signer.generate(name, sig_type)
        config.write_key_file(path, signer.encode_private().encode() + b"\n")
    path.with_suffix(".vkey").write_text(signer.verifier.encode() + "\n")
    return signer


class LogService:
    def __init__(self, cfg: config.RoleConfig) -> None:
        self.cfg = cfg
        data = config.ensure_private_dir(cfg.data_dir)
        self.signer = load_or_create_signer(data / "log.key", str(cfg["origin"]), 0x01)
        self.log = TransparencyLog(data / "tiles", self.signer)
        if self.log.size == 0 and not (self.log.directory / "checkpoint").exists():
            self.log.publish()
        # What GET /checkpoint serves: a new checkpoint only once its witnesses were asked to cosign it,
        # so clients requiring cosignatures never see it bare (the older one's tiles stay in place).
        self._served = SignedCheckpoint.parse((self.log.directory / "checkpoint").read_bytes())
        self.witness_urls = [
            u.strip().rstrip("/") for u in str(cfg["witness_urls"]).split(",") if u.strip()
        ]
        self._witness_sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self.http = _http.HTTPService(cfg, logger=log)
        self.http.add_route("GET", "/checkpoint", self._checkpoint)
        self.http.add_route("GET", "/tile/{tail:.+}", self._tile)
        self.http.add_route("GET", "/lookup/{leaf}", self._lookup)
        self.http.add_route("POST", "/add", self._add, binary=True)
        self._session: ClientSession | None = None
        self.http.on_startup(self._open)
        self.http.on_cleanup(self._close)

    @property
    def verifier_key(self) -> str:
        return self.signer.verifier.encode()

    async def start(self) -> tuple[str, int]:
        return await self.http.start()

    async def stop(self) -> None:
        await self.http.stop()

    async def _open(self) -> None:
        self._session = _http.client_session(timeout=10.0)

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _checkpoint(self, _request: web.Request) -> web.Response:
        body = self._served.encode()
        return web.Response(
            body=body, content_type="text/plain", headers={"Cache-Control": "no-store"}
        )

    async def _tile(self, request: web.Request) -> web.Response:
        path = "tile/" + request.match_info["tail"]
        if not _TILE_PATH.fullmatch(path):
            return web.Response(status=404, text="not a tlog-tiles path")
        target = self.log.directory / path
        if not target.is_file():
            return web.Response(status=404, text="no such tile")
        body = await asyncio.to_thread(target.read_bytes)
        return web.Response(body=body, content_type="application/octet-stream")

    async def _lookup(self, request: web.Request) -> web.Response:
        try:
            leaf = bytes.fromhex(request.match_info["leaf"])
        except ValueError:
            return web.Response(status=400, text="leaf hash is not hex")
        index = self.log.lookup(leaf)
        if index is None:
            return web.Response(status=404, text="entry is not in the log")
        return web.json_response({"index": index})

    async def _add(self, request: web.Request) -> web.Response:
        _http.require_binary(request)
        entry = await _http.read_body(request)
        if not entry:
            return web.Response(status=400, text="empty entry")
        index, signed = await asyncio.to_thread(self._append, entry)
        signed = await self._collect_cosignatures(signed)
        with self._lock:
            if _better(signed, self._served):
                self._served = signed
        return web.json_response({"index": index, "size": signed.checkpoint.size})

    def _append(self, entry: bytes) -> tuple[int, SignedCheckpoint]:
        with self._lock:
            index = self.log.append(entry)
            return index, self.log.publish()

    async def _collect_cosignatures(self, signed: SignedCheckpoint) -> SignedCheckpoint:
        for url in self.witness_urls:
            lines = await self._ask_witness(url, signed)
            for line in lines:
                signed = SignedCheckpoint(signed.checkpoint, signed.note.add(line))
        if self.witness_urls:
            with self._lock:
                current = SignedCheckpoint.parse((self.log.directory / "checkpoint").read_bytes())
                if current.checkpoint == signed.checkpoint:
                    self.log.write_checkpoint(signed)
        return signed

    async def _ask_witness(self, url: str, signed: SignedCheckpoint) -> list[str]:
        if self._session is None:  # set on startup, before any request is served
            return []
        new_size = signed.checkpoint.size
        old = self._witness_sizes.get(url, 0)
        for _attempt in range(2):
            proof = self.log.consistency_proof(old, new_size) if old <= new_size else []
            body = encode_add_checkpoint(old, proof, signed.encode())
            try:
                async with self._session.post(url + "/add-checkpoint", data=body) as resp:
                    text = await resp.text()
                    status = resp.status
            except (TimeoutError, OSError) as exc:
                log.warning("witness %s unreachable: %s", url, type(exc).__name__)
                return []
            if status == 200:
                self._witness_sizes[url] = new_size
                return [line for line in text.splitlines() if line]
            if status == 409 and text.strip().isdigit():
                old = int(text.strip())
                continue
            log.warning("witness %s refused the checkpoint of size %d: %d", url, new_size, status)
            return []
        return []


def _better(new: SignedCheckpoint, old: SignedCheckpoint) -> bool:
    """Serve ``new`` instead of ``old``: a larger tree, or the same one with at least as many signatures."""
    if new.checkpoint.size != old.checkpoint.size:
        return new.checkpoint.size > old.checkpoint.size
    return _signature_count(new) >= _signature_count(old)


def _signature_count(signed: SignedCheckpoint) -> int:
    return len(signed.note.signatures)


def main(args: argparse.Namespace) -> int:
    """``openpcc log --config FILE``: serve until SIGTERM/SIGINT."""
    cfg = config.load(args.config).role(ROLE)
    _http.configure_logging(str(cfg["log_level"]))
    service = LogService(cfg)
    log.info("log %s, verifier key %s", cfg["origin"], service.verifier_key)
    asyncio.run(_http.run_until_signalled(service.http))
    return 0
