"""turbodata.types.inference: the narrowest correct type from a column's values (issue 3)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from itertools import pairwise

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turbodata.model import CdmType, Column
from turbodata.read import values as values_module
from turbodata.read.values import convert_column
from turbodata.types.inference import TypeInference, infer_type, needs_inference
from turbodata.types.sql import INTEGER_RANGES, Kind, SqlType, decimal_type, string_type

MAX = string_type(None)
BOOL, GUID, DATE = SqlType(Kind.BOOLEAN), SqlType(Kind.GUID), SqlType(Kind.DATE)
TINY, SMALL, INT, BIG = (SqlType(k) for k in INTEGER_RANGES)
G = "000010b5-0000-0000-21aa-a55001000000"


def dt(fraction: int) -> SqlType:
    return SqlType(Kind.DATETIME, fraction=fraction)


def dto(fraction: int) -> SqlType:
    return SqlType(Kind.DATETIMEOFFSET, fraction=fraction)


def infer(texts: list[str | None], fallback: SqlType = MAX) -> SqlType:
    return infer_type(pa.array(texts, pa.string()), fallback)


# ------------------------------------------------------------------------------------------
# needs_inference


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (Column("u", CdmType.UNCLASSIFIED), True),
        (Column("s", CdmType.STRING), True),
        (Column("c", CdmType.CHAR), True),
        (Column("s", CdmType.STRING, max_length=100), False),  # declared length is kept
        (Column("s", CdmType.STRING, max_length=100000), False),  # a known memo: MAX
        (Column("j", CdmType.JSON), False),  # documents stay text
        (Column("b", CdmType.BINARY), False),
        (Column("i", CdmType.INT32), False),
        (Column("d", CdmType.DECIMAL), False),
        (Column("t", CdmType.DATETIME), False),
    ],
    ids=lambda v: str(v.cdm_type) + f"-{v.max_length}" if isinstance(v, Column) else str(v),
)
def test_needs_inference(column: Column, expected: bool) -> None:
    assert needs_inference(column) is expected


# ------------------------------------------------------------------------------------------
# Candidates and rules, one case each


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        # booleans: True/False in any case, 0/1 alone are integers
        (["True", "False", None], BOOL),
        (["true", "FALSE", "tRuE"], BOOL),
        (["True", "0", "1"], BOOL),  # parse_value accepts 1/0 for BOOLEAN too
        (["0", "1", "1"], TINY),
        (["falſe"], string_type(5)),  # not ASCII: parse_value rejects it as a boolean
        (["True", "2"], string_type(4)),
        # integers by range
        (["0", "255", "17"], TINY),
        (["-1", "0"], SMALL),
        (["256"], SMALL),
        (["-32768", "32767"], SMALL),
        (["32768"], INT),
        (["-2147483648", "2147483647"], INT),
        (["2147483648"], BIG),
        (["-9223372036854775808", "9223372036854775807"], BIG),
        (["9223372036854775808"], decimal_type(19, 0)),
        (["-9223372036854775809"], decimal_type(19, 0)),
        (["1" * 38], decimal_type(38, 0)),
        (["1" * 39], string_type(39)),
        # decimals: observed integer digits and significant fraction digits
        (["1.5", "-12.25"], decimal_type(4, 2)),
        (["0.5", "-0.5"], decimal_type(1, 1)),
        (["1.50"], decimal_type(2, 1)),
        (["12.0000"], decimal_type(2, 0)),
        (["0.0"], decimal_type(1, 0)),
        (["255", "0.001"], decimal_type(6, 3)),
        (["9" * 20 + ".5"], decimal_type(21, 1)),
        (["1" * 30 + "." + "1" * 8], decimal_type(38, 8)),
        (["1" * 30 + "." + "1" * 9], string_type(40)),  # 39 digits: no DECIMAL holds it
        # leading zeros, signs, exponents and other number-like text stay strings
        (["007"], string_type(3)),
        (["01234", "12345"], string_type(5)),
        (["00.5"], string_type(4)),
        (["-007"], string_type(4)),
        (["-0", "0"], string_type(2)),  # as a number, -0 is 0: the text and a key change
        (["-0.0"], string_type(4)),
        (["0", "0.5", "-0.5"], decimal_type(1, 1)),
        (["+5"], string_type(2)),
        (["+4930123456"], string_type(11)),
        (["1E+2"], string_type(4)),
        (["1e5", "2"], string_type(3)),
        ([".5"], string_type(2)),
        (["5."], string_type(2)),
        ([" 5"], string_type(2)),
        (["5 "], string_type(2)),
        (["1,000"], string_type(5)),
        (["NaN"], string_type(3)),
        (["Infinity"], string_type(8)),
        (["١٢٣"], string_type(3)),  # Arabic-Indic digits are not numbers here
        # GUIDs
        ([G, G.upper(), "{" + G + "}"], GUID),
        ([G, "not-a-guid"], string_type(36)),
        ([G[:-1]], string_type(35)),
        # dates and timestamps
        (["2025-02-15", "0001-01-01", "9999-12-31"], DATE),
        (["2025-02-15T00:00:00.0000000"], dt(0)),  # midnight stamps stay DATETIME
        (["2025-02-03T09:52:01.0000000Z"], dt(0)),
        (["2022-06-13T17:29:39.7677699Z"], dt(7)),
        (["2018-11-14 19:37:51.756186", "2021-06-01T12:34:56Z"], dt(6)),
        (["2021-06-01T12:34:56.120"], dt(2)),
        (["2021-06-01T12:34"], dt(0)),
        (["2/3/2025 9:52:15 AM", "1/1/2020 0:00:00 PM"], dt(0)),
        (["2025-02-15", "2025-02-15T10:00:00.5Z"], dt(1)),  # a date is its midnight
        (["2020-01-01T00:15:00.0000000+00:00"], dto(0)),
        (["2020-01-01T00:15:00.123+05:30", "2020-01-01T00:15:00Z"], dto(3)),
        (["2020-01-01T00:15:00-08:00", "2020-01-01"], dto(0)),
        (["2025-02-30"], string_type(10)),  # no such day
        (["2025-02-15T25:00:00"], string_type(19)),
        (["2021-06-01T12:34:56.12345678Z"], string_type(29)),  # 8 fraction digits
        (["2021-06-01T12:34:56+15:00"], string_type(25)),  # beyond +-14:00
        (["0001-01-01T00:00:00+01:00"], string_type(25)),  # before year 1 in UTC
        (["13/1/2025 9:52:15 AM"], string_type(20)),
        (["12:30:00"], string_type(8)),  # TIME is not inferred
        (["2025-02-15", "x"], string_type(10)),
        # strings: longest value in characters
        (["a", "héllo", "日本語"], string_type(5)),
        (["😀"], string_type(1)),  # code points, like values.Converted.max_length
        (["x" * 4000], string_type(4000)),
        (["x" * 4001], MAX),
        (["True", "1.5"], string_type(4)),
        (["12", G], string_type(36)),
        (["2025-02-15", "7"], string_type(10)),
    ],
    ids=lambda v: repr(v)[:60],
)
def test_infer(texts: list[str | None], expected: SqlType) -> None:
    assert infer(texts) == expected
    assert convert_column(pa.array(texts, pa.string()), expected).errors == {}


@pytest.mark.parametrize("fallback", [MAX, string_type(100), SqlType(Kind.INTEGER)])
@pytest.mark.parametrize("texts", [[], [None], ["", None, ""]])
def test_empty_column_is_the_fallback(texts: list[str | None], fallback: SqlType) -> None:
    assert infer(texts, fallback) == fallback


def test_empty_strings_are_null() -> None:
    assert infer(["", "12", None, ""]) == TINY


def test_chunks_accumulate() -> None:
    inference = TypeInference(MAX)
    inference.update(pa.array(["1", None], pa.string()))
    assert inference.result() == TINY
    inference.update(pa.array([None, ""], pa.string()))
    assert inference.result() == TINY
    inference.update(pa.array(["-40000"], pa.string()))
    assert inference.result() == INT
    inference.update(pa.array(["0.25"], pa.string()))
    assert inference.result() == decimal_type(7, 2)
    inference.update(pa.array(["007"], pa.string()))
    assert inference.result() == string_type(6)


def test_chunked_and_large_string_input() -> None:
    chunked = pa.chunked_array([pa.array(["1", "2"]), pa.array([], pa.string()), pa.array(["300"])])
    assert infer_type(chunked, MAX) == SMALL
    assert infer_type(pa.array(["True"], pa.large_string()), MAX) == BOOL


def test_common_forms_never_go_value_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large files: ints, decimals, GUIDs, booleans, strings and UTC timestamps are inferred
    with pyarrow.compute only (the per-value parser is never called)."""

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("per-value parsing on the common path")

    monkeypatch.setattr(values_module, "parse_value", refuse)
    n = 20_000
    columns = {
        INT: [str(i * 100_003 - 10**9) for i in range(n)],
        decimal_type(6, 4): [f"{i % 100}.{i % 10000:04d}" for i in range(n)],
        GUID: [f"{i:08x}-0000-0000-21aa-a55001000000" for i in range(n)],
        BOOL: ["True", "false"] * (n // 2),
        string_type(10): [f"name {i}" for i in range(n)],
        dt(7): [f"2025-02-03T09:52:{i % 60:02d}.{i:07d}Z" for i in range(n)],
        DATE: [f"2025-02-{i % 28 + 1:02d}" for i in range(n)],
    }
    for expected, texts in columns.items():
        assert infer(texts) == expected


# ------------------------------------------------------------------------------------------
# Properties


def _case(text: str, draw: st.DrawFn) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c for c in text)


