"""A user's type overrides: one small YAML (or JSON) file, table -> column -> SQL type.

```yaml
account:
  postalcode: nvarchar(10)
  revenue: decimal(19,4)
  description: declared      # keep the metadata's type, never inferred
contact:
  _infer: false              # no inference anywhere in this table
  birthdate: date
```

Type spellings (any case, spaces allowed): `nvarchar(n|max)`, `varchar(n|max)`,
`string(n|max)`, `text`; `bit`, `boolean`; `tinyint`, `smallint`, `int`, `integer`, `bigint`;
`decimal(p[,s])`, `numeric(p[,s])`; `float`, `real`; `uniqueidentifier`, `guid`, `uuid`;
`datetime2[(p)]`, `datetime[(p)]`, `datetimeoffset[(p)]`, `date`, `time[(p)]` (p 0..7,
default 7). A string length is 1..4000 or `max`. The word `declared` instead of a type keeps the
metadata's type and turns inference off for that column.

Table and column names match case-insensitively (Dataverse logical names are lower case, SQL
Server collations usually ignore case); two entries differing only in case are duplicates.

Every problem raises `OverrideError` naming the file and line. Names that match nothing in the
lake can only be found by the caller: `Overrides.unused(known)` lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from turbodata.types.sql import (
    FRACTION_DIGITS,
    MAX_BOUNDED_STRING,
    MAX_DECIMAL_PRECISION,
    Kind,
    SqlType,
)

DECLARED = "declared"
_SETTINGS = ("_infer",)
_TYPE = re.compile(r"\s*([a-z0-9_]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*", re.ASCII)
_NO_ARGS: dict[str, Kind] = {
    "bit": Kind.BOOLEAN,
    "boolean": Kind.BOOLEAN,
    "tinyint": Kind.TINYINT,
    "smallint": Kind.SMALLINT,
    "int": Kind.INTEGER,
    "integer": Kind.INTEGER,
    "bigint": Kind.BIGINT,
    "float": Kind.FLOAT,
    "real": Kind.REAL,
    "uniqueidentifier": Kind.GUID,
    "guid": Kind.GUID,
    "uuid": Kind.GUID,
    "date": Kind.DATE,
}
_STRINGS = ("nvarchar", "varchar", "string")
_DECIMALS = ("decimal", "numeric")
_TIMES: dict[str, Kind] = {
    "datetime2": Kind.DATETIME,
    "datetime": Kind.DATETIME,
    "datetimeoffset": Kind.DATETIMEOFFSET,
    "time": Kind.TIME,
}
_STR_TAG = "tag:yaml.org,2002:str"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"


class OverrideError(ValueError):
    """The override file is unreadable or wrong; the message names the file and line."""


def parse_type(text: str) -> SqlType:
    """A type spelling -> SqlType; ValueError(reason) when it is not one."""
    match = _TYPE.fullmatch(text.lower())
    if not match:
        raise ValueError(f"unknown type {text!r}")
    name, args = match.group(1), match.group(2)
    parts = [] if args is None else [a.strip() for a in args.split(",")]
    if name in _NO_ARGS and not parts:
        return SqlType(_NO_ARGS[name])
    if name == "text" and not parts:
        return SqlType(Kind.STRING, None)
    if name in _STRINGS:
        return _string(text, parts)
    if name in _DECIMALS:
        return _decimal(text, parts)
    if name in _TIMES:
        return _time(text, _TIMES[name], parts)
    if name in _NO_ARGS or name == "text":
        raise ValueError(f"{name} takes no arguments: {text!r}")
    raise ValueError(f"unknown type {text!r}")


def _number(text: str, part: str) -> int:
    if not re.fullmatch(r"[0-9]+", part, re.ASCII):
        raise ValueError(f"{part!r} is not a number in {text!r}")
    return int(part)


def _string(text: str, parts: list[str]) -> SqlType:
    if len(parts) != 1:
        raise ValueError(f"a string type needs one length, n or max: {text!r}")
    if parts[0] == "max":
        return SqlType(Kind.STRING, None)
    length = _number(text, parts[0])
    if not 1 <= length <= MAX_BOUNDED_STRING:
        raise ValueError(f"length must be 1..{MAX_BOUNDED_STRING} or max: {text!r}")
    return SqlType(Kind.STRING, length)


def _decimal(text: str, parts: list[str]) -> SqlType:
    if len(parts) not in (1, 2):
        raise ValueError(f"decimal needs (precision) or (precision,scale): {text!r}")
    precision = _number(text, parts[0])
    scale = _number(text, parts[1]) if len(parts) == 2 else 0
    if not 1 <= precision <= MAX_DECIMAL_PRECISION:
        raise ValueError(f"precision must be 1..{MAX_DECIMAL_PRECISION}: {text!r}")
    if scale > precision:
        raise ValueError(f"scale must be 0..precision: {text!r}")
    return SqlType(Kind.DECIMAL, precision=precision, scale=scale)


def _time(text: str, kind: Kind, parts: list[str]) -> SqlType:
    if len(parts) > 1:
        raise ValueError(f"a time type takes at most one fraction precision: {text!r}")
    fraction = _number(text, parts[0]) if parts else FRACTION_DIGITS
    if fraction > FRACTION_DIGITS:
        raise ValueError(f"fraction precision must be 0..{FRACTION_DIGITS}: {text!r}")
    return SqlType(kind, fraction=fraction)


# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnOverride:
    name: str
    line: int
    sql_type: SqlType | None  # None: `declared`


@dataclass(frozen=True)
class TableOverride:
    name: str
    line: int
    infer: bool = True
    columns: dict[str, ColumnOverride] = field(default_factory=dict)  # casefolded name ->


@dataclass(frozen=True)
class Overrides:
    """The pinned types and inference switches of one override file (empty: none)."""

    source: str = ""
    tables: dict[str, TableOverride] = field(default_factory=dict)  # casefolded name ->

    def type_for(self, table: str, column: str) -> SqlType | None:
        """The pinned type of `table.column`, or None (declared or inferred as usual)."""
        entry = self._column(table, column)
        return entry.sql_type if entry else None

    def infer(self, table: str, column: str | None = None) -> bool:
        """Whether inference may run for the table (and this column); True unless turned off
        by `_infer: false`, a pinned type or `declared`."""
        entry = self.tables.get(table.casefold())
        if entry is None:
            return True
        return entry.infer and (column is None or column.casefold() not in entry.columns)

    def unused(self, known: dict[str, set[str]]) -> list[str]:
        """Messages for entries naming a table or column that `known` (table -> columns)
        does not have: most likely typos."""
        tables = {name.casefold(): {c.casefold() for c in cols} for name, cols in known.items()}
        messages = []
        for key, table in self.tables.items():
            if key not in tables:
                messages.append(f"{self._at(table.line)}table {table.name!r} matches no table")
                continue
            for column_key, column in table.columns.items():
                if column_key not in tables[key]:
                    where = f"{table.name}.{column.name}"
                    messages.append(f"{self._at(column.line)}column {where!r} matches no column")
        return messages

    def _column(self, table: str, column: str) -> ColumnOverride | None:
        entry = self.tables.get(table.casefold())
        return entry.columns.get(column.casefold()) if entry else None

    def _at(self, line: int) -> str:
        return f"{self.source}, line {line}: "


def load_overrides(path: str | Path) -> Overrides:
    """Read and validate an override file; OverrideError names the file and line of a problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OverrideError(f"{source}: cannot read the override file: {exc}") from None
    return parse_overrides(text, source)


