"""Read CDM manifests (*.manifest.cdm.json) and entity schema documents (*.cdm.json).

Written by the F&O "Export to Data Lake" add-in and CDM-SDK tools (docs/lake-format.md
section 3). Only resolved documents are read: one that needs the CDM foundation corpus
(imports of `cdm:/core/...`, entity or attribute-group attributes) becomes a TableSchema with
`problem` set, never a guessed schema. `turbodata.metadata.model_json` re-exports the two loaders.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from turbodata.lake.storage import Lake, parent, read_bytes
from turbodata.metadata.model_json import (
    SchemaUnavailable,
    Tables,
    Trait,
    corpus_path,
    declared_length,
    find_trait,
    glob_to_regex,
    load_json,
    location_path,
    numeric_shape,
    parse_cdm_type,
    partition_name,
    read_traits,
    trait_dialect,
    unique_column_names,
)
from turbodata.model import CdmType, Column, Model, Partition, PartitionPattern, TableSchema

_DOCUMENT_SUFFIX = ".cdm.json"
_MANIFEST_SUFFIX = ".manifest.cdm.json"
CHANGE_FEED = "ChangeFeed"  # F&O's folder of change-feed entities (`change_feed_name`)
# Documents whose data types and traits this reader knows without reading them.
_BUILT_IN_IMPORTS = ("foundations.cdm.json", "primitives.cdm.json", "meanings")
# Attribute keys that make an attribute something other than one plain column.
_REFERENCE_KEYS = ("entity", "entityReference", "attributeGroupReference")
_ATTRIBUTE_TRAIT_KEYS = ("appliedTraits", "traits", "exhibitsTraits")


def load_manifest(lake: Lake, path: str) -> Model:
    """Load a *.manifest.cdm.json tree (sub-manifests recursively, cycle-safe), resolve each
    entity declaration's schema document (`entityPath` "Doc.cdm.json/Entity" or older
    `entitySchema`), and turn dataPartitions plus dataPartitionPatterns /
    incrementalPartitionPatterns into Partitions by listing the lake (lake.iter_files).
    FileNotFoundError if `path` does not exist; SchemaUnavailable if a sub-manifest is
    absent or unreadable (`load_manifests` loads the others' tables and reports those)."""
    reader = _Reader(lake)
    reader.read_manifest(path, reader.root_manifest(path))
    if reader.absent:
        raise SchemaUnavailable(reader.absent[0][1])
    return Model(reader.tables, path, tuple(reader.warnings))


def load_manifests(lake: Lake, paths: Sequence[str]) -> tuple[Model, list[tuple[str, str]]]:
    """Every root manifest of `paths`, with what each declares, as one model; a manifest
    another one reached as its sub-manifest is read once. A manifest that cannot be read
    adds none of its tables (nothing is loaded from one half read) and is returned with its
    error; so is a sub-manifest named but absent, whose manifest keeps its other tables."""
    reader = _Reader(lake)
    failed: list[tuple[str, str]] = []
    for path in paths:
        if path in reader.manifests_read:
            continue
        before = set(reader.tables)
        try:
            reader.read_manifest(path, reader.root_manifest(path))
        except SchemaUnavailable as error:
            reader.tables.discard(set(reader.tables) - before)
            failed.append((path, str(error)))
    failed += reader.absent
    read = frozenset(reader.manifests_read)
    return Model(reader.tables, paths[0], tuple(reader.warnings), read), failed


def change_feed_name(name: str, path: str) -> str:
    """The table an entity declared at `path` loads into: F&O's change feed of a table (in a
    `ChangeFeed/` folder, or declared by a `ChangeFeed.manifest.cdm.json`) is a table of its
    own, `<name>_ChangeFeed` (a root `ChangeFeed.manifest.cdm.json` loaded its rows into the
    table itself: found by review)."""
    *folders, file = path.split("/")
    in_feed = CHANGE_FEED in folders or file == f"{CHANGE_FEED}{_MANIFEST_SUFFIX}"
    return f"{name}_{CHANGE_FEED}" if in_feed else name


def load_entity_document(lake: Lake, path: str, entity: str | None = None) -> TableSchema:
    """The entity `entity` of the cdm.json document at `path`; without `entity` the table is
    named after the document and its entity is the one of that name, else the first one.
    A TableSchema with `problem` set when the document is missing or cannot be resolved."""
    return _Reader(lake).entity_schema(path, entity)


def find_entity_documents(lake: Lake, folder: str = "") -> list[str]:
    """Entity schema documents below `folder`: *.cdm.json except manifests and anything in a
    `resolved/` folder (CDM SDK output that Microsoft's CDMUtil skips as well)."""
    return [
        info.path
        for info in lake.iter_files(folder)
        if info.path.endswith(_DOCUMENT_SUFFIX)
        and not info.path.endswith(_MANIFEST_SUFFIX)
        and "resolved" not in info.path.split("/")[:-1]
    ]


# what a manifest holds: the CDM SDK leaves empty lists out (a manifest of no entity yet is
# `{"manifestName": …, "jsonSchemaSemanticVersion": …}`), so any of these makes one
_MANIFEST_KEYS = frozenset(
    {"entities", "subManifests", "manifestName", "jsonSchemaSemanticVersion"}
)


def _as_manifest(document: object, path: str) -> dict[str, Any]:
    if not isinstance(document, dict) or not _MANIFEST_KEYS & document.keys():
        raise SchemaUnavailable(f"{path}: no `entities` or `subManifests`, not a manifest")
    return document


# a named group as the CDM SDKs (.NET, Java, TypeScript) write it, `(?<name>`, not a
# lookbehind `(?<=` / `(?<!`: Python spells it `(?P<name>`
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?![=!])")


