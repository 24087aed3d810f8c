"""Parse CDM metadata into `turbodata.model` values: model.json here, manifests in `manifest`.

Pure parsing, no SQL. The rules follow docs/lake-format.md sections 2, 3 and 5. This module
also holds what both formats share: CDM type names, trait lookup, CSV dialects, partition
locations and CDM glob patterns.
"""

from __future__ import annotations

import codecs
import functools
import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from turbodata.lake.storage import parent
from turbodata.model import (
    CdmType,
    Column,
    CsvDialect,
    Model,
    Partition,
    TableSchema,
    unique_names,
)


class SchemaUnavailable(Exception):
    """The document exists but holds no usable schema yet: 0 bytes, truncated/invalid JSON,
    or valid JSON without `entities`. Message names the document path and the reason."""


# ---------------------------------------------------------------------------------------------
# Types and traits

_TYPE_NAMES: dict[str, CdmType] = {member.value: member for member in CdmType} | {
    # CDM primitive data type names (primitives.cdm.json) used by `dataType` in cdm.json
    "integer": CdmType.INT32,
    "biginteger": CdmType.INT64,
    "smallinteger": CdmType.INT16,
    "tinyinteger": CdmType.BYTE,
}
_UNBOUNDED_LENGTH = 9999  # third-party loaders treat it as "no limit", like -1 and 0


def parse_cdm_type(text: str | None) -> CdmType:
    """A model.json `dataType` or cdm.json `dataFormat` (any case); unknown -> UNCLASSIFIED."""
    if not isinstance(text, str):
        return CdmType.UNCLASSIFIED
    return _TYPE_NAMES.get(text.strip().casefold(), CdmType.UNCLASSIFIED)


@dataclass(frozen=True)
class Trait:
    """One applied trait: `named` holds `{name, value}` arguments (keys casefolded),
    `positional` the plain ones (values or nested objects such as entity references)."""

    name: str
    named: dict[str, Any] = field(default_factory=dict)
    positional: tuple[Any, ...] = ()

    def argument(self, name: str, position: int) -> Any:
        if name.casefold() in self.named:
            return self.named[name.casefold()]
        return self.positional[position] if position < len(self.positional) else None


def read_traits(entries: Any) -> list[Trait]:
    """Traits in any of the three shapes: bare string, named arguments, positional arguments."""
    if not isinstance(entries, list) or not entries:
        return []  # most attributes: no traits (a rerun reads thousands of columns)
    traits = (_read_trait(entry) for entry in entries)
    return [trait for trait in traits if trait is not None]


def _read_trait(entry: Any) -> Trait | None:
    if isinstance(entry, str):
        return Trait(entry)
    reference = entry.get("traitReference") if isinstance(entry, dict) else None
    if isinstance(reference, dict):  # an inline trait definition
        reference = reference.get("traitName")
    if not isinstance(reference, str):
        return None
    named: dict[str, Any] = {}
    positional: list[Any] = []
    for argument in entry.get("arguments") or []:
        if isinstance(argument, dict) and "name" in argument and "value" in argument:
            named[str(argument["name"]).casefold()] = argument["value"]
        else:
            positional.append(argument)
    return Trait(reference, named, tuple(positional))


def find_trait(traits: Sequence[Trait], name: str) -> Trait | None:
    """The first trait called `name` (case-insensitive); earlier traits win."""
    if not traits:
        return None
    wanted = name.casefold()
    return next((trait for trait in traits if trait.name.casefold() == wanted), None)


