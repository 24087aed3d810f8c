"""Which producer layout a lake has, and the batches of files to load, in apply order.

* **Incremental update folders** (Synapse Link): timestamp folders in time order, each with its
  own model.json; the folder named in `Changelog/changelog.info` is still being written. An
  older folder still without model.json is waited for during a settle delay (the plan stops
  there), then skipped as abandoned.
* **model.json at the root** (classic Synapse Link / Export to Data Lake, CDM folders): one
  snapshot batch per table from the listed partitions.
* **CDM manifests** (`*.manifest.cdm.json`): one snapshot batch per entity.
* **Entity documents without a manifest** (F&O Export to Data Lake): `<Entity>.cdm.json`
  next to a `<Entity>/` folder of CSVs.

Delta Lake and Parquet tables (`turbodata.lake.delta.discovery`) are found next to any of these:
Synapse Link's `deltalake/<table>_partitioned`, a Fabric lakehouse's `Tables/<table>`, plain
Parquet folders. A table exported both ways loads from Delta (see `_add_typed_tables`).

Option-set metadata (`OptionsetMetadata/*.csv`, lake-format.md section 9) becomes five
full-refresh tables named like the files, each taken from the newest processed timestamp
folder holding it (incremental layout) or from the root (model.json layout), planned after
the data tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from turbodata.lake.delta import discovery as typed_tables
from turbodata.lake.storage import Lake, join, read_bytes
from turbodata.metadata import manifest
from turbodata.metadata import model_json as metadata
from turbodata.model import (
    CdmType,
    Column,
    CsvDialect,
    DataFile,
    FileInfo,
    LoadMode,
    Model,
    Partition,
    Problem,
    TableBatch,
    TableSchema,
)

NON_DATA_FOLDERS = frozenset(
    {
        "Changelog",
        "Microsoft.Athena.TrickleFeedService",
        "OptionsetMetadata",
        "EntitySyncFailure",
        "archive",
        "deltalake",
        "enumtranslation",
        "resolved",
    }
)
TRICKLE_FEED = "Microsoft.Athena.TrickleFeedService"
CHANGELOG = "Changelog/changelog.info"  # names the folder being written
SETTLE = timedelta(minutes=15)  # how long a folder may lack model.json after the next one starts
OPTIONSET_FOLDER = "OptionsetMetadata"
RESERVED_PREFIX = "_turbodata"  # turbodata's ledger tables (ledger.PREFIX), any case


def _fixed_schema(name: str, *columns: tuple[str, CdmType]) -> TableSchema:
    return TableSchema(name, tuple(Column(n, t, str(t)) for n, t in columns))


_STR, _INT, _BOOL = CdmType.STRING, CdmType.INT64, CdmType.BOOLEAN
# lake-format.md section 9: the column order of the headerless files, used when no model.json
# describes them; in load order. Labels and names are unbounded strings.
OPTIONSET_SCHEMAS: dict[str, TableSchema] = {
    schema.name: schema
    for schema in (
        _fixed_schema(
            "OptionsetMetadata",
            ("EntityName", _STR),
            ("OptionSetName", _STR),
            ("Option", _INT),
            ("IsUserLocalizedLabel", _BOOL),
            ("LocalizedLabelLanguageCode", _INT),
            ("LocalizedLabel", _STR),
        ),
        _fixed_schema(
            "GlobalOptionsetMetadata",
            ("OptionSetName", _STR),
            ("Option", _INT),
            ("IsUserLocalizedLabel", _BOOL),
            ("LocalizedLabelLanguageCode", _INT),
            ("LocalizedLabel", _STR),
            ("GlobalOptionSetName", _STR),
            ("EntityName", _STR),
            ("ExternalValue", _STR),  # F&O environments only: optional, NULL when absent
        ),
        _fixed_schema(
            "StateMetadata",
            ("EntityName", _STR),
            ("State", _INT),
            ("IsUserLocalizedLabel", _BOOL),
            ("LocalizedLabelLanguageCode", _INT),
            ("LocalizedLabel", _STR),
        ),
        _fixed_schema(
            "StatusMetadata",
            ("EntityName", _STR),
            ("State", _INT),
            ("Status", _INT),
            ("IsUserLocalizedLabel", _BOOL),
            ("LocalizedLabelLanguageCode", _INT),
            ("LocalizedLabel", _STR),
        ),
        _fixed_schema(
            "TargetMetadata",
            ("EntityName", _STR),
            ("AttributeName", _STR),
            ("ReferencedEntity", _STR),
            ("ReferencedAttribute", _STR),
        ),
    )
}
OPTIONSET_TABLES = tuple(OPTIONSET_SCHEMAS)
_OPTIONAL_TRAILING = {"GlobalOptionsetMetadata": 1}  # fixed-schema columns a row may lack
_OPTIONSET_KEYS = frozenset(name.casefold() for name in OPTIONSET_TABLES)

_FOLDER_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2})[.:](\d{2})[.:](\d{2})(?:[.:,](\d{1,7}))?(Z|[+-]\d{2}[:.]?\d{2})?$"
)


@dataclass
class LakePlan:
    """Everything a run would load, in order, and what it cannot load and why."""

    layout: str
    batches: list[TableBatch] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # skipped folders and such, for the log
    # the notes that are logged as warnings: skipped for a reason to look at, metadata anomalies
    warnings: list[str] = field(default_factory=list)
    # the row widths each table's schemas allow: a row may be as short as an older schema
    # of its table, never in between (columns only append; lake-format.md 4.2)
    row_widths: dict[str, set[int]] = field(default_factory=dict)
    # snapshot tables its metadata describes with no data file (no table, unless loaded before)
    dataless: list[str] = field(default_factory=list)
    # of those, the ones whose `<table>/` folder holds CSVs all the same (the live files of a
    # classic lake): how many
    unlisted_csvs: dict[str, int] = field(default_factory=dict)
    # timestamp folders skipped as abandoned (no model.json long after the next one started):
    # the ledger keeps them, so that one whose model.json turns up is still known as such
    abandoned: list[str] = field(default_factory=list)
    # the timestamp folder that stops the plan (`_stop_at`): it and every later one wait
    stopped_at: str | None = None

    @property
    def known_tables(self) -> list[str]:
        """The tables an option may name: planned or failed, and those whose metadata lists
        no file."""
        return [*self.tables, *self.dataless]

    def warn(self, *notes: str) -> None:
        """Notes that are logged as warnings (they are in `notes` too)."""
        self.notes += notes
        self.warnings += notes

    @property
    def tables(self) -> list[str]:
        names = [b.table for b in self.batches] + [p.table for p in self.problems if p.table]
        return list(dict.fromkeys(names))


def folder_time(name: str) -> datetime | None:
    """The time a timestamp folder name stands for (`2024-05-01T10.15.00Z`, colons, millis),
    as a naive UTC datetime."""
    match = _FOLDER_TIME.match(name)
    if not match:
        return None
    day, hour, minute, second, fraction, zone = match.groups()
    try:
        time = datetime.fromisoformat(
            f"{day}T{hour}:{minute}:{second}.{(fraction or '0').ljust(6, '0')[:6]}"
        )
    except ValueError:
        return None
    if zone and zone != "Z":  # an explicit offset: the same instant in UTC
        digits = zone[1:].replace(":", "").replace(".", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        time -= offset if zone[0] == "+" else -offset
    return time


def discover(lake: Lake, *, settle: timedelta = SETTLE, now: datetime | None = None) -> LakePlan:
    """Look at the lake root and plan the batches of the layout found there.

    `settle` and `now` (default: the current time; naive values are UTC) decide whether a
    timestamp folder without model.json is still being finished or was abandoned (see
    `_incremental`).
    """
    root = lake.list_dir("")
    root_files = {f.path: f for f in root.files}
    timestamp_folders = [name for name in root.folders if folder_time(name)]
    if timestamp_folders:
        plan = _incremental(
            lake, timestamp_folders, "model.json" in root_files, settle, _utc_naive(now)
        )
    elif "model.json" in root_files:
        plan = _model_json_snapshot(lake)
        _refuse_tables_only_manifests_declare(plan, lake, _manifests(root_files))
    elif manifests := _manifests(root_files):
        plan = _manifest_snapshot(lake, manifests)
    else:
        plan = _entity_documents(lake)
    _add_typed_tables(plan, typed_tables.find_tables(lake, _csv_layout_folder))
    _refuse_reserved_names(plan)
    _refuse_case_twins(plan)
    _refuse_shared_files(plan)
    _note_row_widths(plan)
    return plan


def _csv_layout_folder(name: str) -> bool:
    """Root folders of the CSV layouts, never Delta or Parquet tables themselves."""
    return folder_time(name) is not None or name in NON_DATA_FOLDERS


def _add_typed_tables(plan: LakePlan, found: typed_tables.Found) -> None:
    """Delta and Parquet tables join the plan; the layout names every kind found.

    Design: a table exported both as CSV and as Delta (Synapse Link writes CSV folders and
    converts them into `deltalake/`) loads from Delta only, with a note: loading both would
    apply every change twice, and the Delta table is the converted, consolidated state.
    """
    _mixed_folders(plan, found.mixed)
    if not found.kinds:
        return
    typed = {b.table.casefold() for b in found.batches} | {
        p.table.casefold() for p in found.problems if p.table
    }
    csv_also = sorted({b.table for b in plan.batches if b.table.casefold() in typed})
    for table in csv_also:
        plan.notes.append(f"{table}: exported as Delta too; loaded from Delta, CSV folders skipped")
    plan.batches = [b for b in plan.batches if b.table.casefold() not in typed]
    kinds = [k for k in ("delta", "parquet") if k in found.kinds]
    has_csv = bool(plan.batches or plan.problems or csv_also)
    plan.layout = " + ".join(([plan.layout] if has_csv else []) + kinds)
    plan.batches += found.batches
    plan.problems += found.problems
    if "parquet" in found.kinds:
        # beside Parquet tables, a folder emptied of files is one whose data the lake lists no
        # file of (loaded before, it fails: left out quietly, it kept rows the lake no longer
        # has); elsewhere an empty folder is no table (an entity removed from model.json)
        known = {table.casefold() for table in plan.known_tables}
        plan.dataless += [table for table in found.empty if table.casefold() not in known]
    tables = ", ".join(b.table for b in found.batches) or "none loadable"
    plan.notes.append(f"layout {plan.layout}: Delta/Parquet tables {tables}")


def _mixed_folders(plan: LakePlan, folders: list[str]) -> None:
    """Folders holding Parquet and CSV files: a CSV table's, whose Parquet files are not
    read (a warning), or else a Parquet table's that a CSV file keeps from loading (its
    problem: left out quietly, the table would just stop changing)."""
    csv_tables = {b.table.casefold() for b in plan.batches}
    for folder in folders:
        table = typed_tables.table_name(folder)
        if table.casefold() in csv_tables:
            plan.warn(f"{folder}: its Parquet files are not read (a CSV table's folder)")
        else:
            plan.problems.append(
                Problem(
                    table,
                    f"{folder} holds Parquet and CSV files: it is read as no table (a Parquet"
                    " table's folder holds no CSV file; move them out)",
                    file=folder,
                )
            )


def _refuse_case_twins(plan: LakePlan) -> None:
    """Fail the tables whose names differ only in case (`account` in one folder, `Account`
    in another). SQL Server and SQLite have one table for both, which each name would load
    on its own, with its own history, out of folder order; a rename cannot be told from two
    tables. None of them loads until the lake names the table one way."""
    by_folded: dict[str, set[str]] = {}
    for batch in plan.batches:
        by_folded.setdefault(batch.table.casefold(), set()).add(batch.table)
    groups = [sorted(names) for names in by_folded.values() if len(names) > 1]
    if not groups:
        return
    twins = {name for group in groups for name in group}
    plan.batches = [b for b in plan.batches if b.table not in twins]
    for group in groups:
        names = " and ".join(repr(name) for name in group)
        for table in group:
            plan.problems.append(
                Problem(
                    table,
                    f"tables {names} differ only in case: they would load into one table out"
                    " of order, so neither is loaded (name the entity one way in every folder)",
                )
            )


def _refuse_shared_files(plan: LakePlan) -> None:
    """Fail the tables whose metadata claims the same data file (a manifest pattern
    `Account*.csv` that also matches `AccountExt_001.csv`, two entities listing one
    partition): its rows would load into each of them, the run succeeding (found by review).
    None of them loads until the metadata gives each file one table."""
    tables_of: dict[str, set[str]] = {}
    for batch in plan.batches:
        for data_file in batch.files:
            tables_of.setdefault(data_file.info.path, set()).add(batch.table)
    shared = {path: sorted(tables) for path, tables in tables_of.items() if len(tables) > 1}
    if not shared:
        return
    claimed: dict[str, str] = {}  # table → the first shared file it claims
    for path, tables in sorted(shared.items()):
        for table in tables:
            claimed.setdefault(table, path)
    plan.batches = [b for b in plan.batches if b.table not in claimed]
    for table, path in sorted(claimed.items()):
        others = ", ".join(t for t in shared[path] if t != table)
        plan.problems.append(
            Problem(
                table,
                f"{path} is claimed by the metadata of {table} and of {others}: its rows would"
                " load into each, so none of them is loaded (give each file one table)",
            )
        )


def _refuse_reserved_names(plan: LakePlan) -> None:
    """Fail every table whose name starts with RESERVED_PREFIX, ignoring case.

    Design: such an entity is refused, not renamed. Loading it would ALTER and delete from
    turbodata's own ledger tables (`_turbodata_files`...), so unchanged files would load
    again; a renamed copy would be a table nobody asked for, under a name no one expects.
    """
    reserved = {b.table: b.schema.source for b in plan.batches if _is_reserved(b.table)}
    if not reserved:
        return
    plan.batches = [b for b in plan.batches if b.table not in reserved]
    for table, source in reserved.items():
        plan.problems.append(
            Problem(
                table,
                f"entity {table!r} in {source or 'the lake'}: names starting with"
                f" {RESERVED_PREFIX} are reserved for turbodata's ledger tables, so the"
                " table is not loaded (rename the entity to load it)",
                file=source or None,
            )
        )


def _is_reserved(table: str) -> bool:
    return table.casefold().startswith(RESERVED_PREFIX)


# ------------------------------------------------------------------ incremental update folders


def _incremental(
    lake: Lake, folders: list[str], has_root_model: bool, settle: timedelta, now: datetime
) -> LakePlan:
    """Closed folders in time order; each option-set table's newest copy planned.

    With a Changelog, a folder without model.json is either still being finished (its next
    folder started less than `settle` before `now`: stop here, it and every later folder wait
    for a later run) or abandoned (skipped: Synapse Link re-commits its rows into a later
    folder). Without a Changelog such a folder is read with the root model.json; without
    either it cannot be read: it waits as one still being finished, then stops the plan as a
    problem of the run (skipped, later folders moved the watermark past it, and its rows
    never loaded, found by review).

    Design: a folder that cannot be read (its model.json truncated or invalid, the root
    model.json it needs unreadable, a folder that cannot be listed) stops the plan there, like
    a folder still being finished, and is a problem of the run (non-zero exit) unless it may
    still be being written. Skipping it instead would let later folders move the watermark
    past it, and once repaired it would count as late and never load.
    """
    plan = LakePlan("incremental")
    has_changelog = lake.stat(CHANGELOG) is not None
    in_progress = _in_progress_folder(lake) if has_changelog else None
    in_progress_time = folder_time(in_progress) if in_progress else None
    root_model = _read_model(lake, "model.json", plan) if has_root_model else None
    ordered = sorted(folders, key=lambda n: folder_time(n) or datetime.min)
    starts = {t for t in map(folder_time, folders) if t is not None}
    if in_progress_time is not None:
        starts.add(in_progress_time)
    # each option-set table's newest copy: its folder, that folder's model, the file (a
    # folder with some of the files hid the others' tables: found by review)
    newest: dict[str, tuple[str, Model | None, FileInfo]] = {}
    columns_before: dict[str, tuple[str, ...]] = {}  # table → its columns in the last folder read
    for name in ordered:
        time = folder_time(name)
        if in_progress_time and time and time >= in_progress_time:
            if time > in_progress_time and _has_model(lake, name):
                plan.warn(
                    f"{name}: is newer than {in_progress}, which Changelog/changelog.info"
                    " names as the folder being written, and has its model.json (a stale"
                    " changelog?): skipped until the changelog moves past it"
                )
            else:
                plan.notes.append(
                    f"{name}: in progress (named in Changelog/changelog.info), skipped"
                )
            continue
        next_start = min((t for t in starts if time and t > time), default=None)
        settling = has_changelog and (next_start is None or now - next_start < settle)
        if _has_model(lake, name):
            model = _folder_model(lake, name, plan, settling)
            if model is None:
                break
        elif has_changelog:
            if settling or next_start is None:
                plan.notes.append(
                    f"waiting for model.json in {name}: the folder may still be closing; "
                    "it and later folders are left for a later run"
                )
                break
            plan.warn(
                f"{name}: no model.json {_age(now - next_start)} after the next folder started: "
                "abandoned (Synapse Link re-commits its rows into a later folder), skipped"
            )
            plan.abandoned.append(name)
            continue
        elif has_root_model:
            if root_model is None:
                _stop_at(
                    plan, name, f"{name} has no model.json and the root model.json cannot be read"
                )
                break
            plan.notes.append(f"{name}: no model.json and no Changelog; using the root model.json")
            model = root_model
        else:
            if next_start is None or now - next_start < settle:
                plan.notes.append(
                    f"waiting for model.json in {name}: the folder may still be closing; "
                    "it and later folders are left for a later run"
                )
            else:
                _stop_at(
                    plan,
                    name,
                    f"{name} has no model.json, the lake no root model.json to read it with,"
                    " and no Changelog that could say it was abandoned",
                )
            break
        try:
            files = {f.path: f for f in lake.iter_files(name)}
        except OSError as error:
            _stop_at(plan, name, f"{name} cannot be listed ({error})")
            break
        batches = _folder_batches(lake, name, model, files, plan)
        plan.batches += [replace(b, previous_columns=columns_before.get(b.table)) for b in batches]
        columns_before |= {t: tuple(s.column_names) for t, s in model.tables.items()}
        # a table missing from the folder's model.json was read with its trickle-feed schema
        columns_before |= {b.table: tuple(b.schema.column_names) for b in batches}
        for table, info in _optionset_files(files, name).items():
            newest[table] = (name, model, info)
    by_folder: dict[str, tuple[Model | None, dict[str, FileInfo]]] = {}
    for table, (name, model, info) in newest.items():
        by_folder.setdefault(name, (model, {}))[1][table] = info
    for name, (model, optionsets) in by_folder.items():
        _add_optionsets(plan, name, optionsets, (model, root_model))
    return plan


def _folder_model(lake: Lake, folder: str, plan: LakePlan, settling: bool) -> Model | None:
    """The folder's model.json; None when it cannot be read, and the plan stops there (a
    note while the folder may still be being written, else a problem of the run)."""
    path = join(folder, "model.json")
    try:
        model = metadata.parse_model_json(read_bytes(lake, path), path)
    except (metadata.SchemaUnavailable, OSError) as error:
        if settling:
            plan.notes.append(
                f"waiting for {path} to be complete ({error}): the folder may still be"
                " closing; it and later folders are left for a later run"
            )
        else:
            _stop_at(plan, folder, str(error))
        return None
    plan.warn(*model.warnings)
    return model


def _stop_at(plan: LakePlan, folder: str, reason: str) -> None:
    plan.stopped_at = folder
    plan.problems.append(
        Problem(
            None,
            f"{reason}: folder {folder} and every later folder are left unloaded until it can"
            " be read (the next run then loads them)",
        )
    )


def _utc_naive(moment: datetime | None) -> datetime:
    """`moment` (default: now) as a naive UTC datetime, comparable with `folder_time`."""
    if moment is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _has_model(lake: Lake, folder: str) -> bool:
    info = lake.stat(join(folder, "model.json"))
    return info is not None and info.size > 0


def _in_progress_folder(lake: Lake) -> str | None:
    return read_bytes(lake, CHANGELOG).decode("utf-8-sig").strip() or None


def _read_model(lake: Lake, path: str, plan: LakePlan) -> Model | None:
    try:
        model = metadata.parse_model_json(read_bytes(lake, path), path)
    except metadata.SchemaUnavailable as error:
        plan.warn(str(error))
        return None
    plan.warn(*model.warnings)
    return model


def _folder_batches(
    lake: Lake, folder: str, model: Model, files: dict[str, FileInfo], plan: LakePlan
) -> list[TableBatch]:
    csv_folders = sorted(
        {
            path.split("/")[1]
            for path in files
            if path.endswith(".csv")
            and path.count("/") >= 2
            and path.split("/")[1] not in NON_DATA_FOLDERS
        }
    )
    batches = []
    by_folder = csvs_by_folder(files)
    for table in sorted(set(csv_folders) | _tables_with_partitions(model)):
        if table.casefold() in _OPTIONSET_KEYS:  # planned by _add_optionsets, never as data
            continue
        schema = model.tables.get(table) or _trickle_feed_schema(lake, folder, table, plan)
        if isinstance(schema, Problem):
            plan.problems.append(schema)
            continue
        if schema is None:
            plan.problems.append(
                Problem(table, f"{folder}: CSV files but no metadata for this table", file=folder)
            )
            continue
        if schema.problem:  # e.g. no attributes: its columns are unknown, never guessed
            plan.problems.append(
                Problem(table, f"{schema.source}: {schema.problem}", file=schema.source)
            )
            continue
        if not _initial_sync_completed(schema):
            # A closed folder's rows are changes like any others, and the folders after it
            # bring the rest of the sync; skipped, they were lost for good, as the folder's
            # model.json never changes again (found by review).
            plan.warn(
                f"{folder}/{table}: initial sync not completed in its model.json; the rows"
                " the folder holds are loaded (the folders after it bring the rest)"
            )
        data_files, missing = _partition_files(
            schema, files, join(folder, table), plan, unlisted=True, by_folder=by_folder
        )
        if data_files or missing:  # a listed file missing holds the table (`TableLoader`)
            batches.append(
                TableBatch(
                    schema.name, folder, schema, data_files, LoadMode.APPEND, missing=missing
                )
            )
    _warn_of_stray_csvs(folder, files, batches, plan)
    return batches


def _warn_of_stray_csvs(
    folder: str, files: dict[str, FileInfo], batches: list[TableBatch], plan: LakePlan
) -> None:
    """CSVs of the folder that no table takes (beside the table folders, or below one, and
    not listed): not the export's partitions, so not loaded, but never passed over silently."""
    taken = {data_file.info.path for batch in batches for data_file in batch.files}
    stray = [
        path
        for path in files
        if path.endswith(".csv")
        and path not in taken
        and path.count("/") != 2  # directly in a table folder: that table's, or its problem
        and path.split("/")[1] not in NON_DATA_FOLDERS
    ]
    if stray:
        plan.warn(
            f"{folder}: {len(stray)} CSV file(s) that no table takes (not in a table's folder"
            f" nor listed in model.json) were not loaded: {', '.join(sorted(stray)[:10])}"
            + (" …" if len(stray) > 10 else "")
        )


