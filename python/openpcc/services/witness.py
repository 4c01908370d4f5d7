"""The witness role: ``openpcc witness --config FILE`` (default port 3910).

``POST /add-checkpoint`` takes a c2sp.org/tlog-witness request (``old <size>``, the consistency proof
from that size, a blank line, the log's signed checkpoint) for one of the logs in ``log_keys``. The
witness checks the log's signature and that the checkpoint extends the last one it cosigned, then
answers its c2sp.org/tlog-cosignature line (``cosignature/v1``, timestamped Ed25519). It answers 409
with its last cosigned size when the caller's ``old`` differs, 403 for a bad signature or an unknown
log, and 422 for a checkpoint that does not extend what it saw (a split view: it refuses to cosign).

Its key is ``<data_dir>/witness.key`` (0600, made on first start; verifier key in ``witness.vkey``) and
its view of each log is ``<data_dir>/witness-state.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import web

from openpcc import config
from openpcc.exceptions import (
    LogStateError,
    NoteError,
    NoteVerificationError,
    SplitViewError,
    WitnessConflictError,
)
from openpcc.services import _http
from openpcc.services.log import load_or_create_signer
from openpcc.transparency.note import COSIGNATURE_V1, Verifier
from openpcc.transparency.tlog import Witness, parse_add_checkpoint

ROLE = "witness"
log = logging.getLogger("openpcc.services.witness")


class WitnessService:
    def __init__(self, cfg: config.RoleConfig, clock: Callable[[], float] = time.time) -> None:
        data = config.ensure_private_dir(cfg.data_dir)
        signer = load_or_create_signer(data / "witness.key", str(cfg["name"]), COSIGNATURE_V1)
        logs = [Verifier.parse(k.strip()) for k in str(cfg["log_keys"]).split(",") if k.strip()]
        self.witness = Witness(signer, logs, data / "witness-state.json", lambda: int(clock()))
        self.http = _http.HTTPService(cfg, logger=log)
        self.http.add_route("POST", "/add-checkpoint", self._add_checkpoint)

    @property
    def verifier_key(self) -> str:
        return self.witness.signer.verifier.encode()

    async def start(self) -> tuple[str, int]:
        return await self.http.start()

    async def stop(self) -> None:
        await self.http.stop()

    async def _add_checkpoint(self, request: web.Request) -> web.Response:
        body = await _http.read_body(request)
        try:
            old_size, proof, checkpoint = parse_add_checkpoint(body)
            signed = await asyncio.to_thread(self.witness.cosign, checkpoint, proof, old_size)
        except WitnessConflictError as exc:
            return web.Response(status=409, text=f"{exc.size}\n", content_type="text/x.tlog.size")
        except (NoteVerificationError, LogStateError) as exc:
            return web.Response(status=403, text=str(exc))
        except SplitViewError as exc:
            return web.Response(status=422, text=str(exc))
        except NoteError as exc:
            return web.Response(status=400, text=str(exc))
        line = signed.note.encode().decode().splitlines()[-1]
        return web.Response(text=line + "\n", content_type="text/plain")


def main(args: argparse.Namespace) -> int:
    """``openpcc witness --config FILE``: serve until SIGTERM/SIGINT."""
    cfg = config.load(args.config).role(ROLE)
    _http.configure_logging(str(cfg["log_level"]))
    service = WitnessService(cfg)
    log.info("witness %s", service.verifier_key)
    asyncio.run(_http.run_until_signalled(service.http))
    return 0
