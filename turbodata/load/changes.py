"""Applying a batch of change rows to a keyed table, set-based, through a staging table.

Synapse Link's incremental folders carry every create, update and delete as a row
(lake-format.md section 7). For a table with a key (`Id`, or one from configuration):

1. the batch's rows are bulk-loaded into a temporary staging table, each with a sequence
   number (file order, row number);
2. one row per key is kept: the greatest (versionnumber, SinkModifiedOn, file order, row
   number), where a row without versionnumber (an F&O delete) ranks with the newest version
   of its key, so it wins when its SinkModifiedOn is not older;
3. rows marked `IsDelete` delete their key (or mark it deleted), the others are upserted:
   updated only when newer than the table's row, inserted when new.

Everything runs in the caller's transaction; the dialect supplies the upsert statement.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Dialect as SqlDialect
from sqlalchemy.sql.elements import ColumnElement

from turbodata.dialects.base import Dialect, RowSink
from turbodata.types.sql import INTEGER_ORDER, Kind, SqlType, arrow_type

SEQUENCE = "_turbodata_seq"
ROWS_PER_FILE = 1 << 32  # sequence = file index * this + row number
KEPT_KEY = -1  # the sequence of a rejected row's key, staged so its row is not taken as gone


@dataclass(frozen=True)
class ChangeColumns:
    """The system columns of a table, by the names the table really has."""

    key: tuple[str, ...]
    version: str | None = None
    modified: str | None = None
    delete: str | None = None
    # the staged rows' sequence is the order their changes happened in (a Delta table's
    # versions, one file per commit): where versions tie, the later row wins even over a
    # delete row
    in_commit_order: bool = False
    # the rows are a change data feed's: every change happened, in commit order, after what
    # the table holds (the ledger applies each version once), so the later change wins
    # whatever its versionnumber, and every change applies (as a full reload would leave it)
    feed: bool = False
    # what the delete column holds: "boolean"; "number" (1 marks a delete row); "text"
    # (declared so, or created as text before any row had a value: "true" in any case, or
    # "1", spaces around them aside)
    delete_form: str = "boolean"

    @classmethod
    def find(
        cls,
        names: Sequence[str],
        key: Sequence[str],
        *,
        in_commit_order: bool = False,
        feed: bool = False,
    ) -> ChangeColumns:
        by_lower = {n.lower(): n for n in names}
        return cls(
            key=tuple(by_lower.get(k.lower(), k) for k in key),
            version=by_lower.get("versionnumber"),
            modified=by_lower.get("sinkmodifiedon"),
            delete=by_lower.get("isdelete"),
            in_commit_order=in_commit_order or feed,
            feed=feed,
        )


@dataclass
class AppliedCounts:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    kept: int = 0  # rows a snapshot lacks, kept because some of its rows were rejected


Columns = sa.sql.ColumnCollection  # a table's `.c`, or ON CONFLICT's `excluded`
Newer = Callable[[Columns, Columns], ColumnElement[bool]]


@functools.lru_cache(maxsize=256)  # one function per columns: statements built with it are cached
def newer_condition(columns: ChangeColumns) -> Newer:
    """incoming row is newer than the table's: versionnumber, else SinkModifiedOn; or, from a
    CSV file, the same change read again (`_or_same_change`).

    Otherwise equal versions never update, so a re-initialised table (the same versions
    written again with later Sink dates) changes nothing. Without either column the
    incoming row wins (last write wins).
    """

    if columns.feed:
        return _always

    def newer(incoming: Columns, existing: Columns) -> ColumnElement[bool]:
        v, m = columns.version, columns.modified
        by_modified = (
            sa.or_(
                incoming[m] > existing[m],
                incoming[m].is_(None),
                existing[m].is_(None),
            )
            if m
            else sa.true()
        )
        if not v:
            return _or_same_change(by_modified, incoming, existing, columns)
        unknown_version = sa.or_(incoming[v].is_(None), existing[v].is_(None))
        greater = sa.or_(incoming[v] > existing[v], sa.and_(unknown_version, by_modified))
        return _or_same_change(greater, incoming, existing, columns)

    return newer


def _or_same_change(
    newer: ColumnElement[bool], incoming: Columns, existing: Columns, columns: ChangeColumns
) -> ColumnElement[bool]:
    """`newer`, or the incoming row is the same change as the table's: the same
    versionnumber and SinkModifiedOn (NULL as NULL), where the rows come from CSV files,
    unless `--soft-delete` marked the table's row deleted (the mark keeps the version of the
    row it deleted: that row read again must not bring it back).

    Why: a CSV file still being written when a run read it can end in a cut row of the right
    width (`…,77,,ABC` of `…,77,,ABCDEF`), which loads. The complete file is read again (it
    changed, or `--reload`), and its row is the same change: were equal versions never to
    update, the cut value would stay for good while every run succeeded. A change read again
    writes what the table holds already, or mends it. Delta and Parquet files are written
    once (`in_commit_order`): their rows keep equal versions as they are."""
    if columns.in_commit_order:
        return newer
    same = [
        _not_distinct(incoming[n], existing[n]) for n in (columns.version, columns.modified) if n
    ]
    if not same:
        return newer
    if columns.delete:
        same.append(_not_marked(existing[columns.delete], columns))
    return sa.or_(newer, sa.and_(*same))


def _not_distinct(
    first: ColumnElement[object], second: ColumnElement[object]
) -> ColumnElement[bool]:
    # spelled out: SQL Server before 2022 has no IS NOT DISTINCT FROM
    return sa.or_(first == second, sa.and_(first.is_(None), second.is_(None)))


@functools.lru_cache(maxsize=256)
def strictly_newer(columns: ChangeColumns) -> Newer:
    """`first` is known to be newer than `second` (never NULL: safe under NOT): a greater
    versionnumber, or where either has none, a later SinkModifiedOn."""

    if columns.feed:
        return _never

    def known_greater(first: Columns, second: Columns, name: str) -> ColumnElement[bool]:
        return sa.and_(
            first[name].is_not(None), second[name].is_not(None), first[name] > second[name]
        )

    def newer(first: Columns, second: Columns) -> ColumnElement[bool]:
        v, m = columns.version, columns.modified
        by_modified = known_greater(first, second, m) if m else sa.false()
        if not v:
            return by_modified
        unknown = sa.or_(first[v].is_(None), second[v].is_(None))
        return sa.or_(known_greater(first, second, v), sa.and_(unknown, by_modified))

    return newer


def _always(first: Columns, second: Columns) -> ColumnElement[bool]:
    return sa.true()


def _never(first: Columns, second: Columns) -> ColumnElement[bool]:
    return sa.false()


class VersionsAsText(Exception):
    """The version column is a decimal the database keeps as text: changes cannot be ranked."""


def refuse_text_versions(
    dialect: Dialect, columns: ChangeColumns, types: dict[str, SqlType]
) -> None:
    """Refuse to rank rows by a versionnumber the database compares as text: on SQLite a
    decimal one (declared so, pinned, or widened past BIGINT) put version 9 above version 10,
    dropping updates and deletes while runs succeeded (found by review)."""
    version = columns.version
    if version is None or columns.feed or not dialect.decimals_as_text:
        return
    if types[version].kind is Kind.DECIMAL:
        raise VersionsAsText(
            f"its {version} column is {types[version]}, which {dialect.title} keeps as text:"
            " '10' would rank below '9', so no change of this batch is applied (pin it as"
            f" bigint in the override file, `<table>: {{{version}: bigint}}`, when its values"
            " fit; a table that has it as a decimal keeps it so: drop the table, then"
            " migrate --reload it)"
        )


class KeySpelledTwoWays(Exception):
    """The database compares two spellings of a key as one (case, trailing spaces): an
    upsert would merge rows the source holds apart."""


class SoftDeleteImpossible(Exception):
    """Soft delete was asked for rows a table has no IsDelete column to mark."""


def upsert_unstaged(
    conn: Connection,
    dialect: Dialect,
    target: sa.Table,
    batches: list[pa.RecordBatch],
    types: dict[str, SqlType],
    columns: ChangeColumns,
) -> AppliedCounts | None:
    """A batch of changes upserted straight into `target` where that does what staging
    would: few rows (`Dialect.unstaged_upsert_rows`), none marking a delete, each key once
    (nothing to rank). One count and one upsert of the rows, where staging runs six
    statements: most of a small file's cost (bench/README.md). None: stage them."""
    rows = sum(batch.num_rows for batch in batches)
    if not 0 < rows <= dialect.unstaged_upsert_rows:
        return None
    if columns.delete and any(_marks_deletes(b.column(columns.delete)) for b in batches):
        return None
    keys = _keys_once(dialect, batches, types, columns.key)
    if keys is None:
        return None
    columns = _with_delete_form(columns, types)
    absent = tuple(c.name for c in target.columns if c.name not in types)
    found = _count_found(conn, target, columns.key, keys)
    touched = dialect.upsert_rows(
        conn, target, batches, list(types.values()), columns.key, newer_condition(columns), absent
    )
    return AppliedCounts(inserted=rows - found, updated=touched - (rows - found))


