"""A Delta/Parquet (Arrow) schema → the metadata columns the CSV path works with.

Each Arrow type becomes the CDM type the CDM metadata path would declare for it, so both
paths meet in the same type lattice (`turbodata.types.sql.from_cdm`): strings have no declared
length (sized by their longest value, like CDM strings without one; GUID when every value is
one, see `turbodata.types.batch`), decimals keep their
precision and scale, timestamps become UTC `datetime` (Delta `timestamp` is UTC; a
`timestamp_ntz` is taken as UTC too, the convention of every Dataverse export).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.types as pt

from turbodata.model import CdmType, Column
from turbodata.types.inference import TYPED_FILE_STRING

_SIMPLE: tuple[tuple[object, CdmType], ...] = (
    (pt.is_boolean, CdmType.BOOLEAN),
    (pt.is_uint8, CdmType.BYTE),
    (pt.is_int8, CdmType.INT16),
    (pt.is_int16, CdmType.INT16),
    (pt.is_uint16, CdmType.INT32),
    (pt.is_int32, CdmType.INT32),
    (pt.is_uint32, CdmType.INT64),
    (pt.is_int64, CdmType.INT64),
    (pt.is_float16, CdmType.FLOAT),
    (pt.is_float32, CdmType.FLOAT),
    (pt.is_float64, CdmType.DOUBLE),
    (pt.is_timestamp, CdmType.DATETIME),
    (pt.is_date, CdmType.DATE),
    (pt.is_time, CdmType.TIME),
)


class UnsupportedType(ValueError):
    """A column whose Arrow type has no SQL type here (nested, binary, huge decimal)."""


def column_of(field: pa.Field) -> Column:
    """The column a field declares; raises UnsupportedType with the column's name."""
    arrow = field.type
    if pt.is_dictionary(arrow):
        arrow = arrow.value_type
    if pt.is_string(arrow) or pt.is_large_string(arrow) or pt.is_string_view(arrow):
        return Column(field.name, CdmType.STRING, TYPED_FILE_STRING)
    if pt.is_decimal(arrow) and arrow.precision <= 38:
        return Column(
            field.name, CdmType.DECIMAL, str(field.type), None, arrow.precision, arrow.scale
        )
    if pt.is_uint64(arrow):  # past BIGINT: the smallest decimal holding every value
        return Column(field.name, CdmType.DECIMAL, str(field.type), None, 20, 0)
    for matches, cdm_type in _SIMPLE:
        if matches(arrow):  # type: ignore[operator]
            return Column(field.name, cdm_type, str(field.type))
    raise UnsupportedType(
        f"column {field.name!r} has type {field.type}, which turbodata cannot load"
        " (nested, binary and decimals of more than 38 digits are not supported)"
    )


def columns_of(schema: pa.Schema) -> tuple[Column, ...]:
    """The columns of `schema`'s fields, but those of Arrow's `null` type: no value in any
    row (pandas writes an empty column so) gives no type, so the column is added once a file
    has values (it failed the table; made text, it refused those values for good: found by
    review)."""
    return tuple(column_of(field) for field in schema if not pt.is_null(field.type))
