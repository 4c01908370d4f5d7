"""What a test needs from outside the code under test: a vector file, swtpm, a Go toolchain.

When one is missing the test is skipped with a message naming exactly what was looked for. With the
environment variable ``CI`` set (to anything but ``""``, ``0`` or ``false``) it fails instead, so a CI run
cannot pass by silently running fewer tests. Use :func:`missing` wherever a test would call ``pytest.skip``
for a missing prerequisite.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def missing(what: str) -> NoReturn:
    """Skip naming ``what`` was looked for; under CI, fail with the same message."""
    if running_in_ci():
        pytest.fail(f"{what} (CI is set: a missing prerequisite fails the run)", pytrace=False)
    pytest.skip(what)
