"""A missing prerequisite skips locally and fails under CI, naming what was looked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.prerequisites import missing, running_in_ci
from support.vectors import load_json, vectors_root


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("", False), ("0", False), ("false", False)],
)
def test_ci_detection(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert running_in_ci() is expected


def test_missing_skips_without_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="swtpm"):
        missing("swtpm not on PATH")


def test_missing_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="swtpm not on PATH"):
        missing("swtpm not on PATH")


def test_missing_vector_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENPCC_VECTORS", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=str(tmp_path / "bhttp")):
        load_json("bhttp", "rfc9292-examples.json")
    (tmp_path / "bhttp").mkdir()
    with pytest.raises(pytest.fail.Exception, match="rfc9292-examples.json"):
        load_json("bhttp", "rfc9292-examples.json")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="rfc9292-examples.json"):
        load_json("bhttp", "rfc9292-examples.json")


def test_default_root_is_the_repository_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENPCC_VECTORS", raising=False)
    assert vectors_root() == Path(__file__).resolve().parents[1] / "data" / "vectors"
