"""`benches/ratios.py`: the one table `make bench` prints."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

RATIOS = Path(__file__).resolve().parents[2] / "benches" / "ratios.py"


def _table(rows: list[tuple[str, str, float]]) -> list[list[str]]:
    spec = importlib.util.spec_from_file_location("ratios", RATIOS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data: dict[str, Any] = {
        "benchmarks": [
            {"name": f"test_{impl}", "group": group, "extra_info": {"impl": impl}, "stats": {"median": median}}
            for group, impl, median in rows
        ]
    }
    return [line.split() for line in module.table(data).splitlines()[2:]]


def test_peer_ratio_is_peer_median_over_ours_and_variants_are_not_peers() -> None:
    lines = _table(
        [
            ("g", "peer", 30e-6),
            ("g", "openpcc", 20e-6),
            ("g", "openpcc-cached", 5e-6),
        ]
    )
    assert lines[0][:2] == ["g", "openpcc"] and lines[0][-1] == "-"
    assert lines[1][0] == "openpcc-cached" and lines[1][-2:] == ["variant:", "4.00x"]
    assert lines[2][0] == "peer" and lines[2][-1] == "1.50x"


def test_a_group_without_openpcc_has_no_ratio() -> None:
    lines = _table([("h", "peer", 1e-3)])
    assert lines[0][0] == "h" and lines[0][-1] == "-"


def test_memory_table_lists_rss_and_the_ratio_to_the_peer() -> None:
    spec = importlib.util.spec_from_file_location("ratios", RATIOS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bench = {"stats": {"median": 1.0}}
    data = {"benchmarks": [
        bench | {"name": "a", "group": "mem", "extra_info": {"impl": "peer", "rss_mib": 200.0}},
        bench | {"name": "b", "group": "mem", "extra_info": {"impl": "openpcc", "rss_mib": 150.0}},
        bench | {"name": "c", "group": "time", "extra_info": {"impl": "openpcc"}},
    ]}
    lines = [line.split() for line in module.memory_table(data).splitlines()[2:]]
    assert lines == [["mem", "openpcc", "150.0", "-"], ["peer", "200.0", "0.75x"]]
    assert module.memory_table({"benchmarks": data["benchmarks"][2:]}) == ""


def test_latency_table_lists_percentiles_and_what_openpcc_adds_over_its_peer() -> None:
    spec = importlib.util.spec_from_file_location("ratios", RATIOS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = {"openpcc": (3.5, 9.0, 2.25, 4.0), "direct": (1.0, 2.0, 2.0, 3.0)}
    data: dict[str, Any] = {"benchmarks": [
        {"name": f"test_{impl}", "group": "stack-stream-1", "stats": {"median": 1.0},
         "extra_info": {"impl": impl, **dict(zip(module.LATENCY_KEYS, values, strict=True))}}
        for impl, values in figures.items()
    ]}
    lines = [line.split() for line in module.latency_table(data).splitlines()[2:]]
    assert lines[0] == ["stack-stream-1", "openpcc", "3.500", "9.000", "2.250", "4.000"]
    assert lines[1] == ["direct", "1.000", "2.000", "2.000", "3.000"]
    assert lines[2] == ["added", "by", "openpcc", "+2.500", "+7.000", "+0.250", "+1.000"]
    assert module.latency_table({"benchmarks": [{"name": "x", "stats": {"median": 1.0}}]}) == ""
