"""Reading Delta tables as typed Arrow record batches, streamed.

A Delta table (`DeltaSource`) resolves, against the version the ledger says was applied, to
either its whole snapshot or the changes of each later version:

* with the change data feed (`delta.enableChangeDataFeed`): each version's change rows
  (inserts, update post-images, deletes; pre-images dropped), deletes marked in `IsDelete`;
* without it: each version's added data files, as upserts. A version that removes data files
  (merge, update, delete, overwrite) cannot say which rows went away without the feed, so the
  table is fully reconciled instead (exact, but reads the whole table). Files added or
  removed without `dataChange` (OPTIMIZE, compaction) change no row and are skipped.

Design: full reconciliation (the snapshot, replacing the table) is the fallback wherever the
changes cannot be applied exactly, and the summary says why: history no longer reaching back
to the applied version (log cleaned up after a checkpoint, files vacuumed), a table without
key or without an `IsDelete` column to carry deletes, a version number that went back (the
table was re-created). A missing data file of the current snapshot or an unreadable log is an
error naming the table, version and file: the batch is rolled back, nothing is half-applied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc

from turbodata.errors import first_line
from turbodata.lake.delta import versions
from turbodata.lake.storage import Lake, join
from turbodata.model import DataFile, LoadMode, Resolved

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

BATCH_ROWS = 64 * 1024  # rows per record batch read: bounds memory with wide rows too
CHANGE_TYPE = "_change_type"
DROPPED_CHANGES = ("update_preimage",)


class DeltaReadError(Exception):
    """A Delta table that cannot be read as it should (names the table, version and file)."""


def log_path(folder: str, version: int) -> str:
    return join(folder, "_delta_log", f"{version:020d}.json")


@dataclass(frozen=True)
class _VersionActions:
    """The data-changing actions of one commit."""

    adds: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()
    cdc: tuple[str, ...] = ()


def read_actions(lake: Lake, table: str, folder: str, version: int) -> _VersionActions:
    path = log_path(folder, version)
    adds, removes, cdc = [], [], []
    try:
        with lake.open(path) as stream:
            for line in stream.read().decode("utf-8").splitlines():
                if not line.strip():
                    continue
                action = json.loads(line)
                if (add := action.get("add")) and add.get("dataChange", True):
                    adds.append(add["path"])
                elif (remove := action.get("remove")) and remove.get("dataChange", True):
                    removes.append(remove["path"])
                elif change := action.get("cdc"):
                    cdc.append(change["path"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise DeltaReadError(
            f"{table}: version {version}: the log file {path} cannot be read ({error})"
        ) from error
    return _VersionActions(tuple(adds), tuple(removes), tuple(cdc))


@dataclass(frozen=True, eq=False)
class DeltaSource:
    """A Delta table at `version` (the newest when the plan was made)."""

    table: str  # the SQL table, for messages
    lake: Lake
    folder: str  # lake-relative folder holding `_delta_log`
    uri: str  # what delta-rs opens: a local path or an object-store URL
    version: int
    table_id: str  # the log's metaData.id: a re-created table has a new one
    column_names: tuple[str, ...]
    change_feed: bool
    deletion_vectors: bool = False  # the files of the version cannot be read one by one
    # columns stored under physical names (delta.columnMapping.mode name or id): only
    # delta-rs's scan of the whole table reads them (neither its change feed nor the files)
    column_mapping: bool = False
    storage_options: dict[str, str] = field(default_factory=dict, repr=False)  # credentials

    def resolve(
        self,
        watermark: str | None,
        loaded: Mapping[str, str],
        *,
        key: Sequence[str],
        delete_column: bool,
    ) -> Resolved | None:
        done = versions.applied(watermark)
        if done is None:
            return self._snapshot(None)
        if done.table_id is None and not self._commit_unchanged(done.version, loaded):
            return self._snapshot(  # recorded by an earlier turbodata, without the id
                f"the commit file of version {done.version}, applied before, was rewritten or"
                " is gone (the table may have been re-created)"
            )
        if done.table_id not in (None, versions.recorded_id(self.table_id)):
            return self._snapshot(
                f"the table was re-created (its Delta table id changed) since version"
                f" {done.version} of the table before it was applied"
            )
        applied = done.version
        if applied == self.version:
            return None
        if applied > self.version:
            return self._snapshot(
                f"the table's version went back from {applied} to {self.version}"
                " (re-created or restored)"
            )
        if not key:
            return self._snapshot("the table has no key, so changes cannot be applied by key")
        if self.column_mapping:
            return self._snapshot(
                "its columns are mapped to physical names (delta.columnMapping.mode), which"
                " only a read of the whole table resolves"
            )
        reason, actions = self._changes_reason(applied, delete_column)
        if reason:
            return self._snapshot(reason)
        files = tuple(self._commit_file(v) for v in range(applied + 1, self.version + 1))
        changes = _DeltaChanges(self, dict(zip(files, actions, strict=True)), tuple(key))
        mode = LoadMode.FEED if self.change_feed else LoadMode.CHANGES
        return Resolved(mode, self.version, files, changes, self._watermark)

    def read(self, data_file: DataFile) -> Iterator[pa.RecordBatch]:
        """The whole table at `version` (the snapshot's one file is its commit file)."""
        table = self._open(self.version)
        self._check_files_exist(table)
        try:  # delta-rs's own scan: applies deletion vectors, adds partition columns
            reader = pa.RecordBatchReader.from_stream(table.scan(columns=list(self.column_names)))
            for batch in reader:
                yield _without_views(batch)
        except Exception as error:
            raise DeltaReadError(
                f"{self.table}: version {self.version}: the table cannot be read"
                f" ({first_line(error)})"
            ) from error

    # ------------------------------------------------------------------ resolving

    def _snapshot(self, why: str | None) -> Resolved:
        note = f"full reconciliation at version {self.version}: {why}" if why else None
        files = (self._commit_file(self.version),)
        return Resolved(LoadMode.SNAPSHOT, self.version, files, self, self._watermark, note)

    def _commit_unchanged(self, version: int, loaded: Mapping[str, str]) -> bool:
        """Whether the commit file of `version` is the one the ledger recorded loading (a
        Delta commit file is never rewritten, but a re-created table writes its own)."""
        path = log_path(self.folder, version)
        info = self.lake.stat(path)
        return info is not None and loaded.get(path) == info.fingerprint

    @property
    def _watermark(self) -> str:
        return versions.as_watermark(self.version, self.table_id)

    def _changes_reason(
        self, applied: int, delete_column: bool
    ) -> tuple[str | None, list[_VersionActions]]:
        """Why the versions after `applied` cannot be applied as changes (None: they can),
        and each version's actions."""
        actions = []
        current: set[str] | None = None  # the files of `self.version`, read when needed
        for version in range(applied + 1, self.version + 1):
            if self.lake.stat(log_path(self.folder, version)) is None:
                return (
                    f"the log no longer reaches back to version {version} (cleaned up after a"
                    f" checkpoint); the ledger had version {applied} applied",
                    [],
                )
            found = read_actions(self.lake, self.table, self.folder, version)
            if reason := self._version_reason(version, found, delete_column):
                return reason, []
            if not self.change_feed and found.adds:  # read from the current version's files
                if current is None:
                    current = set(_relative_paths(self._open(self.version)))
                if gone := sorted({_normalised(p) for p in found.adds} - current):
                    return (
                        f"version {version}'s file {gone[0]} is no longer part of version"
                        f" {self.version} (compacted or rewritten since)",
                        [],
                    )
            actions.append(found)
        return None, actions

    def _version_reason(
        self, version: int, found: _VersionActions, delete_column: bool
    ) -> str | None:
        if not self.change_feed and self.deletion_vectors and found.adds:
            return (
                f"version {version} adds files to a table with deletion vectors and no change"
                " data feed: its added files cannot be read on their own"
            )
        if not self.change_feed and found.removes:
            return (
                f"version {version} removes or rewrites data files and the table has no change"
                " data feed (delta.enableChangeDataFeed) to say which rows changed"
            )
        if self.change_feed and found.removes and found.adds and not found.cdc:
            # a rewrite without change data (written before the feed was enabled, or a whole
            # overwrite, for which delta-rs writes none): read as a feed, every row of the
            # rewritten files would be deleted and inserted again
            return (
                f"version {version} rewrites data files without change data (a whole"
                " overwrite, or written before the change data feed was enabled)"
            )
        if (found.removes or found.cdc) and not delete_column:
            return f"version {version} may delete rows and the table has no IsDelete column"
        needed = (
            found.cdc if found.cdc else found.adds + (found.removes if self.change_feed else ())
        )
        if self.change_feed and any(_normalised(p) != _posix(p) for p in needed):
            return (  # delta-rs 1.6's change feed looks for them under the decoded name
                f"version {version}'s files are in partition folders whose names are"
                " URL-encoded, whose change data delta-rs cannot read"
            )
        for path in needed:  # the log's paths are URL-encoded
            if self.lake.stat(join(self.folder, _normalised(path))) is None:
                return (
                    f"version {version}'s file {path} is gone (vacuumed): its changes cannot be"
                    " read"
                )
        return None

    def _commit_file(self, version: int) -> DataFile:
        path = log_path(self.folder, version)
        info = self.lake.stat(path)
        if info is None:
            raise DeltaReadError(f"{self.table}: version {version}: log file {path} not found")
        return DataFile(info)

    # ------------------------------------------------------------------ reading

    def _open(self, version: int) -> DeltaTable:
        from deltalake import DeltaTable  # imported only for lakes that have Delta tables

        try:
            options = self.storage_options or None
            return DeltaTable(self.uri, version=version, storage_options=options)
        except Exception as error:  # delta-rs raises its own error types, all unreadable logs
            raise DeltaReadError(
                f"{self.table}: version {version}: the Delta log in {self.folder}/_delta_log"
                f" cannot be read ({first_line(error)})"
            ) from error

    def _check_files_exist(self, table: DeltaTable) -> None:
        for name in _relative_paths(table):
            if self.lake.stat(join(self.folder, name)) is None:
                raise DeltaReadError(
                    f"{self.table}: version {table.version()}: data file {self.folder}/{name}"
                    " is missing"
                )


@dataclass(frozen=True, eq=False)
class _DeltaChanges:
    """The change rows of each version after the applied one (one commit file each)."""

    source: DeltaSource
    actions: dict[DataFile, _VersionActions] = field(default_factory=dict)
    key: tuple[str, ...] = ()

    def read(self, data_file: DataFile) -> Iterator[pa.RecordBatch]:
        version = int(Path(data_file.info.path).stem)
        if self.source.change_feed:
            yield from self._feed(version, rekeys=bool(self.key and self.actions[data_file].cdc))
        else:
            yield from self._added(version, self.actions[data_file].adds)

    def _feed(self, version: int, *, rekeys: bool) -> Iterator[pa.RecordBatch]:
        """The commit's change rows; first, when it holds updates (`rekeys`), a delete row
        for each key an update changed away (`_rekeyed_deletes`)."""
        source = self.source
        try:
            table = source._open(source.version)
            deletes = _rekeyed_deletes(table, version, self.key, source) if rekeys else None
            if deletes is not None:
                yield deletes
            reader = table.load_cdf(starting_version=version, ending_version=version)
            for batch in pa.RecordBatchReader.from_stream(reader):
                yield _as_change_rows(batch, source.column_names, self.key)
        except DeltaReadError:
            raise
        except Exception as error:
            raise DeltaReadError(
                f"{source.table}: version {version}: the change data feed cannot be read"
                f" ({first_line(error)})"
            ) from error

    def _added(self, version: int, adds: Sequence[str]) -> Iterator[pa.RecordBatch]:
        if not adds:
            return
        source = self.source
        dataset = source._open(source.version).to_pyarrow_dataset()
        wanted = {_normalised(p) for p in adds}
        # a fragment's path is the file's own (relative, not URL-encoded as the log's)
        fragments = [f for f in dataset.get_fragments() if _posix(f.path) in wanted]
        if len(fragments) != len(wanted):
            raise DeltaReadError(
                f"{source.table}: version {version}: {len(wanted) - len(fragments)} added file(s)"
                f" are not part of version {source.version} (first: {sorted(wanted)[0]})"
            )
        import pyarrow.dataset as ds  # 36 ms: imported only for Delta tables' change feeds

        subset = ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)
        yield from _batches(subset, source.column_names)


