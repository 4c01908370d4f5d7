"""Print one table from a pytest-benchmark JSON file: per group, each case's median, its rate, and how
openpcc compares with it (peer median / openpcc median; above 1 means openpcc is faster).

Rows named ``openpcc-<variant>`` (``openpcc-cached``, ``openpcc-per-piece``) are other ways of
calling openpcc itself, not peers: their column reads ``variant: N.NNx`` = the main ``openpcc``
row's median / the variant's median (above 1 means the variant is faster than the main row).

A case is named by ``extra_info["impl"]`` (the ``paired`` fixture sets it) or else by the first of
``openpcc``, ``pyhpke``, ``cryptography`` found in its test function's name.

Usage: python benches/ratios.py BENCHMARK_JSON
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

OPENPCC = "openpcc"


# Benchmarks that do not set ``extra_info["impl"]`` are labelled by the first of these in their test name.
KNOWN_IMPLS = (OPENPCC, "pyhpke", "cryptography")


def _impl(bench: dict[str, Any]) -> str:
    impl = bench.get("extra_info", {}).get("impl")
    if impl:
        return str(impl)
    name = str(bench["name"])
    function = name.split("[", 1)[0]
    return next((known for known in KNOWN_IMPLS if known in function), name)


def _format_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:8.2f} {unit}"
    return f"{seconds / 1e-9:8.1f} ns"


def table(data: dict[str, Any]) -> str:
    groups: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench.get("group") or bench["name"]].append((_impl(bench), bench["stats"]["median"]))
    width = max([len(g) for g in groups] + [5])
    case_width = max([len(impl) for cases in groups.values() for impl, _ in cases] + [14])
    lines = [
        f"{'group':<{width}}  {'case':<{case_width}} {'median':>11} {'ops/s':>11}  openpcc speed-up"
    ]
    lines.append("-" * len(lines[0]))
    for group in sorted(groups):
        cases = sorted(groups[group], key=lambda case: (case[0] != OPENPCC, case[0]))
        ours = dict(cases).get(OPENPCC)
        for position, (impl, median) in enumerate(cases):
            label = group if position == 0 else ""
            if impl == OPENPCC or ours is None:
                ratio = "-"
            elif impl.startswith(OPENPCC + "-"):
                ratio = f"variant: {ours / median:.2f}x"
            else:
                ratio = f"{median / ours:.2f}x"
            lines.append(
                f"{label:<{width}}  {impl:<{case_width}} {_format_time(median):>11}"
                f" {1 / median:>11,.0f}  {ratio}"
            )
    return "\n".join(lines)


def memory_table(data: dict[str, Any]) -> str:
    """Resident memory reported by benchmarks (``extra_info["rss_mib"]``), with openpcc over the peer
    (below 1 means openpcc uses less); empty when no benchmark reports any."""
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        rss = bench.get("extra_info", {}).get("rss_mib")
        if rss is not None:
            groups[bench.get("group") or bench["name"]][_impl(bench)] = float(rss)
    if not groups:
        return ""
    lines = ["resident memory (MiB)", f"{'group':<40} {'case':<40} {'RSS':>8}  openpcc / peer"]
    for group in sorted(groups):
        cases = sorted(groups[group].items(), key=lambda case: (case[0] != OPENPCC, case[0]))
        ours = groups[group].get(OPENPCC)
        for position, (impl, rss) in enumerate(cases):
            ratio = f"{ours / rss:.2f}x" if ours is not None and impl != OPENPCC else "-"
            lines.append(f"{group if position == 0 else '':<40} {impl:<40} {rss:>8.1f}  {ratio}")
    return "\n".join(lines)


LATENCY_KEYS = ("ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms")


def latency_table(data: dict[str, Any]) -> str:
    """Streaming latency reported by benchmarks (``extra_info["ttft_p50_ms"]`` and the other
    :data:`LATENCY_KEYS`): each case's figures, and for openpcc what it adds over the group's peer
    (openpcc minus peer, in ms); empty when no benchmark reports any."""
    groups: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if all(key in info for key in LATENCY_KEYS):
            groups[bench.get("group") or bench["name"]][_impl(bench)] = {k: float(info[k]) for k in LATENCY_KEYS}
    if not groups:
        return ""
    heads = "".join(f" {key.removesuffix('_ms').replace('_', ' '):>10}" for key in LATENCY_KEYS)
    lines = ["streaming latency (ms)", f"{'group':<24} {'case':<16}{heads}"]
    for group in sorted(groups):
        cases = sorted(groups[group].items(), key=lambda case: (case[0] != OPENPCC, case[0]))
        for position, (impl, figures) in enumerate(cases):
            values = "".join(f" {figures[key]:>10.3f}" for key in LATENCY_KEYS)
            lines.append(f"{group if position == 0 else '':<24} {impl:<16}{values}")
        ours = groups[group].get(OPENPCC)
        peers = [impl for impl in groups[group] if impl != OPENPCC]
        if ours is not None and len(peers) == 1:
            peer = groups[group][peers[0]]
            added = "".join(f" {ours[key] - peer[key]:>+10.3f}" for key in LATENCY_KEYS)
            lines.append(f"{'':<24} {'added by openpcc':<16}{added}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    data = json.loads(Path(argv[1]).read_text())
    print(table(data))
    if memory := memory_table(data):
        print()
        print(memory)
    if latency := latency_table(data):
        print()
        print(latency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
