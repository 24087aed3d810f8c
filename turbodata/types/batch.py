"""The SQL type each column of a batch is read and stored as.

In order of precedence: a type pinned in the override file; what the data needs where the
metadata is weak, found from the batch's values (`TypePass`) — the narrowest type for
`unclassified` (and untyped) columns, the longest value's length for strings declared without
one (a string stays a string: postal codes, phone numbers); otherwise the declared CDM type.
An inferred type never narrows an existing column: when the table's column already holds
values the new data's type cannot, the column keeps its type, and values that do not fit it
are rejected (pin the column's type in the override file to choose another). A number
(declared or pinned) for a column the table has as a decimal is read as that decimal,
widened to hold both, so that its values take the column's scale (`reconciled`).

Delta/Parquet string columns (`inference.TYPED_FILE_STRING`) are GUID columns when every
non-null value is a GUID: a typed file has no GUID type, and the CSV path's metadata declares
Dataverse's `Id` and lookups `guid`, so both exports give the same table. Design: only GUID,
not the other candidates of inference — the file's own type is kept for everything it can
say (a string of digits stays a string, as on the CSV path). A column the table already has
as GUID stays GUID even when inference is off (`--no-infer`) or a value is no GUID: that
row is rejected, exactly as the CSV path rejects it in a column its metadata declares `guid`.
A column holding no value yet cannot be shown to be GUID and is created as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from turbodata.metadata.overrides import Overrides
from turbodata.model import CdmType, Column, TableSchema
from turbodata.read.values import utf16_max_length
from turbodata.types.inference import (
    TypeInference,
    all_guids,
    is_typed_file_string,
    needs_inference,
    number_digits,
    present_text,
)
from turbodata.types.sql import (
    INTEGER_ORDER,
    MAX_DECIMAL_PRECISION,
    IncompatibleType,
    Kind,
    SqlType,
    from_cdm,
    string_type,
    widen,
)

NUMERIC_KINDS = frozenset({*INTEGER_ORDER, Kind.DECIMAL})
_PLAIN_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"


@dataclass(frozen=True)
class BatchTypes:
    types: dict[str, SqlType]  # column → type, in metadata order
    inferred: frozenset[str]  # columns whose type came from the data
    maybe_guid: frozenset[str] = frozenset()  # typed-file strings, not pinned
    # inferred number columns whose table type this batch's values do not all fit: a value
    # not written as an invariant number is rejected, not read as one (`007` is no 7 there)
    strict_numbers: frozenset[str] = frozenset()
    # inferred columns whose values are all booleans' (0 and 1 alone infer as an integer)
    boolean_values: frozenset[str] = frozenset()

    def reconciled(self, existing: dict[str, SqlType] | None) -> BatchTypes:
        """Inferred types widened to hold what the table's columns already hold; other
        numbers read as the decimal or FLOAT column the table has (`_in_column_form`); a typed-file
        string column the table has as GUID stays GUID."""
        if not existing:
            return self
        types = dict(self.types)
        strict = set()
        for name in self.inferred & existing.keys():
            if existing[name].kind is Kind.BOOLEAN and (
                name in self.boolean_values or types[name].kind in INTEGER_ORDER
            ):  # a folder of 0/1 alone: no integer column; of other numbers: rejects, as
                # for every value an inferred column cannot take (it became an integer
                # column, its True as 1, found by review; declared integers do widen it)
                types[name] = existing[name]
                continue
            try:
                types[name] = widen(existing[name], types[name])
            except IncompatibleType:
                types[name] = _with_fraction_of(existing[name], types[name])
                if existing[name].kind in NUMERIC_KINDS:
                    strict.add(name)
        for name in (existing.keys() & types.keys()) - self.inferred:
            types[name] = _in_column_form(existing[name], types[name])
        types = _existing_guids_kept(types, self.maybe_guid, existing)
        return BatchTypes(
            types, self.inferred, self.maybe_guid, frozenset(strict), self.boolean_values
        )


_STAMPS = frozenset({Kind.DATETIME, Kind.DATETIMEOFFSET})


def _with_fraction_of(existing: SqlType, inferred: SqlType) -> SqlType:
    """The existing type; a date-time with or without offset (the other kind of the two)
    widened to the fraction digits the batch's values have, which it takes as they are (an
    offset-free value as UTC, an offset one at UTC): they were rejected (found by review)."""
    if existing.kind in _STAMPS and inferred.kind in _STAMPS:
        return SqlType(existing.kind, fraction=max(existing.fraction, inferred.fraction))
    return existing


def _in_column_form(existing: SqlType, declared: SqlType) -> SqlType:
    """A declared number read as the decimal column the table has (widened to hold both):
    its values then take the column's scale, `2` as `2.00`, as the table's rows have it
    (SQLite keeps decimals as text, where `2` and `2.00` are two keys of one number). A
    REAL read for a FLOAT column is read as FLOAT: read as REAL, its values were rounded to
    single precision on their way into the double column (found by review)."""
    if existing.kind is Kind.FLOAT and declared.kind is Kind.REAL:
        return existing
    if existing.kind is not Kind.DECIMAL or declared.kind not in NUMERIC_KINDS:
        return declared
    try:
        return widen(existing, declared)
    except IncompatibleType:
        return declared  # the schema check refuses it


def _existing_guids_kept(
    types: dict[str, SqlType], maybe_guid: frozenset[str], existing: dict[str, SqlType]
) -> dict[str, SqlType]:
    kept = {n: existing[n] for n in maybe_guid & existing.keys() if existing[n].kind is Kind.GUID}
    return {**types, **kept}


def keep_existing_inferred(
    schema: TableSchema,
    overrides: Overrides,
    infer: bool,
    types: dict[str, SqlType],
    existing: dict[str, SqlType] | None,
) -> dict[str, SqlType]:
    """`types` (a dry run's `declared_types`) with each column whose type depends on the data
    (`known_types` lacks it) at the type the table has already: a load starts from that type
    and widens it only for values it cannot hold, while the declared one (`string` for an
    `unclassified` column) made the plan fail tables the load takes (found by review)."""
    if not existing:
        return types
    known = known_types(schema, overrides, infer)
    kept = {n: existing[n] for n in types.keys() - known.keys() if n in existing}
    return {**types, **kept}


def keep_existing_guids(
    schema: TableSchema,
    overrides: Overrides,
    types: dict[str, SqlType],
    existing: dict[str, SqlType] | None,
) -> dict[str, SqlType]:
    """`types` (e.g. `declared_types` for a dry run's plan) with the typed-file string columns
    that the table already has as GUID kept GUID, as a load keeps them (`reconciled`)."""
    if not existing:
        return types
    return _existing_guids_kept(types, _maybe_guid(schema, overrides), existing)


class _LongestString:
    """What a string column declared without a length needs: string(longest value)."""

    def __init__(self) -> None:
        self.longest = 0

    def update(self, values: pa.Array) -> None:
        self.longest = max(self.longest, utf16_max_length(values) or 0)

    def result(self) -> SqlType:
        return string_type(self.longest or None)


class GuidOrString(_LongestString):
    """A Delta/Parquet string column: GUID when every value seen is one, else string(longest)."""

    def __init__(self) -> None:
        super().__init__()
        self.values_seen = False
        self.guids = True

    def update(self, values: pa.Array) -> None:
        super().update(values)
        present = present_text(values)
        if len(present):
            self.values_seen = True
            self.guids = self.guids and all_guids(present)

    def result(self) -> SqlType:
        return SqlType(Kind.GUID) if self.values_seen and self.guids else super().result()


class WidenedNumber:
    """A declared integer or decimal column, widened along the lattice when its values need
    more: an integer column up to BIGINT (a whole number past 2^31), a decimal column to more
    digits. A fraction in an integer column, a number of more than 38 digits, and values that
    are no numbers at all are left out of the sizing: the parser rejects each of them alone,
    and the other values still widen the column (an integer column such as versionnumber
    never turns into a decimal because of one bad value, nor stays too narrow for the rest)."""

    def __init__(self, declared: SqlType) -> None:
        self.declared = declared
        self.seen = TypeInference(fallback=declared)

    def update(self, values: pa.Array) -> None:
        is_number = pc.fill_null(pc.match_substring_regex(values, _PLAIN_NUMBER), False)
        # in the form inference reads as a number: no `+`, no leading zeros, no negative zero
        numbers = pc.replace_substring_regex(
            pc.filter(values, is_number), r"^\+?(-?)0*([0-9])", r"\1\2"
        )
        numbers = pc.replace_substring_regex(numbers, r"^-(0(?:\.0+)?)$", r"\1")
        self.seen.update(pc.filter(numbers, self._widenable(numbers)))

    def _widenable(self, numbers: pa.Array) -> pa.Array:
        """Which numbers some type of the column's lattice holds exactly."""
        whole, fraction = number_digits(numbers)
        fits = pc.less_equal(pc.add(whole, fraction), MAX_DECIMAL_PRECISION)
        if self.declared.kind in INTEGER_ORDER:  # `1.0` too: the parser rejects it alone
            fits = pc.and_(fits, pc.invert(pc.match_substring(numbers, ".")))
        return fits

    def result(self) -> SqlType:
        seen = self.seen.result()
        if seen.kind not in NUMERIC_KINDS:
            return self.declared
        if self.declared.kind in INTEGER_ORDER and seen.kind not in INTEGER_ORDER:
            whole = seen.kind is Kind.DECIMAL and not seen.scale  # past BIGINT: DECIMAL(38,0)
            return SqlType(Kind.DECIMAL, precision=38, scale=0) if whole else self.declared
        try:
            return widen(self.declared, seen)
        except IncompatibleType:  # more than 38 digits: the values are rejected
            return self.declared


def is_number(sql_type: SqlType) -> bool:
    return sql_type.kind in NUMERIC_KINDS


def _inference_for(column: Column) -> TypeInference | _LongestString:
    if is_typed_file_string(column):
        return GuidOrString()
    if column.cdm_type in (CdmType.STRING, CdmType.CHAR):
        return _LongestString()
    return TypeInference(fallback=from_cdm(column))


def declared_types(schema: TableSchema, overrides: Overrides) -> dict[str, SqlType]:
    """Types known without reading data: pinned, else declared."""
    return {c.name: overrides.type_for(schema.name, c.name) or from_cdm(c) for c in schema.columns}


def known_types(schema: TableSchema, overrides: Overrides, infer: bool) -> dict[str, SqlType]:
    """The declared types of the columns whose type does not depend on the data."""
    inferred = {schema.columns[i].name for i in _inferred_indexes(schema, overrides, infer)}
    inferred |= _maybe_guid(schema, overrides)  # GUID or text: known when the batch loads
    return {n: t for n, t in declared_types(schema, overrides).items() if n not in inferred}


def _maybe_guid(schema: TableSchema, overrides: Overrides) -> frozenset[str]:
    return frozenset(
        column.name
        for column in schema.columns
        if is_typed_file_string(column) and overrides.type_for(schema.name, column.name) is None
    )


def _inferred_indexes(schema: TableSchema, overrides: Overrides, infer: bool) -> list[int]:
    return [
        index
        for index, column in enumerate(schema.columns)
        if infer
        and overrides.type_for(schema.name, column.name) is None
        and overrides.infer(schema.name, column.name)
        and needs_inference(column)
    ]


class TypePass:
    """A batch's column types found chunk by chunk: `update` with each chunk's string
    columns, `result` at any point (what the chunks seen so far need)."""

    def __init__(
        self,
        schema: TableSchema,
        overrides: Overrides,
        infer: bool,
        *,
        widen_numbers: bool = False,
    ) -> None:
        self.schema = schema
        self.declared = declared_types(schema, overrides)
        self.inferring: dict[int, TypeInference | _LongestString | WidenedNumber] = {
            index: _inference_for(schema.columns[index])
            for index in _inferred_indexes(schema, overrides, infer)
        }
        if widen_numbers:
            for index, column in enumerate(schema.columns):
                pinned = overrides.type_for(schema.name, column.name)
                if (
                    index not in self.inferring
                    and not pinned
                    and is_number(self.declared[column.name])
                ):
                    self.inferring[index] = WidenedNumber(self.declared[column.name])
        self.maybe_guid = _maybe_guid(schema, overrides)

    @property
    def needs_data(self) -> bool:
        """Whether a type depends on the values (else `result` is known without reading)."""
        return bool(self.inferring)

    def update(self, columns: list[pa.Array]) -> None:
        for index, inference in self.inferring.items():
            inference.update(columns[index])

    def result(self) -> BatchTypes:
        types = dict(self.declared)
        for index, inference in self.inferring.items():
            types[self.schema.columns[index].name] = inference.result()
        # a declared number sized by its values stays declared: reconciled as the batch
        # would be without a value too wide (it was taken as inferred, and a BOOLEAN column
        # declared int32 then rejected every value, found by review)
        inferred = frozenset(
            self.schema.columns[i].name
            for i, inference in self.inferring.items()
            if not isinstance(inference, WidenedNumber)
        )
        boolean_values = frozenset(
            self.schema.columns[i].name
            for i, inference in self.inferring.items()
            if isinstance(inference, TypeInference) and inference.count and inference.boolean
        )
        return BatchTypes(types, inferred, self.maybe_guid, boolean_values=boolean_values)


def batch_types(
    schema: TableSchema,
    overrides: Overrides,
    infer: bool,
    string_columns: Callable[[], Iterable[list[pa.Array]]],
    *,
    widen_numbers: bool = False,
) -> BatchTypes:
    """`string_columns` yields each chunk of the batch as one string array per column; it is
    only called when a column needs inference, or, with `widen_numbers`, to size declared
    integer and decimal columns by their values."""
    type_pass = TypePass(schema, overrides, infer, widen_numbers=widen_numbers)
    if type_pass.needs_data:
        for columns in string_columns():
            type_pass.update(columns)
    return type_pass.result()
