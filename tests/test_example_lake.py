"""examples/lake is what examples/make_lake.py generates, and has the shape it promises.

The CSVs are re-read here with a small independent tokenizer and converter, so the CSV text and
make_lake.expected_rows() cannot disagree unnoticed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

Field = tuple[str, bool]  # (text, was quoted)

FOLDER_NAME = re.compile(r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\dZ")
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ISO = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)\.(\d{7})(Z|\+00:00)?")
US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d\d):(\d\d) (AM|PM)")


def tokenize(text: str) -> list[list[Field]]:
    """Headerless RFC-4180-style CSV (quotes doubled, line breaks allowed inside quotes)."""
    rows: list[list[Field]] = []
    row: list[Field] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            parts, i = [], i + 1
            while True:
                j = text.index('"', i)
                parts.append(text[i:j])
                if text.startswith('""', j):
                    parts.append('"')
                    i = j + 2
                else:
                    i = j + 1
                    break
            row.append(("".join(parts), True))
        else:
            j = i
            while j < n and text[j] not in ',\n"\r':
                j += 1
            assert j == n or text[j] != '"', f"quote inside an unquoted field at {j}"
            row.append((text[i:j], False))
            i = j
        if i == n:
            rows.append(row)
            break
        if text[i] == ",":
            i += 1
            if i == n:
                row.append(("", False))
                rows.append(row)
        elif text[i] == "\n":
            rows.append(row)
            row, i = [], i + 1
        else:
            raise AssertionError(f"unexpected {text[i]!r} after a field at offset {i}")
    return rows


def convert(data_type: str, text: str) -> object:
    """A CSV field's value by model.json dataType (independent of make_lake's renderer)."""
    if text == "":
        return None
    if data_type == "guid":
        assert GUID.fullmatch(text), text
        return text
    if data_type == "int64":
        return int(text)
    if data_type == "decimal":
        return Decimal(text)
    if data_type == "double":
        return float(text)
    if data_type == "boolean":
        return {"true": True, "false": False}[text.lower()]
    if data_type in ("dateTime", "dateTimeOffset"):
        if m := ISO.fullmatch(text):
            value = f"{m[1]} {m[2]}.{m[3]}"
        else:
            m = US.fullmatch(text)
            assert m, f"unexpected date/time text {text!r}"
            month, day, year, hour, minute, second, half = m.groups()
            hour24 = int(hour) % 12 + (12 if half == "PM" else 0)  # "0:05 PM" is 12:05
            value = f"{year}-{int(month):02d}-{int(day):02d} {hour24:02d}:{minute}:{second}.0000000"
        return value + "+00:00" if data_type == "dateTimeOffset" else value
    assert data_type == "string", data_type
    return text


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def entity(model: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in model["entities"] if e["name"] == name)


def csv_rows(path: Path) -> list[list[Field]]:
    return tokenize(path.read_bytes().decode("utf-8"))


@pytest.fixture(scope="module")
def lake(example_lake: Path) -> Path:
    assert example_lake.is_dir(), "examples/lake is missing: run python examples/make_lake.py"
    return example_lake


def test_committed_lake_equals_a_fresh_generation(lake: Path, make_lake: ModuleType) -> None:
    problems = make_lake.differences(lake)
    assert not problems, (
        "examples/lake is out of date: run `python examples/make_lake.py`\n" + "\n".join(problems)
    )


def test_generation_is_deterministic(make_lake: ModuleType, tmp_path: Path) -> None:
    make_lake.write_lake(tmp_path / "lake")
    assert make_lake.differences(tmp_path / "lake") == []
    assert make_lake.build().files == make_lake.build().files


def test_lake_is_small(lake: Path) -> None:
    total = sum(p.stat().st_size for p in lake.rglob("*") if p.is_file())
    assert total < 1_000_000


def test_incremental_folder_layout(lake: Path, make_lake: ModuleType) -> None:
    in_progress = (lake / "Changelog" / "changelog.info").read_text().strip()
    assert in_progress == make_lake.IN_PROGRESS_FOLDER
    folders = sorted(p.name for p in lake.iterdir() if FOLDER_NAME.fullmatch(p.name))
    assert folders == [*make_lake.COMPLETED_FOLDERS, in_progress]
    assert (lake / "Changelog" / "Synapse.log").read_text().split() == folders[:-1]

    live = lake / in_progress
    assert (live / "model.json").stat().st_size == 0
    assert list(live.glob("*/*.csv")), "the in-progress folder has CSVs"

    for folder in folders[:-1]:
        model = load_json(lake / folder / "model.json")
        assert (model["name"], model["version"]) == ("cdm", "1.0")
        assert sorted(e["name"] for e in model["entities"]) == ["account", "contact"]
        stems = sorted(p.stem for p in (lake / folder / "OptionsetMetadata").glob("*.csv"))
        assert stems == sorted(
            [
                "GlobalOptionsetMetadata",
                "OptionsetMetadata",
                "StateMetadata",
                "StatusMetadata",
                "TargetMetadata",
            ]
        )
        for e in model["entities"]:
            annotations = {a["name"]: a["value"] for a in e["annotations"]}
            assert annotations["Athena:PartitionGranularity"] == "Year"
            assert annotations["Athena:InitialSyncState"] == "Completed"
            listed = set()
            for partition in e["partitions"]:
                assert partition["fileFormatSettings"] == {
                    "$type": "CsvFormatSettings",
                    "columnHeaders": False,
                    "delimiter": ",",
                    "quoteStyle": "QuoteStyle.Csv",
                    "csvStyle": "CsvStyle.QuoteAlways",
                }
                prefix = "https://contosodataverse.dfs.core.windows.net/"
                location = partition["location"]
                assert location.startswith(prefix + make_lake.CONTAINER + "/" + folder + "/")
                listed.add(location.rsplit("/", 2)[-2] + "/" + location.rsplit("/", 1)[-1])
            on_disk = {f"{e['name']}/{p.name}" for p in (lake / folder / e["name"]).glob("*.csv")}
            assert listed == on_disk, "model.json partitions list exactly the CSVs on disk"
            trickle = lake / folder / "Microsoft.Athena.TrickleFeedService"
            if listed:
                assert load_json(trickle / f"{e['name']}-model.json")["entities"] == [e]
    # a table that did not change in a folder: listed, no partitions, no folder
    second = load_json(lake / folders[1] / "model.json")
    assert entity(second, "contact")["partitions"] == []
    assert not (lake / folders[1] / "contact").exists()

    names = {p.name for p in lake.glob("*/*/*.csv") if FOLDER_NAME.fullmatch(p.parent.parent.name)}
    assert {"1900.csv", "2024.csv", "2025.csv", "2025_001.csv"} <= names


def test_attribute_metadata(lake: Path, make_lake: ModuleType) -> None:
    root = load_json(lake / "model.json")
    for table, columns in make_lake.LATEST_SCHEMA.items():
        assert [a["name"] for a in entity(root, table)["attributes"]] == [c.name for c in columns]
    attributes = {a["name"]: a for a in entity(root, "account")["attributes"]}
    assert attributes["name"]["cdm:traits"] == [
        {"traitReference": "is.constrained", "arguments": [{"name": "maximumLength", "value": 160}]}
    ]
    assert attributes["exchangerate"]["cdm:traits"][0]["arguments"] == [
        {"name": "precision", "value": 38},
        {"name": "scale", "value": 10},
    ]
    assert attributes["revenue"]["cdm:traits"][0]["arguments"][1] == {"name": "scale", "value": 4}
    assert attributes["Id"]["maxLength"] == -1


def test_schema_change_in_third_folder(lake: Path, make_lake: ModuleType) -> None:
    first, second, third = make_lake.COMPLETED_FOLDERS
    names = {
        folder: [
            a["name"]
            for a in entity(load_json(lake / folder / "model.json"), "account")["attributes"]
        ]
        for folder in (first, second, third)
    }
    assert names[first] == names[second]
    assert names[first][-1] == "IsDelete"
    assert names[third] == [*names[first], "new_loyaltytier"]

    old, new = len(names[first]), len(names[third])
    mixed = 0
    for path in sorted((lake / third / "account").glob("*.csv")):
        widths = [len(row) for row in csv_rows(path)]
        assert set(widths) <= {old, new}
        assert widths == sorted(widths), f"{path.name}: widths only grow down a file"
        mixed += old in widths and new in widths
    assert mixed, "a CSV of the third folder mixes old-width and new-width rows"
    for folder in (first, second):
        for path in (lake / folder / "account").glob("*.csv"):
            assert {len(row) for row in csv_rows(path)} == {old}


def _read_completed(lake: Path, make_lake: ModuleType) -> dict[str, list[dict[str, object]]]:
    """Every completed folder's rows, converted independently, in expected_rows() order."""
    out: dict[str, list[dict[str, object]]] = {t: [] for t in make_lake.TABLES}
    for folder in make_lake.COMPLETED_FOLDERS:
        model = load_json(lake / folder / "model.json")
        for table in make_lake.TABLES:
            attributes = entity(model, table)["attributes"]
            latest = [c.name for c in make_lake.LATEST_SCHEMA[table]]
            for path in sorted((lake / folder / table).glob("*.csv")):
                for row in csv_rows(path):
                    assert len(row) <= len(attributes)
                    values = {
                        a["name"]: convert(a["dataType"], text)
                        for a, (text, _quoted) in zip(attributes, row, strict=False)
                    }
                    out[table].append({name: values.get(name) for name in latest})
    return out