def pattern_regex(pattern: PartitionPattern) -> re.Pattern[str] | None:
    """The regex a pattern matches with; the glob wins when both are set (CDM SDK rule).
    Raises re.error for an invalid regularExpression."""
    if pattern.glob:
        return glob_to_regex(pattern.glob)
    if not pattern.regex:
        return None
    return re.compile(_NAMED_GROUP.sub("(?P<", pattern.regex))


def pattern_files(lake: Lake, pattern: PartitionPattern) -> list[str]:
    """Lake paths of the files under `pattern.root` (recursively) whose path relative to the
    root, written with a leading "/", fully matches the pattern; sorted by path."""
    regex = pattern_regex(pattern)
    if regex is None:
        return []
    root_length = len(pattern.root) + 1 if pattern.root else 0
    return sorted(
        info.path
        for info in lake.iter_files(pattern.root)
        if regex.fullmatch("/" + info.path[root_length:])
    )


@dataclass
class _Reader:
    """One load: the lake, the documents read so far, and what the manifests declare."""

    lake: Lake
    tables: Tables = field(default_factory=Tables)
    warnings: list[str] = field(default_factory=list)
    manifests_read: set[str] = field(default_factory=set)
    # sub-manifests named but absent: (the manifest naming it, the message)
    absent: list[tuple[str, str]] = field(default_factory=list)
    documents: dict[str, Any] = field(default_factory=dict)
    schemas: dict[tuple[str, str | None], TableSchema] = field(default_factory=dict)

    def document(self, path: str) -> Any:
        """A document's JSON (cached); FileNotFoundError or SchemaUnavailable."""
        if path not in self.documents:
            if self.lake.stat(path) is None:
                raise FileNotFoundError(f"{path}: not found")
            self.documents[path] = load_json(read_bytes(self.lake, path), path)
        return self.documents[path]

    def root_manifest(self, path: str) -> dict[str, Any]:
        return _as_manifest(self.document(path), path)

    def read_manifest(self, path: str, manifest: dict[str, Any]) -> None:
        self.manifests_read.add(path)
        for declaration in _objects(manifest.get("entities")):
            table = self.declared_table(declaration, path)
            if table is not None:
                name = change_feed_name(table.name, path)
                self.tables.add(replace(table, name=name), self.warnings)
        for declaration in _objects(manifest.get("subManifests")):
            self.read_sub_manifest(declaration, path)

    def read_sub_manifest(self, declaration: dict[str, Any], referrer: str) -> None:
        definition = _text(declaration.get("definition"))
        if definition is None:
            self.warnings.append(f"{referrer}: sub-manifest without a definition skipped")
            return
        path = corpus_path(definition, parent(referrer))
        if path in self.manifests_read:
            self.warnings.append(f"{referrer}: sub-manifest {path} already read; skipped")
            return
        try:
            # JSON but no manifest (`{}`) is unreadable too: its tables dropped out (review)
            manifest = _as_manifest(self.document(path), path)
        except FileNotFoundError as error:  # its tables cannot be known: the run fails (its
            # tables would otherwise stay as they were, unsaid), the others load
            self.absent.append(
                (
                    referrer,
                    f"{referrer}: sub-manifest {error}: the tables it"
                    " declares are not loaded (the other manifests' tables are)",
                )
            )
            return
        except SchemaUnavailable as error:  # there but unreadable (being rewritten, cut
            # short): its tables would silently drop out of the run, so the run stops here
            raise SchemaUnavailable(f"{referrer}: sub-manifest {error}") from error
        self.read_manifest(path, manifest)

    def declared_table(self, declaration: dict[str, Any], manifest: str) -> TableSchema | None:
        name = _text(declaration.get("entityName"))
        kind = str(declaration.get("type") or "LocalEntity")
        if name is None:
            self.warnings.append(f"{manifest}: entity declaration without entityName skipped")
            return None
        if kind.casefold() != "localentity":
            self.warnings.append(f"{manifest}: {kind} {name!r} skipped (only local entities)")
            return None
        folder, where = parent(manifest), f"{manifest}: {name}"
        schema = self.declared_schema(declaration, name, folder)
        patterns = tuple(self.patterns(declaration, where, folder))
        partitions = [
            *self.data_partitions(declaration, where, folder),
            *self.matched_partitions((p for p in patterns if not p.incremental), where),
        ]
        changes: dict[str, list[Partition]] = {}
        for pattern in (p for p in patterns if p.incremental):
            if files := list(self.matched_partitions([pattern], where)):
                changes.setdefault(pattern.incremental, []).extend(files)
        return replace(
            schema,
            name=name,
            partitions=_unique_locations(partitions),
            patterns=patterns,
            source=schema.source or manifest,
            problem=schema.problem or _invalid_pattern(patterns) or _incremental_problem(changes),
        )

    def declared_schema(self, declaration: dict[str, Any], name: str, folder: str) -> TableSchema:
        reference = _text(declaration.get("entityPath")) or _text(declaration.get("entitySchema"))
        if reference is None:
            return TableSchema(name, (), problem="the declaration names no entity document")
        if _is_foundation(reference):
            return TableSchema(
                name,
                (),
                source=reference,
                problem=f"unresolved schema: {reference} is in the "
                "CDM foundation corpus, not in the lake",
            )
        document, entity = _split_entity_path(reference)
        return self.entity_schema(corpus_path(document, folder), entity or name)

    def entity_schema(self, path: str, entity: str | None) -> TableSchema:
        if (path, entity) not in self.schemas:
            self.schemas[path, entity] = self.read_entity_schema(path, entity)
        return self.schemas[path, entity]

    def read_entity_schema(self, path: str, entity: str | None) -> TableSchema:
        name = entity or _document_stem(path)
        try:
            document = self.document(path)
        except FileNotFoundError:
            return TableSchema(name, (), source=path, problem=f"entity document not found: {path}")
        except SchemaUnavailable as error:
            return TableSchema(name, (), source=path, problem=str(error))
        return _document_entity(document, path, entity, self.warnings)

    def data_partitions(
        self, declaration: dict[str, Any], where: str, folder: str
    ) -> Iterator[Partition]:
        for entry in _objects(declaration.get("dataPartitions")):
            location = _text(entry.get("location"))
            if location is None:
                self.warnings.append(f"{where}: data partition without a location skipped")
                continue
            dialect = trait_dialect(read_traits(entry.get("exhibitsTraits")))
            yield Partition(
                location_path(location, folder), partition_name(entry.get("name")), dialect
            )

    def patterns(
        self, declaration: dict[str, Any], where: str, folder: str
    ) -> Iterator[PartitionPattern]:
        for key, incremental in (
            ("dataPartitionPatterns", False),
            ("incrementalPartitionPatterns", True),
        ):
            for entry in _objects(declaration.get(key)):
                yield self.pattern(entry, where, folder, incremental)

    def pattern(
        self, entry: dict[str, Any], where: str, folder: str, incremental: bool
    ) -> PartitionPattern:
        traits = read_traits(entry.get("exhibitsTraits"))
        glob, regex = _text(entry.get("globPattern")), _text(entry.get("regularExpression"))
        if glob and regex:
            self.warnings.append(
                f"{where}: pattern has globPattern {glob!r} and regularExpression {regex!r}; "
                "the glob is used"
            )
        return PartitionPattern(
            root=corpus_path(_text(entry.get("rootLocation")) or "", folder),
            glob=glob,
            regex=regex,
            dialect=trait_dialect(traits),
            incremental=self.incremental_type(traits, where) if incremental else None,
        )

    def incremental_type(self, traits: list[Trait], where: str) -> str:
        trait = find_trait(traits, "is.partition.incremental")
        kind = _text(trait.argument("type", 0)) if trait else None
        if kind is None:
            self.warnings.append(
                f"{where}: incremental pattern without is.partition.incremental type"
            )
        return kind or "of no type"

    def matched_partitions(
        self, patterns: Iterable[PartitionPattern], where: str
    ) -> Iterator[Partition]:
        for pattern in patterns:
            try:
                paths = pattern_files(self.lake, pattern)
            except re.error as error:
                self.warnings.append(
                    f"{where}: invalid regularExpression {pattern.regex!r}: {error}"
                )
                continue
            yield from (Partition(path, None, pattern.dialect, listed=True) for path in paths)


