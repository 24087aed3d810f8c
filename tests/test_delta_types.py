"""Delta/Parquet (Arrow) types → the type lattice and the values the loader carries, exactly."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pyarrow as pa
import pytest

from turbodata.lake.delta.columns import UnsupportedType, column_of
from turbodata.metadata.override_file import parse_overrides
from turbodata.metadata.overrides import Overrides
from turbodata.model import CdmType, Column, TableSchema
from turbodata.read.convert import convert_typed
from turbodata.types.batch import batch_types, declared_types, keep_existing_guids, known_types
from turbodata.types.sql import Kind, SqlType, decimal_type, from_cdm, string_type

NO_OVERRIDES = Overrides()


@pytest.mark.parametrize(
    ("arrow", "sql"),
    [
        (pa.bool_(), SqlType(Kind.BOOLEAN)),
        (pa.uint8(), SqlType(Kind.TINYINT)),
        (pa.int8(), SqlType(Kind.SMALLINT)),
        (pa.int16(), SqlType(Kind.SMALLINT)),
        (pa.int32(), SqlType(Kind.INTEGER)),
        (pa.int64(), SqlType(Kind.BIGINT)),
        (pa.uint64(), decimal_type(20, 0)),
        (pa.float32(), SqlType(Kind.REAL)),
        (pa.float64(), SqlType(Kind.FLOAT)),
        (pa.decimal128(38, 10), decimal_type(38, 10)),
        (pa.decimal128(12, 4), decimal_type(12, 4)),
        (pa.timestamp("us", tz="UTC"), SqlType(Kind.DATETIME)),
        (pa.timestamp("us"), SqlType(Kind.DATETIME)),  # timestamp_ntz: UTC by convention
        (pa.date32(), SqlType(Kind.DATE)),
        (pa.time64("us"), SqlType(Kind.TIME)),
        (pa.string(), SqlType(Kind.STRING)),
        (pa.string_view(), SqlType(Kind.STRING)),
        (pa.dictionary(pa.int32(), pa.string()), SqlType(Kind.STRING)),
    ],
)
def test_each_arrow_type_declares_the_sql_type_of_its_cdm_twin(
    arrow: pa.DataType, sql: SqlType
) -> None:
    assert from_cdm(column_of(pa.field("c", arrow))) == sql


@pytest.mark.parametrize("arrow", [pa.binary(), pa.list_(pa.int32()), pa.decimal256(40, 2)])
def test_types_without_a_sql_type_are_refused_naming_the_column(arrow: pa.DataType) -> None:
    with pytest.raises(UnsupportedType, match="column 'c' has type"):
        column_of(pa.field("c", arrow))


def convert(values: pa.Array, sql_type: SqlType) -> tuple[list[object], list[str]]:
    batch = pa.RecordBatch.from_arrays([values], names=["c"])
    numbers = pa.array(range(1, len(values) + 1), pa.int64())
    chunk = convert_typed(batch, numbers, ["c"], [sql_type])
    return chunk.batch.column(0).to_pylist(), [f"{r.row}: {r.reason}" for r in chunk.rejects]


def test_decimals_keep_every_digit() -> None:
    values = [Decimal("-9999999999999999999999999999.9999999999"), Decimal("0.0000000001"), None]
    array = pa.array(values, pa.decimal128(38, 10))

    assert convert(array, decimal_type(38, 10)) == (values, [])


def test_a_decimal_with_more_integer_digits_than_its_column_holds_is_a_reject() -> None:
    """Pinned decimal(38,4) for a decimal(38,0) file column: Arrow's cast scaled 36 digits
    past 128 bits without noticing and stored garbage, the run succeeding."""
    values = [Decimal("1" * 36), Decimal("5" * 37), Decimal("12345"), None]
    array = pa.array(values, pa.decimal128(38, 0))

    stored, rejects = convert(array, decimal_type(38, 4))

    assert stored == [Decimal("12345.0000"), None]
    assert rejects == [
        f"1: not a decimal(38,4): '{'1' * 36}' (more than 34 integer digits)",
        f"2: not a decimal(38,4): '{'5' * 37}' (more than 34 integer digits)",
    ]
    wider = pa.array([Decimal("-1.5"), Decimal("9" * 10)], pa.decimal128(12, 1))
    assert convert(wider, decimal_type(20, 4)) == ([Decimal("-1.5000"), Decimal("9" * 10)], [])


def test_timestamps_become_utc_text_with_seven_digits_from_year_1_to_9999() -> None:
    stamps = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2024, 5, 1, 10, 15, 0, 123456, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]

    got, rejects = convert(pa.array(stamps, pa.timestamp("us", tz="UTC")), SqlType(Kind.DATETIME))

    assert rejects == []
    assert got == [
        "0001-01-01 00:00:00.0000000",
        "2024-05-01 10:15:00.1234560",
        "9999-12-31 23:59:59.9999990",
    ]


@pytest.mark.parametrize("zone", ["UTC", "+05:30"])  # another zone: the same instants
def test_nanoseconds_keep_100_ns_ticks_and_reject_finer_values_instead_of_rounding(
    zone: str,
) -> None:
    ticks = 1_700_000_000_123_456_700
    values = pa.array([ticks, ticks + 89], pa.timestamp("ns", tz=zone))

    got, rejects = convert(values, SqlType(Kind.DATETIME))

    assert got == ["2023-11-14 22:13:20.1234567"]
    assert rejects == [
        "2: not a datetime(7): '2023-11-14 22:13:20.123456789Z' (more than 7 fraction digits)"
    ]


def test_dates_times_and_floats_are_exact() -> None:
    assert convert(pa.array([date(1, 1, 1), None], pa.date32()), SqlType(Kind.DATE)) == (
        ["0001-01-01", None],
        [],
    )
    clock = pa.array([time(23, 59, 59, 999999)], pa.time64("us"))
    assert convert(clock, SqlType(Kind.TIME)) == (["23:59:59.9999990"], [])
    assert convert(pa.array([0.1], pa.float32()), SqlType(Kind.REAL)) == ([0.10000000149011612], [])


NOT_A_NUMBER = "not a number; NaN and Infinity are rejected"


def test_nan_and_infinity_are_rejected_as_on_the_csv_path_not_loaded() -> None:
    """A cast would load them: SQLite stores NaN as NULL (a value lost), PostgreSQL keeps
    NaN and Infinity, SQL Server refuses the whole batch. The CSV path rejects the row."""
    values = pa.array([1.5, math.nan, math.inf, None, -math.inf, 5e-324], pa.float64())

    got, rejects = convert(values, SqlType(Kind.FLOAT))

    assert got == [1.5, None, 5e-324]
    assert rejects == [
        f"2: not a float: 'nan' ({NOT_A_NUMBER})",
        f"3: not a float: 'inf' ({NOT_A_NUMBER})",
        f"5: not a float: '-inf' ({NOT_A_NUMBER})",
    ]


def test_a_double_beyond_a_real_column_is_rejected_not_made_infinite() -> None:
    got, rejects = convert(pa.array([0.5, 1e300, -1e39], pa.float64()), SqlType(Kind.REAL))

    assert got == [0.5]
    assert rejects == [
        "2: not a real: '1e+300' (out of range)",
        "3: not a real: '-1e+39' (out of range)",
    ]


def test_a_float4_keeps_its_exact_value_when_its_column_also_holds_a_reject() -> None:
    exact = [0.10000000149011612, 3.3999999521443642e38]

    alone = convert(pa.array([0.1, 3.4e38], pa.float32()), SqlType(Kind.REAL))
    beside_nan = convert(pa.array([0.1, math.nan, 3.4e38], pa.float32()), SqlType(Kind.REAL))

    assert alone == (exact, [])
    assert beside_nan == (exact, [f"2: not a real: 'nan' ({NOT_A_NUMBER})"])


def test_a_value_a_narrower_existing_column_cannot_hold_is_rejected_not_truncated() -> None:
    got, rejects = convert(pa.array([1, 300], pa.int64()), SqlType(Kind.TINYINT))

    assert got == [1]
    assert rejects == ["2: not a tinyint: '300' (out of range 0..255)"]


def test_empty_strings_are_null_as_on_the_csv_path_and_lengths_are_reported() -> None:
    batch = pa.RecordBatch.from_arrays([pa.array(["", None, "été"], pa.string_view())], ["c"])

    chunk = convert_typed(batch, pa.array([1, 2, 3]), ["c"], [SqlType(Kind.STRING)])

    assert chunk.batch.column(0).to_pylist() == [None, None, "été"]
    assert chunk.max_lengths == {"c": 3}


def test_empty_strings_stay_empty_with_keep_empty_strings() -> None:
    batch = pa.RecordBatch.from_arrays([pa.array(["", None, "été"], pa.string_view())], ["c"])

    chunk = convert_typed(
        batch, pa.array([1, 2, 3]), ["c"], [SqlType(Kind.STRING)], keep_empty_strings=True
    )

    assert chunk.batch.column(0).to_pylist() == ["", None, "été"]


def test_an_empty_string_in_a_guid_column_is_null_and_a_non_guid_a_reject() -> None:
    guid = "5F1C3A52-0C7B-4E4A-9A55-0D2B9C1E7F10"

    got, rejects = convert(pa.array([guid, "", None, "n/a"]), SqlType(Kind.GUID))

    assert got == [guid.lower(), None, None]
    assert len(rejects) == 1 and rejects[0].startswith("4: ")


# ---------------------------------------------------------------- GUIDs in typed-file strings

GUIDS = ["5F1C3A52-0C7B-4E4A-9A55-0D2B9C1E7F10", "{0a9e2d41-77c3-4b0e-8f1d-3c5b6a7e8d90}"]


def typed_file_types(
    columns: dict[str, list[str | None]],
    *,
    overrides: Overrides = NO_OVERRIDES,
    infer: bool = True,
    existing: dict[str, SqlType] | None = None,
) -> dict[str, SqlType]:
    """The types a load of one Delta/Parquet batch of string columns gets."""
    schema = TableSchema("account", tuple(column_of(pa.field(n, pa.string())) for n in columns))

    def chunks() -> Iterator[list[pa.Array]]:
        yield [pa.array(values, pa.string()) for values in columns.values()]

    return batch_types(schema, overrides, infer, chunks).reconciled(existing).types


def test_a_typed_file_string_of_guids_is_a_guid_column_empty_and_null_aside() -> None:
    types = typed_file_types({"Id": [*GUIDS, None, ""], "name": ["Alpha", "", None, "Beta"]})

    assert types == {"Id": SqlType(Kind.GUID), "name": string_type(5)}


def test_one_value_that_is_no_guid_leaves_the_column_text() -> None:
    types = typed_file_types({"code": [*GUIDS, "5F1C3A52-0C7B-4E4A-9A55-0D2B9C1E7F1"]})

    assert types == {"code": string_type(38)}  # the braced GUID


def test_a_column_without_any_value_cannot_be_shown_to_be_guid() -> None:
    assert typed_file_types({"parentid": [None, ""]}) == {"parentid": string_type(None)}


def test_an_existing_guid_column_stays_guid_whatever_the_values_and_with_no_infer() -> None:
    existing = {"parentid": SqlType(Kind.GUID)}

    for infer in (True, False):
        types = typed_file_types({"parentid": ["n/a", None]}, infer=infer, existing=existing)
        assert types == {"parentid": SqlType(Kind.GUID)}, infer


def test_an_existing_text_column_stays_text_when_the_values_are_guids() -> None:
    types = typed_file_types({"code": GUIDS}, existing={"code": string_type(100)})

    assert types == {"code": string_type(100)}


def test_a_pinned_type_wins_over_guids() -> None:
    pinned = parse_overrides("account:\n  Id: nvarchar(40)\n")

    types = typed_file_types({"Id": GUIDS}, overrides=pinned, existing={"Id": SqlType(Kind.GUID)})

    assert types == {"Id": string_type(40)}


def test_csv_strings_of_guids_stay_strings_as_their_metadata_says() -> None:
    schema = TableSchema("account", (Column("code", CdmType.STRING, "string"),))

    types = batch_types(schema, NO_OVERRIDES, True, lambda: iter([[pa.array(GUIDS)]])).types

    assert types == {"code": string_type(38)}


def test_a_dry_run_plans_existing_guid_columns_as_guid_and_knows_no_typed_file_string() -> None:
    schema = TableSchema("account", (column_of(pa.field("Id", pa.string())),))
    declared = declared_types(schema, NO_OVERRIDES)

    planned = keep_existing_guids(schema, NO_OVERRIDES, declared, {"Id": SqlType(Kind.GUID)})

    assert declared == {"Id": SqlType(Kind.STRING)}
    assert planned == {"Id": SqlType(Kind.GUID)}
    assert keep_existing_guids(schema, NO_OVERRIDES, declared, None) == declared
    assert known_types(schema, NO_OVERRIDES, infer=False) == {}


def test_a_float4_into_a_decimal_or_text_column_is_read_by_its_own_shortest_text() -> None:
    values = pa.array([0.1, 2.5], pa.float32())

    assert convert(values, decimal_type(10, 2)) == ([Decimal("0.10"), Decimal("2.50")], [])
    assert convert(values, SqlType(Kind.STRING)) == (["0.1", "2.5"], [])


def test_a_float16_declares_real_and_converts_exactly_with_nan_and_infinity_rejected() -> None:
    """Arrow has no compute kernels for float16: widened to float32 (exact) first."""
    values = [0.5, 65504.0, 2.0**-24, None, math.nan, -math.inf]
    plain = pa.array(values, pa.float16())
    encoded = plain.dictionary_encode()

    assert from_cdm(column_of(pa.field("c", pa.float16()))) == SqlType(Kind.REAL)
    for array in (plain, encoded):
        for kind in (Kind.REAL, Kind.FLOAT):
            got, rejects = convert(array, SqlType(kind))
            assert got == [0.5, 65504.0, 2.0**-24, None]
            assert rejects == [
                f"5: not a {kind.value}: 'nan' ({NOT_A_NUMBER})",
                f"6: not a {kind.value}: '-inf' ({NOT_A_NUMBER})",
            ]


INSTANTS = [
    datetime(1, 1, 1, 0, 30, tzinfo=UTC),  # the local day before year 1 east of UTC
    datetime(1850, 1, 1, tzinfo=UTC),  # Berlin's +00:53:28 local mean time
    datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),  # Berlin in winter, +01:00
    datetime(2024, 7, 1, 12, tzinfo=UTC),  # Berlin in summer, +02:00
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # local year 10000 east of UTC
    None,
]


@pytest.mark.parametrize(
    "zone", ["Europe/Berlin", "America/New_York", "+05:30", "-03:00", "Etc/UTC"]
)
@pytest.mark.parametrize("kind", [Kind.DATETIME, Kind.DATETIMEOFFSET, Kind.STRING])
def test_a_timestamp_in_any_zone_loads_the_same_instants_as_its_utc_twin(
    zone: str, kind: Kind
) -> None:
    """Arrow writes a zone's offset as `+0100` (no ISO text) and its local time to the second
    of the offset: the instant is written in UTC, as for a UTC timestamp, so a
    DATETIMEOFFSET column holds it at +00:00, as it does a UTC timestamp's."""
    utc = convert(pa.array(INSTANTS, pa.timestamp("us", tz="UTC")), SqlType(kind))
    zoned = convert(pa.array(INSTANTS, pa.timestamp("us", tz=zone)), SqlType(kind))

    assert zoned == utc
    assert zoned[1] == []


def test_a_zoned_timestamp_loads_its_utc_instant() -> None:
    berlin = pa.array(INSTANTS[2:4], pa.timestamp("us", tz="Europe/Berlin"))

    assert convert(berlin, SqlType(Kind.DATETIME)) == (
        ["2024-01-01 12:00:00.1234560", "2024-07-01 12:00:00.0000000"],
        [],
    )
    assert convert(berlin, SqlType(Kind.DATETIMEOFFSET)) == (
        ["2024-01-01 12:00:00.1234560+00:00", "2024-07-01 12:00:00.0000000+00:00"],
        [],
    )