def test_expected_rows_match_the_csv_text(lake: Path, make_lake: ModuleType) -> None:
    expected = make_lake.expected_rows()
    assert _read_completed(lake, make_lake) == expected
    for table, rows in expected.items():
        assert 40 <= len(rows) <= 80, table
        assert all(set(row) == {c.name for c in make_lake.LATEST_SCHEMA[table]} for row in rows)


def test_expected_final_rows_keep_the_newest_version(make_lake: ModuleType) -> None:
    rows = make_lake.expected_rows()
    final = make_lake.expected_final_rows()
    for table in make_lake.TABLES:
        assert set(final[table]) == {row["Id"] for row in rows[table]}
        for row in rows[table]:
            assert row["versionnumber"] <= final[table][row["Id"]]["versionnumber"]


def test_content_has_the_promised_cases(lake: Path, make_lake: ModuleType) -> None:
    expected = make_lake.expected_rows()
    accounts, contacts = expected["account"], expected["contact"]
    everything = accounts + contacts
    strings = [v for row in everything for v in row.values() if isinstance(v, str)]

    assert any("\r\n" in s for s in strings) and any("\n" in s.replace("\r\n", "") for s in strings)
    assert any('"' in s for s in strings) and any("," in s for s in strings)
    assert any(s != s.strip(" ") for s in strings), "leading/trailing spaces"
    assert any("\t" in s for s in strings)
    assert any(re.search(r"[\u4e00-\u9fff]", s) for s in strings), "CJK"
    assert any(re.search(r"[\U0001F300-\U0001FAFF]", s) for s in strings), "emoji"
    assert any(re.search(r"[àèéìòùäöüß]", s) for s in strings), "accents"

    ids = Counter(row["Id"] for row in accounts)
    assert max(ids.values()) >= 3, "an Id updated in later folders"
    assert all(row["versionnumber"] > 2**31 for row in everything)
    assert all(row["IsDelete"] is None for row in everything), "no deletes yet"
    assert any(r["revenue"] is not None and r["revenue"] < 0 for r in accounts)
    precise = [r["exchangerate"] for r in accounts if r["exchangerate"] is not None]
    assert any(len(d.as_tuple().digits) >= 20 and d.as_tuple().exponent == -10 for d in precise)
    assert any(r["new_contractenddate"] == "1900-01-01 00:00:00.0000000" for r in accounts)
    assert any(r["new_contractenddate"] == "9999-12-31 00:00:00.0000000" for r in accounts)
    assert any(r["new_contractenddate"] == "2025-02-15 00:00:00.0000000" for r in accounts)
    assert all(str(r["createdon"]).endswith("+00:00") for r in accounts)
    assert any(r["createdon"] is None for r in contacts), "rows without createdon (1900.csv)"
    assert {r["new_loyaltytier"] for r in accounts} >= {None, "Gold", 'Gold "VIP"'}

    raw = "".join(p.read_text(encoding="utf-8") for p in sorted(lake.glob("*/*/*.csv")))
    assert ",TRUE," in raw and ",True," in raw and ",False," in raw
    assert ",0000250," in raw, "an int with leading zeros"
    assert re.search(r'"2/3/2025 0:\d\d:\d\d PM"', raw), "hour 0 with PM"
    assert re.search(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[1-9]Z"', raw), "7th digit"


def test_field_quoting_and_nulls(lake: Path, make_lake: ModuleType) -> None:
    quoted_types = {"string", "dateTime", "dateTimeOffset"}
    no_final_newline = 0
    for folder in make_lake.COMPLETED_FOLDERS:
        model = load_json(lake / folder / "model.json")
        for table in make_lake.TABLES:
            attributes = entity(model, table)["attributes"]
            for path in (lake / folder / table).glob("*.csv"):
                no_final_newline += not path.read_bytes().endswith(b"\n")
                for row in csv_rows(path):
                    is_delete = [a["name"] for a in attributes].index("IsDelete")
                    assert row[is_delete] == ("", False), "IsDelete empty on every row"
                    for attribute, (text, quoted) in zip(attributes, row, strict=False):
                        if text == "":
                            assert not quoted, f'{path}: "" instead of an empty field'
                        else:
                            assert quoted == (attribute["dataType"] in quoted_types), (
                                path,
                                attribute["name"],
                                text,
                            )
    assert no_final_newline == 1, "one file ends without a newline"


def test_optionset_metadata(lake: Path, make_lake: ModuleType) -> None:
    newest = lake / make_lake.COMPLETED_FOLDERS[-1] / "OptionsetMetadata"
    widths = {"OptionsetMetadata": 6, "GlobalOptionsetMetadata": 7, "StateMetadata": 5}
    widths |= {"StatusMetadata": 6, "TargetMetadata": 4}
    expected = make_lake.expected_optionset_rows()
    for stem, width in widths.items():
        rows = csv_rows(newest / f"{stem}.csv")
        assert {len(row) for row in rows} == {width}
        columns = make_lake.OPTIONSET_SCHEMAS[stem]
        converted = [
            {c.name: convert(c.data_type, text) for c, (text, _q) in zip(columns, row, strict=True)}
            for row in rows
        ]
        assert converted == expected[stem]
    labels = [row["LocalizedLabel"] for row in expected["OptionsetMetadata"]]
    assert {row["LocalizedLabelLanguageCode"] for row in expected["OptionsetMetadata"]} == {
        1033,
        1040,
    }
    assert any("," in label and '"' in label for label in labels)
    assert any(re.search(r"[àèéìòù]", label) for label in labels)
    first = make_lake.expected_optionset_rows(make_lake.COMPLETED_FOLDERS[0])
    assert first["OptionsetMetadata"] != expected["OptionsetMetadata"], "a label changed"


def test_tokenizer() -> None:
    assert tokenize('a,"b ""c"", d",\n"x\r\ny",,1') == [
        [("a", False), ('b "c", d', True), ("", False)],
        [("x\r\ny", True), ("", False), ("1", False)],
    ]