def _rekeyed_deletes(
    table: DeltaTable, version: int, key: Sequence[str], source: DeltaSource
) -> pa.RecordBatch | None:
    """Delete rows for the keys an update of this commit changed away: an `update_preimage`
    without an `update_postimage` of the same key in the commit (a first, narrow read of the
    feed: keys and the columns that order changes).

    They go before the commit's rows, so that any row of the commit with that key (the key
    renamed back, a new row inserted under it, the same key in another case, which SQL
    Server's collation takes as equal) ranks after the delete and wins it; rows of earlier
    commits rank before it and lose it (`ChangeColumns.in_commit_order`)."""
    names = list(source.column_names)
    by_lower = {n.lower(): n for n in names}
    key = [by_lower.get(k.lower(), k) for k in key]
    kept = [n for n in names if n in key or n.lower() in _ORDERING_COLUMNS]
    quoted = ['"' + n.replace('"', '""') + '"' for n in kept]
    reader = table.load_cdf(
        starting_version=version, ending_version=version, columns=[*quoted, CHANGE_TYPE]
    )
    before, after = [], []
    for batch in pa.RecordBatchReader.from_stream(reader):
        batch = _without_views(batch)
        kinds = batch.column(CHANGE_TYPE)
        before.append(batch.filter(pc.equal(kinds, "update_preimage")).select(kept))
        after.append(_key_text(batch.filter(pc.equal(kinds, "update_postimage")), key))
    if not any(b.num_rows for b in before):
        return None
    rows = pa.Table.from_batches(before).combine_chunks()
    gone = pc.invert(pc.is_in(_key_text(rows, key), value_set=pa.concat_arrays(after)))
    if not pc.any(gone).as_py():
        return None
    rows = rows.filter(gone)
    schema = pa.schema(table.schema().to_arrow())
    columns = [
        rows.column(name).combine_chunks()
        if name in kept
        else pa.nulls(rows.num_rows, schema.field(name).type)
        for name in names
    ]
    kinds = pa.array(["delete"] * rows.num_rows, pa.string())
    batch = pa.RecordBatch.from_arrays([*columns, kinds], names=[*names, CHANGE_TYPE])
    return _as_change_rows(batch, names)