def _in_key_order(batch: pa.RecordBatch, key: tuple[str, ...]) -> pa.RecordBatch:
    """`batch` sorted by its key. Staged in key order, the upsert (which walks the staged
    rows by key) reads them page after page instead of at random: changes come in any
    order, and random reads made SQLite's upsert of 148,500 rows 1.1 s instead of 0.85 s
    (bench/README.md, session 15). The ranking uses the sequence, never the staged order."""
    if len(batch) < 2 or not key:
        return batch
    return batch.take(pc.sort_indices(batch, sort_keys=[(name, "ascending") for name in key]))


def _marks_deletes(flags: pa.Array) -> bool:
    """Some row may mark a delete: its delete column is not NULL (whatever its form)."""
    return flags.null_count < len(flags)


def _keys_once(
    dialect: Dialect, batches: list[pa.RecordBatch], types: dict[str, SqlType], key: tuple[str, ...]
) -> list[object] | None:
    """The rows' keys as the driver binds them (tuples for a key of several columns), or None
    where a key is NULL or comes twice."""
    if any(batch.column(k).null_count for batch in batches for k in key):
        return None
    found = []
    for batch in batches:
        values = [dialect.python_values(batch.column(k), types[k]) for k in key]
        found += zip(*values, strict=True)
    if len(set(found)) != len(found):
        return None
    return [value[0] for value in found] if len(key) == 1 else found


