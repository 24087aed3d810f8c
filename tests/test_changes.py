"""Change semantics on SQLite and PostgreSQL: each scenario's final table is compared row by
row with `tests.reference.final_state`, computed independently from the same rows."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.dbcheck import fetch, scalar
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from tests.reference import final_state
from turbodata import migrate
from turbodata.load.loader import LoadOptions

COLUMNS = [
    attribute("Id", "guid"),
    attribute("SinkModifiedOn", "dateTime"),
    attribute("name", "string", 50),
    attribute("versionnumber", "int64"),
    attribute("IsDelete", "boolean"),
]


def guid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def row(n: int, version: int | None, minute: int, name: str = "", delete: bool = False) -> dict:
    return {
        "Id": guid(n),
        "SinkModifiedOn": f"2025-01-01 10:{minute:02d}:00.0000000",
        "name": name or None,
        "versionnumber": version,
        "IsDelete": True if delete else None,
    }


def csv_text(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        version = "" if r["versionnumber"] is None else str(r["versionnumber"])
        name = f'"{r["name"]}"' if r["name"] else ""
        us_time = f'"1/1/2025 10:{r["SinkModifiedOn"][14:16]}:00 AM"'
        lines.append(f"{r['Id']},{us_time},{name},{version},{'True' if r['IsDelete'] else ''}")
    return "\n".join(lines) + "\n"


class ChangeLake:
    """Timestamp folders of change rows for one table `t`, plus the expected final state."""

    def __init__(self, root: Path) -> None:
        self.builder = LakeBuilder(root)
        self.root = root
        self.batches: list[list[dict]] = []
        self.minute = 0

    def folder(self, *files: list[dict]) -> None:
        self.minute += 5
        name = f"2025-01-01T10.{self.minute:02d}.00Z"
        contents = {f"t/{2025 + i}.csv": csv_text(rows) for i, rows in enumerate(files)}
        self.builder.folder(name, {"t": COLUMNS}, contents)
        self.batches.append([r for rows in files for r in rows])

    def expected(self) -> dict[str, tuple]:
        return {k: (r["name"], r["versionnumber"]) for k, r in final_state(self.batches).items()}


def loaded(db_url: str) -> dict[str, tuple]:
    return {str(r["Id"]): (r["name"], r["versionnumber"]) for r in fetch(db_url, "t")}


@pytest.fixture()
def lake(tmp_path: Path) -> ChangeLake:
    return ChangeLake(tmp_path / "lake")


def test_same_id_updated_within_a_folder_and_across_folders(lake: ChangeLake, db_url: str):
    lake.folder([row(1, 1, 1, "a1"), row(1, 3, 3, "a3"), row(1, 2, 2, "a2"), row(2, 1, 1, "b1")])
    lake.folder([row(1, 4, 6, "a4")], [row(2, 2, 7, "b2"), row(2, 5, 8, "b5")])
    summary = migrate(lake.root, db_url)
    assert summary.ok
    assert loaded(db_url) == lake.expected() == {guid(1): ("a4", 4), guid(2): ("b5", 5)}
    t = summary.tables["t"]
    assert (t.rows_inserted, t.rows_updated, t.rows_deleted) == (2, 2, 0)
    assert t.watermark == "2025-01-01T10.10.00Z"


def test_equal_versionnumber_breaks_ties_by_sink_modified_on_within_a_folder(
    lake: ChangeLake, db_url: str
):
    lake.folder([row(1, 7, 9, "later"), row(1, 7, 2, "earlier")])
    migrate(lake.root, db_url)
    assert loaded(db_url) == lake.expected() == {guid(1): ("later", 7)}


def test_an_older_or_equal_version_never_overwrites_the_table(lake: ChangeLake, db_url: str):
    lake.folder([row(1, 5, 1, "v5")])
    lake.folder([row(1, 4, 2, "v4 replayed late"), row(2, 1, 2, "new")])
    lake.folder([row(1, 5, 3, "same version again")])
    migrate(lake.root, db_url)
    assert loaded(db_url) == lake.expected() == {guid(1): ("v5", 5), guid(2): ("new", 1)}


def test_create_delete_recreate_and_delete_of_an_unknown_id(lake: ChangeLake, db_url: str):
    lake.folder([row(1, 1, 1, "created")])
    lake.folder([row(1, None, 2, delete=True)], [row(9, None, 2, delete=True)])
    lake.folder([row(1, 3, 3, "re-created")])
    summary = migrate(lake.root, db_url)
    assert summary.ok
    assert loaded(db_url) == lake.expected() == {guid(1): ("re-created", 3)}
    assert summary.tables["t"].rows_deleted == 1


def test_a_delete_without_version_wins_only_when_not_older_than_the_upserts(
    lake: ChangeLake, db_url: str
):
    # Id 1: deleted after its last update in the folder; Id 2: deleted, then updated later
    lake.folder(
        [row(1, 2, 1, "x"), row(2, 2, 1, "y"), row(2, 3, 6, "y again")],
        [row(1, None, 4, delete=True), row(2, None, 4, delete=True)],
    )
    migrate(lake.root, db_url)
    assert loaded(db_url) == lake.expected() == {guid(2): ("y again", 3)}


def test_staged_rows_sorted_by_key_still_rank_by_their_order_in_the_file(
    lake: ChangeLake, db_url: str
):
    # over 1,000 rows: staged (and sorted by key there); keys come in descending order, three
    # or four times, with equal versions and times where only the file's order (or a delete
    # row, which wins such a tie) decides
    rows = []
    for n in range(400, 0, -1):
        rows += [row(n, 1, 2, f"first {n}"), row(n, 2, 2, f"second {n}")]
        rows += [row(n, 2, 2, f"third {n}")] + ([row(n, 2, 2, delete=True)] if n % 7 == 0 else [])
    lake.folder([row(n, 1, 1, "old") for n in range(1, 501)])
    lake.folder(rows[:900], rows[900:])
    summary = migrate(lake.root, db_url)
    assert summary.ok
    expected = lake.expected()
    assert loaded(db_url) == expected
    assert expected[guid(3)] == ("third 3", 2) and expected[guid(450)] == ("old", 1)
    assert guid(7) not in expected and len(expected) == 500 - 400 // 7


def test_soft_delete_keeps_the_row_and_marks_it(lake: ChangeLake, db_url: str):
    lake.folder([row(1, 1, 1, "kept")])
    lake.folder([row(1, None, 2, delete=True)])
    summary = migrate(lake.root, db_url, options=LoadOptions(soft_delete=True))
    assert summary.ok
    [kept] = fetch(db_url, "t")
    assert (kept["name"], bool(kept["IsDelete"])) == ("kept", True)
    assert summary.tables["t"].rows_deleted == 1
    lake.folder([row(1, None, 3, delete=True)])  # deleted again: marked already
    again = migrate(lake.root, db_url, options=LoadOptions(soft_delete=True))
    assert again.ok and again.tables["t"].rows_deleted == 0


def test_a_reinitialised_table_repeating_every_row_changes_nothing(lake: ChangeLake, db_url: str):
    first = [row(1, 10, 1, "a"), row(2, 20, 1, "b")]
    lake.folder(first)
    migrate(lake.root, db_url)
    lake.folder([{**r, "name": r["name"]} for r in [row(1, 10, 9, "a"), row(2, 20, 9, "b")]])
    summary = migrate(lake.root, db_url)
    assert loaded(db_url) == lake.expected() == {guid(1): ("a", 10), guid(2): ("b", 20)}
    assert (summary.tables["t"].rows_inserted, summary.tables["t"].rows_updated) == (0, 0)


def test_a_folder_appearing_between_two_runs_is_applied_once(lake: ChangeLake, db_url: str):
    lake.folder([row(1, 1, 1, "a")])
    migrate(lake.root, db_url)
    lake.folder([row(1, 2, 2, "a2"), row(2, 1, 2, "b")])
    second = migrate(lake.root, db_url)
    third = migrate(lake.root, db_url)
    assert loaded(db_url) == lake.expected() == {guid(1): ("a2", 2), guid(2): ("b", 1)}
    assert second.tables["t"].files_read == 1 and third.tables["t"].files_read == 0


def test_an_abandoned_folder_is_skipped_and_its_rows_load_from_the_later_folder(
    lake: ChangeLake, db_url: str
):
    lake.folder([row(1, 1, 1, "a")])
    lake.folder([row(2, 1, 2, "lost?")])
    (lake.root / "2025-01-01T10.10.00Z" / "model.json").unlink()  # never finalised
    lake.batches.pop()
    lake.folder([row(2, 1, 2, "lost?"), row(3, 1, 3, "c")])  # Synapse Link re-commits
    lake.builder.changelog("2025-01-01T11.00.00Z")
    summary = migrate(lake.root, db_url)
    assert summary.ok
    assert loaded(db_url) == lake.expected()
    assert set(loaded(db_url)) == {guid(1), guid(2), guid(3)}


def test_a_row_without_a_key_is_rejected(lake: ChangeLake, db_url: str):
    lake.folder([row(1, 1, 1, "a")])
    (lake.root / "2025-01-01T10.05.00Z/t/2025.csv").write_text(
        csv_text([row(1, 1, 1, "a")]) + ',"1/1/2025 10:01:00 AM","no id",1,\n'
    )
    summary = migrate(lake.root, db_url)
    assert summary.tables["t"].rows_rejected == 1
    assert "no value for the key Id" in summary.tables["t"].problems[0]
    assert loaded(db_url) == {guid(1): ("a", 1)}


def test_tables_without_an_id_are_appended_and_a_configured_key_upserts(
    tmp_path: Path, db_url: str
):
    builder = LakeBuilder(tmp_path / "lake")
    columns = [attribute("code", "string", 10), attribute("label", "string", 20)]
    builder.folder(
        "2025-01-01T10.00.00Z",
        {"plain": columns, "keyed": columns},
        {"plain/1.csv": "a,x\na,y\n", "keyed/1.csv": "a,x\na,y\n"},
    )
    summary = migrate(builder.root, db_url, keys={"keyed": ["code"]})
    assert summary.ok
    assert sorted(r["label"] for r in fetch(db_url, "plain")) == ["x", "y"]
    assert [(r["code"], r["label"]) for r in fetch(db_url, "keyed")] == [("a", "y")]


def test_status_shows_last_applied_folder_rows_last_run_and_last_error(
    lake: ChangeLake, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    from turbodata.cli import main

    lake.folder([row(1, 1, 1, "a"), row(2, 1, 1, "b")])
    first = migrate(lake.root, db_url)
    renamed_type = [attribute("name", "int64") if c["name"] == "name" else c for c in COLUMNS]
    lake.builder.folder(  # `name` turns from text into a number: the table stops
        "2025-01-01T10.10.00Z", {"t": renamed_type}, {"t/2025.csv": f"{guid(3)},,7,1,\n"}
    )

    assert main(["status", "--db", db_url, "--json"]) == 0
    [before] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (before["table"], before["last_applied"], before["rows"]) == (
        "t",
        "2025-01-01T10.05.00Z",
        2,
    )
    assert (before["last_run"], before["last_status"], before["last_error"]) == (
        first.run_id,
        "loaded",
        None,
    )

    failing = migrate(lake.root, db_url, options=LoadOptions(retries=0))
    assert main(["status", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "table",
        "last",
        "applied",
        "rows",
        "rejected",
        "last",
        "run",
        "status",
        "last",
        "error",
    ]
    t = failing.tables["t"]
    cells = out.splitlines()[1].split()
    assert cells[:3] == ["t", "2025-01-01T10.05.00Z", "2"]  # the failed folder did not count
    assert cells[3:6] == ["0", failing.run_id, "failed"]
    assert t.status == "failed" and "'name'" in t.error and out.splitlines()[1].endswith(t.error)


def test_a_late_folder_never_goes_back_over_newer_data(lake: ChangeLake, db_url: str):
    lake.folder([row(1, 1, 1, "created")])
    lake.folder([row(1, 2, 2, delete=True), row(2, 1, 2, "late")])  # "abandoned" at first
    lake.folder([row(1, 3, 3, "re-created")])
    late = lake.root / "2025-01-01T10.10.00Z" / "model.json"
    late.rename(late.with_suffix(".later"))
    lake.builder.changelog("2025-01-01T11.00.00Z")
    migrate(lake.root, db_url)
    late.with_suffix(".later").rename(late)  # its model.json turns up after all

    again = migrate(lake.root, db_url)

    # skipped: its rows were re-committed later, and it must not bring back deleted rows
    assert again.tables["t"].files_read == 0
    assert loaded(db_url) == {guid(1): ("re-created", 3)}
    assert again.tables["t"].watermark == "2025-01-01T10.15.00Z"
    assert scalar(db_url, "SELECT watermark FROM _turbodata_tables") == "2025-01-01T10.15.00Z"
    assert again.tables["t"].problems == [  # skipped, and the summary says so
        "t: 2025-01-01T10.10.00Z is older than the last applied folder 2025-01-01T10.15.00Z"
        " and a run skipped it as abandoned: skipped"
    ]


@pytest.mark.parametrize("change", ["grown", "added"])
def test_a_file_new_or_changed_in_a_folder_already_applied_fails_the_table_not_its_rows(
    lake: ChangeLake, db_url: str, change: str
):
    lake.folder([row(1, 1, 1, "a")])
    lake.folder([row(2, 1, 2, "b")])
    assert migrate(lake.root, db_url).ok
    older = lake.root / "2025-01-01T10.05.00Z" / "t"
    if change == "grown":
        (older / "2025.csv").write_text(csv_text([row(1, 1, 1, "a"), row(3, 1, 1, "c")]))
    else:
        (older / "2026.csv").write_text(csv_text([row(3, 1, 1, "c")]))

    summary = migrate(lake.root, db_url)

    # skipping it would lose row 3 for good: the table stops until it is reloaded
    assert not summary.ok and summary.tables["t"].status == "failed"
    assert "2025-01-01T10.05.00Z/t/" in summary.tables["t"].error
    assert "was added or changed after the table was loaded" in summary.tables["t"].error
    assert "--reload t" in summary.tables["t"].error
    assert loaded(db_url) == {guid(1): ("a", 1), guid(2): ("b", 1)}
    reloaded = migrate(lake.root, db_url, reload=["t"])
    assert reloaded.ok, reloaded.to_dict()
    assert set(loaded(db_url)) == {guid(1), guid(2), guid(3)}


def test_a_file_turning_up_in_a_folder_other_tables_loaded_from_fails_the_table(
    lake: ChangeLake, db_url: str
):
    # t had no file in 10.10, which `u` loaded from; t's file there turns up once t is past
    # it (a copy finishing late). It was skipped as an abandoned folder's: row 2 lost while
    # every run succeeded (found by review)
    builder, tables = lake.builder, {"t": COLUMNS, "u": COLUMNS}
    builder.changelog("2025-01-01T11.00.00Z")
    builder.folder("2025-01-01T10.05.00Z", tables, {"t/2025.csv": csv_text([row(1, 1, 1, "a")])})
    builder.folder("2025-01-01T10.10.00Z", tables, {"u/2025.csv": csv_text([row(1, 1, 1, "u")])})
    builder.folder("2025-01-01T10.15.00Z", tables, {"t/2025.csv": csv_text([row(3, 1, 1, "c")])})
    assert migrate(lake.root, db_url).ok
    builder.write("2025-01-01T10.10.00Z/t/2025.csv", csv_text([row(2, 1, 1, "late")]))

    summary = migrate(lake.root, db_url)

    t = summary.tables["t"]
    assert not summary.ok and t.status == "failed"
    assert t.error.startswith("2025-01-01T10.10.00Z/t/2025.csv turned up after")
    assert "--reload t" in t.error
    assert summary.tables["u"].status == "unchanged"
    reloaded = migrate(lake.root, db_url, reload=["t"])
    assert reloaded.ok, reloaded.to_dict()
    assert loaded(db_url) == {guid(1): ("a", 1), guid(2): ("late", 1), guid(3): ("c", 1)}


def test_an_abandoned_folder_a_reloaded_table_applies_stays_abandoned_for_the_others(
    lake: ChangeLake, db_url: str
):
    """A table loaded from the start (a --reload, a new table) applies an abandoned folder
    whose model.json turned up: it then counted as applied for every other table, which
    failed as having a late file there (found by review). The ledger keeps the folders
    runs skipped as abandoned."""
    builder, tables = lake.builder, {"t": COLUMNS, "u": COLUMNS}
    builder.changelog("2025-01-01T11.00.00Z")
    for minute, model in (("05", True), ("10", False), ("15", True)):  # 10.10: abandoned
        rows = {f"{t}/2025.csv": csv_text([row(int(minute), 1, 1, t)]) for t in tables}
        builder.folder(f"2025-01-01T10.{minute}.00Z", tables, rows, model=model)
    assert migrate(lake.root, db_url).ok
    late = "2025-01-01T10.10.00Z"
    builder.folder(late, tables, {"t/2025.csv": csv_text([row(10, 1, 1, "t")])})  # turns up
    assert migrate(lake.root, db_url, reload=["u"]).ok  # u applies 10.10 from the start

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    assert summary.tables["t"].status == "unchanged"
    assert any("skipped it as abandoned: skipped" in p for p in summary.tables["t"].problems)
    assert scalar(db_url, "SELECT folder FROM _turbodata_abandoned") == late


def cut_row_lake(root: Path) -> tuple[LakeBuilder, Callable[[], None]]:
    """Two folders of `t` (with a trailing `code` column); the second's file ends in a cut
    row of the right width (`…,77,,AB` of `…,77,,ABCDEF`), as a file still being written
    reads. Returns the lake and what completes that file."""
    builder = LakeBuilder(root)
    columns = [*COLUMNS, attribute("code", "string", 20)]
    first = f'{guid(1)},"1/1/2025 10:01:00 AM","alpha",1,,A1\n'
    later = f'{guid(2)},"1/1/2025 10:02:00 AM","bravo",77,,ABCDEF\n'
    builder.folder("2025-01-01T10.05.00Z", {"t": columns}, {"t/2025.csv": first})
    builder.folder("2025-01-01T10.10.00Z", {"t": columns}, {"t/2025.csv": first + later[:-5]})
    return builder, lambda: builder.write("2025-01-01T10.10.00Z/t/2025.csv", first + later)


def test_a_cut_last_row_is_mended_when_its_file_is_read_again_complete(tmp_path: Path, db_url: str):
    """A file still being written when a run read it (a folder without Changelog) ended in a
    cut row of the right width; read again complete, its row has the same versionnumber,
    which never updated: the cut value stayed while every run succeeded."""
    builder, complete = cut_row_lake(tmp_path / "lake")
    assert migrate(builder.root, db_url).ok
    codes = {str(r["Id"]): r["code"] for r in fetch(db_url, "t")}
    assert codes[guid(2)] == "AB"  # nothing tells the cut row from a whole one

    complete()
    summary = migrate(builder.root, db_url)

    assert summary.ok, summary.to_dict()
    rows = {str(r["Id"]): (r["name"], r["versionnumber"], r["code"]) for r in fetch(db_url, "t")}
    assert rows == {guid(1): ("alpha", 1, "A1"), guid(2): ("bravo", 77, "ABCDEF")}
    table = summary.tables["t"]
    assert (table.rows_inserted, table.rows_updated, table.rows_deleted) == (0, 2, 0)


def test_reload_mends_a_cut_row_whose_folder_a_later_one_followed(tmp_path: Path, db_url: str):
    """The cut file's folder is no longer the newest when it completes: the table fails (a
    changed file behind its watermark) until `--reload`, which mends the cut row too."""
    builder = LakeBuilder(tmp_path / "lake")
    columns = [*COLUMNS, attribute("code", "string", 20)]
    whole = f'{guid(2)},"1/1/2025 10:02:00 AM","bravo",77,,ABCDEF\n'
    builder.folder("2025-01-01T10.05.00Z", {"t": columns}, {"t/2025.csv": whole[:-5]})
    assert migrate(builder.root, db_url).ok
    later = f'{guid(3)},"1/1/2025 10:03:00 AM","charlie",5,,C\n'
    builder.folder("2025-01-01T10.10.00Z", {"t": columns}, {"t/2025.csv": later})
    assert migrate(builder.root, db_url).ok
    builder.write("2025-01-01T10.05.00Z/t/2025.csv", whole)
    assert migrate(builder.root, db_url).tables["t"].status == "failed"

    summary = migrate(builder.root, db_url, reload=["t"])

    assert summary.ok, summary.to_dict()
    codes = {str(r["Id"]): r["code"] for r in fetch(db_url, "t")}
    assert codes == {guid(2): "ABCDEF", guid(3): "C"}


def test_a_cut_row_is_mended_by_a_plain_rerun_after_an_interrupted_reload(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
):
    """The reload's first batch forgets the table's files: the rerun that finishes the reload
    reads the completed file as new, and its row, the same change, still mends the cut."""
    from turbodata.load.loader import TableLoader

    builder = LakeBuilder(tmp_path / "lake")
    columns = [*COLUMNS, attribute("code", "string", 20)]
    first = f'{guid(9)},"1/1/2025 10:00:00 AM","zulu",1,,Z\n'
    whole = f'{guid(2)},"1/1/2025 10:02:00 AM","bravo",77,,ABCDEF\n'
    builder.folder("2025-01-01T10.01.00Z", {"t": columns}, {"t/2025.csv": first})
    builder.folder("2025-01-01T10.05.00Z", {"t": columns}, {"t/2025.csv": whole[:-5]})
    assert migrate(builder.root, db_url).ok
    builder.write("2025-01-01T10.05.00Z/t/2025.csv", whole)
    original = TableLoader._with_retries

    def stopped_at_the_cut_folder(loader: TableLoader, result: object, work: object) -> None:
        if "10.05.00Z" in work.batch.batch_id:  # type: ignore[attr-defined]
            raise RuntimeError("the run stopped")
        original(loader, result, work)  # type: ignore[arg-type]

    monkeypatch.setattr(TableLoader, "_with_retries", stopped_at_the_cut_folder)
    assert not migrate(builder.root, db_url, reload=["t"]).ok  # 10.01 reloaded only
    monkeypatch.setattr(TableLoader, "_with_retries", original)

    summary = migrate(builder.root, db_url)

    assert summary.ok, summary.to_dict()
    codes = {str(r["Id"]): r["code"] for r in fetch(db_url, "t")}
    assert codes == {guid(9): "Z", guid(2): "ABCDEF"}


def test_a_folder_read_again_keeps_the_newer_rows_of_its_other_file(lake: ChangeLake, db_url: str):
    # key 2: the same version written again later (in 2026.csv) ranks first, too
    lake.folder([row(1, 1, 1, "a"), row(2, 4, 1, "d")], [row(1, 2, 2, "b"), row(2, 4, 2, "e")])
    assert migrate(lake.root, db_url).ok
    grown = [row(1, 1, 1, "a"), row(2, 4, 1, "d"), row(3, 1, 3, "c")]
    (lake.root / "2025-01-01T10.05.00Z" / "t" / "2025.csv").write_text(csv_text(grown))

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    assert loaded(db_url) == {guid(1): ("b", 2), guid(2): ("e", 4), guid(3): ("c", 1)}
    table = summary.tables["t"]
    # the folder is read again whole: its two winners are the changes the table holds
    assert (table.rows_inserted, table.rows_updated) == (1, 2)


@pytest.mark.parametrize("soft_delete", [False, True])
def test_a_key_deleted_by_another_file_stays_deleted_when_its_upsert_file_grows(
    tmp_path: Path, db_url: str, soft_delete: bool
):
    """F&O writes deletes to files of their own: read alone, the grown upsert file brought
    the deleted key back (with --soft-delete, unmarked it)."""
    builder = LakeBuilder(tmp_path / "lake")
    options = LoadOptions(soft_delete=soft_delete)
    folder = "2025-01-01T10.05.00Z"
    upsert = csv_text([row(1, 1, 1, "alpha")])
    builder.folder(folder, {"t": COLUMNS}, {"t/2025.csv": upsert})
    assert migrate(builder.root, db_url, options=options).ok
    deletes = {"t/4.csv": csv_text([row(1, None, 3, delete=True)])}
    builder.folder(folder, {"t": COLUMNS}, {"t/2025.csv": upsert, **deletes})
    assert migrate(builder.root, db_url, options=options).ok
    builder.write(f"{folder}/t/2025.csv", upsert + csv_text([row(3, 1, 4, "charlie")]))

    summary = migrate(builder.root, db_url, options=options)

    assert summary.ok, summary.to_dict()
    rows = {str(r["Id"]): r["IsDelete"] for r in fetch(db_url, "t")}
    if soft_delete:
        assert rows == {guid(1): True, guid(3): None} or rows == {guid(1): 1, guid(3): None}
    else:
        assert rows == {guid(3): None}


@pytest.mark.parametrize("delete_version", [6, None])  # Dataverse; F&O deletes carry none
def test_a_soft_deleted_row_stays_marked_when_its_last_upsert_comes_again(
    lake: ChangeLake, db_url: str, delete_version: int | None
):
    """The mark keeps the version of the row it deleted: that row, the same change, read
    again in a later folder must not bring the row back."""
    options = LoadOptions(soft_delete=True)
    lake.folder([row(1, 5, 1, "alpha")])
    lake.folder([row(1, delete_version, 2, delete=True)])
    lake.folder([row(1, 5, 1, "alpha")])

    summary = migrate(lake.root, db_url, options=options)

    assert summary.ok, summary.to_dict()
    assert [r["IsDelete"] for r in fetch(db_url, "t")] in ([True], [1])
    assert summary.tables["t"].rows_updated == 0


def test_an_equal_version_written_again_later_keeps_the_first_when_read_again(
    lake: ChangeLake, db_url: str
):
    """A re-initialised table writes the same versions again with later Sink dates: kept as
    the first load kept them, also when the later folder's file is read again."""
    lake.folder([row(1, 5, 1, "alpha")])
    lake.folder([row(1, 5, 9, "alpha")])
    assert migrate(lake.root, db_url).ok
    grown = [row(1, 5, 9, "alpha"), row(2, 1, 9, "bravo")]
    (lake.root / "2025-01-01T10.10.00Z" / "t" / "2025.csv").write_text(csv_text(grown))

    assert migrate(lake.root, db_url).ok

    modified = {str(r["Id"]): str(r["SinkModifiedOn"]) for r in fetch(db_url, "t")}
    assert modified[guid(1)].startswith("2025-01-01 10:01:00")


