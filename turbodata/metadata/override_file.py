"""The override file: one small YAML (or JSON) file, table -> column -> SQL type.

```yaml
account:
  postalcode: nvarchar(10)
  revenue: decimal(19,4)
  description: declared      # keep the metadata's type, never inferred
contact:
  _infer: false              # no inference anywhere in this table
  birthdate: date
lead:
  _renamed: {fax: mobile}    # the metadata's `fax` became `mobile` at its position
  _moved: [city, zip]        # these moved; the rows still to load are in the new order
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

from pathlib import Path

import yaml

from turbodata.metadata.overrides import (
    DECLARED,
    SETTINGS,
    ColumnOverride,
    OverrideError,
    Overrides,
    TableOverride,
    parse_type,
)

_STR_TAG = "tag:yaml.org,2002:str"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"


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
        infer, columns, renamed, moved = True, {}, {}, frozenset[str]()
        for name, value in self.pairs(node):
            if name.value == "_renamed":
                renamed = self.renamed(key.value, value)
            elif name.value == "_moved":
                moved = self.moved(key.value, value)
            elif name.value.startswith("_"):
                infer = self.setting(key.value, name, value)
            else:
                columns[name.value.casefold()] = self.column(key.value, name, value)
        line = key.start_mark.line + 1
        return TableOverride(key.value, line, infer, columns, renamed, moved)

    def setting(self, table: str, name: yaml.ScalarNode, value: yaml.Node) -> bool:
        if name.value not in SETTINGS:
            known = ", ".join(SETTINGS)
            raise self.error(name, f"unknown setting {name.value!r} in {table} (known: {known})")
        if not isinstance(value, yaml.ScalarNode) or value.tag != _BOOL_TAG:
            raise self.error(value, f"{name.value} in {table} must be true or false")
        return value.value.lower() in ("true", "yes", "on")

    def renamed(self, table: str, node: yaml.Node) -> dict[str, str]:
        """`_renamed: {old: new, …}`, casefolded."""
        self.mapping(node, f"_renamed in {table}")
        pairs = {}
        for old, new in self.pairs(node):
            if not isinstance(new, yaml.ScalarNode) or new.tag != _STR_TAG or not new.value:
                raise self.error(new, f"expected the new name of {table}.{old.value}")
            pairs[old.value.casefold()] = new.value.casefold()
        return pairs

    def moved(self, table: str, node: yaml.Node) -> frozenset[str]:
        """`_moved: [column, …]`, casefolded."""
        names = node.value if isinstance(node, yaml.SequenceNode) else None
        if not names or not all(
            isinstance(n, yaml.ScalarNode) and n.tag == _STR_TAG and n.value for n in names
        ):
            raise self.error(node, f"_moved in {table} must be a list of column names")
        return frozenset(n.value.casefold() for n in names)

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
