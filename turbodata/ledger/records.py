"""turbodata's own state in the target database (tables prefixed `_turbodata_`).

Every write here happens on the connection of the load transaction it describes, so a file's
ledger row, its rejects and its data commit together or not at all.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from turbodata.ledger.process import has_ended, this_host
from turbodata.model import DataFile, FileInfo, LoadMode, TableBatch
from turbodata.secrets import mask_secrets

if TYPE_CHECKING:
    from turbodata.read.reader import RowReject

PREFIX = "_turbodata_"
_text = sa.UnicodeText

metadata = sa.MetaData()

files = sa.Table(
    f"{PREFIX}files",
    metadata,
    # one lake can load into several schemas: a file is loaded once per table
    sa.Column("table_name", sa.Unicode(200), nullable=False),
    sa.Column("path", sa.Unicode(700), nullable=False),
    sa.Column("batch_id", sa.Unicode(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
    sa.Column("etag", sa.Unicode(128)),
    sa.Column("fingerprint", sa.Unicode(256), nullable=False),
    sa.Column("rows_loaded", sa.BigInteger, nullable=False),
    sa.Column("rows_rejected", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.Unicode(64), nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    # nonclustered on SQL Server: a clustered key holds at most 900 bytes, a nonclustered one
    # 1,700, and a name and a path of 850 characters in all take 1,700 (a longer pair fails
    # its batch, loudly). Babelfish enforces neither limit: not shown on SQL Server itself.
    sa.PrimaryKeyConstraint("table_name", "path", mssql_clustered=False),
)

rejects = sa.Table(
    f"{PREFIX}rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Unicode(64), nullable=False),
    sa.Column("table_name", sa.Unicode(128), nullable=False),
    sa.Column("file", sa.Unicode(900), nullable=False),
    sa.Column("row_number", sa.BigInteger),
    sa.Column("column_name", sa.Unicode(128)),
    sa.Column("reason", _text, nullable=False),
    sa.Column("raw_text", _text),
)

ddl = sa.Table(
    f"{PREFIX}ddl",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Unicode(64), nullable=False),
    sa.Column("table_name", sa.Unicode(128), nullable=False),
    sa.Column("statement", _text, nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

runs = sa.Table(
    f"{PREFIX}runs",
    metadata,
    sa.Column("run_id", sa.Unicode(64), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.Unicode(32), nullable=False),
    sa.Column("summary", _text),
)


table_state = sa.Table(
    f"{PREFIX}tables",
    metadata,
    sa.Column("table_name", sa.Unicode(128), primary_key=True),
    sa.Column(
        "watermark", sa.Unicode(128)
    ),  # last batch applied (timestamp folder, `delta:N id=…`)
    # the fewest columns any applied batch's metadata had, as ledgers before `widths` kept it
    sa.Column("narrowest", sa.Integer),
    sa.Column("last_run_id", sa.Unicode(64)),
    sa.Column("last_status", sa.Unicode(32)),
    sa.Column("last_error", _text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

# every width (number of columns) an applied batch's metadata had: a row may be that short
# after retention removed the batch's folder (lake-format.md 4.2)
widths = sa.Table(
    f"{PREFIX}widths",
    metadata,
    sa.Column("table_name", sa.Unicode(128), primary_key=True),
    sa.Column("width", sa.Integer, primary_key=True, autoincrement=False),
)

# the metadata's columns, in order, of each table's last snapshot batch bound by position
# (headerless CSV): what a later snapshot's columns are compared with (`note_layout`)
layouts = sa.Table(
    f"{PREFIX}layouts",
    metadata,
    sa.Column("table_name", sa.Unicode(128), primary_key=True),
    sa.Column("columns", _text, nullable=False),
)

# how each table is loaded: its key's columns (a JSON list, [] for none) and how its deletes
# are applied ("soft": rows kept, marked in IsDelete; "hard"). A run that would load an
# existing table otherwise is refused (`load.kept_options`).
load_options = sa.Table(
    f"{PREFIX}load_options",
    metadata,
    sa.Column("table_name", sa.Unicode(128), primary_key=True),
    sa.Column("key_columns", _text, nullable=False),
    sa.Column("deletes", sa.Unicode(8), nullable=False),
)

# timestamp folders a run skipped as abandoned (`layouts.LakePlan.abandoned`)
abandoned = sa.Table(
    f"{PREFIX}abandoned",
    metadata,
    sa.Column("folder", sa.Unicode(255), primary_key=True),
    sa.Column("run_id", sa.Unicode(64), nullable=False),
    sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
)

lease = sa.Table(
    f"{PREFIX}lease",
    metadata,
    sa.Column("name", sa.Unicode(64), primary_key=True),
    sa.Column("holder", sa.Unicode(64), nullable=False),
    sa.Column("host", sa.Unicode(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


LOADING = "loading"  # a table's status while a run applies its batches


def now() -> datetime:
    return datetime.now(UTC)


# Statements built once and executed with parameters: SQLAlchemy then finds their compiled
# form in its cache without building and hashing a new statement per call (4-6x cheaper per
# call, which counted for every small file: bench/many_files.py).
_TABLE = sa.bindparam("_table")  # not "table_name": an UPDATE's SET takes column-named keys
_insert_file = sa.insert(files)
_insert_rejects = sa.insert(rejects)
_insert_table_state = sa.insert(table_state)
_fingerprints = sa.select(files.c.path, files.c.fingerprint).where(files.c.table_name == _TABLE)
_sizes = sa.select(files.c.path, files.c.size).where(
    files.c.table_name == _TABLE, files.c.path.in_(sa.bindparam("_paths", expanding=True))
)
_file_under = (  # a file under a folder: `_prefix` is `_under(folder)`'s LIKE pattern
    sa.select(files.c.path).where(files.c.path.like(sa.bindparam("_prefix"), escape="/")).limit(1)
)
_forget_paths = sa.delete(files).where(
    files.c.table_name == _TABLE, files.c.path.in_(sa.bindparam("_paths", expanding=True))
)
_watermark = sa.select(table_state.c.watermark).where(table_state.c.table_name == _TABLE)
_widths_of = sa.select(widths.c.width).where(widths.c.table_name == _TABLE)
_has_width = _widths_of.where(widths.c.width == sa.bindparam("_width"))
_state = sa.select(
    table_state.c.watermark, table_state.c.narrowest, table_state.c.last_run_id
).where(table_state.c.table_name == _TABLE)
_update_table_state = sa.update(table_state).where(table_state.c.table_name == _TABLE)
# `histories` names at most this many tables in its query (SQL Server takes 2,100 parameters
# per statement); more are read as all tables
MAX_NAMED_TABLES = 500  # names in one IN list (also paths)
_all_fingerprints = sa.select(files.c.table_name, files.c.path, files.c.fingerprint)
_all_widths = sa.select(widths.c.table_name, widths.c.width)
_all_states = sa.select(
    table_state.c.table_name,
    table_state.c.watermark,
    table_state.c.narrowest,
    table_state.c.last_run_id,
)
# a run's outcome for a table it found nothing new in, unless another run wrote the table's
# state since the run read it (`_seen`: the last run then; that run's outcome is newer)
_unchanged_outcome = sa.update(table_state).where(  # where no other run wrote since
    table_state.c.table_name == _TABLE,
    sa.or_(
        table_state.c.last_run_id == sa.bindparam("_seen"),
        # this run's loader, stopped between its batches before it recorded the outcome
        sa.and_(
            table_state.c.last_run_id == sa.bindparam("_own"),
            table_state.c.last_status == "loading",
        ),
    ),
)


def ensure(conn: Connection) -> None:
    """Create the ledger tables that do not exist yet."""
    metadata.create_all(conn, checkfirst=True)


def loaded_fingerprints(conn: Connection, table: str) -> dict[str, str]:
    """Path → fingerprint of every file already loaded into `table`."""
    return {
        path: fingerprint for path, fingerprint in conn.execute(_fingerprints, {"_table": table})
    }


def first_loaded_files(conn: Connection, tables: Sequence[str]) -> dict[str, str]:
    """Table → the first path (by name) of the files loaded into it, for those of `tables`
    loaded from any file (asked for in slices of MAX_NAMED_TABLES)."""
    first: dict[str, str] = {}
    for start in range(0, len(tables), MAX_NAMED_TABLES):
        names = list(tables[start : start + MAX_NAMED_TABLES])
        query = (
            sa.select(files.c.table_name, sa.func.min(files.c.path))
            .where(files.c.table_name.in_(names))
            .group_by(files.c.table_name)
        )
        first.update((table, path) for table, path in conn.execute(query))
    return first


def loaded_sizes(conn: Connection, table: str, paths: Iterable[str]) -> dict[str, int]:
    """Path → size when loaded, of those of `paths` loaded into `table` (asked for in slices:
    SQL Server takes at most 2,100 parameters in a statement)."""
    paths, sizes = list(paths), {}
    for start in range(0, len(paths), MAX_NAMED_TABLES):
        names = paths[start : start + MAX_NAMED_TABLES]
        rows = conn.execute(_sizes, {"_table": table, "_paths": names})
        sizes.update((path, size) for path, size in rows)
    return sizes


def note_abandoned(conn: Connection, folders: Collection[str], run_id: str) -> None:
    """Remember `folders` as skipped abandoned (those not known yet)."""
    if not folders:
        return
    known = abandoned_folders(conn)
    rows = [{"folder": f, "run_id": run_id, "noted_at": now()} for f in folders if f not in known]
    if rows:
        conn.execute(sa.insert(abandoned), rows)


def abandoned_folders(conn: Connection) -> set[str]:
    """The timestamp folders a run skipped as abandoned."""
    return set(conn.execute(sa.select(abandoned.c.folder)).scalars())


def folders_loaded_from(conn: Connection, folders: Iterable[str]) -> set[str]:
    """Those of `folders` (paths of timestamp folders) that any table has a file loaded from:
    folders a run applied, as opposed to ones every run skipped."""
    return {folder for folder in folders if conn.execute(_file_under, _under(folder)).first()}


def _under(folder: str) -> dict[str, str]:
    """The LIKE pattern of every path under `folder`, "/" escaping its `/`, `%` and `_`."""
    escaped = folder.rstrip("/").replace("/", "//").replace("%", "/%").replace("_", "/_")
    return {"_prefix": f"{escaped}//%"}


def forget_files(conn: Connection, table: str, paths: Iterable[str]) -> None:
    """Drop ledger rows of files that are being loaded again (changed, or a snapshot reload),
    in slices (SQL Server's 2,100 parameters: a snapshot of more files failed for good)."""
    paths = list(paths)
    for start in range(0, len(paths), MAX_NAMED_TABLES):
        names = paths[start : start + MAX_NAMED_TABLES]
        conn.execute(_forget_paths, {"_table": table, "_paths": names})


def forget_table(conn: Connection, table: str, *, except_run: str) -> None:
    """Forget what earlier runs loaded into `table` (its file rows and watermark), so that
    `migrate --reload` loads every file again. Called inside each reloaded batch's own
    transaction: the first commit forgets everything at once, and a run stopped after it
    leaves the rest to load as new files (nothing of the table is ever half-forgotten). Rows
    recorded by `except_run` (this reload) stay. The narrowest width stays: it describes
    schemas, not loads."""
    conn.execute(sa.delete(files).where(files.c.table_name == table, files.c.run_id != except_run))
    conn.execute(
        sa.update(table_state).where(table_state.c.table_name == table).values(watermark=sa.null())
    )


def files_recorded_by(conn: Connection, table: str, run_id: str, batch_id: str) -> set[str]:
    """The paths of `table`'s files that `run_id` recorded as loaded by batch `batch_id`."""
    query = sa.select(files.c.path).where(
        files.c.table_name == table, files.c.run_id == run_id, files.c.batch_id == batch_id
    )
    return set(conn.execute(query).scalars())


def rejected_counts(conn: Connection) -> dict[str, int]:
    """Table → rows rejected in the files as they are loaded now (a reload starts over)."""
    query = sa.select(files.c.table_name, sa.func.sum(files.c.rows_rejected)).group_by(
        files.c.table_name
    )
    return {name: int(count or 0) for name, count in conn.execute(query)}


def loaded_by_run(conn: Connection, run_id: str) -> dict[str, tuple[int, int]]:
    """Table → (files, rows loaded) that `run_id` committed, as the ledger has them."""
    query = (
        sa.select(files.c.table_name, sa.func.count(), sa.func.sum(files.c.rows_loaded))
        .where(files.c.run_id == run_id)
        .group_by(files.c.table_name)
        .order_by(files.c.table_name)
    )
    return {name: (int(count), int(rows or 0)) for name, count, rows in conn.execute(query)}


def record_file(
    conn: Connection,
    *,
    run_id: str,
    table: str,
    batch_id: str,
    info: FileInfo,
    rows_loaded: int,
    rows_rejected: int,
) -> None:
    conn.execute(
        _insert_file,
        {
            "path": info.path,
            "table_name": table,
            "batch_id": batch_id,
            "size": info.size,
            "modified": info.modified,
            "etag": info.etag,
            "fingerprint": info.fingerprint,
            "rows_loaded": rows_loaded,
            "rows_rejected": rows_rejected,
            "run_id": run_id,
            "loaded_at": now(),
        },
    )


def rejected_since(
    conn: Connection, table: str, since: datetime, except_run: str
) -> dict[str, int]:
    """Rows of `table` rejected by runs that started at `since` or later and did not succeed
    (ended with rejects, failed, interrupted, or killed while `running`: the attempts a retry
    follows), other than `except_run`: run id → rows.

    A run that ended `completed_with_rejects` counts too: its answer (a 500) is what makes
    Data Factory retry, and a call cut at 230 s never reached its caller at all; the retry
    finds nothing new, and answering 200 would turn the activity green over rejected rows.
    A hand run that overlapped since `since` counts as well: reported twice, never lost."""
    since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)  # as stored
    attempts = sa.select(runs.c.run_id).where(
        runs.c.started_at >= since,
        runs.c.run_id != except_run,
        runs.c.status != "succeeded",
    )
    if conn.execute(attempts.limit(1)).first() is None:
        return {}  # nearly always: the rejects table (no index on table_name) is not read
    query = (
        sa.select(rejects.c.run_id, sa.func.count())
        .where(rejects.c.table_name == table, rejects.c.run_id.in_(attempts))
        .group_by(rejects.c.run_id)
    )
    return {run_id: count for run_id, count in conn.execute(query)}