def parse_overrides(text: str, source: str = "<overrides>") -> Overrides:
    """Validate override text (YAML or JSON); `source` names it in messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        raise OverrideError(f"{source}{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise OverrideError(f"{source}: invalid YAML: {exc}") from None
    if root is None or root.tag == _NULL_TAG:  # empty, only comments, or an empty document
        return Overrides(source)
    reader = _Reader(source)
    reader.mapping(root, "the file (table: {column: type})")
    tables = {key.value.casefold(): reader.table(key, value) for key, value in reader.pairs(root)}
    return Overrides(source, tables)


class _Reader:
    """Turns composed YAML nodes into overrides, raising OverrideError at the node's line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, node: yaml.Node, message: str) -> OverrideError:
        return OverrideError(f"{self.source}, line {node.start_mark.line + 1}: {message}")

    def mapping(self, node: yaml.Node, what: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"expected a mapping (name: ...) for {what}")

    def pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
        """Key/value nodes; keys must be non-empty scalars, unique ignoring case."""
        seen: dict[str, int] = {}
        for key, _value in node.value:
            if not isinstance(key, yaml.ScalarNode) or not key.value.strip():
                raise self.error(key, "a key must be a plain name")
            folded = key.value.casefold()
            if folded in seen:
                raise self.error(key, f"duplicate key {key.value!r} (first on line {seen[folded]})")
            seen[folded] = key.start_mark.line + 1
        return list(node.value)

    def table(self, key: yaml.ScalarNode, node: yaml.Node) -> TableOverride:
        if key.value.startswith("_"):
            raise self.error(key, f"unknown setting {key.value!r} (settings go inside a table)")
        self.mapping(node, f"table {key.value!r}")
        infer, columns = True, {}
        for name, value in self.pairs(node):
            if name.value.startswith("_"):
                infer = self.setting(key.value, name, value)
            else:
                columns[name.value.casefold()] = self.column(key.value, name, value)
        return TableOverride(key.value, key.start_mark.line + 1, infer, columns)

    def setting(self, table: str, name: yaml.ScalarNode, value: yaml.Node) -> bool:
        if name.value not in _SETTINGS:
            known = ", ".join(_SETTINGS)
            raise self.error(name, f"unknown setting {name.value!r} in {table} (known: {known})")
        if not isinstance(value, yaml.ScalarNode) or value.tag != _BOOL_TAG:
            raise self.error(value, f"{name.value} in {table} must be true or false")
        return value.value.lower() in ("true", "yes", "on")

    def column(self, table: str, name: yaml.ScalarNode, value: yaml.Node) -> ColumnOverride:
        where = f"{table}.{name.value}"
        if not isinstance(value, yaml.ScalarNode) or value.tag != _STR_TAG or not value.value:
            raise self.error(value, f"expected a SQL type for {where}")
        line = name.start_mark.line + 1
        if value.value.strip().lower() == DECLARED:
            return ColumnOverride(name.value, line, None)
        try:
            return ColumnOverride(name.value, line, parse_type(value.value))
        except ValueError as exc:
            raise self.error(value, f"{exc} for {where}") from None