_ORDERING_COLUMNS = ("versionnumber", "sinkmodifiedon", "isdelete")


def _key_text(rows: pa.RecordBatch | pa.Table, key: Sequence[str]) -> pa.Array:
    """Each row's key as one string (the columns' text joined by a unit separator)."""
    parts = [pc.cast(rows.column(k), pa.string()) for k in key]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _as_change_rows(
    batch: pa.RecordBatch, names: Sequence[str], key: Sequence[str] = ()
) -> pa.RecordBatch:
    """Change-feed rows as table rows: pre-images dropped, deletes marked in IsDelete.

    A delete row keeps its key and the columns that order changes, the rest NULL (as
    `_rekeyed_deletes` writes them): a delete applies by its key alone, and the row image it
    carries was rejected for a value (a NaN, text a GUID column cannot take), so the
    delete was too, and the row stayed in the table for good (found by review)."""
    batch = _without_views(batch)
    kinds = batch.column(CHANGE_TYPE)
    keep = pc.invert(pc.is_in(kinds, pa.array(DROPPED_CHANGES)))
    batch, kinds = batch.filter(keep), kinds.filter(keep)
    deleted = pc.equal(kinds, "delete")
    kept = {k.lower() for k in key} | set(_ORDERING_COLUMNS) if key else None
    any_deleted = kept is not None and pc.any(deleted).as_py()
    columns = []
    for name in names:
        values = batch.column(name)
        if name.lower() == "isdelete":
            values = pc.if_else(deleted, _delete_mark(values.type), values)
        elif any_deleted and name.lower() not in kept:
            values = pc.if_else(deleted, pa.scalar(None, values.type), values)
        columns.append(values)
    return pa.RecordBatch.from_arrays(columns, names=list(names))


