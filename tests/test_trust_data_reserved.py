"""Issue 9, item 5: an entity named like a ledger table is refused; the ledger is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import migrate
from turbodata.cli import main
from turbodata.lake.layouts import RESERVED_PREFIX, discover
from turbodata.lake.storage import LocalLake
from turbodata.ledger import records as ledger

ACCOUNT = [attribute("Id", "guid"), attribute("name", "string", 20)]
IMPOSTOR = [attribute("Id", "guid"), attribute("path", "string", 20)]
FOLDER = "2025-01-01T00.00.00Z"
IMPOSTORS = ("_turbodata_files", "_TurboData_Runs", "_turbodataextra")


def lake_with_impostors(tmp_path: Path) -> LakeBuilder:
    lake = LakeBuilder(tmp_path / "lake")
    tables = {"account": ACCOUNT, **dict.fromkeys(IMPOSTORS, IMPOSTOR)}
    files = {f"{name}/2025.csv": "00000000-0000-0000-0000-000000000001,x\n" for name in tables}
    lake.folder(FOLDER, tables, files)
    return lake


def ledger_columns(db_url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(db_url)
    try:
        inspector = sa.inspect(engine)
        return {
            table.name: [c["name"] for c in inspector.get_columns(table.name)]
            for table in ledger.metadata.sorted_tables
        }
    finally:
        engine.dispose()


def test_the_reserved_prefix_covers_every_ledger_table() -> None:
    assert ledger.PREFIX.startswith(RESERVED_PREFIX)
    assert all(t.name.startswith(RESERVED_PREFIX) for t in ledger.metadata.sorted_tables)


def test_entities_named_like_ledger_tables_are_refused_by_name_and_model_file(
    tmp_path: Path,
) -> None:
    plan = discover(LocalLake(lake_with_impostors(tmp_path).root))

    assert [b.table for b in plan.batches] == ["account"]
    refused = {p.table: p.message for p in plan.problems}
    assert set(refused) == set(IMPOSTORS)
    for table, message in refused.items():
        assert message.startswith(f"entity {table!r} in {FOLDER}/model.json: names starting")
        assert "reserved for turbodata's ledger tables" in message


def test_a_ledger_named_entity_never_alters_the_ledger(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = lake_with_impostors(tmp_path)
    expected_columns = {t.name: [c.name for c in t.columns] for t in ledger.metadata.sorted_tables}

    summary = migrate(lake.root, sqlite_url)

    assert summary.status == "failed"
    assert summary.tables["account"].status == "loaded"
    assert all(summary.tables[name].status == "failed" for name in IMPOSTORS)
    assert ledger_columns(sqlite_url) == expected_columns
    assert [(r["table_name"], r["path"]) for r in fetch(sqlite_url, "_turbodata_files")] == [
        ("account", f"{FOLDER}/account/2025.csv")
    ]

    assert main(["migrate", "--lake", str(lake.root), "--db", sqlite_url]) == 1
    assert "'_turbodata_files' in" in capsys.readouterr().err
    rerun = migrate(lake.root, sqlite_url)
    assert (rerun.tables["account"].status, rerun.tables["account"].files_read) == (
        "unchanged",
        0,
    )
    assert ledger_columns(sqlite_url) == expected_columns