@st.composite
def booleans(draw: st.DrawFn) -> str:
    return _case(draw(st.sampled_from(["true", "false"])), draw)


@st.composite
def guids(draw: st.DrawFn) -> str:
    text = _case(str(draw(st.uuids())), draw)
    return "{" + text + "}" if draw(st.booleans()) else text


@st.composite
def decimal_texts(draw: st.DrawFn) -> str:
    digits = draw(st.text("0123456789", min_size=1, max_size=38))
    scale = draw(st.integers(0, 38))
    return format(Decimal((int(draw(st.booleans())), tuple(map(int, digits)), -scale)), "f")


@st.composite
def stamps(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)))
    form = draw(st.sampled_from(["date", "iso", "us"]))
    if form == "date":
        return moment.date().isoformat()
    if form == "us":
        return f"{moment:%-m/%-d/}{moment.year:04d} {moment:%-I:%M:%S %p}"
    fraction = draw(st.text("0123456789", max_size=7))
    zone = draw(st.sampled_from(["", "Z", "+00:00", "+05:30", "-08:00", "+14:00"]))
    return (
        f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}" + (f".{fraction}" if fraction else "") + zone
    )


VALUE_KINDS = {
    "tiny": st.integers(0, 255).map(str),
    "int": st.integers(-(2**63), 2**63).map(str),
    "huge": st.integers(-(10**40), 10**40).map(str),
    "decimal": decimal_texts(),
    "bool": booleans(),
    "01": st.sampled_from(["0", "1"]),
    "guid": guids(),
    "stamp": stamps(),
    "postal": st.from_regex(r"0[0-9]{1,5}", fullmatch=True),
    "text": st.text(max_size=12),
    "null": st.sampled_from([None, ""]),
}