def _tables_with_partitions(model: Model) -> set[str]:
    return {name for name, schema in model.tables.items() if schema.partitions}


def _trickle_feed_schema(
    lake: Lake, folder: str, table: str, plan: LakePlan
) -> TableSchema | Problem | None:
    """The per-table model.json, for a folder model.json that omits a table with CSVs: the
    folder's own, else the root's. A folder's own that cannot be read (cut short while it is
    written) is a problem of the table, not a reason to take the root's: that one describes
    the table as it is now, which may type the folder's columns otherwise (found by review)."""
    for base in (folder, ""):
        path = join(base, TRICKLE_FEED, f"{table}-model.json")
        if lake.stat(path) is not None:
            model = _read_model(lake, path, plan)
            if model and table in model.tables:
                plan.notes.append(f"{folder}/{table}: schema taken from {path}")
                return model.tables[table]
            if base == folder:
                return Problem(
                    table,
                    f"{path} does not describe {table} (unreadable, or being written): the"
                    " folder's rows are not loaded with another schema; the next run reads it"
                    " again",
                    file=path,
                )
    return None


def _initial_sync_completed(schema: TableSchema) -> bool:
    state = schema.annotations.get("Athena:InitialSyncState")
    return state is None or state.strip().casefold() == "completed"


# ------------------------------------------------------------------------- snapshot layouts


