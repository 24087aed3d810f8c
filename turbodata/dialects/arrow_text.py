"""Arrow values as the text some drivers and columns take: decimals in positional form, and
date/time text cut to the microseconds an engine keeps."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from turbodata.types.sql import Kind, SqlType


def decimal_strings(array: pa.Array) -> list[object]:
    """Decimals as exact positional text ("0.0000001", never Arrow's "1.000E-7"), for drivers
    and columns that take text."""
    return decimal_text(array).to_pylist()


# Arrow writes a decimal below 1e-6 (zero too) as "[-]d[.ddd]E-k", its digits being the
# unscaled value: 0.0000001000 in decimal(38,10) is "1.000E-7", 0 is "0E-10"
_SCIENTIFIC = r"^-?(\d)\.?(\d*)E-\d+$"


def decimal_text(array: pa.Array) -> pa.Array:
    """Decimals as exact positional text, in Arrow: the unscaled digits of Arrow's scientific
    form, left-padded with zeros to the scale after "0.". A form not seen before falls back
    to Python's exact formatting of each value."""
    texts = pc.cast(array, pa.string())
    scientific = pc.fill_null(pc.match_substring(texts, "E"), False)
    if not pc.any(scientific).as_py():
        return texts
    scale = array.type.scale
    odd = pc.filter(texts, scientific)
    digits = pc.replace_substring_regex(odd, _SCIENTIFIC, r"\1\2")
    if not (
        pc.all(pc.match_substring_regex(odd, _SCIENTIFIC)).as_py()
        and pc.max(pc.utf8_length(digits)).as_py() <= scale
    ):
        exact = [None if value is None else format(value, "f") for value in array.to_pylist()]
        return pa.array(exact, pa.string())
    digits = pc.replace_substring_regex(texts, _SCIENTIFIC, r"\1\2")
    sign = pc.if_else(pc.starts_with(texts, "-"), "-", "")
    positional = pc.binary_join_element_wise(sign, "0.", pc.utf8_lpad(digits, scale, "0"), "")
    return pc.if_else(scientific, positional, texts)


# where the 7th fraction digit sits in the canonical date/time text the values carry
SEVENTH_DIGIT = {Kind.DATETIME: 26, Kind.DATETIMEOFFSET: 26, Kind.TIME: 15}


def without_seventh_digit(array: pa.Array, sql_type: SqlType) -> pa.Array:
    """Date/time text cut to microseconds, for engines that keep 6 fractional digits: cut,
    not rounded by the server (23:59:59.9999999 would become the next day, and on
    9999-12-31 a year out of range). Other columns unchanged."""
    at = SEVENTH_DIGIT.get(sql_type.kind)
    return array if at is None else pc.utf8_replace_slice(array, at, at + 1, "")