@st.composite
def columns(draw: st.DrawFn) -> list[str | None]:
    kinds = draw(st.lists(st.sampled_from(sorted(VALUE_KINDS)), min_size=1, max_size=3))
    return draw(st.lists(st.one_of([VALUE_KINDS[k] for k in kinds]), max_size=25))


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@PROPERTY
@given(columns(), st.lists(st.integers(0, 25), max_size=3))
def test_inferred_type_holds_every_value(texts: list[str | None], cuts: list[int]) -> None:
    result = infer(texts)
    converted = convert_column(pa.array(texts, pa.string()), result)
    assert converted.errors == {}, (result, converted.errors)
    present = [t for t in texts if t]
    if result.kind is Kind.STRING:
        longest = max(map(len, present), default=0)
        assert result == (MAX if not present else string_type(longest))
        assert converted.array.to_pylist() == [t or None for t in texts]
    # chunking does not change the result
    bounds = [0, *sorted(c for c in cuts if c <= len(texts)), len(texts)]
    chunks = [pa.array(texts[a:b], pa.string()) for a, b in pairwise(bounds)]
    assert infer_type(pa.chunked_array(chunks, pa.string()), MAX) == result


@PROPERTY
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=25))
def test_integers_get_the_narrowest_integer_type(numbers: list[int]) -> None:
    expected = next(
        SqlType(k)
        for k, (lo, hi) in INTEGER_RANGES.items()
        if lo <= min(numbers) and max(numbers) <= hi
    )
    assert infer([str(n) for n in numbers]) == expected