def _invalid_pattern(patterns: Iterable[PartitionPattern]) -> str | None:
    """Why a pattern cannot find its files: its table fails (it was left out, with a warning
    only, found by review)."""
    for pattern in patterns:
        try:
            pattern_regex(pattern)
        except re.error as error:
            return f"invalid regularExpression {pattern.regex!r} ({error}): its files are unknown"
    return None


def _incremental_problem(changes: dict[str, list[Partition]]) -> str | None:
    """Why an entity whose incremental partitions hold files is not loaded, or None.
    `changes`: the files each type of incremental pattern matched. CDM's incremental
    partitions hold changes to its full data (Upsert files, and Delete files of deleted
    records only); turbodata does not apply them yet, and taking them as more of the snapshot
    would load delete records as rows. Without such files the full data is the whole table."""
    if not changes:
        return None
    files = [file for matched in changes.values() for file in matched]
    return (
        f"its incrementalPartitionPatterns ({', '.join(sorted(changes))}) match {len(files)}"
        f" file(s) ({files[0].location} …): turbodata does not apply incremental partitions,"
        " and loading them as part of the snapshot would take delete records for rows, so the"
        " table is not loaded (load it from an export of its full data alone)"
    )


def _document_entity(
    document: Any, path: str, entity: str | None, warnings: list[str]
) -> TableSchema:
    """The entity `entity` of a parsed cdm.json document. Without `entity`, the table is named
    after the document (F&O names `<Table>.cdm.json` after its table) and its entity is the one
    with that name, else the first one."""
    name = entity or _document_stem(path)
    definitions = _objects(document.get("definitions")) if isinstance(document, dict) else []
    definition = _entity_definition(definitions, name, exact=entity is not None)
    if definition is None:
        return TableSchema(name, (), source=path, problem=f"{path} defines no entity {name!r}")
    columns, reason = [], _unresolved_reason(document, definition)
    if reason is None:
        columns, reason = _document_columns(definition["hasAttributes"], definitions, document)
    if reason is not None:
        return TableSchema(name, (), source=path, problem=f"unresolved schema: {path}: {reason}")
    columns = unique_column_names(columns, f"{path}: {name}", warnings)
    return TableSchema(name, columns, source=path)


