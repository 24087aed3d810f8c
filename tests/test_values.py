"""turbodata.read.values: text -> typed Arrow values (lake-format.md 4.4-4.7, 10 items 11-15)."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turbodata.read import values as values_module
from turbodata.read.values import Converted, convert_column, parse_value, utf16_max_length
from turbodata.types.sql import INTEGER_RANGES, Kind, SqlType, arrow_type, decimal_type

BAD = object()  # expected: the value is rejected with a reason

BOOL = SqlType(Kind.BOOLEAN)
TINY, SMALL, INT, BIG = (SqlType(k) for k in INTEGER_RANGES)
FLOAT, REAL = SqlType(Kind.FLOAT), SqlType(Kind.REAL)
STRING, GUID = SqlType(Kind.STRING), SqlType(Kind.GUID)
DT, DTO = SqlType(Kind.DATETIME), SqlType(Kind.DATETIMEOFFSET)
DATE, TIME = SqlType(Kind.DATE), SqlType(Kind.TIME)
D38_6, D38_10, D38_16, D5_2 = (decimal_type(38, 6), decimal_type(38, 10),
                               decimal_type(38, 16), decimal_type(5, 2))  # fmt: skip
ALL_TYPES = [BOOL, TINY, SMALL, INT, BIG, FLOAT, REAL, STRING, GUID, DT, DTO, DATE, TIME, D38_6]
ALL_TYPES += [D5_2, decimal_type(38, 0), decimal_type(1, 1)]


def convert(texts: list[str | None], sql_type: SqlType, **kw: bool) -> Converted:
    return convert_column(pa.array(texts, pa.string()), sql_type, **kw)


def assert_agrees(texts: list[str | None], sql_type: SqlType, **kw: bool) -> Converted:
    """convert_column and parse_value agree element-wise; nothing bad is silently null."""
    result = convert(texts, sql_type, **kw)
    assert result.array.type == arrow_type(sql_type)
    assert len(result.array) == len(texts)
    for i, text in enumerate(texts):
        try:
            expected = parse_value(text, sql_type, **kw)
        except ValueError as exc:
            assert result.errors.get(i) == str(exc), (i, text)
            assert not result.array[i].is_valid
            continue
        assert i not in result.errors, (i, text, result.errors.get(i))
        assert repr(result.array[i].as_py()) == repr(expected), (i, text)
    return result


def not_a(sql_type: SqlType) -> str:
    return f"not {'an' if str(sql_type)[0] in 'aeiou' else 'a'} {sql_type}"


def check_table(sql_type: SqlType, text: str | None, expected: object, **kw: bool) -> None:
    """One case, through both paths, alone and repeated among nulls."""
    result = assert_agrees([text], sql_type, **kw)
    if expected is BAD:
        assert 0 in result.errors and repr(text) in result.errors[0]
        with pytest.raises(ValueError, match=re.escape(f"{not_a(sql_type)}: ")):
            parse_value(text, sql_type, **kw)
    else:
        assert result.errors == {}
        assert repr(result.array[0].as_py()) == repr(expected)
    assert_agrees([text] * 3 + [None] * 2, sql_type, **kw)


# ------------------------------------------------------------------------------------------
# Table-driven cases

BOOLEAN_CASES = [
    ("True", True), ("False", False), ("TRUE", True), ("tRuE", True), ("false", False),
    ("1", True), ("0", False), ("", None), (None, None),
    ("yes", BAD), ("t", BAD), (" True", BAD), ("True ", BAD), ("2", BAD), ("-1", BAD),
    ("truE\n", BAD), ("İ", BAD),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), BOOLEAN_CASES)
def test_boolean(text: str | None, expected: object) -> None:
    check_table(BOOL, text, expected)


INTEGER_CASES = [
    (BIG, "0", 0), (BIG, "0000000", 0), (BIG, "-007", -7), (BIG, "+5", 5), (BIG, "-0", 0),
    (BIG, "5637144576", 5637144576), (BIG, "9223372036854775807", 2**63 - 1),
    (BIG, "-9223372036854775808", -(2**63)), (BIG, "00000000000000000000000000000000000042", 42),
    (BIG, "9223372036854775808", BAD), (BIG, "-9223372036854775809", BAD),
    (BIG, "99999999999999999999999999999999999999999999", BAD),
    (INT, "2147483647", 2**31 - 1), (INT, "2147483648", BAD), (INT, "-2147483648", -(2**31)),
    (SMALL, "32767", 32767), (SMALL, "-32769", BAD), (SMALL, "+0032767", 32767),
    (TINY, "255", 255), (TINY, "256", BAD), (TINY, "-1", BAD), (TINY, "-0", 0), (TINY, "000", 0),
    (BIG, "", None), (BIG, None, None), (BIG, " 5", BAD), (BIG, "5 ", BAD), (BIG, "1.0", BAD),
    (BIG, "1e3", BAD), (BIG, "0x1F", BAD), (BIG, "1_000", BAD), (BIG, "1,000", BAD),
    (BIG, "+-1", BAD), (BIG, "--1", BAD), (BIG, "+", BAD), (BIG, "-", BAD), (BIG, "٣", BAD),
    (BIG, "5\n", BAD), (BIG, " ", BAD),
]  # fmt: skip


@pytest.mark.parametrize(("sql_type", "text", "expected"), INTEGER_CASES)
def test_integer(sql_type: SqlType, text: str | None, expected: object) -> None:
    check_table(sql_type, text, expected)


def test_integer_out_of_range_names_the_type() -> None:
    assert convert(["256"], TINY).errors[0] == "not a tinyint: '256' (out of range 0..255)"


DECIMAL_CASES = [
    (D5_2, "12.5", Decimal("12.50")), (D5_2, "12.500000", Decimal("12.50")),
    (D5_2, "12.505", BAD), (D5_2, "-0.5", Decimal("-0.50")), (D5_2, ".5", Decimal("0.50")),
    (D5_2, "5.", Decimal("5.00")), (D5_2, "+5", Decimal("5.00")), (D5_2, "-0", Decimal("0.00")),
    (D5_2, "-0.00", Decimal("0.00")), (D5_2, "1E+2", Decimal("100.00")),
    (D5_2, "1e2", Decimal("100.00")), (D5_2, "125E-2", Decimal("1.25")), (D5_2, "1E-3", BAD),
    (D5_2, "1E+3", BAD), (D5_2, "0E+99", Decimal("0.00")), (D5_2, "999.99", Decimal("999.99")),
    (D5_2, "1000", BAD), (D5_2, "-999.994", BAD), (D5_2, "0001.50", Decimal("1.50")),
    (D5_2, "1.5" + "0" * 60, Decimal("1.50")), (D5_2, "0" * 60 + "1", Decimal("1.00")),
    (D5_2, "0." + "0" * 50 + "1E+50", Decimal("0.10")),
    (D38_6, "12.123456", Decimal("12.123456")), (D38_6, "12.1234567", BAD),
    (D38_6, "-155964930194440774.602302", Decimal("-155964930194440774.602302")),
    (D38_6, "9" * 32 + ".999999", Decimal("9" * 32 + ".999999")),
    (D38_6, "1" + "0" * 32, BAD), (D38_6, "-1" + "0" * 32, BAD),
    (D38_10, "12.123456", Decimal("12.1234560000")),
    (D38_10, "0.1234567890123456", BAD), (D38_10, "0.1234567890000000", Decimal("0.1234567890")),
    (D38_16, "-0.1234567890123456", Decimal("-0.1234567890123456")),
    (D38_16, "1234567890123456789012.1234567890123456",
     Decimal("1234567890123456789012.1234567890123456")),
    (D38_16, "12345678901234567890123.1", BAD), (D38_6, "", None), (D38_6, None, None),
    (D38_6, "NaN", BAD), (D38_6, "nan", BAD), (D38_6, "Infinity", BAD), (D38_6, "-Infinity", BAD),
    (D38_6, "inf", BAD), (D38_6, " 1", BAD), (D38_6, "1 ", BAD), (D38_6, "1,5", BAD),
    (D38_6, "1_0", BAD), (D38_6, ".", BAD), (D38_6, "-", BAD), (D38_6, "1e", BAD),
    (D38_6, "e5", BAD), (D38_6, "1.2.3", BAD), (D38_6, "0x10", BAD), (D38_6, "١٢", BAD),
]  # fmt: skip


@pytest.mark.parametrize(("sql_type", "text", "expected"), DECIMAL_CASES)
def test_decimal(sql_type: SqlType, text: str | None, expected: object) -> None:
    check_table(sql_type, text, expected)


FLOAT_CASES = [
    (FLOAT, "1.5", 1.5), (FLOAT, "-0", -0.0), (FLOAT, "+1.5", 1.5), (FLOAT, ".5", 0.5),
    (FLOAT, "5.", 5.0), (FLOAT, "1E5", 1e5), (FLOAT, "1e-5", 1e-5), (FLOAT, "007.25", 7.25),
    (FLOAT, "0.1", 0.1), (FLOAT, "1e308", 1e308), (FLOAT, "1e-400", 0.0),
    (FLOAT, "12345678901234567890.123", 12345678901234567890.123),
    (FLOAT, "1e400", BAD), (FLOAT, "-1e400", BAD), (REAL, "1e38", 1e38), (REAL, "-3e38", -3e38),
    (REAL, "1e39", BAD), (REAL, "-3.5e38", BAD), (REAL, "3.4028235E+38", 3.4028235e38),
    (REAL, "-3.4028236E+38", BAD), (FLOAT, "", None), (FLOAT, None, None),
    (FLOAT, "NaN", BAD), (FLOAT, "nan", BAD), (FLOAT, "Infinity", BAD), (FLOAT, "-Infinity", BAD),
    (FLOAT, "INFINITY", BAD), (FLOAT, "inf", BAD), (REAL, "NaN", BAD), (FLOAT, " 1", BAD),
    (FLOAT, "1,5", BAD), (FLOAT, "0x10", BAD), (FLOAT, "1_0", BAD), (FLOAT, "1e", BAD),
    (FLOAT, "١", BAD),
]  # fmt: skip


@pytest.mark.parametrize(("sql_type", "text", "expected"), FLOAT_CASES)
def test_float(sql_type: SqlType, text: str | None, expected: object) -> None:
    check_table(sql_type, text, expected)


LOWER_GUID = "000010b5-0000-0000-21aa-a55001000000"
GUID_CASES = [
    (LOWER_GUID, LOWER_GUID), (LOWER_GUID.upper(), LOWER_GUID),
    ("{" + LOWER_GUID + "}", LOWER_GUID), ("{" + LOWER_GUID.upper() + "}", LOWER_GUID),
    ("", None), (None, None), ("{" + LOWER_GUID, BAD), (LOWER_GUID + "}", BAD),
    (LOWER_GUID[:-1], BAD), (LOWER_GUID + "0", BAD), (LOWER_GUID.replace("-", ""), BAD),
    ("g" + LOWER_GUID[1:], BAD), (" " + LOWER_GUID, BAD), ("(" + LOWER_GUID + ")", BAD),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), GUID_CASES)
def test_guid(text: str | None, expected: object) -> None:
    check_table(GUID, text, expected)


STRING_CASES = [
    ("plain", "plain"), ("  spaces kept  ", "  spaces kept  "), ("\ttab\t", "\ttab\t"),
    ("line\r\nbreak\nand\rcr", "line\r\nbreak\nand\rcr"), ('say ""hi""', 'say ""hi""'),
    ("a,b", "a,b"), ("Zoë Ørsted", "Zoë Ørsted"), ("中文字符", "中文字符"), ("😀👍🏽", "😀👍🏽"),
    (" ", " "), ("", None), (None, None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), STRING_CASES)
def test_string(text: str | None, expected: object) -> None:
    check_table(STRING, text, expected)


def test_empty_string_versus_null() -> None:
    texts = ["", None, "x"]
    assert convert(texts, STRING).array.to_pylist() == [None, None, "x"]
    kept = convert(texts, STRING, keep_empty_strings=True)
    assert kept.array.to_pylist() == ["", None, "x"]
    assert parse_value("", STRING, keep_empty_strings=True) == ""
    assert parse_value("", STRING) is None
    for sql_type in (BIG, BOOL, D38_6, DT, GUID):  # the option is for strings only
        assert convert(texts[:2], sql_type, keep_empty_strings=True).array.null_count == 2
        assert parse_value("", sql_type, keep_empty_strings=True) is None


def test_max_length_counts_utf16_units_as_nvarchar_does() -> None:
    assert convert(["ab", "😀😀😀", "中文", None], STRING).max_length == 6  # emoji: 2 units
    assert convert(["abc", "中文", None], STRING).max_length == 3
    assert convert([None, ""], STRING).max_length is None
    assert convert([None, ""], STRING, keep_empty_strings=True).max_length == 0
    assert convert(["1"], BIG).max_length is None


@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=8))
def test_max_length_agrees_with_counting_every_character(values: list[str | None]) -> None:
    """The search for characters outside the BMP looks only at values with 3 extra bytes;
    counted character by character, any text gives the same longest value."""
    units = [len(v.encode("utf-16-le")) // 2 for v in values if v is not None]
    expected = max(units) if units else None
    assert utf16_max_length(pa.array(values, pa.string())) == expected


DATETIME_CASES = [  # lake-format 4.6 and the rules under it
    ("2/3/2025 9:52:15 AM", "2025-02-03 09:52:15.0000000"),
    ("12/31/2024 11:59:59 PM", "2024-12-31 23:59:59.0000000"),
    ("1/1/2020 0:00:00 PM", "2020-01-01 12:00:00.0000000"),
    ("1/1/2020 0:00:01 PM", "2020-01-01 12:00:01.0000000"),
    ("1/1/2020 0:00:01 AM", "2020-01-01 00:00:01.0000000"),
    ("1/1/2020 12:00:00 AM", "2020-01-01 00:00:00.0000000"),
    ("1/1/2020 12:30:00 PM", "2020-01-01 12:30:00.0000000"),
    ("01/02/2020 03:04:05 pm", "2020-01-02 15:04:05.0000000"),
    ("2/29/2024 1:00:00 AM", "2024-02-29 01:00:00.0000000"),
    ("2025-02-03T09:52:01.0000000Z", "2025-02-03 09:52:01.0000000"),
    ("2025-02-15T00:00:00.0000000", "2025-02-15 00:00:00.0000000"),
    ("2020-01-01T00:15:00.0000000+00:00", "2020-01-01 00:15:00.0000000"),
    ("2021-06-01T12:34:56Z", "2021-06-01 12:34:56.0000000"),
    ("2021-06-01T12:34:56", "2021-06-01 12:34:56.0000000"),
    ("2021-06-01 12:34:56", "2021-06-01 12:34:56.0000000"),
    ("2021-06-01T12:34", "2021-06-01 12:34:00.0000000"),
    ("2022-06-13T17:29:39.7677699Z", "2022-06-13 17:29:39.7677699"),
    ("2018-11-14T19:37:51.756186+00:00", "2018-11-14 19:37:51.7561860"),
    ("2018-11-14T19:37:51.5-00:00", "2018-11-14 19:37:51.5000000"),
    ("2025-02-15", "2025-02-15 00:00:00.0000000"),
    ("1900-01-01T00:00:00", "1900-01-01 00:00:00.0000000"),
    ("0001-01-01", "0001-01-01 00:00:00.0000000"),
    ("0001-01-03T00:00:00Z", "0001-01-03 00:00:00.0000000"),
    ("9999-12-31", "9999-12-31 00:00:00.0000000"),
    ("9999-12-31T23:59:59.9999999", "9999-12-31 23:59:59.9999999"),
    ("12/31/9999 11:59:59 PM", "9999-12-31 23:59:59.0000000"),
    ("1/1/0001 12:00:00 AM", "0001-01-01 00:00:00.0000000"),
    ("2025-01-01T01:30:00+02:00", "2024-12-31 23:30:00.0000000"),
    ("2024-12-31T23:30:00.1234567-02:30", "2025-01-01 02:00:00.1234567"),
    ("9999-12-31T23:59:59.9999999+14:00", "9999-12-31 09:59:59.9999999"),
    ("0001-01-01T00:00:00.0000001-14:00", "0001-01-01 14:00:00.0000001"),
    ("2024-03-01T00:59:59.9999999+01:00", "2024-02-29 23:59:59.9999999"),
    ("2022-06-13T17:29:39.76776991Z", BAD), ("2022-06-13T17:29:39.", BAD),
    ("2024-02-30", BAD), ("2023-02-29T00:00:00", BAD), ("2/30/2024 1:00:00 AM", BAD),
    ("4/31/2024 1:00:00 AM", BAD), ("2025-13-01", BAD), ("2025-00-10", BAD),
    ("0000-01-01", BAD), ("1/1/0000 1:00:00 AM", BAD), ("10000-01-01", BAD),
    ("9999-12-31T23:00:00-01:00", BAD), ("0001-01-01T00:30:00+01:00", BAD),
    ("2025-01-01T24:00:00", BAD), ("2025-01-01T23:60:00", BAD), ("2025-01-01T23:59:60", BAD),
    ("2025-01-01T01:00:00+14:30", BAD), ("2025-01-01T01:00:00+01:60", BAD),
    ("2025-01-01T01:00:00+0100", BAD), ("2025-01-01Z", BAD), ("2025-1-1", BAD),
    ("2025-01-01T1:00:00", BAD), (" 2025-01-01", BAD), ("2025-01-01 ", BAD),
    ("1/1/2020 13:00:00 PM", BAD), ("1/1/2020 1:00:00", BAD), ("1/1/2020 1:0:00 AM", BAD),
    ("13/1/2020 1:00:00 AM", BAD), ("1/1/20 1:00:00 AM", BAD), (" 1/1/2020 1:00:00 AM", BAD),
    ("2025-01-01T01:00:00z", BAD), ("٢٠٢٥-01-01", BAD), ("yesterday", BAD),
    ("", None), (None, None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), DATETIME_CASES)
def test_datetime(text: str | None, expected: object) -> None:
    check_table(DT, text, expected)


DATETIMEOFFSET_CASES = [
    ("2020-01-01T00:15:00.0000000+00:00", "2020-01-01 00:15:00.0000000+00:00"),
    ("2025-02-03T09:52:01.1234567Z", "2025-02-03 09:52:01.1234567+00:00"),
    ("2025-02-03T09:52:01", "2025-02-03 09:52:01.0000000+00:00"),
    ("2025-02-03T09:52:01-00:00", "2025-02-03 09:52:01.0000000+00:00"),
    ("2025-01-01T01:30:00+02:00", "2025-01-01 01:30:00.0000000+02:00"),
    ("2025-01-01T01:30:00.5-09:30", "2025-01-01 01:30:00.5000000-09:30"),
    ("2/3/2025 9:52:15 PM", "2025-02-03 21:52:15.0000000+00:00"),
    ("0001-01-01T12:00:00+01:00", "0001-01-01 12:00:00.0000000+01:00"),
    ("0001-01-01T00:00:00+01:00", BAD), ("9999-12-31T23:00:00-01:00", BAD),
    ("2025-01-01T01:00:00+15:00", BAD), ("2024-02-30T00:00:00Z", BAD), ("", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), DATETIMEOFFSET_CASES)
def test_datetimeoffset(text: str | None, expected: object) -> None:
    check_table(DTO, text, expected)


DATE_CASES = [
    ("2025-02-15", "2025-02-15"), ("2025-02-15T00:00:00.0000000", "2025-02-15"),
    ("2025-02-15T00:00:00Z", "2025-02-15"), ("2025-02-15 00:00:00+00:00", "2025-02-15"),
    ("2/15/2025 12:00:00 AM", "2025-02-15"), ("0001-01-01", "0001-01-01"),
    ("9999-12-31", "9999-12-31"), ("2025-02-15T02:00:00+02:00", "2025-02-15"),
    ("2025-02-15T00:00:00+02:00", BAD), ("2025-02-15T00:00:00.0000001", BAD),
    ("2/15/2025 12:00:00 PM", BAD), ("2025-02-15T09:00:00Z", BAD), ("2025-02-30", BAD),
    ("", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), DATE_CASES)
def test_date(text: str | None, expected: object) -> None:
    check_table(DATE, text, expected)


TIME_CASES = [
    ("09:30:00", "09:30:00.0000000"), ("9:30", "09:30:00.0000000"),
    ("23:59:59.9999999", "23:59:59.9999999"), ("00:00:00.5", "00:00:00.5000000"),
    ("12:34:56.123", "12:34:56.1230000"), ("24:00:00", BAD),
    ("12:60:00", BAD), ("12:00:00.12345678", BAD), ("9:30 AM", BAD),
    ("2025-01-01T09:30:00", BAD), ("", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), TIME_CASES)
def test_time(text: str | None, expected: object) -> None:
    check_table(TIME, text, expected)


# ------------------------------------------------------------------------------------------
# Whole chunks


def test_mixed_chunk_reports_exactly_the_bad_rows() -> None:
    cases = {  # sql type -> (good values, bad values)
        BIG: (["1", "0000000", "-7", None, ""], ["1.5", "x", "9223372036854775808"]),
        D38_6: (["1.5", "-0.000001", ".5", None], ["12.1234567", "NaN", "1" + "0" * 33]),
        DT: (["2/3/2025 9:52:15 AM", "2025-02-03T09:52:01.0000000Z", None],
             ["2024-02-30", "2/3/2025 13:00:00 PM", "2025-02-03T09:52:01.12345678Z"]),
        BOOL: (["True", "0", "", None], ["yes", "False "]),
        GUID: ([LOWER_GUID, "{" + LOWER_GUID.upper() + "}"], ["nope", LOWER_GUID[1:]]),
    }  # fmt: skip
    for sql_type, (good, bad) in cases.items():
        texts = [*good, *good, *good]
        bad_rows = {1: bad[0], 4: bad[-1], len(texts) + 1: bad[1 % len(bad)]}
        for row in sorted(bad_rows):
            texts.insert(row, bad_rows[row])
        result = assert_agrees(texts, sql_type)
        assert set(result.errors) == set(bad_rows)
        for row, raw in bad_rows.items():
            assert result.errors[row].startswith(f"{not_a(sql_type)}: {raw!r}")


def test_chunked_and_other_string_inputs() -> None:
    chunked = pa.chunked_array([pa.array(["1", None]), pa.array(["x", "3"])])
    result = convert_column(chunked, BIG)
    assert result.array.to_pylist() == [1, None, None, 3]
    assert set(result.errors) == {2}
    large = convert_column(pa.array(["True", ""], pa.large_string()), BOOL)
    assert large.array.to_pylist() == [True, None]
    for sql_type in ALL_TYPES:
        empty = convert_column(pa.array([], pa.string()), sql_type)
        assert len(empty.array) == 0 and empty.array.type == arrow_type(sql_type)
        nulls = convert_column(pa.chunked_array([], pa.string()), sql_type)
        assert len(nulls.array) == 0 and nulls.errors == {}
        assert convert_column(pa.nulls(3), sql_type).array.null_count == 3


def test_long_bad_value_is_cut_in_the_reason() -> None:
    reason = convert(["x" * 10_000], BIG).errors[0]
    assert reason.startswith("not a bigint: 'xxx") and len(reason) < 300


def test_rows_an_arrow_cast_refuses_are_isolated() -> None:
    decimals = ["1.25"] * 1000
    decimals[700] = "1.255"  # passes the gate, Arrow's cast refuses it: bisected out
    decimals[701] = "1.5" + "0" * 60  # too long for the Arrow cast: scalar path, accepted
    result = assert_agrees(decimals, D5_2)
    assert set(result.errors) == {700}
    assert result.array[701].as_py() == Decimal("1.50")
    assert result.array.null_count == 1
    ints = ["7"] * 1000
    ints[3] = "9223372036854775808"
    assert set(assert_agrees(ints, BIG).errors) == {3}


def test_arrow_decimal_wraparounds_do_not_leak() -> None:
    # pyarrow 26 returns 0.00 and 23494.74... for these instead of failing
    assert set(convert(["1.5" + "0" * 38, "0." + "0" * 40 + "1"], D5_2).errors) == {1}
    assert convert(["1.5" + "0" * 38], D5_2).array[0].as_py() == Decimal("1.50")
    assert set(convert(["19960521300000", "1.5"], decimal_type(36, 31)).errors) == {0}


COMMON_FORMS = [  # must stay on the vectorised path (throughput), not the per-value one
    (BOOL, ["True", "false", "1"]), (BIG, ["+5", "-007", "9223372036854775807"]),
    (TINY, ["255", "0"]), (D38_10, ["-12.5", ".5", "5.", "+0012.50"]), (FLOAT, ["1.5", "-2e-5"]),
    (GUID, [LOWER_GUID, "{" + LOWER_GUID.upper() + "}"]),
    (DT, ["2025-02-03T09:52:01.1234567Z", "2021-06-01 12:34:56", "2025-02-15",
          "2020-01-01T00:15:00.0000000+00:00", "2/3/2025 9:52:15 AM", "12/31/2024 12:59:59 PM",
          "0001-01-01", "9999-12-31T23:59:59.9999999"]),
    (DT, [None, "2/3/2025 9:52:15 AM", "2025-02-03T09:52:01.1234567Z", "12/31/2024 12:59:59 PM",
          "2021-06-01 12:34:56"]),  # the US form first: tried first, then ISO on the others
    (DTO, ["2020-01-01T00:15:00.0000000+00:00"]), (DATE, ["2025-02-15T00:00:00.0000000"]),
    (TIME, ["09:30:00.5"]),
]  # fmt: skip


@pytest.mark.parametrize(("sql_type", "texts"), COMMON_FORMS)
def test_common_forms_take_the_vectorised_path(sql_type: SqlType, texts: list[str | None]) -> None:
    fast = values_module._FAST[sql_type.kind](pa.array(texts, pa.string()), sql_type)
    assert fast.null_count == texts.count(None)
    assert [v.as_py() for v in fast] == [
        None if t is None else parse_value(t, sql_type) for t in texts
    ]


# ------------------------------------------------------------------------------------------
# Properties

EXAMPLES = int(os.environ.get("TURBODATA_VALUES_EXAMPLES", "120"))  # raise for a deep run
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIGN = st.sampled_from(["", "-", "+"])
ZEROS = st.integers(0, 45).map(lambda n: "0" * n)


@st.composite
def integer_texts(draw: st.DrawFn) -> tuple[str, int]:
    value = draw(st.one_of(st.integers(-(2**64), 2**64), st.integers(-300, 300)))
    sign = "-" if value < 0 else draw(st.sampled_from(["", "+"]))
    return f"{sign}{draw(ZEROS)}{abs(value)}", value


@FAST
@given(st.lists(integer_texts(), max_size=40), st.sampled_from([TINY, SMALL, INT, BIG]))
def test_integers_property(cases: list[tuple[str, int]], sql_type: SqlType) -> None:
    result = assert_agrees([text for text, _ in cases], sql_type)
    lo, hi = INTEGER_RANGES[sql_type.kind]
    for i, (_, value) in enumerate(cases):
        assert (i in result.errors) == (not lo <= value <= hi)
        assert i in result.errors or result.array[i].as_py() == value


@st.composite
def decimal_cases(draw: st.DrawFn) -> tuple[SqlType, list[str]]:
    precision = draw(st.one_of(st.just(38), st.integers(1, 38)))
    sql_type = decimal_type(precision, draw(st.integers(0, precision)))
    texts = []
    for _ in range(draw(st.integers(0, 30))):
        unscaled = draw(st.integers(-(10**40), 10**40))
        exponent = draw(st.integers(-45, 5))
        number = Decimal((int(unscaled < 0), tuple(map(int, str(abs(unscaled)))), exponent))
        style = draw(st.sampled_from(["plain", "sci", "padded", "raw", "digits"]))
        if style == "digits":  # integer part around p - s: where Arrow's cast wraps around
            width = max(0, precision - sql_type.scale + draw(st.integers(-1, 3)))
            whole = draw(st.integers(10 ** (width - 1), 10**width - 1)) if width else ""
            frac = draw(st.integers(0, 10**9)) if draw(st.booleans()) or not whole else ""
            text = f"{draw(SIGN)}{draw(ZEROS)}{whole}.{frac}"
        elif style == "plain":
            text = f"{number:f}"
        elif style == "sci":
            text = f"{number:E}"
        elif style == "padded":  # sign, leading zeros, trailing zeros after a point
            body = f"{abs(number):f}"
            body = body if "." in body else body + "."
            sign = "-" if unscaled < 0 else draw(SIGN)
            text = f"{sign}{draw(ZEROS)}{body}{draw(ZEROS)}"
        else:
            text = str(number)
        texts.append(text)
    return sql_type, texts


def fits(number: Decimal, precision: int, scale: int) -> bool:
    with localcontext() as ctx:
        ctx.prec = 200
        exact = number.quantize(Decimal(1).scaleb(-scale)) == number
        return exact and abs(number) < Decimal(10) ** (precision - scale)


@FAST
@given(decimal_cases())
def test_decimals_property(case: tuple[SqlType, list[str]]) -> None:
    sql_type, texts = case
    result = assert_agrees(texts, sql_type)
    for i, text in enumerate(texts):
        number = Decimal(text)
        assert (i not in result.errors) == fits(number, sql_type.precision, sql_type.scale), text
        if i not in result.errors:
            assert result.array[i].as_py() == number  # exact, by value
            assert result.array[i].as_py().as_tuple().exponent == -(sql_type.scale or 0)


NUMBER_LIKE = st.text(alphabet="0123456789+-.eE", max_size=12)


@FAST
@given(st.lists(st.one_of(st.floats(allow_nan=False).map(repr), NUMBER_LIKE), max_size=40))
def test_floats_property(texts: list[str]) -> None:
    for sql_type in (FLOAT, REAL):
        result = assert_agrees(texts, sql_type)
        for i, text in enumerate(texts):
            if i not in result.errors and text:
                assert result.array[i].as_py() == float(text)


def canonical(moment: datetime, ticks: int) -> str:
    return f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}.{ticks:07d}"


@st.composite
def datetime_cases(draw: st.DrawFn) -> tuple[str, str | None, str | None]:
    """(text in an accepted form, DATETIME text, DATETIMEOFFSET text); None = out of range."""
    moment = draw(st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)))
    moment = moment.replace(microsecond=0)
    digits = draw(st.integers(0, 7))
    fraction = draw(st.integers(0, 10**digits - 1)) if digits else 0
    ticks = fraction * 10 ** (7 - digits)
    frac_text = f".{fraction:0{digits}d}" if digits else ""
    ymd, clock, minutes = f"{moment.year:04d}-{moment:%m-%d}", f"{moment:%H:%M:%S}", 0
    form = draw(st.sampled_from(["iso", "iso-space", "iso-z", "iso-offset", "us", "date"]))
    if form == "us":
        hour = moment.hour % 12 or draw(st.sampled_from([12, 0] if moment.hour >= 12 else [12]))
        half = draw(st.sampled_from(["AM", "am"] if moment.hour < 12 else ["PM", "pm"]))
        text, ticks = f"{moment.month}/{moment.day}/{moment.year:04d} {hour}:{clock[3:]} {half}", 0
    elif form == "date":
        text, moment, ticks = ymd, moment.replace(hour=0, minute=0, second=0), 0
    elif form == "iso-offset":
        minutes = draw(st.integers(-14 * 60, 14 * 60))
        zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        text = f"{ymd}T{clock}{frac_text}{zone}"
    else:
        sep, zone = {"iso": ("T", ""), "iso-space": (" ", "+00:00"), "iso-z": ("T", "Z")}[form]
        text = f"{ymd}{sep}{clock}{frac_text}{zone}"
    try:
        utc = canonical(moment - timedelta(minutes=minutes), ticks)
    except OverflowError:
        return text, None, None
    sign = "-" if minutes < 0 else "+"
    offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return text, utc, canonical(moment, ticks) + offset


@FAST
@given(st.lists(datetime_cases(), max_size=30))
def test_datetimes_property(cases: list[tuple[str, str | None, str | None]]) -> None:
    texts = [text for text, _, _ in cases]
    for sql_type, column in ((DT, 1), (DTO, 2)):
        result = assert_agrees(texts, sql_type)
        expected = [case[column] for case in cases]
        assert result.array.to_pylist() == expected  # 7th digit and offsets exact
        assert set(result.errors) == {i for i, value in enumerate(expected) if value is None}
    dates = assert_agrees(texts, DATE)
    for i, (_, utc, _) in enumerate(cases):
        midnight = utc is not None and utc.endswith(" 00:00:00.0000000")
        assert dates.array[i].as_py() == (utc[:10] if midnight else None)


DATE_LIKE = st.text(alphabet="0123456789-:/. TZ+APM", max_size=34)


@FAST
@given(st.lists(st.one_of(st.none(), st.text(max_size=20), NUMBER_LIKE, DATE_LIKE), max_size=30))
def test_any_text_property(texts: list[str | None]) -> None:
    """Random and near-miss text: both paths agree and nothing non-empty is silently null."""
    for sql_type in ALL_TYPES:
        result = assert_agrees(texts, sql_type)
        for i, text in enumerate(texts):
            if text:
                assert result.array[i].is_valid or i in result.errors
    kept = assert_agrees(texts, STRING, keep_empty_strings=True)
    assert kept.array.to_pylist() == texts
    lengths = [len(text.encode("utf-16-le")) // 2 for text in texts if text is not None]
    assert kept.max_length == (max(lengths) if lengths else None)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[str]) -> str:
    """A valid text with one character replaced, inserted or deleted: near misses."""
    text = draw(valid)
    at = draw(st.integers(0, len(text)))
    char = draw(st.sampled_from("0123456789-+:./ TZzAPM\u0660e"))
    action = draw(st.sampled_from(["replace", "insert", "delete"]))
    tail = text[at + 1 :] if action != "insert" else text[at:]
    return text[:at] + ("" if action == "delete" else char) + tail


NEAR_MISSES = st.one_of(
    mutated(datetime_cases().map(lambda case: case[0])),
    mutated(integer_texts().map(lambda case: case[0])),
    mutated(st.decimals(allow_nan=False, allow_infinity=False).map(str)),
    mutated(st.uuids().map(str)),
    mutated(st.sampled_from(["True", "False", "09:30:00.1234567"])),
)


@FAST
@given(st.lists(NEAR_MISSES, max_size=30))
def test_near_misses_property(texts: list[str]) -> None:
    for sql_type in ALL_TYPES:
        assert_agrees(texts, sql_type)


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.text(max_size=5)), st.sampled_from([True, False, None]))
    )
)
def test_keeping_text_under_a_mask_equals_if_else(
    rows: list[tuple[str | None, bool | None]],
) -> None:
    """The text fast path keeps the characters and swaps the validity bitmap; what it holds
    must be exactly what `if_else` makes, for every kernel that reads it afterwards."""
    values = pa.array([v for v, _ in rows], pa.string())
    mask = pa.array([m for _, m in rows], pa.bool_())
    kept = values_module._keep(values, mask)
    expected = pc.if_else(mask, values, pa.scalar(None, pa.string()))
    assert kept.to_pylist() == expected.to_pylist()
    assert kept.null_count == expected.null_count
    kept.validate(full=True)
    assert pc.binary_join_element_wise(kept, "x", "").to_pylist() == (
        pc.binary_join_element_wise(expected, "x", "").to_pylist()
    )
