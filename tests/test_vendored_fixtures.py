"""tests/fixtures/real is a copy of shared/fixtures/real for clones that lack shared/ (GitHub
Actions): it must stay byte-for-byte equal to the shared corpus wherever both exist."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import SHARED_FIXTURES, VENDORED_FIXTURES


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_the_vendored_fixture_copy_matches_the_shared_corpus() -> None:
    vendored = digests(VENDORED_FIXTURES)
    assert "SOURCES.md" in vendored and len(vendored) > 40
    if SHARED_FIXTURES.is_dir():
        assert vendored == digests(SHARED_FIXTURES)