def test_a_replayed_delete_older_than_the_row_does_not_remove_it(lake: ChangeLake, db_url: str):
    lake.folder([row(1, 5, 5, "v5")])
    lake.folder([row(1, 4, 4, delete=True)])  # the delete of an older version, replayed
    migrate(lake.root, db_url)
    assert loaded(db_url) == {guid(1): ("v5", 5)}
    assert lake.expected() == loaded(db_url)  # the tests' reference model keeps it too


def test_a_keyless_table_whose_loaded_file_changed_fails_instead_of_duplicating(
    tmp_path: Path, db_url: str
):
    builder = LakeBuilder(tmp_path / "lake")
    columns = [attribute("code", "string", 10)]
    builder.folder("2025-01-01T10.00.00Z", {"codes": columns}, {"codes/1.csv": "a\nb\n"})
    assert migrate(builder.root, db_url).ok
    builder.write("2025-01-01T10.00.00Z/codes/1.csv", "a\nb\nc\n")

    planned = migrate(builder.root, db_url, dry_run=True)
    summary = migrate(builder.root, db_url)

    assert summary.tables["codes"].status == planned.tables["codes"].status == "failed"
    assert "changed after it was loaded" in summary.tables["codes"].error
    assert planned.tables["codes"].error == summary.tables["codes"].error
    assert sorted(r["code"] for r in fetch(db_url, "codes")) == ["a", "b"]


