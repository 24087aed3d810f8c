"""Issue 11, one pass: a batch whose types depend on its data is read once. The type pass
reads up to READ_ONCE_BYTES, the load takes what it read, and the rest is typed as it loads;
rows that need other types than the first ones load the batch again, typed by all its rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute
from tests.test_drift import column_types as drift_column_types
from turbodata import migrate
from turbodata.load import batch_reading
from turbodata.types.sql import Kind, SqlType, string_type

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
    original = batch_reading.read_raw

    def counting(open_stream, **kwargs: object) -> Iterator[object]:  # type: ignore[no-untyped-def]
        counted[open_stream.path] += 1
        return original(open_stream, **kwargs)

    monkeypatch.setattr(batch_reading, "read_raw", counting)
    return counted


@pytest.mark.parametrize("read_once_bytes", [batch_reading.READ_ONCE_BYTES, 10])
def test_a_batch_is_read_once_whether_the_type_pass_reads_all_of_it_or_its_first_rows(
    tmp_path: Path,
    db_url: str,
    reads: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
    read_once_bytes: int,
) -> None:
    """Small: the type pass reads every file and the load takes what it read. Large (10
    bytes): the type pass reads the first chunk, the rest is typed as it loads; the notes
    grow longer in the second file, and their column is widened, not loaded again."""
    monkeypatch.setattr(batch_reading, "READ_ONCE_BYTES", read_once_bytes)
    write_lake(tmp_path / "lake")
    summary = migrate(tmp_path / "lake", db_url)
    assert summary.ok, summary.to_dict()
    assert dict(reads) == {f"{FOLDER}/t/1.csv": 1, f"{FOLDER}/t/2.csv": 1}
    rows = sorted(fetch(db_url, "t"), key=lambda r: r["amount"])
    assert [(r["note"], r["amount"]) for r in rows] == [
        (f"note {'x' * n}", n) for n in range(1, 40)
    ]
    assert summary.tables["t"].rows_inserted == 39
    assert column_types(db_url)["note"] == string_type(len(f"note {'x' * 39}"))


UNTYPED = [attribute("Id", "guid"), attribute("code", "unclassified")]


def write_untyped_lake(root: Path, later_code: str) -> None:
    """`code` holds small whole numbers in the first file and `later_code` in the second."""
    first = [f"00000000-0000-0000-0000-{n:012d},{n}" for n in range(1, 20)]
    LakeBuilder(root).folder(
        FOLDER,
        {"t": UNTYPED},
        {
            "t/1.csv": "\n".join(first) + "\n",
            "t/2.csv": f"00000000-0000-0000-0000-{99:012d},{later_code}\n",
        },
    )


@pytest.mark.parametrize(
    ("later_code", "code_types", "opened"),
    [
        # TINYINT is SMALLINT in PostgreSQL
        ("7", {SqlType(Kind.TINYINT), SqlType(Kind.SMALLINT)}, {"1.csv": 1, "2.csv": 1}),
        # the first rows said TINYINT: loaded again after a type pass over every row
        ("1234.5", {SqlType(Kind.DECIMAL, precision=5, scale=1)}, {"1.csv": 3, "2.csv": 3}),
        ("n/a", {string_type(3)}, {"1.csv": 3, "2.csv": 3}),
    ],
)
def test_rows_that_need_other_types_than_the_first_rows_load_the_batch_again_typed_by_all(
    tmp_path: Path,
    db_url: str,
    reads: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
    later_code: str,
    code_types: set[SqlType],
    opened: dict[str, int],
) -> None:
    monkeypatch.setattr(batch_reading, "READ_ONCE_BYTES", 10)  # the type pass reads one chunk
    write_untyped_lake(tmp_path / "lake", later_code)
    summary = migrate(tmp_path / "lake", db_url)
    assert summary.ok, summary.to_dict()
    assert summary.tables["t"].rows_rejected == 0
    assert {path.rsplit("/", 1)[1]: n for path, n in reads.items()} == opened
    assert column_types(db_url)["code"] in code_types
    codes = sorted(str(r["code"]) for r in fetch(db_url, "t"))
    if later_code == "1234.5":
        assert codes == sorted([*(f"{n}.0" for n in range(1, 20)), later_code])
    else:
        assert codes == sorted([*(str(n) for n in range(1, 20)), later_code])


def column_types(db_url: str) -> dict[str, SqlType]:
    return drift_column_types(db_url, "t")
