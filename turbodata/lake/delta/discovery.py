"""Which folders of a lake hold Delta tables or plain Parquet tables, as plan batches.

* A folder with `_delta_log/` is a Delta table: at the lake root, or one level down in
  Synapse Link's `deltalake/` (named `<table>_partitioned`; the SQL table keeps the Dataverse
  name, `account`) or a Fabric lakehouse's `Tables/` (two levels with schemas: `Tables/dbo/`).
* A folder (same places) without `_delta_log/` whose files include `.parquet` and no `.csv`
  is one Parquet table; `name=value` sub-folders are partition columns. A folder with a
  Delta log below it, or with Parquet files in sub-folders that are no partitions, is no
  table (a problem of the run), and so is a lake root whose folders are partitions.

Design: delta-rs opens a Delta table's files itself: through a local path, or through the
object store a lake names with `delta_storage()` (`DeltaStorage`); on a lake without it each
Delta table is a problem of its table, never silently left out. Parquet folders are read
through the lake's own file API (`turbodata.lake.delta.parquet`) and load from every lake.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from turbodata.errors import first_line
from turbodata.lake.storage import Lake, LocalLake, join, read_bytes
from turbodata.model import DataFile, LoadMode, Problem, TableBatch, TableSchema
from turbodata.secrets import mask_secrets

if TYPE_CHECKING:
    import pyarrow as pa

# Design: what reads a found table (pyarrow, deltalake, the column mapping) is imported by the
# functions that build its batch, so a lake without Delta or Parquet tables (and every rerun)
# starts without them: a tenth of a second of start-up.

CONTAINERS = ("deltalake", "Tables")  # Synapse Link's Delta folder, a Fabric lakehouse's
SYNAPSE_SUFFIX = "_partitioned"
DELTA_LOG = "_delta_log"


@dataclass
class Found:
    """The Delta and Parquet tables of a lake."""

    batches: list[TableBatch] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)  # "delta", "parquet"
    mixed: list[str] = field(default_factory=list)  # folders of Parquet and CSV files
    # the tables of folders holding no data file: a Parquet table's emptied, or no table
    empty: list[str] = field(default_factory=list)


def table_name(folder: str) -> str:
    """`deltalake/account_partitioned` → `account`."""
    name = folder.rsplit("/", 1)[-1]
    if name.lower().endswith(SYNAPSE_SUFFIX) and len(name) > len(SYNAPSE_SUFFIX):
        return name[: -len(SYNAPSE_SUFFIX)]
    return name


def find_tables(lake: Lake, skip_root_folder: Callable[[str], bool]) -> Found:
    """Every Delta and Parquet table; `skip_root_folder` names root folders of the CSV
    layouts (timestamp folders, Changelog...), which are never looked into."""
    found = Found()
    root_folders = lake.list_dir("").folders
    if DELTA_LOG in root_folders:  # its partition folders are no tables
        found.kinds.add("delta")
        found.problems.append(
            Problem(
                None,
                f"{mask_secrets(lake.url)} is a Delta table's own folder (it holds"
                f" {DELTA_LOG}/): point --lake at the folder that holds the table's folder",
            )
        )
        return found
    if partition := _parquet_partition(lake, root_folders):  # each would load as a table
        found.kinds.add("parquet")
        found.problems.append(
            Problem(
                None,
                f"{mask_secrets(lake.url)} is a Parquet table's own folder (its folders are"
                f" partitions, {partition}): point --lake at the folder that holds the"
                " table's folder",
            )
        )
        return found
    for folder in _candidate_folders(lake, skip_root_folder):
        listing = lake.list_dir(folder)
        if DELTA_LOG in listing.folders:
            _add(found, folder, "delta", lambda f=folder: _delta_batch(lake, f))
            continue
        kinds, below = _file_kinds(lake, folder)
        if below is not None:
            kind, message = _not_one_table(lake, folder, below)
            found.kinds.add(kind)
            found.problems.append(Problem(None, message))
        elif kinds == {"parquet"}:
            _add(found, folder, "parquet", lambda f=folder: _parquet_batch(lake, f))
        elif kinds == {"parquet", "csv"}:
            found.mixed.append(folder)
        elif not kinds:
            found.empty.append(table_name(folder))
    _refuse_duplicates(found)
    return found


def _parquet_partition(lake: Lake, folders: list[str]) -> str | None:
    """The first of `folders` that is a `name=value` partition of Parquet files, if any."""
    for name in folders:
        partition = "=" in name and name[0] not in "._"
        if partition and any(i.path.endswith(".parquet") for i in lake.iter_files(name)):
            return name
    return None


def _candidate_folders(lake: Lake, skip_root_folder: Callable[[str], bool]) -> list[str]:
    folders = []
    for name in lake.list_dir("").folders:
        if name in CONTAINERS:
            for sub in lake.list_dir(name).folders:
                folders += _tables_or_schema(lake, join(name, sub))
        elif not skip_root_folder(name):
            folders.append(name)
    return folders


def _tables_or_schema(lake: Lake, folder: str) -> list[str]:
    """`folder` itself, or for a lakehouse schema folder (`Tables/dbo`: Delta tables in it)
    every folder in it, each a table (a Parquet one beside the Delta ones was left out, found
    by review). A folder of Parquet files in plain sub-folders stays one folder, which
    `_file_kinds` finds is no table: `sales/{orders,items}` and `sales/{2024,2025}` cannot be
    told apart (read as one table, the first mixed two tables' rows, found by review)."""
    inside = lake.list_dir(folder).folders
    if DELTA_LOG in inside:
        return [folder]
    plain = [join(folder, sub) for sub in inside if _is_plain_folder(sub)]
    if any(DELTA_LOG in lake.list_dir(sub).folders for sub in plain):
        return plain
    return [folder]


def _is_plain_folder(name: str) -> bool:
    """A folder that is neither hidden nor a `name=value` partition."""
    return not name.startswith((".", "_")) and "=" not in name


def _file_kinds(lake: Lake, folder: str) -> tuple[set[str], str | None]:
    """Which of "parquet" and "csv" the folder's files are, files under hidden names
    (`is_hidden`) aside, and the first path that makes the folder no table of its own:
    under a Delta log below it, or a Parquet file in a sub-folder that is no partition."""
    kinds: set[str] = set()
    nested = None
    for info in lake.iter_files(folder):
        inner = info.path[len(folder.rstrip("/")) + 1 :].split("/")[:-1]
        if DELTA_LOG in inner:  # another table's: hidden by name, so looked for first
            return kinds, info.path
        kind = info.path.rsplit(".", 1)[-1]
        if kind in ("parquet", "csv") and not is_hidden(folder, info.path):
            if kind == "parquet" and any(map(_is_plain_folder, inner)):
                nested = nested or info.path  # a Delta log below still says more
            kinds.add(kind)
    return kinds, nested


def _not_one_table(lake: Lake, folder: str, path: str) -> tuple[str, str]:
    """The kind of tables below a folder that is no table of its own (`_file_kinds`), and
    why."""
    if f"/{DELTA_LOG}/" in f"/{path}":
        kind, what = "delta", "holds Delta tables in its sub-folders"
    else:
        kind, what = (
            "parquet",
            "holds Parquet files in sub-folders that are no name=value partitions",
        )
    return kind, (
        f"{folder} ({mask_secrets(lake.url)}) {what} ({path}), so it is no table of its own:"
        " nothing under it is loaded, where reading it as one table would mix the rows of"
        " several tables, or of files the Delta log removed (point --lake at the folder that"
        " holds the tables' folders, or put them in deltalake/ or Tables/)"
    )


def is_hidden(folder: str, path: str) -> bool:
    """Whether a file under a Parquet table's folder is not the table's, by Spark's rule: a
    name on its way that starts with `.`, or with `_` and is no `name=value` partition
    (`_temporary/` of a write in progress, `_SUCCESS`, `.part-0.crc`; `_year=2024/` is data)."""
    inner = path[len(folder.rstrip("/")) + 1 :].split("/")
    return any(p.startswith(".") or (p.startswith("_") and "=" not in p) for p in inner)


def _add(found: Found, folder: str, kind: str, make: Callable[[], TableBatch]) -> None:
    found.kinds.add(kind)
    try:
        found.batches.append(make())
    except Exception as error:  # unreadable log, unsupported type: this table's problem
        found.problems.append(Problem(table_name(folder), first_line(error), file=folder))


@runtime_checkable
class DeltaStorage(Protocol):
    """A lake that tells delta-rs where it is: `delta_storage()` gives the lake root as an
    object-store URL (`az://container/path`, `abfss://...`) and its options (credentials,
    endpoint) in delta-rs's `storage_options` form."""

    def delta_storage(self) -> tuple[str, dict[str, str]]: ...


def delta_location(lake: Lake, folder: str) -> tuple[str, dict[str, str]]:
    """Where delta-rs opens the table in `folder`: a local path, or the lake's object store."""
    if isinstance(lake, LocalLake):
        return str(lake.root / folder), {}
    if isinstance(lake, DeltaStorage):
        root, options = lake.delta_storage()
        return f"{root.rstrip('/')}/{folder}", dict(options)
    raise NotImplementedError(
        f"{folder}: Delta tables are read from local lake folders, or from lakes that give"
        f" delta-rs their storage (delta_storage), not from {lake.url}"
    )


def _delta_batch(lake: Lake, folder: str) -> TableBatch:
    import pyarrow as pa
    from deltalake import DeltaTable

    from turbodata.lake.delta.sources import DeltaSource

    name = table_name(folder)
    uri, storage_options = delta_location(lake, folder)

    try:
        table = DeltaTable(uri, storage_options=storage_options or None)
    except Exception as error:
        where = _damaged_commit(lake, folder) or f"the Delta log in {folder}/{DELTA_LOG}"
        raise ValueError(f"{where} cannot be read ({first_line(error)})") from error
    arrow_schema = pa.schema(table.schema().to_arrow())
    schema = _table_schema(name, arrow_schema, folder)
    configuration = table.metadata().configuration
    source = DeltaSource(
        table=name,
        lake=lake,
        folder=folder,
        uri=uri,
        storage_options=storage_options,
        version=table.version(),
        table_id=table.metadata().id,
        column_names=tuple(arrow_schema.names),
        change_feed=configuration.get("delta.enableChangeDataFeed", "").lower() == "true",
        deletion_vectors="deletionVectors" in (table.protocol().reader_features or ()),
        column_mapping=configuration.get("delta.columnMapping.mode", "none").lower() != "none",
    )
    return TableBatch(name, f"delta v{source.version}", schema, (), LoadMode.VERSIONED, source)


def _damaged_commit(lake: Lake, folder: str) -> str | None:
    """`version N: <commit file>` of the first commit file that is no JSON lines, if any."""
    for info in lake.list_dir(join(folder, DELTA_LOG)).files:
        stem = info.path.rsplit("/", 1)[-1].removesuffix(".json")
        if not (info.path.endswith(".json") and stem.isdigit()):
            continue
        try:
            for line in read_bytes(lake, info.path).decode("utf-8").splitlines():
                if line.strip():
                    json.loads(line)
        except (OSError, ValueError):
            return f"version {int(stem)}: the log file {info.path}"
    return None


def _parquet_batch(lake: Lake, folder: str) -> TableBatch:
    from turbodata.lake.delta import parquet

    name = table_name(folder)
    infos = [
        i
        for i in lake.iter_files(folder)
        if i.path.endswith(".parquet") and not is_hidden(folder, i.path)
    ]
    arrow_schema, partitions = parquet.folder_schema(name, lake, folder, infos)
    schema = _table_schema(name, arrow_schema, folder)
    source = parquet.ParquetSource(name, lake, folder, arrow_schema, partitions)
    files = tuple(DataFile(info) for info in infos)
    return TableBatch(name, "snapshot", schema, files, LoadMode.SNAPSHOT, source)


def _table_schema(name: str, arrow_schema: pa.Schema, folder: str) -> TableSchema:
    from turbodata.lake.delta.columns import UnsupportedType, columns_of

    try:
        columns = columns_of(arrow_schema)
    except UnsupportedType as error:
        raise ValueError(f"{folder}: {error}") from error
    return TableSchema(name, columns, source=folder)


def _refuse_duplicates(found: Found) -> None:
    """Two folders for one SQL table (`account` and `account_partitioned`): neither loads."""
    by_name: dict[str, list[str]] = {}
    for batch in found.batches:
        by_name.setdefault(batch.table.casefold(), []).append(batch.schema.source)
    for folders in (f for f in by_name.values() if len(f) > 1):
        found.batches = [b for b in found.batches if b.schema.source not in folders]
        found.problems.append(
            Problem(
                table_name(folders[0]),
                f"{' and '.join(folders)} would both load into one table: neither is loaded"
                " (remove or rename one)",
            )
        )
