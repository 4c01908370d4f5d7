"""The repository's copy of the third-party vectors matches its SHA-256 manifest, file for file.

``tests/data/vectors/SHA256SUMS`` (``sha256sum`` format) lists every file under the folder except the
provenance page ``README.md`` and the manifest itself: a changed, missing or unlisted file fails here.
Regenerate it with ``make vectors-manifest`` after a deliberate update, and note the origin in the README.
"""

from __future__ import annotations

import hashlib

import pytest
from support.vectors import REPOSITORY_VECTORS

MANIFEST = REPOSITORY_VECTORS / "SHA256SUMS"
NOT_LISTED = {"SHA256SUMS", "README.md"}


def _manifest() -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, line in enumerate(MANIFEST.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        assert sep and len(digest) == 64, f"SHA256SUMS line {number} is not '<sha256>  <path>': {line!r}"
        assert name not in entries, f"SHA256SUMS lists {name} twice"
        entries[name] = digest
    return entries


def _files_on_disk() -> set[str]:
    return {
        path.relative_to(REPOSITORY_VECTORS).as_posix()
        for path in REPOSITORY_VECTORS.rglob("*")
        if path.is_file()
    } - NOT_LISTED


MANIFEST_ENTRIES = _manifest()


def test_manifest_covers_every_file_and_nothing_else() -> None:
    on_disk = _files_on_disk()
    assert sorted(on_disk - MANIFEST_ENTRIES.keys()) == [], "files not in SHA256SUMS"
    assert sorted(MANIFEST_ENTRIES.keys() - on_disk) == [], "SHA256SUMS lists missing files"


def test_manifest_lists_every_topic() -> None:
    topics = {p.name for p in REPOSITORY_VECTORS.iterdir() if p.is_dir()}
    assert topics == {name.split("/", 1)[0] for name in MANIFEST_ENTRIES}
    # each topic keeps its origin notes
    assert {f"{topic}/README.md" for topic in topics} <= MANIFEST_ENTRIES.keys()


@pytest.mark.parametrize("name", sorted(MANIFEST_ENTRIES))
def test_file_matches_its_digest(name: str) -> None:
    data = (REPOSITORY_VECTORS / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == MANIFEST_ENTRIES[name]