def _model_json_snapshot(lake: Lake) -> LakePlan:
    plan = LakePlan("model.json")
    try:
        model = metadata.parse_model_json(read_bytes(lake, "model.json"), "model.json")
    except metadata.SchemaUnavailable as error:
        plan.problems.append(Problem(None, str(error), file="model.json"))
        return plan  # nothing is loaded from a lake whose model.json cannot be read
    plan.warn(*model.warnings)
    files = {f.path: f for f in lake.iter_files("")}
    data_tables = [s for s in model.tables.values() if s.name.casefold() not in _OPTIONSET_KEYS]
    _add_snapshots(plan, data_tables, files, dataless_problems=False, read_unlisted=False)
    _add_optionsets(plan, "snapshot", _optionset_files(files, ""), (model,))
    return plan


def _manifests(paths: Iterable[str]) -> list[str]:
    """The manifests among `paths` (the root's files, or the whole lake's), but those in a
    `resolved/` folder (CDM SDK output, skipped as entity documents there are)."""
    return sorted(
        path
        for path in paths
        if path.endswith(".manifest.cdm.json") and "/resolved/" not in f"/{path}"
    )


def _refuse_tables_only_manifests_declare(
    plan: LakePlan,
    lake: Lake,
    manifest_paths: list[str],
    why: str = "the lake root's model.json is read where both are",
) -> None:
    """Manifests the plan did not read: a root's beside its model.json (the CDM SDK writes
    both), or one no root manifest reaches. A table only they declare fails, naming them:
    it was left out without a word (found by review)."""
    if not manifest_paths:
        return
    model, failed = manifest.load_manifests(lake, manifest_paths)
    for manifest_path, error in failed:  # its tables unknown: they might be only its own
        plan.problems.append(Problem(None, f"{error} ({why})", file=manifest_path))
    known = {table.casefold() for table in plan.known_tables}
    names = ", ".join(sorted(model.manifests & set(manifest_paths)) or manifest_paths)
    for table in sorted(model.tables):
        if table.casefold() not in known:
            plan.problems.append(
                Problem(table, f"declared by {names} only, which is not read ({why}): not loaded")
            )