def as_int(value: Any) -> int | None:
    """A number or numeric string as an int; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                return as_int(float(value))
            except ValueError:
                return None
    return None


def declared_length(max_length: Any, traits: Sequence[Trait]) -> int | None:
    """Characters from `maxLength`/`maximumLength`, else from trait `is.constrained`;
    -1, 0, 9999 and missing mean unbounded (None)."""
    length = _bounded(max_length)
    constrained = find_trait(traits, "is.constrained")
    if length is None and constrained is not None:
        length = _bounded(constrained.argument("maximumLength", 0))
    return length


def _bounded(value: Any) -> int | None:
    length = as_int(value)
    return None if length is None or length <= 0 or length == _UNBOUNDED_LENGTH else length


def numeric_shape(traits: Sequence[Trait]) -> tuple[int | None, int | None]:
    """(precision, scale) from `is.dataFormat.numeric.shaped`, kept as given (types.sql clamps)."""
    shaped = find_trait(traits, "is.dataFormat.numeric.shaped")
    if shaped is None:
        return None, None
    return as_int(shaped.argument("precision", 0)), as_int(shaped.argument("scale", 1))


def unique_column_names(
    columns: Sequence[Column], table: str, warnings: list[str]
) -> tuple[Column, ...]:
    """Rename a column whose name equals an earlier one ignoring case (`name_2`), because SQL
    Server collations are case-insensitive; each rename adds a warning naming both."""
    names = [column.name for column in columns]
    unique: list[Column] = []
    for column, name in zip(columns, unique_names(names), strict=True):
        if name != column.name:
            earlier = next(n for n in names if n.casefold() == column.name.casefold())
            warnings.append(
                f"{table}: column {column.name!r} equals {earlier!r} ignoring case; "
                f"renamed to {name!r}"
            )
            column = replace(column, name=name)
        unique.append(column)
    return tuple(unique)


# ---------------------------------------------------------------------------------------------
# CSV dialects

_CSV_TRAIT = "is.partition.format.CSV"


def partition_dialect(
    settings: Any, traits: Sequence[Trait], where: str
) -> tuple[CsvDialect, list[str]]:
    """The dialect from model.json `fileFormatSettings`, else from the `is.partition.format.CSV`
    trait, else the defaults. When both exist and disagree, fileFormatSettings wins (warning)."""
    csv_trait = find_trait(traits, _CSV_TRAIT)
    from_trait = _dialect_fields(csv_trait.named) if csv_trait else {}
    if not isinstance(settings, dict):
        return CsvDialect(**from_trait), []
    dialect = CsvDialect(**_dialect_fields(settings))
    differing = sorted(key for key, value in from_trait.items() if getattr(dialect, key) != value)
    if not differing:
        return dialect, []
    return dialect, [
        f"{where}: fileFormatSettings and trait {_CSV_TRAIT} disagree on "
        f"{', '.join(differing)}; using fileFormatSettings"
    ]


def trait_dialect(traits: Sequence[Trait]) -> CsvDialect:
    """The dialect an `is.partition.format.CSV` trait declares (defaults without one)."""
    return partition_dialect(None, traits, "")[0]


def _dialect_fields(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The CsvDialect fields that settings (or trait arguments, always strings) set explicitly."""
    given = {str(key).casefold(): value for key, value in settings.items()}
    fields: dict[str, Any] = {}
    header = _as_bool(given.get("columnheaders"))
    if header is not None:
        fields["header"] = header
    delimiter = given.get("delimiter")
    if isinstance(delimiter, str) and delimiter:
        fields["delimiter"] = delimiter
    quote_style = given.get("quotestyle")
    if isinstance(quote_style, str) and quote_style.strip():
        style = quote_style.strip().casefold().removeprefix("quotestyle.")
        fields["quote_char"] = None if style == "none" else '"'
    encoding = given.get("encoding")
    if isinstance(encoding, str) and encoding.strip():
        fields["encoding"] = _codec_name(encoding.strip())
    return fields


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().casefold() in ("true", "false"):
        return value.strip().casefold() == "true"
    return None


