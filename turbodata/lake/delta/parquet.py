"""Plain Parquet folders (one table each) read through the lake's own file API.

Reading goes through `Lake.open` (seekable streams), so Parquet tables load from every lake
the CSV layouts load from; every open is of the version the listing found (on Azure its etag,
locally its size and time), whose schema the plan read: a file rewritten since fails its table
for the run (`FileChanged`) and the next run reads it again. The table's
schema is every file's schema unified (a column widened in a newer file widens the table's);
`name=value` folders between the table folder and a file are partition columns: int64 when
every value is a whole number written the way the number itself prints (the integer rule of
`turbodata.types.inference`: no leading zero, no `+`, and not `-0`) and fits int64, else
string, so `007`, `0042` and `7` stay three values; `__HIVE_DEFAULT_PARTITION__` is NULL. A
column a file lacks is NULL in its rows, unless its folder names its value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import pyarrow as pa

from turbodata.lake.storage import Lake
from turbodata.model import DataFile, FileInfo
from turbodata.read.values import INVARIANT_INTEGER  # the one integer-text rule

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

BATCH_ROWS = 64 * 1024
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


class ParquetReadError(Exception):
    """A Parquet file that cannot be read (names the table and the file)."""


def partition_values(folder: str, path: str) -> dict[str, str | None]:
    """`contact/year=2024/part-0.parquet` under `contact` → {"year": "2024"}. Names and values
    are URL-decoded, as Hive-style writers (Spark, pyarrow) encode them: `city=a%2Fb` is
    `a/b`."""
    inner = path[len(folder.rstrip("/")) + 1 :].split("/")[:-1]
    values: dict[str, str | None] = {}
    for segment in inner:
        name, equals, value = segment.partition("=")
        if equals and name:
            values[unquote(name)] = None if value == NULL_PARTITION else unquote(value)
    return values


def folder_schema(
    table: str, lake: Lake, folder: str, files: Sequence[FileInfo]
) -> tuple[pa.Schema, tuple[str, ...]]:
    """The unified schema of the folder's files, partition columns last, and their names."""
    schemas = [_plain_types(_file_schema(table, lake, info)) for info in files]
    try:
        unified = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ParquetReadError(f"{table}: the files of {folder} disagree: {error}") from error
    _refuse_inexact_widening(table, files, schemas, unified)
    _refuse_case_variants(table, files, schemas, unified)
    by_column: dict[str, list[str | None]] = {}
    for info in files:
        for name, value in partition_values(folder, info.path).items():
            by_column.setdefault(name, []).append(value)
    partitions = tuple(name for name in by_column if name not in unified.names)
    _refuse_partition_case_variants(table, folder, files, unified, partitions)
    for name in partitions:
        unified = unified.append(pa.field(name, _partition_type(by_column[name])))
    return unified.remove_metadata(), partitions


def _refuse_partition_case_variants(
    table: str,
    folder: str,
    files: Sequence[FileInfo],
    unified: pa.Schema,
    partitions: tuple[str, ...],
) -> None:
    """A partition folder (`Region=eu/`) spelling a file column (`region`) or another
    partition otherwise by case: two columns, as in `_refuse_case_variants`."""
    seen = {name.casefold(): name for name in unified.names}
    for name in partitions:
        other = seen.setdefault(name.casefold(), name)
        if other != name:
            path = next(i.path for i in files if name in partition_values(folder, i.path))
            raise ParquetReadError(
                f"{table}: {path} has the partition folder {name!r}, and the table's files"
                f" or folders spell it {other!r}: they would load as separate columns"
                " (rename the folders or rewrite the files with one spelling)"
            )


def _plain_types(schema: pa.Schema) -> pa.Schema:
    """Dictionary columns as their values' type, large and view strings and binaries as the
    plain ones: how a writer encoded a column says nothing of its values, and one file's
    dictionary beside another's large_string failed the table on the merge (review)."""
    return pa.schema([field.with_type(_plain_type(field.type)) for field in schema])


def _plain_type(arrow: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(arrow):
        arrow = arrow.value_type
    if pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow):
        return pa.string()
    if pa.types.is_large_binary(arrow) or pa.types.is_binary_view(arrow):
        return pa.binary()
    return arrow


def _refuse_inexact_widening(
    table: str, files: Sequence[FileInfo], schemas: Sequence[pa.Schema], unified: pa.Schema
) -> None:
    """The one widening of `unify_schemas` that changes values without an error: a decimal
    column that is floating-point in another file becomes a double (12345678901234567890.12
    loaded as 1.2345678901234567e+19). Integers become doubles too, but a cast that would
    change one fails."""
    for field in unified:
        if not pa.types.is_floating(field.type):
            continue
        for info, schema in zip(files, schemas, strict=True):
            index = schema.get_field_index(field.name)
            if index >= 0 and pa.types.is_decimal(schema.field(index).type):
                raise ParquetReadError(
                    f"{table}: column {field.name!r} is {schema.field(index).type} in"
                    f" {info.path} but floating-point in another file: no type holds both"
                    " exactly (rewrite the files with one type)"
                )