def _entity_definition(
    definitions: list[dict[str, Any]], name: str, *, exact: bool
) -> dict[str, Any] | None:
    """The entity called `name` (same case first); unless `exact`, else the first entity."""
    entities = [item for item in definitions if isinstance(item.get("entityName"), str)]
    same = [item for item in entities if item["entityName"] == name]
    folded = [item for item in entities if item["entityName"].casefold() == name.casefold()]
    fallback = [] if exact else entities
    return next(iter(same + folded + fallback), None)


def _document_stem(path: str) -> str:
    return posixpath.basename(path).removesuffix(_DOCUMENT_SUFFIX)


def _unresolved_reason(document: dict[str, Any], definition: dict[str, Any]) -> str | None:
    """Why the entity's columns cannot be read without the CDM corpus; None if they can."""
    foreign = [path for path in _imports(document) if _is_foundation(path) and not _built_in(path)]
    if foreign:
        return f"imports {', '.join(foreign)} from the CDM foundation corpus"
    base = definition.get("extendsEntity")
    base_name = base.get("entityReference") if isinstance(base, dict) else base
    if base and base_name != "CdmEntity":
        return f"the entity extends {base_name!r}"
    attributes = definition.get("hasAttributes")
    if not isinstance(attributes, list) or not attributes:
        return "no attributes declared"
    for position, attribute in enumerate(attributes, start=1):
        plain = isinstance(attribute, dict) and isinstance(attribute.get("name"), str)
        if not plain or any(key in attribute for key in _REFERENCE_KEYS):
            return f"attribute {position} is an entity reference or attribute group"
    return None