@PROPERTY
@given(st.lists(st.integers(0, 255), min_size=1, max_size=25))
def test_bytes_are_tinyint(numbers: list[int]) -> None:
    assert infer([str(n) for n in numbers]) == TINY


def _digits(text: str) -> tuple[int, int]:
    """(integer digits, significant fraction digits) of a plain number's text."""
    whole, _, fraction = text.lstrip("-").partition(".")
    return len(whole.lstrip("0")), len(fraction.rstrip("0"))


@PROPERTY
@given(st.lists(decimal_texts(), min_size=1, max_size=10))
def test_decimals_get_exact_digits(texts: list[str]) -> None:
    integer = max(_digits(t)[0] for t in texts)
    fraction = max(_digits(t)[1] for t in texts)
    result = infer(texts)
    if integer + fraction > 38 or any(t.startswith("-") and Decimal(t) == 0 for t in texts):
        assert result.kind is Kind.STRING  # no DECIMAL holds it, or -0 would be 0
        return
    if all("." not in t for t in texts) and integer <= 18:
        expected = next(SqlType(k) for k, (lo, hi) in INTEGER_RANGES.items()
                        if all(lo <= int(t) <= hi for t in texts))  # fmt: skip
        assert result == expected
    elif all("." not in t for t in texts) and result.kind in INTEGER_RANGES:
        assert result == BIG  # 19 digits that fit BIGINT
    else:
        assert result == decimal_type(max(integer + fraction, 1), fraction)
    converted = convert_column(pa.array(texts, pa.string()), result)
    assert converted.errors == {}
    assert converted.array.to_pylist() == [
        int(t) if result.kind in INTEGER_RANGES else Decimal(t) for t in texts
    ]


@PROPERTY
@given(st.lists(stamps(), min_size=1, max_size=10))
def test_timestamps_keep_the_fraction_and_offset_they_need(texts: list[str]) -> None:
    result = infer(texts)
    assert convert_column(pa.array(texts, pa.string()), result).errors == {}
    if all(len(t) == 10 for t in texts):
        assert result == DATE
        return
    fractions = [t.split(".")[1].rstrip("Z").split("+")[0].split("-")[0] for t in texts if "." in t]
    fraction = max((len(f.rstrip("0")) for f in fractions), default=0)
    offset = any(t[-6] in "+-" and t[-3] == ":" for t in texts)
    assert result == (dto(fraction) if offset else dt(fraction))


def test_offsets_are_kept_not_converted() -> None:
    texts = ["2020-01-01T23:15:00+05:30", "2020-01-01T00:15:00Z", "2020-01-01"]
    result = infer(texts)
    assert result == dto(0)
    assert convert_column(pa.array(texts), result).array.to_pylist() == [
        "2020-01-01 23:15:00.0000000+05:30",
        "2020-01-01 00:15:00.0000000+00:00",
        "2020-01-01 00:00:00.0000000+00:00",
    ]


def test_a_moment_past_year_9999_in_utc_stays_text() -> None:
    text = "9999-12-31T23:00:00-05:00"  # year 10000 in UTC: no DATETIME(OFFSET) holds it
    assert infer([text]) == string_type(len(text))