def _refuse_case_variants(
    table: str, files: Sequence[FileInfo], schemas: Sequence[pa.Schema], unified: pa.Schema
) -> None:
    """Files that spell one column differently by case (`Name` in one, `name` in another)
    would make two columns of it: SQL Server and SQLite refuse the table with a bare
    "duplicate column", PostgreSQL splits the column's values between the two. Refused,
    naming a file of each spelling. Two spellings within one file are that file's own
    columns, left to the database."""
    spellings: dict[str, list[str]] = {}
    for name in unified.names:
        spellings.setdefault(name.casefold(), []).append(name)
    for names in spellings.values():
        if len(names) < 2 or any(len(set(names) & set(s.names)) > 1 for s in schemas):
            continue
        first_with = {
            n: next(i.path for i, s in zip(files, schemas, strict=True) if n in s.names)
            for n in names
        }
        where = [f"{name!r} in {path}" for name, path in first_with.items()]
        raise ParquetReadError(
            f"{table}: the files spell one column differently by case ({', '.join(where)}):"
            " they would load as separate columns (rewrite the files with one spelling)"
        )


def _partition_type(values: list[str | None]) -> pa.DataType:
    """int64 only when every value is the text its own number prints as, so no two distinct
    folders (`007` and `7`, `-0` and `0`) become the same number; else string."""
    present = [v for v in values if v is not None]
    whole = present and all(_is_int64_text(v) for v in present)
    return pa.int64() if whole else pa.string()


def _is_int64_text(value: str) -> bool:
    if not re.fullmatch(INVARIANT_INTEGER, value):  # not `-0`, which would merge with `0`
        return False
    return _INT64_MIN <= int(value) <= _INT64_MAX


def _file_schema(table: str, lake: Lake, info: FileInfo) -> pa.Schema:
    import pyarrow.parquet as pq  # imported only for lakes with Parquet folders

    try:
        with lake.open(info.path, version=info) as stream:  # the listed version
            return pq.read_schema(stream)
    except (OSError, pa.ArrowInvalid) as error:
        raise ParquetReadError(
            f"{table}: Parquet file {info.path} cannot be read ({error})"
        ) from error


@dataclass(frozen=True, eq=False)
class ParquetSource:
    """The rows of one Parquet file at a time, in the table's unified schema."""

    table: str
    lake: Lake
    folder: str
    schema: pa.Schema
    partitions: tuple[str, ...] = ()

    def read(self, data_file: DataFile) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq  # imported only for lakes with Parquet folders

        path = data_file.info.path
        constants = partition_values(self.folder, path)
        try:
            # the version listed, whose schema the plan read (a rewrite since: FileChanged)
            with self.lake.open(path, version=data_file.info) as stream:
                parquet = pq.ParquetFile(stream)
                present = [n for n in parquet.schema_arrow.names if n in self.schema.names]
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=present):
                    yield self._conformed(batch, constants, path)
        except (OSError, pa.ArrowInvalid) as error:
            raise ParquetReadError(
                f"{self.table}: Parquet file {path} cannot be read ({error})"
            ) from error

    def _conformed(
        self, batch: pa.RecordBatch, constants: dict[str, str | None], path: str
    ) -> pa.RecordBatch:
        """The batch in the table's schema: partition values added, missing columns NULL,
        narrower types cast up (the unified schema only ever widens, but a value may not fit
        it: uint64 beside int64 unifies as int64)."""
        columns = []
        for field in self.schema:
            if field.name in batch.schema.names:
                values = batch.column(field.name)
            elif field.name in self.partitions or field.name in constants:
                # a partition column, or a column other files hold and this file's folder
                # name gives (`year=2023/` for a file without `year`)
                values = pa.array([constants.get(field.name)] * batch.num_rows, pa.string())
            else:
                values = pa.nulls(batch.num_rows, field.type)
            columns.append(_cast(values, field, path, self.table))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)


def _cast(values: pa.Array, field: pa.Field, path: str, table: str) -> pa.Array:
    """`values` as the column's type in the table's unified schema; a value that does not fit
    names the column, its type in this file and the one its other files gave it."""
    try:
        return values.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise ParquetReadError(
            f"{table}: column {field.name!r} is {values.type} in Parquet file {path} and"
            f" {field.type} across the table's files, and a value does not fit {field.type}"
            f" ({error}): rewrite the files with one type"
        ) from error