def test_soft_delete_also_marks_rows_a_snapshot_no_longer_has(tmp_path: Path, db_url: str):
    from tests.lakebuilder import entity, model_json

    builder = LakeBuilder(tmp_path / "lake")
    builder.write("model.json", model_json([entity("t", COLUMNS, ["t/Snapshot/2025_1.csv"])]))
    snapshot = "t/Snapshot/2025_1.csv"
    builder.write(snapshot, csv_text([row(1, 1, 1, "a"), row(2, 1, 1, "b"), row(3, 1, 1, "c")]))
    options = LoadOptions(soft_delete=True)
    assert migrate(builder.root, db_url, options=options).ok
    builder.write(snapshot, csv_text([row(1, 2, 2, "a2"), row(3, None, 2, delete=True)]))

    summary = migrate(builder.root, db_url, options=options)

    t = summary.tables["t"]
    assert (t.rows_inserted, t.rows_updated, t.rows_deleted) == (0, 1, 2)
    state = {str(r["Id"])[-1]: (r["name"], bool(r["IsDelete"])) for r in fetch(db_url, "t")}
    assert state == {"1": ("a2", False), "2": ("b", True), "3": ("c", True)}
    builder.write(snapshot, csv_text([row(1, 3, 3, "a3")]))  # 2 and 3 are already marked
    again = migrate(builder.root, db_url, options=options).tables["t"]
    assert (again.rows_updated, again.rows_deleted) == (1, 0)