def _manifest_snapshot(lake: Lake, manifest_paths: list[str]) -> LakePlan:
    """The entities of every manifest at the root (reading the first alone left the others'
    tables unchanged, without a word)."""
    plan = LakePlan("cdm manifest")
    model, failed = manifest.load_manifests(lake, manifest_paths)
    for manifest_path, error in failed:  # fails the run (a half-read root adds no table)
        plan.problems.append(Problem(None, error, file=manifest_path))
    plan.warn(*model.warnings)
    files = {f.path: f for f in lake.iter_files("")}
    if model.tables:
        # an entity declaring no partition has no data (CDM); its `<name>/` taken from the
        # lake root was not even its manifest's folder (a sub-manifest's: found by review)
        _add_snapshots(plan, model.tables.values(), files, read_unlisted=False, live=False)
    unreached = sorted(set(_manifests(files)) - model.manifests - set(manifest_paths))
    # a sub-manifest a root could not read is a problem already, not an unreached one
    unreached = [path for path in unreached if not any(path in error for _, error in failed)]
    _refuse_tables_only_manifests_declare(plan, lake, unreached, "no root manifest reaches")
    return plan


def _entity_documents(lake: Lake) -> LakePlan:
    plan = LakePlan("cdm entity documents")
    files = {f.path: f for f in lake.iter_files("")}
    documents = [
        p
        for p in files
        if p.endswith(".cdm.json")
        and not p.endswith(".manifest.cdm.json")
        and "/resolved/" not in f"/{p}"
    ]
    csvs = _csvs_by_document([p[: -len(".cdm.json")] for p in documents], files)
    if documents:
        _refuse_csvs_without_document(plan, files, csvs)
    schemas = []
    for path in documents:
        schema = manifest.load_entity_document(lake, path)
        folder = path[: -len(".cdm.json")]
        name = manifest.change_feed_name(schema.name, path)
        located = tuple(Partition(location=p, listed=True) for p in csvs.get(folder, []))
        schemas.append(replace(schema, name=name, partitions=schema.partitions + located))
    _add_snapshots(plan, _declared_twice(plan, schemas), files)
    return plan


