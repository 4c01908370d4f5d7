"""Nonce locking through the real HTTP server, each server its own process (stopped by PID), on SQLite and
on PostgreSQL: the reference's credithole statuses, 64 simultaneous spends, a SIGKILL mid-operation, and
bad input that changes nothing."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from openpcc.compute import decode_message, encode_message
from openpcc.exceptions import (
    NonceConsumedError,
    NonceInvalidError,
    NonceLockedError,
    TicketMismatchError,
)
from openpcc.services.errors import ERROR_CODE_HEADER
from openpcc.services.noncelock import Nonce, NonceLockClient, lock_request, unlock_request
from openpcc.services.store import open_backend, open_nonce_store
from support.servers import RoleProcess, free_port, role_process

BINARY = {"Content-Type": "application/octet-stream"}


def current_nonce(value: bytes | None = None) -> Nonce:
    return Nonce(int(time.time()) // 3600 * 3600, value if value is not None else secrets.token_bytes(16))


def config_text(database: str, port: int, **extra: object) -> str:
    lines = ["[noncelock]", f"port = {port}", f'database = "{database}"', 'log_level = "debug"']
    lines += [f"{k} = {v!r}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[RoleProcess]:
    port = free_port()
    with role_process("noncelock", config_text(database, port), tmp_path, port) as proc:
        yield proc


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))  # type: ignore[arg-type]


async def post(session: aiohttp.ClientSession, url: str, body: bytes, **headers: str) -> tuple[int, bytes, str]:
    async with session.post(url, data=body, headers=headers or BINARY) as resp:
        return resp.status, await resp.read(), resp.headers.get(ERROR_CODE_HEADER, "")


def row_count(database: str) -> int:
    backend = open_backend(database)
    try:
        with backend.transaction() as cur:
            cur.execute("SELECT COUNT(*) FROM nonces")
            return int(cur.fetchone()[0])
    finally:
        backend.close()


def test_the_reference_statuses(server: RoleProcess) -> None:
    nonce = current_nonce()

    async def body() -> None:
        async with aiohttp.ClientSession() as s:
            status, answer, _ = await post(s, server.url + "/lock", lock_request(nonce))
            assert status == 200
            ticket = decode_message("csprotos.LockResponse", answer)["ticket"]
            assert len(ticket) == 32
            assert (await post(s, server.url + "/lock", lock_request(nonce)))[:1] == (409,)
            assert (await post(s, server.url + "/consume", unlock_request(nonce, "not-it")))[0] == 400
            assert await post(s, server.url + "/consume", unlock_request(nonce, ticket)) == (200, b"", "")
            for path, req in [("/lock", lock_request(nonce)), ("/consume", unlock_request(nonce, ticket)),
                              ("/release", unlock_request(nonce, ticket))]:
                status, answer, code = await post(s, server.url + path, req)
                assert (status, code) == (410, "402")
                assert decode_message("csprotos.Error", answer) == {"Message": "nonce is consumed"}
            other = current_nonce()
            status, answer, _ = await post(s, server.url + "/lock", lock_request(other))
            ticket = decode_message("csprotos.LockResponse", answer)["ticket"]
            assert (await post(s, server.url + "/release", unlock_request(other, ticket)))[0] == 200
            assert (await post(s, server.url + "/lock", lock_request(other)))[0] == 200

    run(body())


def test_the_client_consumes_on_success_and_releases_on_failure(server: RoleProcess) -> None:
    async def body() -> None:
        async with aiohttp.ClientSession() as s:
            client = NonceLockClient(server.url, s)
            spent, failed = current_nonce(), current_nonce()
            async with client.spend(spent):
                pass
            with pytest.raises(NonceConsumedError):
                await client.lock(spent)
            with pytest.raises(RuntimeError):
                async with client.spend(failed):
                    raise RuntimeError("the node failed")
            ticket = await client.lock(failed)  # released: free again
            with pytest.raises(NonceLockedError):
                await client.lock(failed)
            with pytest.raises(TicketMismatchError):
                await client.consume(failed, "someone-else")
            await client.consume(failed, ticket)
            with pytest.raises(NonceInvalidError):
                await client.lock(Nonce(0, bytes(16)))

    run(body())


def test_64_simultaneous_spends_of_one_nonce_give_exactly_one_success(server: RoleProcess) -> None:
    nonce = current_nonce()

    async def body() -> list[str]:
        go = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as s:

            async def spend() -> str:
                await go.wait()
                status, answer, _ = await post(s, server.url + "/lock", lock_request(nonce))
                if status != 200:
                    return str(status)
                ticket = decode_message("csprotos.LockResponse", answer)["ticket"]
                status, _, _ = await post(s, server.url + "/consume", unlock_request(nonce, ticket))
                return "spent" if status == 200 else f"consume {status}"

            tasks = [asyncio.create_task(spend()) for _ in range(64)]
            await asyncio.sleep(0.1)
            go.set()
            return list(await asyncio.gather(*tasks))

    outcomes = run(body())
    assert isinstance(outcomes, list)
    assert outcomes.count("spent") == 1, outcomes
    assert set(outcomes) <= {"spent", "409", "410"}, outcomes


def test_a_sigkill_mid_operation_loses_no_committed_record(database: str, tmp_path: Path) -> None:
    port = free_port()
    confirmed: list[Nonce] = []

    async def hammer(url: str, proc: RoleProcess) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:

            async def worker() -> None:
                for _ in range(200):  # bounded; the kill normally comes first
                    nonce = current_nonce()
                    try:
                        status, answer, _ = await post(s, url + "/lock", lock_request(nonce))
                        ticket = decode_message("csprotos.LockResponse", answer)["ticket"]
                        status, _, _ = await post(s, url + "/consume", unlock_request(nonce, ticket))
                    except (aiohttp.ClientError, OSError, ValueError):
                        return
                    if status == 200:
                        confirmed.append(nonce)

            workers = [asyncio.create_task(worker()) for _ in range(16)]
            while len(confirmed) < 40 and not all(w.done() for w in workers):
                await asyncio.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)  # mid-operation: other workers are in flight
            await asyncio.gather(*workers, return_exceptions=True)

    with role_process("noncelock", config_text(database, port), tmp_path, port) as proc:
        run(hammer(proc.url, proc))
        assert proc.proc.wait(timeout=20) == -signal.SIGKILL
    assert len(confirmed) >= 40
    store = open_nonce_store(database)
    try:
        assert all(store.state(n.key, time.time()) == "consumed" for n in confirmed)
    finally:
        store.close()
    port = free_port()
    with role_process("noncelock", config_text(database, port), tmp_path, port) as proc:

        async def relock() -> list[int]:
            async with aiohttp.ClientSession() as s:
                return [(await post(s, proc.url + "/lock", lock_request(n)))[0] for n in confirmed]

        assert set(run(relock())) == {410}  # type: ignore[arg-type]


def _with_unknown_nonce_field(nonce: Nonce) -> bytes:
    inner = encode_message("csprotos.Nonce", nonce.to_message()) + b"\x18\x01"  # field 3, varint 1
    return b"\x0a" + bytes([len(inner)]) + inner


def test_bad_input_gets_a_clear_4xx_and_changes_nothing(server: RoleProcess, database: str) -> None:
    canary = b"CANARY-nonce-16b"
    good = current_nonce(canary)
    now_hour = good.timestamp
    timestamp_with_nanos = encode_message(
        "csprotos.LockRequest",
        {"nonce": {"timestamp": time.strftime("%Y-%m-%dT%H:00:00.5Z", time.gmtime(now_hour)),
                   "nonce": base64.b64encode(canary).decode()}},
    )
    cases: list[tuple[str, str, bytes, dict[str, str], int, str]] = [
        ("garbage", "/lock", b"\xff\xff\xff\xff", BINARY, 400, "206"),
        ("no nonce", "/lock", b"", BINARY, 400, "400"),
        ("truncated", "/lock", lock_request(good)[:-3], BINARY, 400, "206"),
        ("unknown field", "/lock", lock_request(good) + b"\x1a\x00", BINARY, 400, "206"),
        ("unknown nonce field", "/lock", _with_unknown_nonce_field(good), BINARY, 400, "206"),
        ("field twice", "/lock", lock_request(good) + lock_request(good), BINARY, 400, "206"),
        ("short nonce", "/lock", lock_request(current_nonce(canary[:15])), BINARY, 400, "400"),
        ("long nonce", "/lock", lock_request(current_nonce(canary + b"!")), BINARY, 400, "400"),
        ("expired", "/lock", lock_request(Nonce(now_hour - 2 * 3600, canary)), BINARY, 400, "400"),
        ("future", "/lock", lock_request(Nonce(now_hour + 30 * 3600, canary)), BINARY, 400, "400"),
        ("nanos", "/lock", timestamp_with_nanos, BINARY, 400, "400"),
        ("media type", "/lock", lock_request(good), {"Content-Type": "application/json"}, 415, "202"),
        ("oversized", "/lock", lock_request(good) + b"\x00" * 5000, BINARY, 413, "201"),
        ("empty ticket", "/consume", unlock_request(good, ""), BINARY, 400, "400"),
        ("long ticket", "/release", unlock_request(good, "t" * 129), BINARY, 400, "400"),
        ("no ticket", "/consume", lock_request(good), BINARY, 400, "400"),
        ("wrong ticket", "/consume", unlock_request(good, "CANARY-ticket"), BINARY, 400, "403"),
    ]

    async def body() -> None:
        async with aiohttp.ClientSession() as s:
            status, _, _ = await post(s, server.url + "/lock", lock_request(current_nonce()))
            assert status == 200
            before = row_count(database)
            for name, path, payload, headers, want_status, want_code in cases:
                status, answer, code = await post(s, server.url + path, payload, **headers)
                assert (status, code) == (want_status, want_code), name
                assert decode_message("csprotos.Error", answer)["Message"], name
                assert b"CANARY" not in answer, name
            async with s.get(server.url + "/lock") as resp:
                assert resp.status == 405
            assert row_count(database) == before
            assert (await post(s, server.url + "/lock", lock_request(good)))[0] == 200  # still free

    run(body())
    assert server.terminate() == 0
    output = server.output()
    assert "POST /lock 400" in output  # the log has the outcome...
    for secret in (b"CANARY", base64.b64encode(canary)[:12], canary.hex().encode()):
        assert secret.decode() not in output  # ...and never the nonce or the ticket


def test_sigterm_stops_the_server_cleanly(server: RoleProcess) -> None:
    assert server.terminate() == 0
    assert "stopped" in server.output()


def test_a_lock_expires_and_its_ticket_dies(database: str, tmp_path: Path) -> None:
    port = free_port()
    with role_process("noncelock", config_text(database, port, lock_duration=0.5), tmp_path, port) as proc:

        async def body() -> None:
            async with aiohttp.ClientSession() as s:
                client = NonceLockClient(proc.url, s)
                nonce = current_nonce()
                stale = await client.lock(nonce)
                with pytest.raises(NonceLockedError):
                    await client.lock(nonce)
                await asyncio.sleep(0.7)
                with pytest.raises(TicketMismatchError):
                    await client.consume(nonce, stale)
                fresh = await client.lock(nonce)
                assert fresh != stale
                await client.consume(nonce, fresh)

        run(body())


def test_two_replicas_sharing_one_database_still_give_exactly_one_success(database: str, tmp_path: Path) -> None:
    """Atomicity comes from the database, not from a process: spends split over two servers."""
    ports = [free_port(), free_port()]
    with (
        role_process("noncelock", config_text(database, ports[0]), tmp_path / "a", ports[0]) as first,
        role_process("noncelock", config_text(database, ports[1]), tmp_path / "b", ports[1]) as second,
    ):
        nonce = current_nonce()

        async def body() -> list[str]:
            go = asyncio.Event()
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:

                async def spend(url: str) -> str:
                    await go.wait()
                    status, answer, _ = await post(s, url + "/lock", lock_request(nonce))
                    if status != 200:
                        return str(status)
                    ticket = decode_message("csprotos.LockResponse", answer)["ticket"]
                    status, _, _ = await post(s, url + "/consume", unlock_request(nonce, ticket))
                    return "spent" if status == 200 else f"consume {status}"

                tasks = [asyncio.create_task(spend((first, second)[i % 2].url)) for i in range(64)]
                await asyncio.sleep(0.1)
                go.set()
                return list(await asyncio.gather(*tasks))

        outcomes = run(body())
    assert isinstance(outcomes, list)
    assert outcomes.count("spent") == 1, outcomes
    assert set(outcomes) <= {"spent", "409", "410"}, outcomes


def test_a_lock_whose_caller_hung_up_is_released_at_once(tmp_path: Path) -> None:
    """The caller closes its connection while the lock is being taken: it can never learn the ticket,
    so the server frees the nonce instead of leaving it locked for lock_duration (300 s here)."""
    from openpcc import config
    from openpcc.services.noncelock import NonceLockService

    real = open_nonce_store(f"sqlite:{tmp_path / 'n.sqlite3'}")
    entered, taken = threading.Event(), threading.Event()

    class SlowLock:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def lock(self, *args: object) -> None:
            entered.set()
            time.sleep(0.5)  # the caller hangs up meanwhile
            real.lock(*args)  # type: ignore[arg-type]
            taken.set()

    cfg = config.load(None, env={"OPENPCC_HOME": str(tmp_path), "OPENPCC_NONCELOCK_PORT": "0"}).role("noncelock")
    nonce = current_nonce()

    async def body() -> None:
        service = NonceLockService(cfg, store=SlowLock())  # type: ignore[arg-type]
        host, port = await service.start()
        try:
            _, writer = await asyncio.open_connection(host, port)
            payload = lock_request(nonce)
            writer.write(
                b"POST /lock HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
            )
            await writer.drain()
            assert await asyncio.to_thread(entered.wait, 5)
            writer.close()
            assert await asyncio.to_thread(taken.wait, 5)  # the lock was really taken...
            for _ in range(100):  # ...and is given back well before it would expire (bounded: 5 s)
                if real.state(nonce.key, time.time()) == "free":
                    break
                await asyncio.sleep(0.05)
            assert real.state(nonce.key, time.time()) == "free"
        finally:
            await service.stop()

    run(body())


def test_a_token_protected_server_serves_only_callers_with_the_token(tmp_path: Path) -> None:
    from openpcc.config import write_key_file
    from openpcc.exceptions import UnauthorizedError

    token = secrets.token_hex(16)
    token_file = tmp_path / "keys" / "noncelock.token"
    write_key_file(token_file, token.encode())
    port = free_port()
    text = config_text(f"sqlite:{tmp_path / 'n.sqlite3'}", port, auth_token_file=str(token_file))
    with role_process("noncelock", text, tmp_path, port) as proc:

        async def body() -> None:
            async with aiohttp.ClientSession() as s:
                with pytest.raises(UnauthorizedError):
                    await NonceLockClient(proc.url, s).lock(current_nonce())
                with pytest.raises(UnauthorizedError):
                    await NonceLockClient(proc.url, s, token="not-" + token).lock(current_nonce())
                async with NonceLockClient(proc.url, s, token=token).spend(current_nonce()):
                    pass

        run(body())
    assert token not in proc.output()
