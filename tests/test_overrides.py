"""turbodata.metadata.overrides: the type override file (issue 3, "Minimal types")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turbodata.metadata.override_file import load_overrides, parse_overrides
from turbodata.metadata.overrides import OverrideError, Overrides, parse_type
from turbodata.types.sql import Kind, SqlType, decimal_type

EXAMPLE = """\
# table -> column -> SQL type (or settings)
account:
  postalcode: nvarchar(10)
  revenue: decimal(19,4)
  description: nvarchar(max)
contact:
  _infer: false          # turn inference off for this table
  birthdate: date
"""


def write(tmp_path: Path, text: str, name: str = "overrides.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_file(tmp_path: Path) -> None:
    overrides = load_overrides(write(tmp_path, EXAMPLE))
    assert overrides.type_for("account", "postalcode") == SqlType(Kind.STRING, 10)
    assert overrides.type_for("account", "revenue") == decimal_type(19, 4)
    assert overrides.type_for("account", "description") == SqlType(Kind.STRING, None)
    assert overrides.type_for("contact", "birthdate") == SqlType(Kind.DATE)
    assert overrides.type_for("account", "name") is None
    assert overrides.type_for("lead", "postalcode") is None
    assert overrides.infer("contact") is False
    assert overrides.infer("account") is True
    assert overrides.infer("lead") is True


def test_names_match_ignoring_case(tmp_path: Path) -> None:
    overrides = load_overrides(write(tmp_path, EXAMPLE))
    assert overrides.type_for("Account", "PostalCode") == SqlType(Kind.STRING, 10)
    assert overrides.infer("CONTACT") is False


def test_column_inference_switches(tmp_path: Path) -> None:
    text = "account:\n  postalcode: declared\n  revenue: decimal(19,4)\n"
    overrides = load_overrides(write(tmp_path, text))
    assert overrides.type_for("account", "postalcode") is None  # the metadata's type
    assert overrides.infer("account", "postalcode") is False
    assert overrides.infer("account", "revenue") is False  # pinned
    assert overrides.infer("account", "name") is True
    assert overrides.infer("account") is True
    contact = load_overrides(write(tmp_path, "contact:\n  _infer: no\n", "c.yaml"))
    assert contact.infer("contact", "anything") is False
    assert load_overrides(write(tmp_path, "contact:\n  _infer: true\n", "t.yaml")).infer("contact")


def test_json_file(tmp_path: Path) -> None:
    data = {"account": {"postalcode": "NVARCHAR(10)", "_infer": False}}
    overrides = load_overrides(write(tmp_path, json.dumps(data, indent=2), "overrides.json"))
    assert overrides.type_for("account", "postalcode") == SqlType(Kind.STRING, 10)
    assert overrides.infer("account") is False


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "---\n", "{}"])
def test_empty_file_overrides_nothing(tmp_path: Path, text: str) -> None:
    overrides = load_overrides(write(tmp_path, text))
    assert overrides.tables == {}
    assert overrides.type_for("account", "name") is None
    assert overrides.infer("account") is True
    assert Overrides().infer("account") is True


def dt(fraction: int) -> SqlType:
    return SqlType(Kind.DATETIME, fraction=fraction)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nvarchar(10)", SqlType(Kind.STRING, 10)),
        ("varchar(4000)", SqlType(Kind.STRING, 4000)),
        ("string(1)", SqlType(Kind.STRING, 1)),
        ("nvarchar(max)", SqlType(Kind.STRING, None)),
        ("NVARCHAR ( MAX )", SqlType(Kind.STRING, None)),
        ("text", SqlType(Kind.STRING, None)),
        ("bit", SqlType(Kind.BOOLEAN)),
        ("Boolean", SqlType(Kind.BOOLEAN)),
        ("tinyint", SqlType(Kind.TINYINT)),
        ("smallint", SqlType(Kind.SMALLINT)),
        ("int", SqlType(Kind.INTEGER)),
        ("INTEGER", SqlType(Kind.INTEGER)),
        ("bigint", SqlType(Kind.BIGINT)),
        ("decimal(19,4)", decimal_type(19, 4)),
        ("numeric( 38 , 38 )", decimal_type(38, 38)),
        ("decimal(10)", decimal_type(10, 0)),
        ("decimal(1,0)", decimal_type(1, 0)),
        ("float", SqlType(Kind.FLOAT)),
        ("real", SqlType(Kind.REAL)),
        ("uniqueidentifier", SqlType(Kind.GUID)),
        ("guid", SqlType(Kind.GUID)),
        ("UUID", SqlType(Kind.GUID)),
        ("datetime2", dt(7)),
        ("datetime2(3)", dt(3)),
        ("DateTime2( 0 )", dt(0)),
        ("datetime", dt(7)),
        ("datetimeoffset(7)", SqlType(Kind.DATETIMEOFFSET, fraction=7)),
        ("datetimeoffset", SqlType(Kind.DATETIMEOFFSET, fraction=7)),
        ("date", SqlType(Kind.DATE)),
        ("time(3)", SqlType(Kind.TIME, fraction=3)),
        ("  time  ", SqlType(Kind.TIME, fraction=7)),
    ],
)
def test_type_spellings(text: str, expected: SqlType) -> None:
    assert parse_type(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "nvarchr(10)",
        "nvarchar",
        "nvarchar(0)",
        "nvarchar(4001)",
        "nvarchar(-1)",
        "nvarchar(10,2)",
        "nvarchar(ten)",
        "decimal",
        "decimal(39,2)",
        "decimal(0,0)",
        "decimal(5,6)",
        "decimal(5,2,1)",
        "decimal(5.2)",
        "int(5)",
        "bit()",
        "text(10)",
        "datetime2(8)",
        "time(3,1)",
        "varchar(10) not null",
        "",
        "double",
        "nvarchar(10",
    ],
)
def test_bad_type_spellings(text: str) -> None:
    with pytest.raises(ValueError, match=r"unknown type|must be|needs|takes|not a number"):
        parse_type(text)


def test_error_message_names_file_line_table_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "# pinned types\naccount:\n  name: nvarchar(100)\n  postalcode: nvarchr(10)\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OverrideError) as caught:
        load_overrides("overrides.yaml")
    assert str(caught.value) == (
        "overrides.yaml, line 4: unknown type 'nvarchr(10)' for account.postalcode"
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("account:\n  revenue: decimal(39,2)\n", 2, "precision must be 1..38: 'decimal(39,2)'"),
        ("account:\n  revenue: decimal(5,6)\n", 2, "scale must be 0..precision"),
        ("account:\n  a: int\n  name: nvarchar(0)\n", 3, "length must be 1..4000 or max"),
        ("account: nvarchar(10)\n", 1, "expected a mapping (name: ...) for table 'account'"),
        ("account:\n  - name\n", 2, "expected a mapping (name: ...) for table 'account'"),
        ("account:\n", 1, "expected a mapping"),
        ("- account\n", 1, "expected a mapping (name: ...) for the file"),
        ("x: {}\naccount:\n  _inferr: false\n", 3, "unknown setting '_inferr' in account"),
        ("_infer: false\n", 1, "unknown setting '_infer' (settings go inside a table)"),
        ("account:\n  _infer: maybe\n", 2, "_infer in account must be true or false"),
        ("account:\n  _infer: 'false'\n", 2, "_infer in account must be true or false"),
        ("account:\n  a: int\n  a: bigint\n", 3, "duplicate key 'a' (first on line 2)"),
        ("account:\n  a: int\n  A: bigint\n", 3, "duplicate key 'A' (first on line 2)"),
        ("account: {}\ncontact: {}\nAccount: {}\n", 3, "duplicate key 'Account' (first on line 1)"),
        ("account:\n  a: 12\n", 2, "expected a SQL type for account.a"),
        ("account:\n  a:\n", 2, "expected a SQL type for account.a"),
        ("account:\n  a: [int]\n", 2, "expected a SQL type for account.a"),
        ("account:\n  a: int(4)\n", 2, "int takes no arguments: 'int(4)' for account.a"),
        ("account:\n  ? [a, b]\n  : int\n", 2, "a key must be a plain name"),
        ("account:\n  a: int\n b: int\n", 3, "invalid YAML"),
        ("account:\n\t a: int\n", 2, "invalid YAML"),
        ("account: {a: int\n", 2, "invalid YAML"),
        ("a: {}\n---\nb: {}\n", 2, "invalid YAML"),
        ('{"account": {"a": "int",\n "a": "bigint"}}', 2, "duplicate key 'a' (first on line 1)"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(OverrideError) as caught:
        load_overrides(path)
    assert str(caught.value).startswith(f"{path}, line {line}: "), str(caught.value)
    assert message in str(caught.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(OverrideError, match=r"missing\.yaml: cannot read"):
        load_overrides(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"account:\n  n\xe4me: int\n")
    with pytest.raises(OverrideError, match=r"latin1\.yaml: cannot read"):
        load_overrides(tmp_path / "latin1.yaml")


def test_unused_entries_name_their_lines() -> None:
    text = EXAMPLE + "acount:\n  name: nvarchar(100)\n"
    overrides = parse_overrides(text, "overrides.yaml")
    known = {"Account": {"PostalCode", "Revenue", "name"}, "contact": {"birthdate"}}
    assert overrides.unused(known) == [
        "overrides.yaml, line 5: column 'account.description' matches no column",
        "overrides.yaml, line 9: table 'acount' matches no table",
    ]
    known["account"] = known.pop("Account") | {"description"}
    assert overrides.unused(known) == ["overrides.yaml, line 9: table 'acount' matches no table"]


def test_renamed_columns_are_a_table_setting(tmp_path: Path) -> None:
    overrides = load_overrides(write(tmp_path, "lead:\n  _renamed: {Fax: Mobile}\n  x: int\n"))
    assert overrides.renamed("LEAD", "fax", "mobile") is True
    assert overrides.renamed("lead", "fax", "other") is False
    assert overrides.renamed("account", "fax", "mobile") is False
    assert overrides.type_for("lead", "x") == SqlType(Kind.INTEGER)
    with pytest.raises(OverrideError, match=r"line 2: expected the new name of lead\.fax"):
        load_overrides(write(tmp_path, "lead:\n  _renamed: {fax: [a]}\n", "bad.yaml"))
    with pytest.raises(OverrideError, match=r"line 2: expected a mapping"):
        load_overrides(write(tmp_path, "lead:\n  _renamed: fax\n", "bad2.yaml"))


def test_moved_columns_are_a_table_setting(tmp_path: Path) -> None:
    overrides = load_overrides(write(tmp_path, "lead:\n  _moved: [City, zip]\n"))
    assert overrides.moved("LEAD", ["city"]) is True
    assert overrides.moved("lead", ["CITY", "Zip"]) is True
    assert overrides.moved("lead", ["city", "street"]) is False
    assert overrides.moved("account", ["city"]) is False
    for bad in ("_moved: city", "_moved: []", "_moved: [[a]]", "_moved: {a: b}"):
        with pytest.raises(OverrideError, match=r"line 2: _moved in lead must be a list"):
            load_overrides(write(tmp_path, f"lead:\n  {bad}\n", "bad.yaml"))