def _refuse_csvs_without_document(
    plan: LakePlan, files: dict[str, FileInfo], owned: dict[str, list[str]]
) -> None:
    """CSV files under no entity document's folder (its document missing while it is
    rewritten or copied, or named in another case): their table fails, named after their
    folder, as a timestamp folder's CSVs without metadata do. Left out, their rows were
    absent without a word (found by review)."""
    taken = {path for paths in owned.values() for path in paths}
    by_folder: dict[str, int] = {}
    for path in files:
        folder = path.rpartition("/")[0]
        if (
            path.endswith(".csv")
            and path not in taken
            and folder  # a file at the root names no table
            and folder.split("/")[0] not in NON_DATA_FOLDERS
        ):
            by_folder[folder] = by_folder.get(folder, 0) + 1
    for folder, count in sorted(by_folder.items()):
        plan.problems.append(
            Problem(  # ChangeFeed/CustTable's CSVs are CustTable_ChangeFeed's (found by review)
                manifest.change_feed_name(folder.rpartition("/")[2], folder),
                f"{folder} holds {count} CSV file(s) but no entity document owns them"
                f" ({folder}.cdm.json): their rows are not loaded",
            )
        )


def _csvs_by_document(folders: list[str], files: dict[str, FileInfo]) -> dict[str, list[str]]:
    """Each CSV below an entity document's folder (`X/` of `X.cdm.json`), under the folder of
    the nearest document above it only: a document nested in another's folder owns its
    files, which would otherwise load into both tables."""
    owners, found = set(folders), {}
    for path in files:
        if path.endswith(".csv"):
            parent = path.rpartition("/")[0]
            while parent and parent not in owners:
                parent = parent.rpartition("/")[0]
            if parent:
                found.setdefault(parent, []).append(path)
    return found


