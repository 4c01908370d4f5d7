"""Shared benchmark helpers.

Every benchmark names its ``group`` (what is measured) and its ``impl`` (``openpcc`` or a named peer such
as ``cryptography`` or ``pyhpke``) through the ``paired`` fixture; ``benches/ratios.py`` turns one
``--benchmark-json`` run into a table of medians and openpcc-vs-peer ratios per group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

OPENPCC = "openpcc"


@pytest.fixture
def paired(benchmark: Any) -> Callable[[str, str], Any]:
    """``paired(group, impl)`` labels the benchmark and returns the ``benchmark`` fixture to call."""

    def label(group: str, impl: str) -> Any:
        benchmark.group = group
        benchmark.extra_info["impl"] = impl
        return benchmark

    return label