def marked_deleted(
    target: sa.Table, columns: ChangeColumns, types: dict[str, SqlType]
) -> sa.Exists:
    """Some row of the table is marked deleted in its delete column (as soft delete leaves
    it), read in the column's form (boolean, number or text)."""
    assert columns.delete is not None
    columns = _with_delete_form(columns, types)
    return sa.exists().where(_deletes(target.c[columns.delete], columns))


def _with_delete_form(columns: ChangeColumns, types: dict[str, SqlType]) -> ChangeColumns:
    if columns.delete and (form := _delete_form(types[columns.delete])) != "boolean":
        return dataclasses.replace(columns, delete_form=form)
    return columns


# parameters in one statement: SQLite before 3.32 (Ubuntu 20.04, Debian 10) binds at most 999
MAX_PARAMETERS = 900


def _count_found(
    conn: Connection, target: sa.Table, key: tuple[str, ...], keys: list[object]
) -> int:
    """How many of `keys` the table holds, asked in slices of at most MAX_PARAMETERS values."""
    statement, step = _keys_found(target, key), max(1, MAX_PARAMETERS // len(key))
    return sum(
        conn.execute(statement, {"keys": keys[start : start + step]}).scalar_one()
        for start in range(0, len(keys), step)
    )


@functools.lru_cache(maxsize=256)
def _keys_found(target: sa.Table, key: tuple[str, ...]) -> sa.Select:
    """How many of the keys bound as `keys` the table holds."""
    keys = sa.bindparam("keys", expanding=True)
    held = sa.tuple_(*(target.c[k] for k in key)) if len(key) > 1 else target.c[key[0]]
    return sa.select(sa.func.count()).select_from(target).where(held.in_(keys))


class Staging:
    """One batch's rows in a temporary table, reduced to one row per key, then applied."""

    def __init__(
        self,
        conn: Connection,
        dialect: Dialect,
        target: sa.Table,
        types: dict[str, SqlType],
        columns: ChangeColumns,
    ) -> None:
        columns = _with_delete_form(columns, types)
        self.conn, self.dialect, self.target, self.columns = conn, dialect, target, columns
        self.names = list(types)
        self.column_types = types
        self.types = [*types.values(), SqlType(Kind.BIGINT)]  # and the sequence's
        self.table, create = staging_table(dialect, conn.dialect, target, tuple(types.items()))
        self.rows = 0
        # a staged row may mark a delete: its delete column is not NULL (whatever its form).
        # None seen, the statements that apply and drop delete rows are skipped (most small
        # batches: each costs a compile per table and a round trip, bench/README.md)
        self.may_delete = False
        for statement in create:
            conn.exec_driver_sql(statement)

    def add(
        self, sink: RowSink, batch: pa.RecordBatch, file_index: int, row_numbers: pa.Array
    ) -> int:
        """Stage `batch` through `sink` (`Dialect.bulk_insert` opened with `self.types`)."""
        sequence = pc.add(row_numbers, file_index * ROWS_PER_FILE)
        with_sequence = _in_key_order(batch.append_column(SEQUENCE, sequence), self.columns.key)
        if self.columns.delete and not self.may_delete:
            self.may_delete = _marks_deletes(batch.column(self.columns.delete))
        added = sink.write(self.table, with_sequence)
        self.rows += added
        return added

    def keep_winners(self, *, soft_delete: bool = False) -> None:
        """Index the staged rows by key (when there are many and the database needs it), then
        delete every row but the winner of each key. With `soft_delete` (a batch of changes),
        a key whose winner is a delete row keeps its best upsert row too, which `apply` loads
        marked deleted: a key created and deleted in one batch kept nothing, and a key
        updated then deleted was marked with its values before the update, where the same
        changes in two folders keep the row, marked, with the update (found by review)."""
        self._refuse_key_spellings(against_table=False)
        index_from = self.dialect.staged_key_index_from_rows
        if index_from is not None and self.rows >= index_from and self._key_indexable():
            name = f"{self.table.name.lstrip('#')}_key"
            key_index = sa.Index(name, *(self.table.c[k] for k in self.columns.key))
            self.conn.execute(sa.schema.CreateIndex(key_index))
        if self.conn.execute(_repeated_key(self.table, self.columns.key)).first() is None:
            return  # every key once (an initial load, mostly): nothing to rank
        refuse_text_versions(self.dialect, self.columns, self.column_types)
        keep_upserts = soft_delete and self.columns.delete is not None and self.may_delete
        self.conn.execute(_delete_losers(self.table, self.columns, keep_upserts))

    def _refuse_key_spellings(self, *, against_table: bool) -> None:
        """Staged keys spelled two ways (ranking keeps one), or, before an upsert, spelled
        otherwise in the table (a snapshot that replaces the table takes its spelling)."""
        checks = self.dialect.key_spelling_checks(self.table, self.target, self.columns.key)
        if checks is not None:
            found = self.conn.execute(checks[against_table]).first()
            if found is not None:
                key = ", ".join(repr(value) for value in found)
                raise KeySpelledTwoWays(
                    f"key {key} of {self.target.name} is spelled more than one way (case or"
                    f" trailing spaces), in this batch or against the table; {self.dialect.title}"
                    " compares them as one key under the column's collation, so rows the"
                    " source holds apart would be merged: nothing of this batch is applied"
                    " (choose a key without such values)"
                )

    def _key_indexable(self) -> bool:
        if self.dialect.indexes_unbounded_text:
            return True
        key_types = [self.types[self.names.index(k)] for k in self.columns.key]
        return not any(t.kind is Kind.STRING and t.length is None for t in key_types)

    def apply(self, *, soft_delete: bool) -> AppliedCounts:
        self._refuse_key_spellings(against_table=True)
        counts = AppliedCounts()
        # soft: the upsert rows `keep_winners` kept under a delete are set aside while the
        # delete rows mark the table and go, then upserted marked deleted themselves
        set_aside = soft_delete and self.columns.delete is not None and self.may_delete
        if set_aside:
            self.conn.execute(_set_aside_upserts_under_deletes(self.table, self.columns))
        counts.deleted = self._apply_deletes(soft_delete)
        if set_aside:
            self.conn.execute(_marked_back(self.table, self.columns))
        counts.inserted = self._count_new()
        counts.updated = self._upsert(newer_condition(self.columns)) - counts.inserted
        return counts

    def _upsert(self, newer: Newer) -> int:
        absent = [c.name for c in self.target.columns if c.name not in self.names]
        return self.dialect.upsert_from_staging(
            self.conn, self.target, self.table, self.names, self.columns.key, newer, absent
        )

    def replace_all(
        self, *, soft_delete: bool, rejected: int = 0, rejected_keys: pa.Table | None = None
    ) -> AppliedCounts:
        """A snapshot: the table becomes exactly the staged rows, minus delete rows; keys
        absent from the snapshot are deleted (or, with `soft_delete`, marked deleted).

        Unless some of the snapshot's rows were `rejected` (not staged): then the staged rows
        are upserted and the absent keys deleted, except the keys of the rejected rows
        (`rejected_keys`), which keep their last good version (a key whose winning staged row
        marks a delete goes all the same: a rejected row ranks below every row that loads).
        Where a rejected row's key cannot be trusted (`rejected_keys` None: the reader
        rejected a row of the wrong width, or one cut short), no absent row is deleted
        (`kept`) until a snapshot loads in full."""
        if rejected:
            return self._merge_snapshot(soft_delete, rejected_keys)
        self._drop_delete_rows()
        gone = ~sa.exists().where(self._matches())  # the table's rows the snapshot lacks
        new = self._count_new()
        if soft_delete:  # upserted against the table's rows: spelled their way, or refused
            self._refuse_key_spellings(against_table=True)
            deleted = self._remove(gone, soft_delete=True)
            touched = self._upsert(_snapshot_wins)
            return AppliedCounts(inserted=new, updated=touched - new, deleted=deleted)
        deleted = self._count(gone)
        self.conn.execute(sa.delete(self.target))
        columns = [self.table.c[n] for n in self.names]
        insert = sa.insert(self.target).from_select(self.names, sa.select(*columns))
        staged = self.conn.execute(insert.execution_options(preserve_rowcount=True)).rowcount
        return AppliedCounts(inserted=new, updated=staged - new, deleted=deleted)

    def _merge_snapshot(self, soft_delete: bool, rejected_keys: pa.Table | None) -> AppliedCounts:
        self._refuse_key_spellings(against_table=True)
        gone = ~sa.exists().where(self._matches())
        kept = 0
        # a key whose winning row marks a delete goes, whatever rows of it were rejected: a
        # rejected row ranks below every row that loads (as in a batch of changes)
        deleted = self._remove(self._marked_deleted(), soft_delete) if self.may_delete else 0
        self._drop_delete_rows()
        if rejected_keys is None:
            kept = self._count(sa.and_(gone, self._not_deleted_yet(soft_delete)))
        else:
            self._stage_kept_keys(rejected_keys)  # absent from the snapshot, not gone
            deleted += self._remove(gone, soft_delete)
            self.conn.execute(_drop_kept_keys(self.table))
        new = self._count_new()
        touched = self._upsert(_snapshot_wins)
        return AppliedCounts(inserted=new, updated=touched - new, deleted=deleted, kept=kept)

    def _remove(self, rows: ColumnElement[bool], soft_delete: bool) -> int:
        """Delete the table's `rows`, or with `soft_delete` mark those not marked yet."""
        if not soft_delete:
            return self.conn.execute(sa.delete(self.target).where(rows)).rowcount
        if self.columns.delete:
            flag = self.target.c[self.columns.delete]
            mark = sa.update(self.target).where(rows, _not_marked(flag, self.columns))
            return self.conn.execute(mark.values({flag.name: _mark(self.columns)})).rowcount
        if doomed := self._count(rows):
            raise SoftDeleteImpossible(
                f"{doomed} row(s) of {self.target.name} are not in its snapshot any more and"
                " soft delete keeps deleted rows, but the table has no IsDelete column to mark"
                " them: nothing of this snapshot is applied (load it without soft delete to"
                " delete them)"
            )
        return 0

    def _marked_deleted(self) -> ColumnElement[bool]:
        """The table's rows a staged delete row names."""
        if not self.columns.delete:
            return sa.false()
        return sa.exists().where(self._matches(), _is_delete(self.table, self.columns))

    def _not_deleted_yet(self, soft_delete: bool) -> ColumnElement[bool]:
        if soft_delete and self.columns.delete:
            return _not_marked(self.target.c[self.columns.delete], self.columns)
        return sa.true()

    def _count(self, rows: ColumnElement[bool]) -> int:
        count = sa.select(sa.func.count()).select_from(self.target).where(rows)
        return self.conn.execute(count).scalar_one()

    def _stage_kept_keys(self, keys: pa.Table) -> None:
        """The rejected rows' keys as staged rows of their own (every other column NULL,
        sequence KEPT_KEY), so that they count as in the snapshot; dropped before the
        upsert."""
        count = keys.num_rows
        if not count:  # every rejected row lacked a key: it names no row of the table
            return
        columns = [
            keys.column(name).combine_chunks()
            if name in self.columns.key
            else pa.nulls(count, arrow_type(sql_type))
            for name, sql_type in zip(self.names, self.types[:-1], strict=True)
        ]
        columns.append(pa.array([KEPT_KEY] * count, pa.int64()))
        batch = pa.RecordBatch.from_arrays(columns, names=[*self.names, SEQUENCE])
        self.dialect.insert_batch(self.conn, self.table, batch, self.types)

    def drop(self) -> None:
        self.conn.exec_driver_sql(self.dialect.drop_staging_sql(self.conn.dialect, self.table))

    def _matches(self) -> ColumnElement[bool]:
        return _matches(self.table, self.target, self.columns.key)

    def _apply_deletes(self, soft_delete: bool) -> int:
        if not self.columns.delete or not self.may_delete:
            return 0
        statement = _delete_statement(self.target, self.table, self.columns, soft_delete)
        deleted = self.conn.execute(statement).rowcount
        self._drop_delete_rows()
        return deleted

    def _drop_delete_rows(self) -> None:
        if self.columns.delete and self.may_delete:
            self.conn.execute(_drop_delete_rows(self.table, self.columns))

    def _count_new(self) -> int:
        return self.conn.execute(_count_new(self.table, self.target, self.columns.key)).scalar_one()


# The statements of a batch's staging, built once per staging table (`staging_table` keeps one
# per target table where it can): SQLAlchemy's compiled cache then answers every later batch.


def _matches(staging: sa.Table, target: sa.Table, key: tuple[str, ...]) -> ColumnElement[bool]:
    return sa.and_(*(staging.c[k] == target.c[k] for k in key))


def _is_delete(staging: sa.Table | sa.Subquery, c: ChangeColumns) -> ColumnElement[bool]:
    assert c.delete is not None
    return _deletes(staging.c[c.delete], c)


def _deletes(flag: ColumnElement[object], c: ChangeColumns) -> ColumnElement[bool]:
    """The delete column's value marks its row deleted."""
    if c.delete_form == "number":  # as a number: SQLite keeps decimals as text ("1.00")
        return sa.cast(flag, sa.Float) == 1
    if c.delete_form == "text":
        return sa.func.lower(sa.func.trim(flag)).in_(["true", "1"])
    return flag == sa.true()


@functools.lru_cache(maxsize=256)
def _repeated_key(staging: sa.Table, key: tuple[str, ...]) -> sa.Select:
    columns = [staging.c[k] for k in key]
    return sa.select(*columns).group_by(*columns).having(sa.func.count() > 1).limit(1)


@functools.lru_cache(maxsize=256)
def _delete_losers(staging: sa.Table, c: ChangeColumns, keep_upserts: bool = False) -> sa.Delete:
    """Every staged row but the winner of its key (`keep_upserts`: and its best upsert row,
    the winner itself unless that is a delete row)."""
    key = [staging.c[k] for k in c.key]
    extra = []
    if c.version and not c.feed:  # the newest version of each key, for rows that carry none
        extra.append(sa.func.max(staging.c[c.version]).over(partition_by=key).label("newest"))
    rows = sa.select(*staging.c, *extra).subquery("rows")
    # a change feed's last change of the key is the table's state (the sequence is unique)
    order = _feed_ranking(rows, c) if c.feed else _ranking(rows, c)
    order.append(rows.c[SEQUENCE].desc())
    by_key = [rows.c[k] for k in c.key]
    rank = sa.func.row_number().over(partition_by=by_key, order_by=order)
    ranks = [rows.c[SEQUENCE].label("seq"), rank.label("rank")]
    if keep_upserts:
        kind = sa.case((_is_delete(rows, c), 1), else_=0)
        kind_rank = sa.func.row_number().over(partition_by=[*by_key, kind], order_by=order)
        ranks += [kind.label("is_delete"), kind_rank.label("kind_rank")]
    ranked = sa.select(*ranks).subquery("ranked")
    kept = ranked.c.rank == 1
    if keep_upserts:
        kept = sa.or_(kept, sa.and_(ranked.c.is_delete == 0, ranked.c.kind_rank == 1))
    winners = sa.select(ranked.c.seq).where(kept)
    return sa.delete(staging).where(staging.c[SEQUENCE].not_in(winners))


# an upsert row set aside under its key's delete row has its sequence s stored as -s - 2
# (below KEPT_KEY; the same statement turns it back)
def _flipped_sequence(staging: sa.Table) -> ColumnElement[int]:
    return -staging.c[SEQUENCE] - 2


@functools.lru_cache(maxsize=256)
def _set_aside_upserts_under_deletes(staging: sa.Table, c: ChangeColumns) -> sa.Update:
    """Flag the upsert rows whose key has a delete row (`keep_winners(soft_delete=True)`)."""
    deletes = staging.alias("deletes")
    under_delete = sa.exists().where(_matches(deletes, staging, c.key), _is_delete(deletes, c))
    assert c.delete is not None
    upsert = _not_marked(staging.c[c.delete], c)  # NULL too
    flip = {SEQUENCE: _flipped_sequence(staging)}
    return sa.update(staging).where(upsert, under_delete).values(flip)


@functools.lru_cache(maxsize=256)
def _marked_back(staging: sa.Table, c: ChangeColumns) -> sa.Update:
    """The rows set aside, marked deleted, their sequence as it was."""
    assert c.delete is not None
    values = {c.delete: _mark(c), SEQUENCE: _flipped_sequence(staging)}
    return sa.update(staging).where(staging.c[SEQUENCE] < KEPT_KEY).values(values)


def _feed_ranking(rows: sa.Subquery, c: ChangeColumns) -> list[ColumnElement[object]]:
    """A change feed's rows rank by commit (one staged file each), then, within a commit, a
    row after it over a delete, which is of the row before it: one commit's feed comes in no
    order the reader keeps (an overwrite with a predicate gave its inserts before its
    deletes, and the rewritten rows were deleted: found by review)."""
    order: list[ColumnElement[object]] = [(rows.c[SEQUENCE] // ROWS_PER_FILE).desc()]
    if c.delete:
        order.append(sa.case((_is_delete(rows, c), 0), else_=1).desc())
    return order


def _ranking(rows: sa.Subquery, c: ChangeColumns) -> list[ColumnElement[object]]:
    """How a key's staged rows rank before their sequence: the greatest versionnumber, then
    SinkModifiedOn, then commit order, then a delete row over an upsert."""
    order = []
    if c.version:
        order += _desc_nulls_last(sa.func.coalesce(rows.c[c.version], rows.c.newest))
    if c.modified:
        order += _desc_nulls_last(rows.c[c.modified])
    if c.in_commit_order:
        order.append(rows.c[SEQUENCE].desc())
    if c.delete:  # a delete row wins a tie its file's order cannot break (CSV folders)
        order.append(sa.case((_is_delete(rows, c), 1), else_=0).desc())
    return order


@functools.lru_cache(maxsize=256)
def _delete_statement(
    target: sa.Table, staging: sa.Table, c: ChangeColumns, soft_delete: bool
) -> sa.Delete | sa.Update:
    """The table's rows that staged delete rows remove (or, soft, mark deleted)."""
    assert c.delete is not None
    # a delete never removes a row newer than itself (a late or replayed delete)
    kept = strictly_newer(c)(target.c, staging.c)
    doomed = sa.exists().where(
        _matches(staging, target, c.key), _is_delete(staging, c), sa.not_(kept)
    )
    if len(c.key) == 1:
        # Implied by the EXISTS, but lets the database find the table's rows by their key from
        # the staged deletes: SQLite otherwise tests every row of the table (0.4 s for 1,500
        # deletes onto 300,000 rows). SQL Server has no IN over several columns.
        key = c.key[0]
        deleted_keys = sa.select(staging.c[key]).where(_is_delete(staging, c))
        doomed = sa.and_(target.c[key].in_(deleted_keys), doomed)
    if soft_delete:  # a row marked already is not marked (nor counted) again
        marked = sa.update(target).where(doomed, _not_marked(target.c[c.delete], c))
        return marked.values({c.delete: _mark(c)})
    return sa.delete(target).where(doomed)


def _not_marked(flag: sa.Column, c: ChangeColumns) -> ColumnElement[bool]:
    """The row's IsDelete does not mark it deleted yet (NULL or false)."""
    return sa.or_(flag.is_(None), sa.not_(_deletes(flag, c)))


def _mark(c: ChangeColumns) -> object:
    """What soft delete writes into the delete column."""
    return {"boolean": sa.true(), "number": 1}.get(c.delete_form, "True")


_NUMBER_KINDS = frozenset({*INTEGER_ORDER, Kind.DECIMAL, Kind.FLOAT, Kind.REAL})


def _delete_form(sql_type: SqlType) -> str:
    if sql_type.kind is Kind.BOOLEAN:
        return "boolean"
    return "number" if sql_type.kind in _NUMBER_KINDS else "text"


@functools.lru_cache(maxsize=256)
def _drop_kept_keys(staging: sa.Table) -> sa.Delete:
    return sa.delete(staging).where(staging.c[SEQUENCE] == KEPT_KEY)


@functools.lru_cache(maxsize=256)
def _drop_delete_rows(staging: sa.Table, c: ChangeColumns) -> sa.Delete:
    return sa.delete(staging).where(_is_delete(staging, c))


@functools.lru_cache(maxsize=256)
def _count_new(staging: sa.Table, target: sa.Table, key: tuple[str, ...]) -> sa.Select:
    unmatched = ~sa.exists().where(_matches(staging, target, key))
    return sa.select(sa.func.count()).select_from(staging).where(unmatched)


def _snapshot_wins(_incoming: Columns, _existing: Columns) -> ColumnElement[bool]:
    return sa.true()


def staging_table(
    dialect: Dialect, sql: SqlDialect, target: sa.Table, types: tuple[tuple[str, SqlType], ...]
) -> tuple[sa.Table, list[str]]:
    """The staging table for a batch of `target` and the statements that create it: the same
    Table object for every batch of a table with the same columns, where the staging table
    is gone with its transaction (`Dialect.staging_ends_with_transaction`)."""
    if dialect.staging_ends_with_transaction:
        return _reused_staging_table(dialect, sql, target, types)
    return _new_staging_table(dialect, sql, target, types)


def _new_staging_table(
    dialect: Dialect, sql: SqlDialect, target: sa.Table, types: tuple[tuple[str, SqlType], ...]
) -> tuple[sa.Table, list[str]]:
    columns = [
        *(sa.Column(n, dialect.column_type(t), quote=True) for n, t in types),
        sa.Column(SEQUENCE, dialect.column_type(SqlType(Kind.BIGINT))),
    ]
    table = dialect.staging_table(target.name, columns)
    return table, dialect.create_staging_sql(sql, table)


# a run's tables, each with its staging columns (one entry per table, mostly)
_reused_staging_table = functools.lru_cache(maxsize=256)(_new_staging_table)


def _desc_nulls_last(column: ColumnElement) -> list[ColumnElement]:
    # portable NULLS LAST for a descending order (SQL Server has no NULLS LAST)
    return [sa.case((column.is_(None), 0), else_=1).desc(), column.desc()]