def _add_snapshots(
    plan: LakePlan,
    schemas: Iterable[TableSchema],
    files: dict[str, FileInfo],
    *,
    dataless_problems: bool = True,
    read_unlisted: bool = True,
    live: bool = True,
) -> None:
    """One snapshot batch per table. A schema problem fails its table when the table has data
    files, or always when `dataless_problems` (a manifest that names a missing document).
    An incomplete snapshot (`_incomplete_snapshot`) fails its table too. A schema that lists
    no file takes the CSVs in `<name>/` when `read_unlisted`; a root model.json's do not
    (lake-format.md 6.1: those are the live files, being appended to while read), nor a
    manifest's entity (`live=False`: CDM gives an entity without partitions no data)."""
    live_csvs: dict[str, int] | None = None
    schemas = list(schemas)
    # one model's tables share what lies above the lake root: no table drops more of its
    # locations than the others need (its own files gone, a shorter suffix matched another
    # file: found by review)
    located = [p.location for schema in schemas for p in schema.partitions if not p.listed]
    most_dropped = _segments_to_drop(located, files)
    for schema in schemas:
        if not _initial_sync_completed(schema):
            plan.warn(f"{schema.name}: initial sync not completed, skipped")
            continue
        unlisted = not schema.partitions and not schema.patterns  # a pattern lists files
        if unlisted and not read_unlisted and not live:
            plan.warn(f"{schema.name}: its manifest declares no partition or pattern: no file")
        elif unlisted and not read_unlisted:
            if live_csvs is None:  # once per listing, where the first table needs it
                live_csvs = csvs_by_top_folder(files)
            _warn_live_files(plan, schema.name, live_csvs.get(schema.name, 0))
        data_files, missing = _partition_files(
            schema,
            files,
            schema.name,
            plan,
            unlisted=unlisted and read_unlisted,
            most_dropped=most_dropped,
        )
        if schema.problem and (data_files or dataless_problems):
            plan.problems.append(Problem(schema.name, schema.problem, file=schema.source))
        elif schema.problem:
            plan.warn(f"{schema.name}: {schema.problem} (no data files)")
        elif incomplete := _incomplete_snapshot(schema, data_files, missing):
            plan.problems.append(Problem(schema.name, incomplete, file=schema.source))
        elif data_files:
            plan.batches.append(
                TableBatch(schema.name, "snapshot", schema, data_files, LoadMode.SNAPSHOT)
            )
        else:
            # a pattern matching nothing may be a root that resolved elsewhere: said aloud
            say = plan.warn if schema.patterns else plan.notes.append
            say(f"{schema.name}: no data files")
            plan.dataless.append(schema.name)


