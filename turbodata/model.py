"""The plain values that flow between the pipeline's stages.

Nothing here does I/O. Every stage (lake → metadata → reader → types → schema → loader → ledger)
takes and returns these, so each stage can be tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa


class CdmType(StrEnum):
    """A column's declared CDM type, normalised (model.json `dataType`, cdm.json `dataFormat`)."""

    STRING = "string"
    CHAR = "char"
    INT64 = "int64"
    INT32 = "int32"
    INT16 = "int16"
    BYTE = "byte"
    DOUBLE = "double"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    GUID = "guid"
    DATETIME = "datetime"
    DATETIMEOFFSET = "datetimeoffset"
    DATE = "date"
    TIME = "time"
    JSON = "json"
    BINARY = "binary"
    UNCLASSIFIED = "unclassified"


@dataclass(frozen=True)
class Column:
    """One attribute of an entity, in metadata order (= position in a headerless CSV)."""

    name: str
    cdm_type: CdmType
    declared_type: str = ""  # the text the metadata used, for messages ("dateTime", "Int32"...)
    max_length: int | None = None  # characters; None = unbounded or unknown
    precision: int | None = None  # decimals only, from is.dataFormat.numeric.shaped
    scale: int | None = None


def unique_names(names: Sequence[str]) -> list[str]:
    """`names` with each one equal to an earlier one ignoring case renamed `name_2` (`_3`,
    …): SQL Server collations ignore case. A header row is renamed the same way before it
    is compared with its metadata's columns."""
    taken: set[str] = set()
    unique = []
    for name in names:
        if name.casefold() in taken:
            suffix = 2
            while f"{name}_{suffix}".casefold() in taken:
                suffix += 1
            name = f"{name}_{suffix}"
        taken.add(name.casefold())
        unique.append(name)
    return unique


@dataclass(frozen=True)
class CsvDialect:
    """How one partition's CSV is written (fileFormatSettings / is.partition.format.CSV)."""

    header: bool = False
    delimiter: str = ","
    quote_char: str | None = '"'  # None: QuoteStyle.None, every line break ends a row
    encoding: str = "utf-8"


@dataclass(frozen=True)
class Partition:
    """A data file the metadata names.

    `location` is a path as far as the metadata can tell: for an absolute URL the URL-decoded
    path without scheme, host, port and query (so it still starts with the container name);
    for a corpus path, the path resolved against the referencing document's folder. Layouts
    match it against the lake listing (see `layouts._partition_files`).
    """

    location: str
    name: str | None = None
    dialect: CsvDialect = field(default_factory=CsvDialect)
    # a lake path found by listing the lake (a partition pattern's match): taken as it is
    listed: bool = False


@dataclass(frozen=True)
class PartitionPattern:
    """A cdm.json data partition pattern: files under `root` matching a glob or regex."""

    root: str  # lake-relative folder
    glob: str | None = None
    regex: str | None = None
    dialect: CsvDialect = field(default_factory=CsvDialect)
    # incrementalPartitionPatterns: their type ("Upsert", "Delete", … or "of no type")
    incremental: str | None = None


@dataclass(frozen=True)
class TableSchema:
    """An entity as one metadata document describes it.

    `problem` is set instead of guessing when the schema cannot be resolved (unresolved
    imports, no attributes, unknown entity document); such a table is reported, never loaded.
    """

    name: str
    columns: tuple[Column, ...]
    partitions: tuple[Partition, ...] = ()
    patterns: tuple[PartitionPattern, ...] = ()
    source: str = ""  # lake path of the metadata document it came from
    annotations: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Model:
    """Everything one metadata document (model.json or a manifest tree) declares."""

    tables: dict[str, TableSchema]
    source: str
    warnings: tuple[str, ...] = ()
    manifests: frozenset[str] = frozenset()  # the manifests read (a manifest tree's)


@dataclass(frozen=True)
class FileInfo:
    """A file in the lake: what the ledger needs to recognise it again."""

    path: str  # lake-relative, posix, no leading "/"
    size: int
    modified: datetime  # UTC
    etag: str | None = None

    @property
    def fingerprint(self) -> str:
        """Changes whenever the file's content can have changed."""
        return self.etag or f"{self.size}:{self.modified.isoformat()}"


@dataclass(frozen=True)
class DataFile:
    """A CSV partition paired with the dialect it is written in."""

    info: FileInfo
    dialect: CsvDialect = field(default_factory=CsvDialect)


class LoadMode(StrEnum):
    """How a batch's rows reach its table. Upserts and deletes arrive with incremental loading."""

    APPEND = "append"  # incremental folders applied as inserts in folder order
    SNAPSHOT = "snapshot"  # classic layout: the files are the table's whole content
    FULL_REFRESH = "full_refresh"  # OptionsetMetadata tables
    # a Delta table: the loader asks its `VersionedSource` what changed since the applied version
    VERSIONED = "versioned"
    CHANGES = "changes"  # rows a Delta table's versions appended: upserts by key
    # change rows of a Delta table's change data feed: each change applies, in commit order
    FEED = "feed"


class RowSource(Protocol):
    """Typed rows instead of CSV text (Delta and Parquet tables): the loader reads each of a
    batch's `files` through `read`, which yields record batches holding the schema's columns
    (by name), typed as the files store them."""

    def read(self, data_file: DataFile) -> Iterator[pa.RecordBatch]: ...


@dataclass(frozen=True)
class Resolved:
    """What a versioned source has to load after the applied version: a SNAPSHOT (the whole
    table) or CHANGES (one file per version: its commit file in `_delta_log`)."""

    mode: LoadMode
    version: int
    files: tuple[DataFile, ...]
    source: RowSource
    watermark: str  # what the ledger records once `version` is applied
    note: str | None = None  # why a full reconciliation instead of the changes, for the summary


class VersionedSource(RowSource, Protocol):
    """A table whose versions the ledger tracks (Delta): `resolve` says what to load."""

    def resolve(
        self,
        watermark: str | None,
        loaded: Mapping[str, str],
        *,
        key: Sequence[str],
        delete_column: bool,
    ) -> Resolved | None:
        """What to load after what the table's `watermark` (in the ledger) says was applied;
        None when that is the current version (nothing to do). `loaded`: the ledger's
        fingerprint of each file loaded into the table."""
        ...


@dataclass(frozen=True)
class TableBatch:
    """The files of one table in one batch (a timestamp folder, or the one snapshot)."""

    table: str
    batch_id: str  # timestamp folder name, or "snapshot"
    schema: TableSchema
    files: tuple[DataFile, ...]
    mode: LoadMode = LoadMode.APPEND
    source: RowSource | None = None  # typed rows (Delta, Parquet) instead of CSV files
    version: int | None = None  # a resolved Delta batch: the version it brings the table to
    watermark: str | None = None  # … and what the ledger records when it is applied
    # files its folder's metadata lists for the table that are not in the lake
    missing: tuple[str, ...] = ()
    # an incremental folder's: the table's columns as the metadata of the folder before it
    # (with or without rows of the table) has them; None: no folder before it in the lake
    previous_columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Problem:
    """Something the run could not do, reported per table (and per file/row/column)."""

    table: str | None
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                self.file,
                f"row {self.row}" if self.row is not None else None,
                f"column {self.column!r}" if self.column else None,
            )
            if part
        )
        head = f"{self.table}: " if self.table else ""
        if where and self.message.startswith(f"{where}: "):
            where = ""  # the message already names its file (metadata errors do)
        return f"{head}{where + ': ' if where else ''}{self.message}"
