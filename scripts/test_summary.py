"""One line per test suite for `make test`: how many tests ran, passed, failed and were left out.

    python3 scripts/test_summary.py rust LOG      # totals of every `test result:` line cargo printed
    python3 scripts/test_summary.py python XML    # totals of a pytest --junitxml report
    python3 scripts/test_summary.py all DIR       # both, from DIR/rust.log and DIR/python.xml

Standard library only, so it runs before the venv exists.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

CARGO_RESULT = re.compile(
    r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; \d+ measured; \d+ filtered out",
    re.MULTILINE,
)


def rust_line(log: Path) -> str:
    if not log.is_file():
        return f"rust: no log at {log} (cargo test did not run)"
    runs = [tuple(map(int, m)) for m in CARGO_RESULT.findall(log.read_text(errors="replace"))]
    passed, failed, ignored = (sum(run[i] for run in runs) for i in range(3))
    return (
        f"rust (cargo test, {len(runs)} test binaries and doc-test runs): "
        f"{passed} passed, {failed} failed, {ignored} ignored"
    )


def python_line(report: Path) -> str:
    if not report.is_file():
        return f"python: no report at {report} (pytest did not finish)"
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total, failed, errors, skipped = (
        sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")
    )
    passed = total - failed - errors - skipped
    return f"python (pytest): {passed} passed, {failed} failed, {skipped} skipped, {errors} errors"


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("rust", "python", "all"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, path = argv[1], Path(argv[2])
    if kind == "rust":
        lines = [rust_line(path)]
    elif kind == "python":
        lines = [python_line(path)]
    else:
        lines = [rust_line(path / "rust.log"), python_line(path / "python.xml")]
    print("\n".join(f"== test summary: {line}" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
