"""``openpcc chat``: talk to a model privately through the client profile (``[client]`` of the config).

``openpcc chat "prompt"`` streams one answer's tokens as they arrive; without a prompt it reads prompts
from the terminal (the conversation is kept; an empty line, ``/quit`` or Ctrl-D ends it).
``--show-verification`` prints, after each answer, what was verified about the node that answered.
Exit 0 on success, 1 when a request failed, 2 when the profile cannot be loaded.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from openpcc.exceptions import ClientConfigError, ConfigError, OpenPCCError

EXIT_OK, EXIT_FAILED, EXIT_PROFILE = 0, 1, 2


def add_command(commands: Any) -> None:
    p = commands.add_parser(
        "chat",
        help="chat with a model privately (streams the answer; interactive without a prompt)",
        description=(
            "Send a prompt to a verified compute node through the relay and the gateway and stream the answer. "
            "Reads the [client] table of --config (default: <home>/openpcc.toml, as `openpcc up` writes it). "
            "Without a prompt, reads prompts from the terminal until an empty line, /quit or Ctrl-D. "
            "Exit 0 on success, 1 when a request failed, 2 when the profile cannot be loaded."
        ),
    )
    p.add_argument("prompt", nargs="?", help="the prompt; omit it for an interactive conversation")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: <home>/openpcc.toml)")
    p.add_argument("--model", help="model to ask (default: the profile's `model`)")
    p.add_argument("--max-tokens", type=int, default=None, help="most tokens in each answer")
    p.add_argument(
        "--show-verification", action="store_true",
        help="after each answer, print the node's verification summary (policy, every check, freshness)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from openpcc.client import Client

    out, err = out or sys.stdout, err or sys.stderr
    overrides = {"model": args.model} if args.model else {}
    try:
        client = Client(args.config, **overrides)
    except (ClientConfigError, ConfigError, OpenPCCError, OSError) as exc:
        print(f"openpcc chat: cannot load the client profile: {exc}", file=err)
        return EXIT_PROFILE
    params = {"max_tokens": args.max_tokens} if args.max_tokens else {}
    with client:
        if args.prompt is not None:
            answer = _ask(client, [{"role": "user", "content": args.prompt}], params, args.show_verification, out, err)
            return EXIT_OK if answer is not None else EXIT_FAILED
        return _interactive(client, params, args.show_verification, out, err)


def _interactive(client: Any, params: dict[str, Any], show: bool, out: TextIO, err: TextIO) -> int:
    messages: list[dict[str, str]] = []
    status = EXIT_OK
    while True:
        try:
            line = input("you> ")
        except EOFError:
            break
        if not line.strip() or line.strip() in ("/quit", "/exit"):
            break
        messages.append({"role": "user", "content": line})
        answer = _ask(client, messages, params, show, out, err)
        if answer is None:
            messages.pop()
            status = EXIT_FAILED
        else:
            messages.append({"role": "assistant", "content": answer})
    return status


def _ask(
    client: Any, messages: list[dict[str, str]], params: dict[str, Any], show: bool, out: TextIO, err: TextIO
) -> str | None:
    """Streams one answer to ``out``; ``None`` (and the reason on ``err``) when the request failed."""
    pieces: list[str] = []
    try:
        with client.chat(messages, stream=True, **params) as stream:
            for text in stream:
                pieces.append(text)
                out.write(text)
                out.flush()
            out.write("\n")
            if show:
                out.write(stream.verification.render() + "\n")
            out.flush()
    except OpenPCCError as exc:
        out.write("\n" if pieces else "")
        print(f"openpcc chat: {type(exc).__name__}: {exc}", file=err)
        return None
    return "".join(pieces)
