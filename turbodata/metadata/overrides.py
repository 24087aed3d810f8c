"""A user's type overrides, as values: table -> column -> pinned SQL type or `declared`, and
the per-table inference switch. `override_file` reads them from the YAML (or JSON) file; this
module holds what the load path needs, without YAML.

Table and column names match case-insensitively (Dataverse logical names are lower case, SQL
Server collations usually ignore case). Names that match nothing in the lake can only be found
by the caller: `Overrides.unused(known)` lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from turbodata.types.sql import (
    FRACTION_DIGITS,
    MAX_BOUNDED_STRING,
    MAX_DECIMAL_PRECISION,
    Kind,
    SqlType,
)

DECLARED = "declared"
SETTINGS = ("_infer", "_renamed", "_moved")  # per-table settings an override file may give
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
    # `_renamed: {old: new}`: the metadata's column `old` became `new` at its position, and
    # the rows still to load bind that position to `new` (casefolded names)
    renamed: dict[str, str] = field(default_factory=dict)
    # `_moved: [b, c]`: these columns moved in the metadata (by a column reordered, or one
    # removed in the middle and another appended), and the rows still to load were written
    # in the new order (casefolded names)
    moved: frozenset[str] = frozenset()


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

    def renamed(self, table: str, old: str, new: str) -> bool:
        """Whether the file says that `table`'s column `old` became `new` (`_renamed`)."""
        entry = self.tables.get(table.casefold())
        return entry is not None and entry.renamed.get(old.casefold()) == new.casefold()

    def moved(self, table: str, columns: list[str]) -> bool:
        """Whether the file says that `table`'s `columns` moved (`_moved`)."""
        entry = self.tables.get(table.casefold())
        return entry is not None and {c.casefold() for c in columns} <= entry.moved

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
