"""Which producer layout a lake has, and the batches of files to load, in apply order.

* **Incremental update folders** (Synapse Link): timestamp folders in time order, each with its
  own model.json; the folder named in `Changelog/changelog.info` is still being written.
* **model.json at the root** (classic Synapse Link / Export to Data Lake, CDM folders): one
  snapshot batch per table from the listed partitions.
* **CDM manifests** (`*.manifest.cdm.json`): one snapshot batch per entity.
* **Entity documents without a manifest** (F&O Export to Data Lake): `<Entity>.cdm.json`
  next to a `<Entity>/` folder of CSVs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from turbodata import metadata
from turbodata.lake import Lake, join, read_bytes
from turbodata.model import (
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
    min_widths: dict[str, int] = field(default_factory=dict)  # narrowest schema per table

    @property
    def tables(self) -> list[str]:
        names = [b.table for b in self.batches] + [p.table for p in self.problems if p.table]
        return list(dict.fromkeys(names))


def folder_time(name: str) -> datetime | None:
    """The time a timestamp folder name stands for (`2024-05-01T10.15.00Z`, colons, millis)."""
    match = _FOLDER_TIME.match(name)
    if not match:
        return None
    day, hour, minute, second, fraction, _zone = match.groups()
    try:
        return datetime.fromisoformat(
            f"{day}T{hour}:{minute}:{second}.{(fraction or '0').ljust(6, '0')[:6]}"
        )
    except ValueError:
        return None


def discover(lake: Lake) -> LakePlan:
    """Look at the lake root and plan the batches of the layout found there."""
    root = lake.list_dir("")
    root_files = {f.path: f for f in root.files}
    timestamp_folders = [name for name in root.folders if folder_time(name)]
    if timestamp_folders:
        plan = _incremental(lake, timestamp_folders, "model.json" in root_files)
    elif "model.json" in root_files:
        plan = _model_json_snapshot(lake)
    elif manifests := [p for p in root_files if p.endswith(".manifest.cdm.json")]:
        plan = _manifest_snapshot(lake, manifests[0])
    else:
        plan = _entity_documents(lake)
    _note_min_widths(plan)
    return plan


# ------------------------------------------------------------------ incremental update folders


def _incremental(lake: Lake, folders: list[str], has_root_model: bool) -> LakePlan:
    plan = LakePlan("incremental")
    in_progress = _in_progress_folder(lake)
    in_progress_time = folder_time(in_progress) if in_progress else None
    root_model = _read_model(lake, "model.json", plan) if has_root_model else None
    for name in sorted(folders, key=lambda n: folder_time(n) or datetime.min):
        time = folder_time(name)
        if in_progress_time and time and time >= in_progress_time:
            plan.notes.append(f"{name}: in progress (named in Changelog/changelog.info), skipped")
            continue
        model = _folder_model(lake, name, in_progress is not None, root_model, plan)
        if model is not None:
            plan.batches += _folder_batches(lake, name, model, plan)
    return plan


def _in_progress_folder(lake: Lake) -> str | None:
    if lake.stat("Changelog/changelog.info") is None:
        return None
    return read_bytes(lake, "Changelog/changelog.info").decode("utf-8-sig").strip() or None


def _folder_model(
    lake: Lake, folder: str, has_changelog: bool, root_model: Model | None, plan: LakePlan
) -> Model | None:
    path = join(folder, "model.json")
    info = lake.stat(path)
    if info is not None and info.size > 0:
        return _read_model(lake, path, plan)
    if has_changelog or root_model is None:
        # not finalised yet, or abandoned: Synapse Link re-commits such data in a later folder
        plan.notes.append(f"{folder}: no model.json yet, skipped")
        return None
    plan.notes.append(f"{folder}: no model.json and no Changelog; using the root model.json")
    return root_model


def _read_model(lake: Lake, path: str, plan: LakePlan) -> Model | None:
    try:
        model = metadata.parse_model_json(read_bytes(lake, path), path)
    except metadata.SchemaUnavailable as error:
        plan.notes.append(str(error))
        return None
    plan.notes.extend(model.warnings)
    return model


def _folder_batches(lake: Lake, folder: str, model: Model, plan: LakePlan) -> list[TableBatch]:
    files = {f.path: f for f in lake.iter_files(folder)}
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
    for table in sorted(set(csv_folders) | _tables_with_partitions(model)):
        schema = model.tables.get(table) or _trickle_feed_schema(lake, folder, table, plan)
        if schema is None:
            plan.problems.append(
                Problem(table, f"{folder}: CSV files but no metadata for this table", file=folder)
            )
            continue
        if not _initial_sync_completed(schema):
            plan.notes.append(f"{folder}/{table}: initial sync not completed, skipped")
            continue
        data_files = _partition_files(schema, files, join(folder, table), plan, unlisted=True)
        if data_files:
            batches.append(TableBatch(schema.name, folder, schema, data_files, LoadMode.APPEND))
    return batches


def _tables_with_partitions(model: Model) -> set[str]:
    return {name for name, schema in model.tables.items() if schema.partitions}


def _trickle_feed_schema(lake: Lake, folder: str, table: str, plan: LakePlan) -> TableSchema | None:
    """The per-table model.json, for a folder model.json that omits a table with CSVs."""
    for base in (folder, ""):
        path = join(base, TRICKLE_FEED, f"{table}-model.json")
        if lake.stat(path) is not None:
            model = _read_model(lake, path, plan)
            if model and table in model.tables:
                plan.notes.append(f"{folder}/{table}: schema taken from {path}")
                return model.tables[table]
    return None


def _initial_sync_completed(schema: TableSchema) -> bool:
    state = schema.annotations.get("Athena:InitialSyncState")
    return state is None or state == "Completed"


# ------------------------------------------------------------------------- snapshot layouts


def _model_json_snapshot(lake: Lake) -> LakePlan:
    plan = LakePlan("model.json")
    try:
        model = metadata.parse_model_json(read_bytes(lake, "model.json"), "model.json")
    except metadata.SchemaUnavailable as error:
        plan.problems.append(Problem(None, str(error), file="model.json"))
        return plan
    plan.notes.extend(model.warnings)
    files = {f.path: f for f in lake.iter_files("")}
    _add_snapshots(plan, model.tables.values(), files, dataless_problems=False)
    return plan


def _manifest_snapshot(lake: Lake, manifest: str) -> LakePlan:
    plan = LakePlan("cdm manifest")
    model = metadata.load_manifest(lake, manifest)
    plan.notes.extend(model.warnings)
    files = {f.path: f for f in lake.iter_files("")}
    _add_snapshots(plan, model.tables.values(), files)
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
    schemas = []
    for path in documents:
        schema = metadata.load_entity_document(lake, path)
        folder = path[: -len(".cdm.json")]
        name = schema.name if "ChangeFeed" not in path.split("/") else f"{schema.name}_ChangeFeed"
        located = tuple(
            Partition(location=p)
            for p in files
            if p.startswith(folder + "/") and p.endswith(".csv")
        )
        schemas.append(replace(schema, name=name, partitions=schema.partitions + located))
    _add_snapshots(plan, schemas, files)
    return plan


def _add_snapshots(
    plan: LakePlan,
    schemas: Iterable[TableSchema],
    files: dict[str, FileInfo],
    *,
    dataless_problems: bool = True,
) -> None:
    """One snapshot batch per table. A schema problem fails its table when the table has data
    files, or always when `dataless_problems` (a manifest that names a missing document)."""
    for schema in schemas:
        if not _initial_sync_completed(schema):
            plan.notes.append(f"{schema.name}: initial sync not completed, skipped")
            continue
        data_files = _partition_files(
            schema, files, schema.name, plan, unlisted=not schema.partitions
        )
        if schema.problem and (data_files or dataless_problems):
            plan.problems.append(Problem(schema.name, schema.problem, file=schema.source))
        elif schema.problem:
            plan.notes.append(f"{schema.name}: {schema.problem} (no data files)")
        elif data_files:
            plan.batches.append(
                TableBatch(schema.name, "snapshot", schema, data_files, LoadMode.SNAPSHOT)
            )
        else:
            plan.notes.append(f"{schema.name}: no data files")


def resolve_location(location: str, files: dict[str, FileInfo]) -> FileInfo | None:
    """The lake file a metadata location names.

    Locations carry the container and sometimes the folders above our lake root, and host
    names change when environments are copied: drop leading segments until a file matches.
    """
    segments = [s for s in location.replace("\\", "/").split("/") if s]
    for start in range(len(segments)):
        info = files.get("/".join(segments[start:]))
        if info is not None:
            return info
    return None


def _partition_files(
    schema: TableSchema,
    files: dict[str, FileInfo],
    folder: str,
    plan: LakePlan,
    *,
    unlisted: bool,
) -> tuple[DataFile, ...]:
    """The listed partitions that exist and, when `unlisted`, the other CSVs directly in
    `folder` (incremental folders list their CSVs only once the folder closes)."""
    chosen: dict[str, DataFile] = {}
    for partition in schema.partitions:
        info = resolve_location(partition.location, files)
        if info is None:
            plan.notes.append(f"{schema.name}: listed partition not found: {partition.location}")
        elif info.path not in chosen:
            chosen[info.path] = DataFile(info, partition.dialect)
    if unlisted:
        dialect = schema.partitions[0].dialect if schema.partitions else CsvDialect()
        prefix = folder.rstrip("/") + "/"
        for path, info in files.items():
            name = path[len(prefix) :]
            if path.startswith(prefix) and name.endswith(".csv") and "/" not in name:
                chosen.setdefault(path, DataFile(info, dialect))
    return tuple(sorted(chosen.values(), key=lambda f: f.info.path))


def _note_min_widths(plan: LakePlan) -> None:
    for batch in plan.batches:
        width = len(batch.schema.columns)
        plan.min_widths[batch.table] = min(plan.min_widths.get(batch.table, width), width)