def test_a_late_folder_of_a_keyless_table_is_not_appended_again(tmp_path: Path, db_url: str):
    builder = LakeBuilder(tmp_path / "lake")
    columns = [attribute("code", "string", 10)]
    builder.folder("2025-01-01T10.00.00Z", {"codes": columns}, {"codes/1.csv": "a\n"})
    builder.folder("2025-01-01T10.05.00Z", {"codes": columns}, {"codes/1.csv": "b\n"}, model=False)
    builder.folder("2025-01-01T10.10.00Z", {"codes": columns}, {"codes/1.csv": "b\nc\n"})
    builder.changelog("2025-01-01T11.00.00Z")
    assert migrate(builder.root, db_url).ok
    builder.folder("2025-01-01T10.05.00Z", {"codes": columns}, {"codes/1.csv": "b\n"})

    again = migrate(builder.root, db_url)

    assert again.ok and again.tables["codes"].files_read == 0
    assert sorted(r["code"] for r in fetch(db_url, "codes")) == ["a", "b", "c"]


def test_a_file_its_folder_lists_but_the_lake_lacks_holds_the_table_until_it_is_there(
    lake: ChangeLake, db_url: str
):
    lake.folder([row(1, 1, 1, "a")], [row(2, 1, 1, "b")])  # t/2025.csv and t/2026.csv
    lake.folder([row(3, 1, 2, "c")])
    missing = lake.root / "2025-01-01T10.05.00Z" / "t" / "2026.csv"
    text = missing.read_text()
    missing.unlink()  # listed in the folder's model.json, not (yet) in the lake

    waiting = migrate(lake.root, db_url)
    missing.write_text(text)
    complete = migrate(lake.root, db_url)

    # loading the rest would move the table past the folder: the file's rows would be lost
    assert waiting.tables["t"].status == "failed" and not waiting.ok
    assert "t/2026.csv for t, which is not in the lake" in waiting.tables["t"].error
    assert complete.ok, complete.to_dict()
    assert loaded(db_url) == lake.expected()
    assert set(loaded(db_url)) == {guid(1), guid(2), guid(3)}