def record_rejects(
    conn: Connection, *, run_id: str, table: str, file: str, row_rejects: list[RowReject]
) -> None:
    if row_rejects:
        conn.execute(
            _insert_rejects,
            [
                {
                    "run_id": run_id,
                    "table_name": table,
                    "file": file,
                    "row_number": r.row,
                    "column_name": r.column,
                    "reason": r.reason,
                    "raw_text": r.raw.replace("\x00", "\\x00"),  # PostgreSQL text cannot hold NUL
                }
                for r in row_rejects
            ],
        )


def record_ddl(conn: Connection, *, run_id: str, table: str, statements: list[str]) -> None:
    if statements:
        applied_at = now()
        conn.execute(
            sa.insert(ddl),
            [
                {"run_id": run_id, "table_name": table, "statement": s, "applied_at": applied_at}
                for s in statements
            ],
        )


RUNNING = "running"
# a run recorded running whose process is known to have ended (SIGKILL, out of memory, a
# crash): it recorded no end, and nothing of it is still going
KILLED = "killed"


def start_run(conn: Connection, run_id: str, started_at: datetime) -> None:
    """The run's row, `running`, with the process that runs it as its summary until it ends
    (`finish_run` writes the real one): `killed_runs` tells a run whose process died."""
    process = {"host": this_host(), "pid": os.getpid()}
    running = json.dumps({"run_id": run_id, "status": RUNNING, "process": process})
    conn.execute(
        sa.insert(runs).values(
            run_id=run_id, started_at=started_at, status=RUNNING, summary=running
        )
    )