def _codec_name(encoding: str) -> str:
    """Python's name for an encoding ("UTF-8" -> "utf-8", "ASCII" -> "ascii")."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding.casefold()


# ---------------------------------------------------------------------------------------------
# Locations and patterns

_DRIVE = re.compile(r"^[A-Za-z]:")
_NAMESPACE = re.compile(r"^[A-Za-z][\w.+-]*:(?=/)")  # adls:/..., local:/..., cdm:/...


def location_path(location: str, document_folder: str) -> str:
    """Where a partition `location` points, as a lake-style path without leading "/".

    URLs (dfs/blob hosts, any port, query string) give their URL-decoded path, which still
    starts with the container; Windows paths lose their drive; corpus paths are resolved
    against `document_folder` (lake-relative) after any namespace (`adls:`, `local:`) is dropped.
    """
    text = location.strip()
    if "://" in text:
        return unquote(urlsplit(text).path).lstrip("/")
    if "\\" in text:
        text = _DRIVE.sub("", text.replace("\\", "/"))
    return corpus_path(text, document_folder)


def corpus_path(path: str, document_folder: str) -> str:
    """A CDM corpus path as a lake path: namespace dropped, "/..." taken from the lake root,
    anything else from `document_folder`; "." and ".." resolved, never above the root."""
    text = _NAMESPACE.sub("", path.strip(), count=1)
    joined = text if text.startswith("/") else f"{document_folder}/{text}"
    return posixpath.normpath("/" + joined.lstrip("/")).lstrip("/")


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A CDM `globPattern` as a regex to full-match against a file's path relative to the
    pattern root, written with a leading "/". `*` matches within one folder, `**` (alone
    between separators) across folders, `?` one character; `\\` counts as "/" and the
    leading "/" of the pattern is optional."""
    pieces = re.split(r"(\*\*|\*|\?)", pattern.replace("\\", "/").removeprefix("/"))
    regex = ["/"]
    for index, piece in enumerate(pieces):
        if piece == "**" and _is_globstar(pieces, index):
            if pieces[index + 1].startswith("/"):  # "**/" also matches no folder at all
                pieces[index + 1] = pieces[index + 1][1:]
                regex.append("(?:.*/)?")
            else:
                regex.append(".*")
        elif piece in ("*", "**"):
            regex.append("[^/]*")
        elif piece == "?":
            regex.append("[^/]")
        else:
            regex.append(re.escape(piece))
    return re.compile("".join(regex))


def _is_globstar(pieces: Sequence[str], index: int) -> bool:
    """`**` spans folders only at the pattern's ends or between separators (CDM SDK rule)."""
    before, after = pieces[index - 1], pieces[index + 1]
    starts_segment = before.endswith("/") or (index == 1 and before == "")
    ends_segment = after.startswith("/") or (index + 2 == len(pieces) and after == "")
    return starts_segment and ends_segment


# ---------------------------------------------------------------------------------------------
# model.json


def load_json(data: bytes, source: str) -> Any:
    """A metadata document's JSON (BOM tolerated), or SchemaUnavailable naming `source`."""
    if not data.strip():
        raise SchemaUnavailable(f"{source}: empty document ({len(data)} bytes), not written yet")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise SchemaUnavailable(f"{source}: not UTF-8 text ({error})") from error
    except json.JSONDecodeError as error:
        raise SchemaUnavailable(f"{source}: invalid or truncated JSON ({error})") from error


def parse_model_json(data: bytes, source: str) -> Model:
    """Parse a model.json (whole file bytes). `source` is its lake-relative path (used in
    messages and as TableSchema.source, and to resolve relative partition locations)."""
    document = load_json(data, source)
    entities = document.get("entities") if isinstance(document, dict) else None
    if not isinstance(entities, list):
        raise SchemaUnavailable(f"{source}: no `entities` list, schema not available")
    warnings: list[str] = []
    tables = Tables()
    for entity in entities:
        table = _model_entity(entity, source, warnings)
        if table is not None:
            tables.add(table, warnings)
    return Model(tables, source, tuple(warnings))


class Tables(dict[str, TableSchema]):
    """Tables by name (a lake of hundreds of tables: the names are folded once each, not
    compared). An entity declared twice, under the same name or one that differs only in
    case, keeps the first declaration with a `problem`: its table fails. Keeping either
    alone would drop the other's files, and the run would succeed with their rows missing."""

    def __init__(self) -> None:
        super().__init__()
        self._by_folded: dict[str, str] = {}

    def add(self, table: TableSchema, warnings: list[str]) -> None:
        clash = self._by_folded.setdefault(table.name.casefold(), table.name)
        if clash == table.name and table.name not in self:
            self[table.name] = table
            return
        if self[clash] == table:  # the same declaration reached twice: nothing differs
            return
        names = repr(clash) if clash == table.name else f"{clash!r} and {table.name!r}"
        problem = (
            f"entity declared more than once ({names}): which declaration holds the table"
            " cannot be told, so it is not loaded (declare it once)"
        )
        warnings.append(f"{table.source}: {problem}")
        self[clash] = replace(self[clash], problem=problem)

    def discard(self, names: Iterable[str]) -> None:
        for name in names:
            del self[name]
            del self._by_folded[name.casefold()]