def test_an_old_folder_file_with_a_new_fingerprint_but_its_size_is_noted_not_reloaded(
    lake: ChangeLake, db_url: str
):
    lake.folder([row(1, 1, 1, "a")], [row(3, 1, 1, "c")])  # the other file is counted out
    lake.folder([row(2, 1, 2, "b")])
    assert migrate(lake.root, db_url).ok
    older = lake.root / "2025-01-01T10.05.00Z" / "t" / "2025.csv"
    os.utime(older, (1_900_000_000, 1_900_000_000))  # as a copy of the lake elsewhere has

    summary = migrate(lake.root, db_url)

    assert summary.ok and summary.tables["t"].files_read == 0
    assert summary.tables["t"].problems == [
        "t: 2025-01-01T10.05.00Z: 1 file(s) loaded before have another fingerprint and the"
        " same size (the lake copied elsewhere?): not loaded again"
    ]
    assert loaded(db_url) == {guid(1): ("a", 1), guid(2): ("b", 1), guid(3): ("c", 1)}


def test_soft_delete_of_a_snapshot_table_without_isdelete_fails_instead_of_deleting(
    tmp_path: Path, db_url: str
):
    from tests.lakebuilder import entity, model_json

    builder = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("name", "string", 20)]
    builder.write("model.json", model_json([entity("t", columns, ["t/part.csv"])]))
    builder.write("t/part.csv", f"{guid(1)},one\n{guid(2)},two\n")
    options = LoadOptions(soft_delete=True)
    assert migrate(builder.root, db_url, options=options).ok
    builder.write("t/part.csv", f"{guid(1)},one again\n")

    summary = migrate(builder.root, db_url, options=options)

    # the user asked to keep deleted rows, and there is nothing to mark them with
    assert summary.tables["t"].status == "failed"
    assert "no IsDelete column to mark them" in summary.tables["t"].error
    assert sorted((str(r["Id"]), r["name"]) for r in fetch(db_url, "t")) == [
        (guid(1), "one"),
        (guid(2), "two"),
    ]