def _document_columns(
    attributes: list[dict[str, Any]], definitions: list[dict[str, Any]], document: dict[str, Any]
) -> tuple[list[Column], str | None]:
    """Columns of plain attributes. A named type that is not defined locally is unclassified,
    unless the document imports other documents that may define it (then: unresolved)."""
    data_types = {
        str(item["dataTypeName"]).casefold(): item for item in definitions if "dataTypeName" in item
    }
    imported = [path for path in _imports(document) if not _built_in(path)]
    columns = [_document_column(attribute, data_types) for attribute in attributes]
    for attribute, column in zip(attributes, columns, strict=True):
        if column.cdm_type is CdmType.UNCLASSIFIED and "dataFormat" not in attribute and imported:
            return [], (
                f"data type {column.declared_type!r} of {column.name!r} is not defined here "
                f"(imports: {', '.join(imported)})"
            )
    return columns, None


def _document_column(attribute: dict[str, Any], data_types: Mapping[str, dict[str, Any]]) -> Column:
    traits = [trait for key in _ATTRIBUTE_TRAIT_KEYS for trait in read_traits(attribute.get(key))]
    cdm_type, declared, type_traits = _attribute_type(attribute, data_types)
    traits += type_traits
    if find_trait(traits, "is.constrainedList.wellKnown"):
        cdm_type = CdmType.INT32  # an F&O enum; Microsoft's CDMUtil loads these as Int32
    precision, scale = numeric_shape(traits)
    return Column(
        name=attribute["name"],
        cdm_type=cdm_type,
        declared_type=declared,
        max_length=declared_length(attribute.get("maximumLength"), traits),
        precision=precision,
        scale=scale,
    )


def _attribute_type(
    attribute: dict[str, Any], data_types: Mapping[str, dict[str, Any]]
) -> tuple[CdmType, str, list[Trait]]:
    """(type, declared type text, traits of the named type chain) of a cdm.json attribute."""
    if "dataFormat" in attribute:
        data_format = attribute["dataFormat"]
        declared = data_format if isinstance(data_format, str) else ""
        return parse_cdm_type(declared), declared, []
    reference = attribute.get("dataType")
    cdm_type, traits = _resolve_data_type(reference, data_types)
    return cdm_type, _type_reference(reference)[0] or "", traits


def _resolve_data_type(
    reference: Any, data_types: Mapping[str, dict[str, Any]]
) -> tuple[CdmType, list[Trait]]:
    """Follow `extendsDataType` through local definitions down to a primitive; an unknown name
    or a cycle gives UNCLASSIFIED. Also returns the traits met on the way, nearest first."""
    traits: list[Trait] = []
    seen: set[str] = set()
    while True:
        name, applied = _type_reference(reference)
        traits += applied
        cdm_type, key = parse_cdm_type(name), (name or "").casefold()
        if cdm_type is not CdmType.UNCLASSIFIED or key in seen or key not in data_types:
            return cdm_type, traits
        seen.add(key)
        traits += read_traits(data_types[key].get("exhibitsTraits"))
        reference = data_types[key].get("extendsDataType")


def _type_reference(reference: Any) -> tuple[str | None, list[Trait]]:
    """A data type reference: a name, or `{dataTypeReference, appliedTraits}`."""
    if isinstance(reference, str):
        return reference, []
    if isinstance(reference, dict) and isinstance(reference.get("dataTypeReference"), str):
        return reference["dataTypeReference"], read_traits(reference.get("appliedTraits"))
    return None, []


def _imports(document: dict[str, Any]) -> list[str]:
    paths = (
        item.get("corpusPath") or item.get("uri") for item in _objects(document.get("imports"))
    )
    return [path for path in paths if isinstance(path, str) and path.strip()]


def _built_in(path: str) -> bool:
    return posixpath.basename(path.strip()).casefold().startswith(_BUILT_IN_IMPORTS)


def _is_foundation(path: str) -> bool:
    return path.strip().casefold().startswith("cdm:")


def _split_entity_path(reference: str) -> tuple[str, str | None]:
    """ "Doc.cdm.json/Entity" -> ("Doc.cdm.json", "Entity"); a bare document -> (doc, None)."""
    document, marker, entity = reference.strip().rpartition(_DOCUMENT_SUFFIX + "/")
    return (document + _DOCUMENT_SUFFIX, entity) if marker and entity else (reference.strip(), None)


def _unique_locations(partitions: Iterable[Partition]) -> tuple[Partition, ...]:
    unique: dict[str, Partition] = {}
    for partition in partitions:
        unique.setdefault(partition.location, partition)
    return tuple(unique.values())


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
