"""The layers' arrows run one way: nothing outside ``openpcc.services`` (but the CLI) imports it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "openpcc"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_protocol_libraries_and_config_never_import_the_services() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "services" or relative.name == "cli.py":
            continue
        if any(name == "openpcc.services" or name.startswith("openpcc.services.") for name in imported_modules(path)):
            offenders.append(str(relative))
    assert offenders == []
    assert (PACKAGE / "services" / "noncelock.py").exists()  # the scan looked at the right tree