def _model_entity(entity: Any, source: str, warnings: list[str]) -> TableSchema | None:
    name = entity.get("name") if isinstance(entity, dict) else None
    if not isinstance(name, str) or not name:
        warnings.append(f"{source}: entity without a name skipped")
        return None
    kind = str(entity.get("$type") or "LocalEntity")
    if kind.casefold() != "localentity":
        warnings.append(f"{source}: {kind} {name!r} skipped (linked models are not supported)")
        return None
    columns, problem = _model_columns(entity.get("attributes"), f"{source}: {name}", warnings)
    return TableSchema(
        name=name,
        columns=columns,
        partitions=tuple(_model_partitions(entity.get("partitions"), name, source, warnings)),
        source=source,
        annotations=annotations(entity.get("annotations")),
        problem=problem,
    )


def annotations(entries: Any) -> dict[str, str]:
    """`[{name, value}, ...]` as a dict; values are text."""
    pairs = (entry for entry in (entries if isinstance(entries, list) else []))
    return {
        str(pair["name"]): "" if pair.get("value") is None else str(pair["value"])
        for pair in pairs
        if isinstance(pair, dict) and pair.get("name") is not None
    }


def _model_columns(
    attributes: Any, table: str, warnings: list[str]
) -> tuple[tuple[Column, ...], str | None]:
    if not isinstance(attributes, list) or not attributes:
        return (), "no attributes declared"
    columns: list[Column] = []
    for position, attribute in enumerate(attributes, start=1):
        name = attribute.get("name") if isinstance(attribute, dict) else None
        if not isinstance(name, str) or not name:
            return (), f"attribute {position} has no name; column positions are unknown"
        columns.append(_model_column(name, attribute))
    return unique_column_names(columns, table, warnings), None


def _model_column(name: str, attribute: dict[str, Any]) -> Column:
    data_type, max_length = attribute.get("dataType"), attribute.get("maxLength")
    traits = attribute.get("cdm:traits")
    if not traits and _hashable(data_type) and _hashable(max_length):
        return _plain_column(name, data_type, max_length)
    return _column(name, data_type, max_length, read_traits(traits))


@functools.lru_cache(maxsize=16_384, typed=True)  # typed: maxLength 1, 1.0 and true differ
def _plain_column(name: str, data_type: Any, max_length: Any) -> Column:
    """An attribute without traits, built once: every timestamp folder of an incremental lake
    has its own model.json declaring the same attributes again (a rerun of 300 tables × 4
    folders reads 10,800 of them; bench/README.md, session 15)."""
    return _column(name, data_type, max_length, [])


def _column(name: str, data_type: Any, max_length: Any, traits: list[Trait]) -> Column:
    precision, scale = numeric_shape(traits)
    return Column(
        name=name,
        cdm_type=parse_cdm_type(data_type),
        declared_type=data_type if isinstance(data_type, str) else "",
        max_length=declared_length(max_length, traits),
        precision=precision,
        scale=scale,
    )


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)


def _model_partitions(
    entries: Any, table: str, source: str, warnings: list[str]
) -> Iterator[Partition]:
    for entry in entries if isinstance(entries, list) else []:
        location = entry.get("location") if isinstance(entry, dict) else None
        if not isinstance(location, str) or not location.strip():
            warnings.append(f"{source}: {table}: partition without a location skipped")
            continue
        name = partition_name(entry.get("name"))
        dialect, dialect_warnings = partition_dialect(
            entry.get("fileFormatSettings"),
            read_traits(entry.get("cdm:traits")),
            f"{source}: {table} partition {name or location}",
        )
        warnings.extend(dialect_warnings)
        yield Partition(location_path(location, parent(source)), name, dialect)


def partition_name(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None