def test_one_instant_with_two_offsets_is_one_key(tmp_path: Path, db_url: str):
    """SQL Server and PostgreSQL compare a DATETIMEOFFSET's instant; SQLite compares text,
    so it stores the instant at +00:00 (it kept each value's offset: a second row, found by
    review)."""
    columns = [
        attribute("Id", "guid"),
        attribute("validfrom", "dateTimeOffset"),
        attribute("name", "string", 20),
        attribute("versionnumber", "int64"),
    ]
    lake = LakeBuilder(tmp_path / "lake")
    first = (
        f"{guid(1)},2024-01-01T02:00:00+02:00,first,1\n{guid(2)},2024-01-01T23:30:00-01:00,x,1\n"
    )
    lake.folder("2025-01-01T10.00.00Z", {"t": columns}, {"t/2025.csv": first})
    later = f"{guid(1)},2024-01-01T00:00:00Z,second,2\n"
    lake.folder("2025-01-01T10.05.00Z", {"t": columns}, {"t/2025.csv": later})

    summary = migrate(lake.root, db_url, options=LoadOptions(keys={"t": ["Id", "validfrom"]}))

    t = summary.tables["t"]
    assert summary.ok and (t.rows_inserted, t.rows_updated) == (2, 1), summary.to_dict()
    assert sorted(r["name"] for r in fetch(db_url, "t")) == ["second", "x"]
    if db_url.startswith("sqlite"):
        stored = sorted(r["validfrom"] for r in fetch(db_url, "t"))
        assert stored == ["2024-01-01 00:00:00.0000000+00:00", "2024-01-02 00:30:00.0000000+00:00"]