def _delete_mark(column_type: pa.DataType) -> pa.Scalar:
    """What marks a delete in an IsDelete column of this type (as `changes._deletes` reads
    the forms): true, the number 1, or the text "true". Cast to boolean instead, a text or
    number column failed the table ("" does not parse as a boolean)."""
    if pa.types.is_boolean(column_type):
        return pa.scalar(True)
    if pa.types.is_string(column_type) or pa.types.is_large_string(column_type):
        return pa.scalar("true", column_type)
    return pa.scalar(1).cast(column_type)


def _without_views(batch: pa.RecordBatch) -> pa.RecordBatch:
    """String and binary views as plain arrays (Arrow's filter has no kernel for views)."""
    views = {pa.types.is_string_view: pa.string(), pa.types.is_binary_view: pa.binary()}
    fields = [
        next((pa.field(f.name, plain) for is_view, plain in views.items() if is_view(f.type)), f)
        for f in batch.schema
    ]
    return batch.cast(pa.schema(fields)) if fields != list(batch.schema) else batch


def _batches(dataset: ds.Dataset, names: Sequence[str]) -> Iterator[pa.RecordBatch]:
    yield from dataset.to_batches(columns=list(names), batch_size=BATCH_ROWS)


def _relative_paths(table: DeltaTable) -> list[str]:
    actions = pa.table(table.get_add_actions(flatten=False))
    return [_normalised(p) for p in actions.column("path").to_pylist()]


def _normalised(path: str) -> str:
    """A data file's path in the log: relative to the table folder, URL-decoded, posix."""
    return _posix(unquote(path))


def _posix(path: str) -> str:
    return path.replace("\\", "/").lstrip("/")
