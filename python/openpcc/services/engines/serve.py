"""A small OpenAI-compatible HTTP server in front of any engine (``POST /v1/chat/completions``,
``POST /v1/completions``, ``GET /v1/models``, ``GET /health``).

It is what the upstream engine is tested against (the echo engine behind it, in its own process), and a
way to try an engine by hand::

    python -m openpcc.services.engines.serve --engine echo --port 8000
    curl -N localhost:8000/v1/chat/completions -d '{"model":"echo","stream":true,
         "messages":[{"role":"user","content":"hello there"}]}'

It binds 127.0.0.1 by default, prints ``listening on http://HOST:PORT`` once ready, and stops on
SIGTERM or SIGINT. Errors are the OpenAI API's error objects; nothing of a request is logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from openpcc.exceptions import EngineError, EngineRequestError
from openpcc.services.engines.base import CHAT_PATH, COMPLETIONS_PATH, Engine, error_body

ENGINE = web.AppKey("engine", Engine)
MAX_BODY_BYTES = 1 << 20


def build_app(engine: Engine) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[ENGINE] = engine
    app.router.add_post(CHAT_PATH, _complete)
    app.router.add_post(COMPLETIONS_PATH, _complete)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/health", _health)
    return app


def _error(exc: EngineError) -> web.Response:
    return web.json_response(error_body(exc), status=exc.status)


async def _complete(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _error(EngineRequestError("the request body is not valid JSON"))
    try:
        answer = await engine.open(request.path, body)
    except EngineError as exc:
        return _error(exc)
    async with answer:
        if not answer.stream:
            try:
                data = await answer.read()
            except EngineError as exc:
                return _error(exc)
            return web.Response(body=data, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            async for piece in answer:
                await response.write(piece)
        except EngineError as exc:
            # Headers are gone: report in the stream, as OpenAI-compatible servers do, and end it.
            await response.write(b"data: " + json.dumps(error_body(exc)).encode() + b"\n\n")
        await response.write_eof()
        return response


async def _models(request: web.Request) -> web.Response:
    models = request.app[ENGINE].models or ()
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "openpcc"} for name in models]
    return web.json_response({"object": "list", "data": data})


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _engine(args: argparse.Namespace) -> Engine:
    if args.engine == "echo":
        from openpcc.services.engines.echo import EchoEngine

        return EchoEngine(args.model or "echo", token_delay=args.token_delay)
    if args.engine == "upstream":
        from openpcc.services.engines.upstream import UpstreamEngine

        return UpstreamEngine(args.upstream_url, model=args.model or "")
    from openpcc.services.engines.llama import LlamaEngine

    return LlamaEngine(args.model_file, model=args.model or "SmolLM2-135M-Instruct")


async def serve(engine: Engine, host: str, port: int) -> None:
    runner = web.AppRunner(build_app(engine), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"listening on http://{bound_host}:{bound_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
        await engine.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openpcc.services.engines.serve", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--engine", choices=("echo", "llama", "upstream"), default="echo")
    parser.add_argument("--model", default="", help="the model name served (default: the engine's own)")
    parser.add_argument("--model-file", default=None, help="llama: a GGUF file (default: the shipped SmolLM2)")
    parser.add_argument("--upstream-url", default="", help="upstream: base URL of the server forwarded to")
    parser.add_argument("--token-delay", type=float, default=0.0, help="echo: seconds before each token")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed once listening)")
    args = parser.parse_args(argv)
    try:
        engine = _engine(args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(engine, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