def test_a_decimal_versionnumber_ranks_as_a_number_or_the_table_fails(tmp_path: Path, db_url: str):
    """SQLite keeps decimals as text, where '10' < '9': version 10 neither updated nor
    deleted version 9, runs succeeding (found by review). There the batch fails, saying how
    to pin the column; PostgreSQL ranks the numbers."""
    columns = [
        attribute("Id", "guid"),
        attribute("name", "string", 20),
        attribute("versionnumber", "decimal", precision=20, scale=0),
        attribute("IsDelete", "boolean"),
    ]
    lake = LakeBuilder(tmp_path / "lake")
    first = f"{guid(1)},a9,9,\n{guid(2)},b9,9,\n"
    lake.folder("2025-01-01T10.00.00Z", {"t": columns}, {"t/2025.csv": first})
    later = f"{guid(1)},a10,10,\n{guid(2)},,10,True\n"
    lake.folder("2025-01-01T10.05.00Z", {"t": columns}, {"t/2025.csv": later})

    summary = migrate(lake.root, db_url)

    names = [r["name"] for r in fetch(db_url, "t")]
    if db_url.startswith("sqlite"):
        assert not summary.ok and summary.tables["t"].status == "failed"
        assert "keeps as text: '10' would rank below '9'" in summary.tables["t"].error
        assert sorted(names) == ["a9", "b9"]  # the folder before, as it was
    else:
        assert summary.ok and names == ["a10"], summary.to_dict()


def test_a_row_lacking_a_composite_key_part_names_the_part_it_lacks(
    tmp_path: Path, db_url: str
) -> None:
    """The reject named the key's first column, which had a value (found by review)."""
    columns = [attribute("a", "string", 5), attribute("b", "string", 5), attribute("n", "int32")]
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": "x,1,1\ny,,2\n,z,3\n"})

    summary = migrate(lake.root, db_url, options=LoadOptions(keys={"t": ["a", "b"]}))

    assert summary.tables["t"].rows_rejected == 2
    rejects = [(r["row_number"], r["column_name"]) for r in fetch(db_url, "_turbodata_rejects")]
    assert sorted(rejects) == [(2, "b"), (3, "a")]


