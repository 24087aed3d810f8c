"""Issue 9, "Also": one value that cannot be widened no longer blocks widening for the rest."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import migrate
from turbodata.pipeline import connect
from turbodata.types.batch import WidenedNumber
from turbodata.types.sql import Kind, SqlType, decimal_type

FORTY_ONE_DIGITS = "1" * 41
INT32 = SqlType(Kind.INTEGER)


def widened(declared: SqlType, values: list[str | None]) -> SqlType:
    sizing = WidenedNumber(declared)
    sizing.update(pa.array(values, pa.string()))
    return sizing.result()


@pytest.mark.parametrize(
    ("declared", "values", "expected"),
    [
        (INT32, ["2147483648", FORTY_ONE_DIGITS], SqlType(Kind.BIGINT)),
        (INT32, ["2147483648", "-" + FORTY_ONE_DIGITS, None], SqlType(Kind.BIGINT)),
        (INT32, ["2147483648", "1.5"], SqlType(Kind.BIGINT)),  # a fraction stays a reject
        (INT32, ["9" * 20, FORTY_ONE_DIGITS], decimal_type(38, 0)),
        (decimal_type(5, 2), ["12345.678", FORTY_ONE_DIGITS], decimal_type(8, 3)),
        (decimal_type(5, 2), ["1.5", "0." + "1" * 39], decimal_type(5, 2)),
        # a declared number's -0 is 0 (inference alone keeps it text): it sizes as 0
        (INT32, ["-0", "3000000000"], SqlType(Kind.BIGINT)),
        (decimal_type(10, 2), ["-0.0", "123456789012.5"], decimal_type(14, 2)),
    ],
)
def test_a_value_no_type_holds_is_left_out_of_the_sizing(
    declared: SqlType, values: list[str | None], expected: SqlType
) -> None:
    assert widened(declared, values) == expected


def test_alone_an_unwidenable_value_keeps_the_declared_type() -> None:
    assert widened(INT32, [FORTY_ONE_DIGITS, "1.5", "abc"]) == INT32


def test_the_widenable_value_loads_and_only_the_other_is_rejected(
    sqlite_url: str, tmp_path: Path
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("n", "int32")]
    folder = "2025-01-01T00.00.00Z"
    rows = (
        "00000000-0000-0000-0000-000000000001,2147483648\n"
        f"00000000-0000-0000-0000-000000000002,{FORTY_ONE_DIGITS}\n"
        "00000000-0000-0000-0000-000000000003,7\n"
    )
    lake.folder(folder, {"t": columns}, {"t/1.csv": rows})

    summary = migrate(lake.root, sqlite_url)

    t = summary.tables["t"]
    assert (t.status, t.rows_inserted, t.rows_rejected) == ("loaded", 2, 1)
    [problem] = t.problems
    assert problem.startswith(f"{folder}/t/1.csv: row 2, column 'n': ")
    assert FORTY_ONE_DIGITS in problem
    loaded = {str(r["Id"])[-1]: int(r["n"]) for r in fetch(sqlite_url, "t")}
    assert loaded == {"1": 2147483648, "3": 7}
    engine, dialect = connect(sqlite_url)
    try:
        with engine.connect() as conn:
            assert dialect.reflect_types(conn, "t", None)["n"].kind is Kind.BIGINT
    finally:
        engine.dispose()
