"""The SQL type each column of a batch is read and stored as.

In order of precedence: a type pinned in the override file; what the data needs where the
metadata is weak, found by a first pass over the batch's files — the narrowest type for
`unclassified` (and untyped) columns, the longest value's length for strings declared without
one (a string stays a string: postal codes, phone numbers); otherwise the declared CDM type.
An inferred type never narrows an existing column: when the table's column already holds
values the new data's type cannot, the column keeps its type, and values that do not fit it
are rejected (pin the column's type in the override file to choose another).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa

from turbodata.inference import TypeInference, needs_inference
from turbodata.model import CdmType, Column, TableSchema
from turbodata.overrides import Overrides
from turbodata.types import IncompatibleType, SqlType, from_cdm, string_type, widen
from turbodata.values import utf16_max_length


@dataclass(frozen=True)
class BatchTypes:
    types: dict[str, SqlType]  # column → type, in metadata order
    inferred: frozenset[str]  # columns whose type came from the data

    def reconciled(self, existing: dict[str, SqlType] | None) -> BatchTypes:
        """Inferred types widened to hold what the table's columns already hold."""
        if not existing:
            return self
        types = dict(self.types)
        for name in self.inferred & existing.keys():
            try:
                types[name] = widen(existing[name], types[name])
            except IncompatibleType:
                types[name] = existing[name]
        return BatchTypes(types, self.inferred)


class _LongestString:
    """What a string column declared without a length needs: string(longest value)."""

    def __init__(self) -> None:
        self.longest = 0

    def update(self, values: pa.Array) -> None:
        self.longest = max(self.longest, utf16_max_length(values) or 0)

    def result(self) -> SqlType:
        return string_type(self.longest or None)


def _inference_for(column: Column) -> TypeInference | _LongestString:
    if column.cdm_type in (CdmType.STRING, CdmType.CHAR):
        return _LongestString()
    return TypeInference(fallback=from_cdm(column))


def declared_types(schema: TableSchema, overrides: Overrides) -> dict[str, SqlType]:
    """Types known without reading data: pinned, else declared."""
    return {c.name: overrides.type_for(schema.name, c.name) or from_cdm(c) for c in schema.columns}


def known_types(schema: TableSchema, overrides: Overrides, infer: bool) -> dict[str, SqlType]:
    """The declared types of the columns whose type does not depend on the data."""
    inferred = {schema.columns[i].name for i in _inferred_indexes(schema, overrides, infer)}
    return {n: t for n, t in declared_types(schema, overrides).items() if n not in inferred}


def _inferred_indexes(schema: TableSchema, overrides: Overrides, infer: bool) -> list[int]:
    return [
        index
        for index, column in enumerate(schema.columns)
        if infer
        and overrides.type_for(schema.name, column.name) is None
        and overrides.infer(schema.name, column.name)
        and needs_inference(column)
    ]


def batch_types(
    schema: TableSchema,
    overrides: Overrides,
    infer: bool,
    string_columns: Callable[[], Iterable[list[pa.Array]]],
) -> BatchTypes:
    """`string_columns` yields each chunk of the batch as one string array per column; it is
    only called when a column needs inference."""
    types = declared_types(schema, overrides)
    inferring = {
        index: _inference_for(schema.columns[index])
        for index in _inferred_indexes(schema, overrides, infer)
    }
    if not inferring:
        return BatchTypes(types, frozenset())
    for columns in string_columns():
        for index, inference in inferring.items():
            inference.update(columns[index])
    for index, inference in inferring.items():
        types[schema.columns[index].name] = inference.result()
    return BatchTypes(types, frozenset(schema.columns[i].name for i in inferring))