@pytest.mark.parametrize("split", [False, True], ids=["one-folder", "two-folders"])
def test_soft_delete_keeps_the_same_rows_however_the_changes_fall_into_folders(
    tmp_path: Path, db_url: str, split: bool
) -> None:
    """A key created and deleted in one folder was gone (kept, marked, when the delete came
    in the next folder); a key updated and deleted in one folder was marked with its values
    before the update (found by review). Folder boundaries are the exporter's choice."""
    lake = ChangeLake(tmp_path / "lake")
    lake.folder([row(1, 1, 1, "one"), row(2, 1, 1, "two")])
    created = [row(3, 1, 2, "created"), row(2, 2, 2, "two updated")]
    deleted = [row(3, 2, 3, delete=True), row(2, 3, 3, delete=True)]
    if split:
        lake.folder(created)
        lake.folder(deleted)
    else:
        lake.folder(created, deleted)  # two files of one folder

    summary = migrate(lake.root, db_url, options=LoadOptions(soft_delete=True))

    assert summary.ok, summary.to_dict()
    rows = {
        str(r["Id"]): (r["name"], r["versionnumber"], bool(r["IsDelete"]))
        for r in fetch(db_url, "t")
    }
    assert rows == {
        guid(1): ("one", 1, False),
        guid(2): ("two updated", 2, True),
        guid(3): ("created", 1, True),
    }


def test_a_file_turning_up_in_the_last_applied_folder_is_ranked_with_the_folders_others(
    lake: ChangeLake, db_url: str
):
    """Files of a folder are written in any order: one that turned up after its folder was
    applied was read alone, and its older upsert brought back a row the folder deletes
    (found by review). The whole folder is read again, so its rows rank together."""
    builder, name = lake.builder, "2025-01-01T10.10.00Z"
    lake.folder([row(1, 1, 1, "created")])
    deletes = {"t/4.csv": csv_text([row(1, 10, 3, delete=True)])}
    builder.folder(name, {"t": COLUMNS}, deletes)
    assert migrate(lake.root, db_url).ok and loaded(db_url) == {}
    builder.write(f"{name}/t/2024.csv", csv_text([row(1, 5, 2, "older")]))  # 4.csv untouched
    builder.write(
        f"{name}/model.json", model_json([entity("t", COLUMNS, listed(lake.root, name, "t"))])
    )

    summary = migrate(lake.root, db_url)

    assert summary.ok and summary.tables["t"].files_read == 2
    assert loaded(db_url) == {}  # the delete (version 10) still wins


def listed(root: Path, folder: str, table: str) -> list[str]:
    """The folder's files of `table`, as its model.json lists them."""
    return sorted(f"{folder}/{table}/{p.name}" for p in (root / folder / table).glob("*.csv"))


def test_a_new_file_of_a_keyless_table_is_appended_alone(tmp_path: Path, db_url: str) -> None:
    builder, name = LakeBuilder(tmp_path / "lake"), "2025-01-01T10.05.00Z"
    columns = [attribute("n", "int32"), attribute("what", "string", 10)]
    builder.folder(name, {"log": columns}, {"log/1.csv": "1,a\n2,b\n"})
    assert migrate(builder.root, db_url).ok
    builder.write(f"{name}/log/2.csv", "3,c\n")
    builder.write(
        f"{name}/model.json",
        model_json([entity("log", columns, listed(builder.root, name, "log"))]),
    )
    summary = migrate(builder.root, db_url)
    assert summary.ok and summary.tables["log"].files_read == 1
    assert sorted(r["n"] for r in fetch(db_url, "log")) == [1, 2, 3]


def test_a_file_late_for_a_folder_no_table_loaded_from_fails_the_table(
    lake: ChangeLake, db_url: str
):
    """Without a Changelog a folder still being written is read as it is: one that held no
    file yet was passed over, and its file turning up later was skipped as if the folder
    were abandoned, the run succeeding without its rows (found by review)."""
    builder = lake.builder
    lake.folder([row(1, 1, 1, "a")])
    builder.folder("2025-01-01T10.10.00Z", {"t": COLUMNS}, {})  # nothing yet
    lake.minute += 5
    lake.folder([row(2, 1, 3, "c")])
    assert migrate(lake.root, db_url).ok
    builder.folder(
        "2025-01-01T10.10.00Z", {"t": COLUMNS}, {"t/1.csv": csv_text([row(1, 5, 2, "b")])}
    )

    failed = migrate(lake.root, db_url)

    assert not failed.ok and failed.tables["t"].status == "failed"
    assert "passed over" in failed.tables["t"].error and "--reload t" in failed.tables["t"].error
    assert migrate(lake.root, db_url, reload=["t"]).ok
    assert loaded(db_url) == {guid(1): ("b", 5), guid(2): ("c", 1)}


def test_a_folder_read_again_around_a_new_file_reports_no_old_reject_again(
    lake: ChangeLake, db_url: str
):
    builder, name = lake.builder, "2025-01-01T10.05.00Z"
    bad = f'{guid(2)},"1/1/2025 10:01:00 AM",,notanumber,\n'
    builder.folder(name, {"t": COLUMNS}, {"t/2025.csv": csv_text([row(1, 1, 1, "one")]) + bad})
    first = migrate(lake.root, db_url)
    assert first.status == "completed_with_rejects" and first.tables["t"].rows_rejected == 1
    builder.write(f"{name}/t/2026.csv", csv_text([row(3, 1, 1, "three")]))
    builder.write(
        f"{name}/model.json", model_json([entity("t", COLUMNS, listed(lake.root, name, "t"))])
    )

    dry = migrate(lake.root, db_url, dry_run=True)
    again = migrate(lake.root, db_url)

    assert dry.ok and dry.tables["t"].rows_rejected == 0, dry.to_dict()
    assert again.ok and again.tables["t"].rows_rejected == 0, again.to_dict()
    assert scalar(db_url, "SELECT count(*) FROM _turbodata_rejects") == 1
    assert loaded(db_url) == {guid(1): ("one", 1), guid(3): ("three", 1)}
