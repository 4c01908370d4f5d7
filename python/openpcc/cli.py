"""The ``openpcc`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _run_demo(args: argparse.Namespace) -> int:
    from openpcc.demo import main as demo_main

    return demo_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openpcc",
        description="openpcc: private cloud compute for AI inference.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the end-to-end demo on embedded defaults",
        description="Run the end-to-end demo on embedded defaults and print what each party saw.",
    )
    demo.set_defaults(run=_run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result