def seen_status(status: str, summary: object) -> str:
    """A run's status as it stands: `killed` for one recorded `running` whose process is
    known to have ended (`process.has_ended`: on this host only, the same host name, PID
    namespace and boot; a run of another host, or one recorded by a version that kept no
    process, stays `running`). A bare host name (recorded where Linux did not say more) is
    this host only where this host is named so too."""
    if status != RUNNING or not summary:
        return status
    try:
        process = json.loads(str(summary)).get("process") or {}
        host, pid = str(process["host"]), int(process["pid"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return status
    return KILLED if has_ended(host, pid, bare_name_is_here=False) else status


def killed_runs(conn: Connection, run_ids: Collection[str]) -> set[str]:
    """Those of `run_ids` recorded running whose process has ended (`seen_status`)."""
    ids = sorted(set(run_ids))
    killed = set()
    for start in range(0, len(ids), MAX_NAMED_TABLES):
        named = ids[start : start + MAX_NAMED_TABLES]
        query = sa.select(runs.c.run_id, runs.c.summary).where(
            runs.c.run_id.in_(named), runs.c.status == RUNNING
        )
        rows = conn.execute(query)
        killed |= {row.run_id for row in rows if seen_status(RUNNING, row.summary) == KILLED}
    return killed


def finish_run(conn: Connection, run_id: str, status: str, summary_json: str) -> None:
    conn.execute(
        sa.update(runs)
        .where(runs.c.run_id == run_id)
        .values(finished_at=now(), status=status, summary=summary_json)
    )


def run_exists(conn: Connection, run_id: str) -> bool:
    """Whether the ledger has a run of this id."""
    if not sa.inspect(conn).has_table(runs.name):
        return False
    return conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is not None


def list_rejects(conn: Connection, run_id: str | None = None) -> list[dict[str, object]]:
    query = sa.select(rejects).order_by(rejects.c.id)
    if run_id:
        query = query.where(rejects.c.run_id == run_id)
    return [dict(row) for row in conn.execute(query).mappings()]


def _merge_table_state(conn: Connection, table: str, values: dict[str, object]) -> None:
    """Update the table's state row, inserting it the first time (portable, no MERGE).

    A None is written as NULL in the statement, never bound (`_with_nulls`): mssql-python
    asks the server the type of a NULL parameter (`sp_describe_undeclared_parameters`),
    which Babelfish fails on such an UPDATE, and the transaction was rolled back, the batch
    whose watermark it wrote with it, without an error reaching turbodata (found by the
    live suite). An INSERT leaves the column out."""
    values = {**values, "updated_at": now()}
    bound = {name: value for name, value in values.items() if value is not None}
    update = _with_nulls(_update_table_state, frozenset(values.keys() - bound.keys()))
    if conn.execute(update, {**bound, "_table": table}).rowcount == 0:
        conn.execute(_insert_table_state, {"table_name": table, **bound})


@functools.lru_cache(maxsize=64)
def _with_nulls(update: sa.Update, nulls: frozenset[str]) -> sa.Update:
    """`update` setting the columns `nulls` to NULL, written in the statement."""
    return update.values(dict.fromkeys(sorted(nulls), sa.null())) if nulls else update


def set_watermark(conn: Connection, table: str, batch_id: str, run_id: str) -> None:
    """Record `batch_id` as applied, in the batch's own transaction, the table as `loading`
    by `run_id` until the run records its outcome: a run killed between two batches leaves
    it so (it showed the run before's `loaded` beside the killed run's id, found by review)."""
    values = {"watermark": batch_id, "last_run_id": run_id, "last_status": LOADING}
    _merge_table_state(conn, table, values | {"last_error": None})


def watermark(conn: Connection, table: str) -> str | None:
    return conn.execute(_watermark, {"_table": table}).scalar_one_or_none()


@dataclass(frozen=True)
class TableHistory:
    loaded: dict[str, str] = field(default_factory=dict)  # path → fingerprint
    watermark: str | None = None
    last_run_id: str | None = None  # the last run that recorded the table's outcome
    widths: frozenset[int] = frozenset()  # every width its applied batches had (`note_width`)

    @property
    def narrowest(self) -> int | None:
        return min(self.widths, default=None)


def history(conn: Connection, table: str, *, widths: bool = True) -> TableHistory:
    """`widths=False`: without the widths (a dry run, whose ledger may predate their table)."""
    state = conn.execute(_state, {"_table": table}).one_or_none()
    known = conn.execute(_widths_of, {"_table": table}).scalars().all() if widths else ()
    return _table_history(loaded_fingerprints(conn, table), state, known)


def _table_history(
    loaded: dict[str, str], state: Sequence[Any] | None, known_widths: Iterable[int]
) -> TableHistory:
    """A table's history from its file rows, its state row (watermark, narrowest, last
    run) and its widths; a ledger before `widths` kept the narrowest width only."""
    watermark_value, narrowest_value, last_run = state if state else (None, None, None)
    every = {*known_widths, *([narrowest_value] if narrowest_value is not None else [])}
    return TableHistory(loaded, watermark_value, last_run, frozenset(every))


def histories(conn: Connection, tables: Collection[str] | None = None) -> dict[str, TableHistory]:
    """`history` of every table the ledger knows (or of `tables` only: a run of a few tables
    need not read every table's files), in two queries; tables absent here have an empty
    history. Read outside the tables' leases it is a snapshot: enough to tell that a table
    has nothing new (the ledger only gains files, outside `--reload`), but a table that loads
    must read its own `history` again under its lease."""
    file_rows, state_rows, width_rows = _all_fingerprints, _all_states, _all_widths
    if tables is not None and len(tables) <= MAX_NAMED_TABLES:
        file_rows = file_rows.where(files.c.table_name.in_(list(tables)))
        state_rows = state_rows.where(table_state.c.table_name.in_(list(tables)))
        width_rows = width_rows.where(widths.c.table_name.in_(list(tables)))
    loaded: dict[str, dict[str, str]] = {}
    for table, path, fingerprint in conn.execute(file_rows):
        loaded.setdefault(table, {})[path] = fingerprint
    known: dict[str, set[int]] = {}
    for table, width in conn.execute(width_rows):
        known.setdefault(table, set()).add(width)
    states = {row[0]: tuple(row[1:]) for row in conn.execute(state_rows)}
    return {
        table: _table_history(loaded.get(table, {}), states.get(table), known.get(table, ()))
        for table in {*loaded, *known, *states}
    }


def snapshot_layout(conn: Connection, table: str) -> list[str] | None:
    """The columns of the metadata the table's last snapshot loaded with (`note_layout`);
    None when none is recorded (a ledger older than the record, a dry run's)."""
    if not sa.inspect(conn).has_table(layouts.name):
        return None
    return _recorded_layout(conn, table)


def _recorded_layout(conn: Connection, table: str) -> list[str] | None:
    query = sa.select(layouts.c.columns).where(layouts.c.table_name == table)
    text = conn.execute(query).scalar_one_or_none()
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class LoadedWith:
    """How a table is loaded (`load_options`)."""

    key: tuple[str, ...]
    deletes: str  # "soft" or "hard"


def loaded_with(conn: Connection, table: str) -> LoadedWith | None:
    """How the table was loaded; None: no run recorded it (or a ledger from before)."""
    query = sa.select(load_options.c.key_columns, load_options.c.deletes)
    row = conn.execute(query.where(load_options.c.table_name == table)).one_or_none()
    return None if row is None else LoadedWith(tuple(json.loads(row[0])), row[1])


def note_loaded_with(conn: Connection, table: str, loaded: LoadedWith) -> None:
    conn.execute(sa.delete(load_options).where(load_options.c.table_name == table))
    values = {"key_columns": json.dumps(list(loaded.key)), "deletes": loaded.deletes}
    conn.execute(load_options.insert(), {"table_name": table, **values})


def note_layout(conn: Connection, table: str, columns: Sequence[str]) -> None:
    """Remember the columns of the metadata a snapshot of the table loaded with (in a run,
    whose ledger has the table: no catalog query per batch)."""
    text = json.dumps(list(columns))
    recorded = _recorded_layout(conn, table)
    if recorded is None:
        conn.execute(layouts.insert(), {"table_name": table, "columns": text})
    elif recorded != list(columns):
        where = layouts.c.table_name == table
        conn.execute(sa.update(layouts).where(where).values(columns=text))


def note_width(conn: Connection, table: str, width: int) -> None:
    """Remember that rows of `width` columns were valid for the table (columns only append)."""
    if conn.execute(_has_width, {"_table": table, "_width": width}).first() is None:
        conn.execute(widths.insert(), {"table_name": table, "width": width})


def set_table_outcome(
    conn: Connection, table: str, run_id: str, status: str, error: str | None
) -> None:
    error = mask_secrets(error) if error else error
    _merge_table_state(
        conn, table, {"last_run_id": run_id, "last_status": status, "last_error": error}
    )


def set_unchanged_outcomes(conn: Connection, run_id: str, last_runs: dict[str, str]) -> None:
    """Record `unchanged` as `run_id`'s outcome for the tables in `last_runs` (table → the
    `last_run_id` its state row had when the run read it), in one statement: what
    `set_table_outcome` writes for each. A table whose state another run wrote since keeps
    that run's outcome, which is newer."""
    set_outcomes_if_unchanged(
        conn, run_id, {table: (seen, "unchanged", None) for table, seen in last_runs.items()}
    )


def set_outcomes_if_unchanged(
    conn: Connection, run_id: str, outcomes: dict[str, tuple[str, str, str | None]]
) -> None:
    """Record `run_id`'s outcomes, table → (the `last_run_id` its state row had when the run
    read it, status, error), in one statement, where that row still has it: a table whose
    state another run (or this run's loader) wrote since keeps that outcome, which is newer.
    A table without a state row gets none. No error is written as NULL, not bound (see
    `_merge_table_state`): the outcomes with one, and those without, are two statements."""
    rows = [
        {
            "last_run_id": run_id,
            "last_status": status,
            "last_error": mask_secrets(error) if error else error,
            "updated_at": now(),
            "_table": table,
            "_seen": seen,
            "_own": run_id,
        }
        for table, (seen, status, error) in outcomes.items()
    ]
    if with_error := [row for row in rows if row["last_error"] is not None]:
        conn.execute(_unchanged_outcome, with_error)
    without = [
        {name: value for name, value in row.items() if name != "last_error"}
        for row in rows
        if row["last_error"] is None
    ]
    if without:
        conn.execute(_with_nulls(_unchanged_outcome, frozenset({"last_error"})), without)


def table_states(conn: Connection) -> dict[str, dict[str, object]]:
    rows = conn.execute(sa.select(table_state).order_by(table_state.c.table_name)).mappings()
    return {row["table_name"]: dict(row) for row in rows}


@dataclass
class LedgerNames:
    """How the ledger names a table: with its schema when one other than the connection's
    default is given, so one lake loaded into two schemas keeps two histories."""

    engine: Engine
    db_schema: str | None

    def __call__(self, table: str) -> str:
        if not self.db_schema or self.db_schema == self._default_schema:
            return table
        return f"{self.db_schema}.{table}"

    @functools.cached_property
    def _default_schema(self) -> str | None:
        with self.engine.connect() as conn:
            return sa.inspect(conn).default_schema_name


def files_to_load(
    batch: TableBatch, loaded: dict[str, str], gone: Sequence[str] = (), *, keyed: bool = True
) -> list[DataFile]:
    """New or changed files; a snapshot with anything new, changed or `gone` reloads all its
    files, and so does an incremental folder of a keyed table with a loaded file that
    changed, or a new file beside loaded ones. A resolved Delta batch loads all its files
    (its version, not its files, says what is new: see `TableLoader._resolve_versions`).

    Why the whole folder: its rows are ranked together (one winner per key). Read alone, a
    file that grew, or one that turned up late (files are written in any order), would
    bring back the upsert of a key that another of the folder's files deletes (F&O writes
    deletes to files of their own; found by review, for grown and then for new files)."""
    if batch.version is not None:
        return list(batch.files)
    changed = [f for f in batch.files if loaded.get(f.info.path) != f.info.fingerprint]
    if not changed and not gone:
        return []
    only_new = not any(f.info.path in loaded for f in changed)
    # new files only: a keyless table appends their rows; so does a folder nothing was
    # loaded from yet (they are all of its files)
    if batch.mode is LoadMode.APPEND and only_new:
        folder_new = not any(f.info.path in loaded for f in batch.files)
        if not keyed or folder_new:
            return changed
    return list(batch.files)


def gone_from_snapshot(batches: Sequence[TableBatch], loaded: dict[str, str]) -> list[str]:
    """The files the ledger has as loaded into a snapshot table (a classic model.json entity,
    a Parquet folder) that none of its batches holds any more: the table still has their
    rows, which the snapshot no longer has, so it is loaded again (and they are forgotten).
    Not FULL_REFRESH tables (option-set labels): each folder's file replaces the last one's,
    so an older folder's file is superseded, not gone."""
    if not batches or any(
        b.mode is not LoadMode.SNAPSHOT or b.version is not None for b in batches
    ):
        return []
    present = {f.info.path for batch in batches for f in batch.files}
    return sorted(path for path in loaded if path not in present)