def _warn_live_files(plan: LakePlan, name: str, csvs: int) -> None:
    """Say so when `<name>/` (its `Snapshot/` folder too, any depth) holds `csvs` CSVs that
    a root model.json listing no file leaves unread."""
    if csvs:
        plan.unlisted_csvs[name] = csvs
        plan.warn(
            f"{name}: model.json lists no file of it; its {csvs} CSV file(s) in {name}/"
            " are not read (the live files, written while read: only listed snapshots load)"
        )


def _declared_twice(plan: LakePlan, schemas: list[TableSchema]) -> list[TableSchema]:
    """The schemas of the tables one entity document alone declares; the others fail. Two
    documents of one name (F&O exports of two environments under one `--lake`) would each
    replace the table with their own snapshot, in turn, at every run. (A model.json's or
    manifests' entities are one `model_json.Tables`, which marks such a table itself.)"""
    sources: dict[str, list[str]] = {}
    for schema in schemas:
        sources.setdefault(schema.name, []).append(schema.source)
    for name, where in sources.items():
        if len(where) > 1:
            plan.problems.append(
                Problem(
                    name,
                    f"{name} is declared by {len(where)} documents ({', '.join(where)}): each"
                    " would replace the table with its own snapshot, so it is not loaded"
                    " (point --lake at one export)",
                )
            )
    return [schema for schema in schemas if len(sources[schema.name]) == 1]


def _incomplete_snapshot(
    schema: TableSchema, data_files: tuple[DataFile, ...], missing: tuple[str, ...]
) -> str | None:
    """Why the snapshot cannot be the table's whole content, or None.

    Design: a snapshot replaces the table, so loading one that lacks rows deletes them. A
    listed partition that is missing (retention took it, a copy is half done) or that has 0
    bytes (how a file looks while the exporter rewrites it) makes the snapshot incomplete, not
    a table without rows: the table is failed and left as it is, never emptied. A partition
    with only a header has bytes; the loader still refuses any snapshot without a loadable
    row that would delete rows (`batch_writing.IncompleteSnapshot`).
    """
    if missing:
        return (
            f"listed partition {missing[0]} not found ({len(missing)} of"
            f" {len(schema.partitions)} missing): the snapshot is incomplete,"
            " the table is left as it is"
        )
    if empty := [f.info.path for f in data_files if f.info.size == 0]:
        return _empty_file_problem(empty)
    return None


def _empty_file_problem(empty: list[str]) -> str:
    more = f" and {len(empty) - 1} more" if len(empty) > 1 else ""
    return (
        f"partition {empty[0]}{more} is empty (0 bytes, as while the file is rewritten):"
        " the snapshot is incomplete, the table is left as it is"
    )


# ------------------------------------------------------------------ option-set metadata


def _optionset_files(files: dict[str, FileInfo], base: str) -> dict[str, FileInfo]:
    """The option-set CSVs in `base`/OptionsetMetadata, by table name."""
    found = {}
    for table in OPTIONSET_TABLES:
        info = files.get(join(base, OPTIONSET_FOLDER, f"{table}.csv"))
        if info is not None:
            found[table] = info
    return found


