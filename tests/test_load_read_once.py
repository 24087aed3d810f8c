"""Issue 11, one pass: a small batch whose types depend on its data is read once (the chunks
the type pass read are loaded), a large one is read twice, and both load the same rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import loader, migrate

COLUMNS = [attribute("Id", "guid"), attribute("note"), attribute("amount", "int64")]
FOLDER = "2025-01-01T10.00.00Z"


def write_lake(root: Path) -> None:
    rows = [f'00000000-0000-0000-0000-{n:012d},"note {"x" * n}",{n}' for n in range(1, 40)]
    half = len(rows) // 2
    LakeBuilder(root).folder(
        FOLDER,
        {"t": COLUMNS},
        {"t/1.csv": "\n".join(rows[:half]) + "\n", "t/2.csv": "\n".join(rows[half:]) + "\n"},
    )


@pytest.fixture()
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each file was opened by the reader."""
    counted: Counter[str] = Counter()
    original = loader.read_raw

    def counting(open_stream, **kwargs: object) -> Iterator[object]:  # type: ignore[no-untyped-def]
        counted[open_stream.args[0]] += 1
        return original(open_stream, **kwargs)

    monkeypatch.setattr(loader, "read_raw", counting)
    return counted


@pytest.mark.parametrize(("read_once_bytes", "opened"), [(loader.READ_ONCE_BYTES, 1), (10, 2)])
def test_a_small_batch_is_read_once_and_a_large_one_twice_with_the_same_rows(
    tmp_path: Path,
    db_url: str,
    reads: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
    read_once_bytes: int,
    opened: int,
) -> None:
    monkeypatch.setattr(loader, "READ_ONCE_BYTES", read_once_bytes)
    write_lake(tmp_path / "lake")
    summary = migrate(tmp_path / "lake", db_url)
    assert summary.ok, summary.to_dict()
    assert dict(reads) == {f"{FOLDER}/t/1.csv": opened, f"{FOLDER}/t/2.csv": opened}
    rows = sorted(fetch(db_url, "t"), key=lambda r: r["amount"])
    assert [(r["note"], r["amount"]) for r in rows] == [
        (f"note {'x' * n}", n) for n in range(1, 40)
    ]
    assert summary.tables["t"].rows_inserted == 39
