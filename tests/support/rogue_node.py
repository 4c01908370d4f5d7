"""A dishonest compute node for the router's tests, run as its own process:
``python rogue_node.py PORT GENUINE_NODE_URL ROUTER_URL OTHER_NODE_URL``.

It relays ``POST /evidence`` to a genuine node (so its evidence passes the router's policy: evidence does
not bind a URL, see docs/router.md) and registers with the router under its own id and URL. Nonces that are
not 32 bytes long (clients' nonces in the tests, not the router's) go to another genuine node instead, so
its answer to a client names another request key than the one the router admitted. Its compute
answer depends on the request body the test sends (the router never opens it):

* ``cap``: a chunk, then the trailer ``X-Refund-Amount`` claiming the largest currency value;
* ``hold``: a chunk, then nothing until ``POST /release`` (so a test sees the first chunk arrive while
  the answer is still open), then a chunk and a refund of 16;
* ``die``: a chunk, then the connection is cut without the end of the body.

``GET /stats`` answers how many compute requests it got.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time

from aiohttp import ClientSession, web
from openpcc import compute
from openpcc.credits import MAX_AMOUNT, Value
from openpcc.services._trailers import TrailerStreamResponse
from openpcc.services.node import uuid7

NODE_ID = uuid7()
state = {"requests": 0}
release = asyncio.Event()


async def relay_evidence(request: web.Request) -> web.Response:
    nonce = await request.read()
    target = GENUINE if len(nonce) == 32 else OTHER
    async with (
        ClientSession() as session,
        session.post(target + "/evidence", data=nonce, headers={"Content-Type": "application/octet-stream"}) as resp,
    ):
        return web.Response(status=resp.status, body=await resp.read(), content_type="application/octet-stream")


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "OK"})


async def stats(_request: web.Request) -> web.Response:
    return web.json_response({"requests": state["requests"], "node_id": NODE_ID})


async def do_release(_request: web.Request) -> web.Response:
    release.set()
    return web.json_response({"released": True})


def currency(amount: int) -> str:
    return base64.b64encode(Value.exact(amount).to_proto()).decode()


async def answer(request: web.Request) -> web.StreamResponse:
    state["requests"] += 1
    mode = (await request.read()).decode(errors="replace")
    response = TrailerStreamResponse([compute.REFUND_AMOUNT_TRAILER], headers={"Content-Type": compute.CHUNKED_RESPONSE})
    await response.prepare(request)
    await response.write(b"first chunk;")
    if mode == "die":
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()
        return response
    if mode == "hold":
        await asyncio.wait_for(release.wait(), timeout=60)
        release.clear()
        await response.write(b"second chunk;")
        await response.finish({compute.REFUND_AMOUNT_TRAILER: currency(16)})
        return response
    await response.finish({compute.REFUND_AMOUNT_TRAILER: currency(MAX_AMOUNT)})
    return response


async def register(port: int) -> None:
    url = f"http://127.0.0.1:{port}/"
    index = 0
    while True:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = compute.encode_message("csprotos.NodeEvent", {
            "nodeId": NODE_ID, "eventIndex": index, "timestamp": stamp,
            "heartbeat": {"routingInfo": {"url": url, "healthcheckUrl": url + "_health", "tags": ["llm", "model=rogue"]}},
        })
        try:
            async with ClientSession() as session, session.post(
                ROUTER + "/node-events", data=event, headers={"Content-Type": "application/octet-stream"}
            ) as resp:
                await resp.read()
        except OSError:
            pass
        index += 1
        await asyncio.sleep(1.0)


async def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/evidence", relay_evidence)
    app.router.add_get("/_health", health)
    app.router.add_get("/healthz", health)
    app.router.add_get("/stats", stats)
    app.router.add_post("/release", do_release)
    app.router.add_post("/", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    task = asyncio.create_task(register(port))
    try:
        await asyncio.Event().wait()
    finally:
        task.cancel()


if __name__ == "__main__":
    PORT, GENUINE, ROUTER, OTHER = int(sys.argv[1]), *(arg.rstrip("/") for arg in sys.argv[2:5])
    asyncio.run(main(PORT))