def _add_optionsets(
    plan: LakePlan,
    batch_id: str,
    found: dict[str, FileInfo],
    models: Iterable[Model | None],
) -> None:
    """One full-refresh batch per option-set file: the file is the table's whole content, so a
    0-byte file (being rewritten) fails its table instead of emptying it."""
    described = [m for m in models if m is not None]
    for table, info in found.items():
        if info.size == 0:
            plan.problems.append(Problem(table, _empty_file_problem([info.path]), file=info.path))
            continue
        schema = _optionset_schema(table, described, plan)
        fixed = schema is OPTIONSET_SCHEMAS[table]
        optional = _OPTIONAL_TRAILING.get(table, 0) if fixed else 0
        dialect = schema.partitions[0].dialect if schema.partitions else CsvDialect()
        plan.batches.append(
            TableBatch(
                table,
                batch_id,
                replace(schema, name=table),
                (DataFile(info, dialect),),
                LoadMode.FULL_REFRESH,
            )
        )
        plan.row_widths.setdefault(table, set()).add(len(schema.columns) - optional)
    if found:
        source = f"{batch_id}/{OPTIONSET_FOLDER}" if batch_id != "snapshot" else OPTIONSET_FOLDER
        plan.notes.append(f"option-set metadata: {', '.join(found)} from {source}")


def _optionset_schema(table: str, models: list[Model], plan: LakePlan) -> TableSchema:
    """The first model's entity of that name (ignoring case), else the fixed schema."""
    for model in models:
        schema = next(
            (s for n, s in model.tables.items() if n.casefold() == table.casefold()), None
        )
        if schema is None:
            continue
        if schema.problem or not schema.columns:
            plan.warn(
                f"{table}: {model.source} entity unusable ({schema.problem or 'no attributes'}); "
                "using the documented column list"
            )
            break
        return schema
    return OPTIONSET_SCHEMAS[table]


# ------------------------------------------------------------------------- file resolution


def resolve_location(location: str, files: dict[str, FileInfo]) -> FileInfo | None:
    """The lake file a metadata location names.

    Locations carry the container and sometimes the folders above our lake root, and host
    names change when environments are copied: drop leading segments until a file matches.
    """
    return _file_at(location, files, _segments_to_drop([location], files))


def _segments_to_drop(locations: list[str], files: dict[str, FileInfo]) -> int | None:
    """The fewest leading segments to drop from a location for it to name a lake file, the
    least over `locations`: a table's listed files share what lies above the lake root, so
    one count serves them all, and a file that is gone is not matched to another file by a
    shorter suffix (`account/Snapshot/x.csv` to a root `Snapshot/x.csv`)."""
    found = None
    for location in locations:
        segments = _segments(location)
        for start in range(len(segments) if found is None else min(found, len(segments))):
            if "/".join(segments[start:]) in files:
                found = start
                break
    return found


def _file_at(location: str, files: dict[str, FileInfo], drop: int | None) -> FileInfo | None:
    return None if drop is None else files.get("/".join(_segments(location)[drop:]))


def _segments(location: str) -> list[str]:
    return [s for s in location.replace("\\", "/").split("/") if s]


def _partition_files(
    schema: TableSchema,
    files: dict[str, FileInfo],
    folder: str,
    plan: LakePlan,
    *,
    unlisted: bool,
    by_folder: dict[str, list[FileInfo]] | None = None,
    most_dropped: int | None = None,
) -> tuple[tuple[DataFile, ...], tuple[str, ...]]:
    """The listed partitions that exist and, when `unlisted`, the other CSVs directly in
    `folder` (incremental folders list their CSVs only once the folder closes); and the
    locations of listed partitions that do not exist. `by_folder`: `csvs_by_folder(files)`,
    when the caller asks for many folders of the same files. `most_dropped`: the leading
    segments the metadata's other tables drop, which this one never exceeds."""
    chosen: dict[str, DataFile] = {}
    missing: list[str] = []
    drop = _segments_to_drop([p.location for p in schema.partitions if not p.listed], files)
    if most_dropped is not None and (drop is None or drop > most_dropped):
        drop = most_dropped
    for partition in schema.partitions:
        info = _file_at(partition.location, files, 0 if partition.listed else drop)
        if info is None:
            plan.warn(f"{schema.name}: listed partition not found: {partition.location}")
            missing.append(partition.location)
        elif info.path not in chosen:
            chosen[info.path] = DataFile(info, partition.dialect)
    if unlisted:
        dialect = schema.partitions[0].dialect if schema.partitions else CsvDialect()
        parent = folder.rstrip("/")
        csvs = (by_folder if by_folder is not None else csvs_by_folder(files)).get(parent, [])
        for info in csvs if parent else ():  # never the root's own CSVs
            chosen.setdefault(info.path, DataFile(info, dialect))
    return tuple(sorted(chosen.values(), key=lambda f: f.info.path)), tuple(missing)


def csvs_by_top_folder(files: dict[str, FileInfo]) -> dict[str, int]:
    """How many `.csv` files each folder at the root holds, at any depth."""
    counts: dict[str, int] = {}
    for path in files:
        if path.endswith(".csv") and "/" in path:
            top = path.split("/", 1)[0]
            counts[top] = counts.get(top, 0) + 1
    return counts


def csvs_by_folder(files: dict[str, FileInfo]) -> dict[str, list[FileInfo]]:
    """The `.csv` files by the folder directly holding them ('' for the root): built once per
    listing, where looking through every file for each table cost tables × files."""
    grouped: dict[str, list[FileInfo]] = {}
    for path, info in files.items():
        if path.endswith(".csv"):
            folder, _, _name = path.rpartition("/")
            grouped.setdefault(folder, []).append(info)
    return grouped


def _note_row_widths(plan: LakePlan) -> None:
    for batch in plan.batches:
        plan.row_widths.setdefault(batch.table, set()).add(len(batch.schema.columns))
