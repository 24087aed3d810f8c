"""Issue 9, item 6: the encoding CDM metadata declares is decoded, or the table fails with
"unsupported encoding X"; good rows are never rejected for it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute, entity
from turbodata import migrate
from turbodata.model import CsvDialect
from turbodata.read.reader import UnsupportedEncoding, read_raw

NAMES = ["a", "b", "c"]
TEXTS = ["café", "Müller & Söhne", "€ 5 “quoted”", "naïve – dash", "Zoë\nsecond line"]


def read(data: bytes, encoding: str) -> tuple[list[tuple], list[tuple]]:
    dialect = CsvDialect(encoding=encoding)
    chunks = list(read_raw(lambda: io.BytesIO(data), column_names=NAMES, dialect=dialect))
    rows = []
    for chunk in chunks:
        columns = [column.to_pylist() for column in chunk.columns]
        rows += list(zip(chunk.row_numbers.to_pylist(), *columns, strict=True))
    rejects = [(r.row, r.column, r.reason, r.raw) for c in chunks for r in c.rejects]
    return rows, rejects


def csv_text(texts: list[str]) -> str:
    return "".join(f'{i},"{text}",x\r\n' for i, text in enumerate(texts, start=1))


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("cp1252", b""), ("utf-16", b""), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"")],
)
def test_declared_encodings_are_decoded_exactly(encoding: str, prefix: bytes) -> None:
    texts = TEXTS if encoding == "cp1252" else [*TEXTS, "中文 😀"]
    data = prefix + csv_text(texts).encode(encoding)

    rows, rejects = read(data, encoding)

    assert rejects == []
    assert rows == [(i, str(i), text, "x") for i, text in enumerate(texts, start=1)]


def test_a_byte_the_declared_encoding_does_not_define_rejects_only_its_row() -> None:
    data = "1,café,x\n".encode("cp1252") + b"2,bad \x81 byte,y\n" + b"3,ok,z\n"

    rows, rejects = read(data, "cp1252")

    assert rows == [(1, "1", "café", "x"), (3, "3", "ok", "z")]
    assert rejects == [(2, "b", "invalid cp1252", "2,bad \ufffd byte,y\n")]


def test_a_utf16_file_cut_in_the_middle_of_a_character_rejects_its_last_row() -> None:
    data = "1,a,x\n2,b,y\n".encode("utf-16-le") + "3,é,z".encode("utf-16-le")[:-1]

    rows, rejects = read(data, "utf-16-le")

    assert rows == [(1, "1", "a", "x"), (2, "2", "b", "y")]
    assert [(row, column) for row, column, _reason, _raw in rejects] == [(3, "c")]


@pytest.mark.parametrize("encoding", ["x-klingon", "base64"])
def test_an_encoding_python_cannot_decode_text_with_is_refused(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding, match=f"unsupported encoding '{encoding}'"):
        read(b"1,a,x\n", encoding)


# -------------------------------------------------------------------------- end to end


def lake_with_encodings(tmp_path: Path, encodings: dict[str, str]) -> LakeBuilder:
    """A root model.json lake: per table, one partition declaring the given encoding and
    written in it (unsupported ones are written as UTF-8)."""
    lake = LakeBuilder(tmp_path / "lake")
    entities = []
    for table, encoding in encodings.items():
        partition = f"{table}/Snapshot/1.csv"
        described = entity(table, [attribute("Id", "int64"), attribute("text")], [partition])
        described["partitions"][0]["fileFormatSettings"]["encoding"] = encoding  # type: ignore[index]
        entities.append(described)
        rows = "".join(f'{i},"{text}"\n' for i, text in enumerate(TEXTS, start=1))
        lake.write(partition, rows.encode(encoding if encoding != "x-klingon" else "utf-8"))
    lake.write("model.json", json.dumps({"name": "cdm", "entities": entities}))
    return lake


def test_windows_1252_and_utf16_partitions_load_every_row_exactly(
    sqlite_url: str, tmp_path: Path
) -> None:
    lake = lake_with_encodings(tmp_path, {"western": "windows-1252", "wide": "UTF-16"})

    summary = migrate(lake.root, sqlite_url)

    assert summary.ok, summary.to_dict()
    for table in ("western", "wide"):
        assert summary.tables[table].rows_rejected == 0
        loaded = sorted((int(r["Id"]), r["text"]) for r in fetch(sqlite_url, table))
        assert loaded == list(enumerate(TEXTS, start=1)), table


def test_an_unsupported_encoding_fails_its_table_by_name_and_rejects_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    lake = lake_with_encodings(tmp_path, {"odd": "x-klingon", "western": "windows-1252"})

    summary = migrate(lake.root, sqlite_url)

    odd = summary.tables["odd"]
    assert odd.status == "failed" and "unsupported encoding 'x-klingon'" in odd.error
    assert (odd.rows_rejected, odd.rows_inserted) == (0, 0)
    assert summary.tables["western"].status == "loaded"
    assert summary.status == "failed"
