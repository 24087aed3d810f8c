"""End to end: the CLI migrates lakes into SQLite and a real PostgreSQL server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dbcheck import comparable_rows, fetch, scalar, table_names
from tests.lakebuilder import LakeBuilder, attribute
from tests.test_drift import schema_ddl
from turbodata.cli import main

ACCOUNT = [
    attribute("Id", "guid"),
    attribute("name", "string", 10),
    attribute("revenue", "decimal", precision=38, scale=4),
    attribute("isactive", "boolean"),
    attribute("modifiedon", "dateTime"),
]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(["migrate", *args, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def account_lake(tmp_path: Path, csv: str) -> Path:
    """A lake of one timestamp folder holding one `account` file."""
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"account": ACCOUNT}, {"account/2025.csv": csv})
    return lake.root


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


# ---------------------------------------------------------------------------- sample lake


def test_sample_lake_loads_the_newest_version_of_every_row_exactly(
    db_url: str, example_lake: Path, make_lake, capsys: pytest.CaptureFixture
) -> None:
    written = make_lake.expected_rows()
    expected = make_lake.expected_final_rows()

    code, summary, err = run_cli(capsys, "--lake", str(example_lake), "--db", db_url)

    assert code == 0, err
    assert summary["status"] == "succeeded" and summary["ok"] is True
    assert set(summary["tables"]) >= set(expected)
    for table, final in expected.items():
        result = summary["tables"][table]
        assert result["rows_inserted"] == len(final), table
        # same-Id rows within one folder collapse before the apply, so at most this many
        assert 0 < result["rows_updated"] <= len(written[table]) - len(final), table
        assert result["rows_rejected"] == 0
        got, want = comparable_rows(
            fetch(db_url, table), list(final.values()), microseconds=is_postgres(db_url)
        )
        assert got == want, table


def test_rerun_of_the_sample_lake_loads_nothing_and_changes_nothing(
    db_url: str, example_lake: Path, make_lake, capsys: pytest.CaptureFixture
) -> None:
    tables = list(make_lake.expected_final_rows())
    run_cli(capsys, "--lake", str(example_lake), "--db", db_url)
    before = {t: fetch(db_url, t) for t in tables}

    code, summary, _ = run_cli(capsys, "--lake", str(example_lake), "--db", db_url)

    assert code == 0
    assert all(t["rows_inserted"] == 0 and t["files_read"] == 0 for t in summary["tables"].values())
    assert all(t["status"] == "unchanged" for t in summary["tables"].values())
    assert {t: fetch(db_url, t) for t in tables} == before
    runs = scalar(db_url, "SELECT COUNT(*) FROM _turbodata_runs")
    assert runs == 2


def test_the_seventh_fraction_digit_survives_where_the_type_holds_it(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lake = account_lake(
        tmp_path,
        '00000000-0000-0000-0000-000000000001,"a",1.5,True,"2022-06-13T17:29:39.7677699Z"\n',
    )
    code, _, err = run_cli(capsys, "--lake", str(lake), "--db", db_url)
    assert code == 0, err
    [row] = fetch(db_url, "account")
    if is_postgres(db_url):  # PostgreSQL keeps microseconds: the 7th digit is cut, not rounded
        assert row["modifiedon"].isoformat() == "2022-06-13T17:29:39.767769"
    else:
        assert row["modifiedon"] == "2022-06-13 17:29:39.7677699"


# ------------------------------------------------------------------------------ rejects


def test_bad_rows_are_rejected_with_reasons_and_the_rest_loads(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    csv = (
        '00000000-0000-0000-0000-000000000001,"ok",10.5,True,"2025-01-01T00:00:00Z"\n'
        '00000000-0000-0000-0000-000000000002,"bad money",10.12345,True,\n'
        '00000000-0000-0000-0000-000000000003,"bad bool",1,maybe,\n'
        '00000000-0000-0000-0000-000000000004,"too","many",1,True,,\n'
        '00000000-0000-0000-0000-000000000005,"ok too",-0.5,false,"2/3/2025 9:52:15 AM"\n'
    )
    lake = account_lake(tmp_path, csv)

    code, summary, err = run_cli(capsys, "--lake", str(lake), "--db", db_url)

    assert code == 1
    assert summary["status"] == "completed_with_rejects"
    assert summary["tables"]["account"]["rows_inserted"] == 2
    assert summary["tables"]["account"]["rows_rejected"] == 3
    path = "2025-01-01T00.00.00Z/account/2025.csv"
    assert f"error: {path}: row 2, column 'revenue': " in err and "10.12345" in err
    assert f"error: {path}: row 3, column 'isactive': " in err and "maybe" in err
    assert f"error: {path}: row 4: row has 7 values, the schema has 5" in err
    rejects = fetch(db_url, "_turbodata_rejects")
    assert sorted((r["row_number"], r["column_name"]) for r in rejects) == [
        (2, "revenue"),
        (3, "isactive"),
        (4, None),
    ]
    raw = {r["row_number"]: r["raw_text"] for r in rejects}
    assert raw[4] == '00000000-0000-0000-0000-000000000004,"too","many",1,True,,\n'
    assert "bad bool" in raw[3] and "maybe" in raw[3]
    assert {r["run_id"] for r in rejects} == {summary["run_id"]}
    names = sorted(r["name"] for r in fetch(db_url, "account"))
    assert names == ["ok", "ok too"]


def test_rejects_command_lists_what_was_not_loaded(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture
) -> None:
    lake = account_lake(tmp_path, "00000000-0000-0000-0000-000000000001,x,1,notbool,\n")
    run_cli(capsys, "--lake", str(lake), "--db", sqlite_url)

    assert main(["rejects", "--db", sqlite_url]) == 0
    out = capsys.readouterr().out
    assert "account: 2025-01-01T00.00.00Z/account/2025.csv, row 1, column 'isactive'" in out
    [run_id] = {line.split()[0] for line in out.splitlines()}
    assert main(["rejects", "--db", sqlite_url, "--run", run_id]) == 0
    assert "row 1, column 'isactive'" in capsys.readouterr().out


def test_rejects_of_a_run_the_database_does_not_have_is_an_error_not_none(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture
) -> None:
    """A mistyped run id printed nothing and exited 0: read as "no rejects" (found by review)."""
    lake = account_lake(tmp_path, "00000000-0000-0000-0000-000000000001,x,1,True,\n")
    run_cli(capsys, "--lake", str(lake), "--db", sqlite_url)

    assert main(["rejects", "--db", sqlite_url, "--run", "20250101T000000Z-mistyped"]) == 1
    assert "no run 20250101T000000Z-mistyped in this database" in capsys.readouterr().err


# ------------------------------------------------------------------------ lake layouts


def test_incremental_folders_follow_an_appended_column_and_skip_the_in_progress_folder(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    old = [attribute("Id", "guid"), attribute("n", "int64")]
    new = [*old, attribute("tier", "string", 20)]
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"t": old},
        {"t/2025.csv": "00000000-0000-0000-0000-000000000001,1\n"},
    )
    lake.folder(
        "2025-01-01T00.15.00Z",
        {"t": new},
        {
            "t/2025.csv": "00000000-0000-0000-0000-000000000002,2\n"
            '00000000-0000-0000-0000-000000000003,3,"gold"\n'
        },
    )
    lake.folder(
        "2025-01-01T00.30.00Z",
        {"t": new},
        {"t/2025.csv": "00000000-0000-0000-0000-000000000004,4,x\n"},
        model=False,
    )
    lake.write("2025-01-01T00.30.00Z/model.json", "")
    lake.changelog("2025-01-01T00.30.00Z")

    code, summary, err = run_cli(capsys, "--lake", str(lake.root), "--db", db_url)

    assert code == 0, err
    assert summary["tables"]["t"]["rows_inserted"] == 3
    assert summary["tables"]["t"]["columns_created"] == 3  # 2 at CREATE, 1 ADD
    rows = sorted((int(r["n"]), r["tier"]) for r in fetch(db_url, "t"))
    assert rows == [(1, None), (2, None), (3, "gold")]
    ddl = schema_ddl(db_url)
    assert len(ddl) == 2 and ddl[0].startswith("CREATE TABLE") and "ADD" in ddl[1]
    assert summary["warnings"] == []  # an in-progress folder is no reason to look


def test_what_the_plan_skipped_for_a_reason_is_in_the_summary_not_only_the_log(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("n", "int64")]
    row = "00000000-0000-0000-0000-000000000001,1\n"
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/2025.csv": row})
    lake.write("2025-01-01T00.00.00Z/t/retry/2025.csv", row)  # no table takes it

    code, summary, err = run_cli(capsys, "--lake", str(lake.root), "--db", db_url)

    assert code == 0, err  # a warning does not fail the run
    [warning] = summary["warnings"]
    assert "2025-01-01T00.00.00Z/t/retry/2025.csv" in warning and "not loaded" in warning


def test_sql_keywords_as_names_and_a_string_longer_than_declared(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    attrs = [
        attribute("partition", "int64"),
        attribute("option", "string", 3),
        attribute("order", "boolean"),
    ]
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"select": attrs},
        {"select/1900.csv": '1,"abc",True\n2,"longer than three",False\n'},
    )

    code, summary, err = run_cli(capsys, "--lake", str(lake.root), "--db", db_url)

    assert code == 0, err
    assert sorted(r["option"] for r in fetch(db_url, "select")) == ["abc", "longer than three"]
    assert any("ALTER" in s for s in summary["tables"]["select"]["ddl"])


def test_a_table_that_fails_does_not_stop_the_others(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"account": ACCOUNT},
        {
            "account/2025.csv": "00000000-0000-0000-0000-000000000001,a,1,True,\n",
            "orphan/2025.csv": "1,2,3\n",
        },
    )

    code, summary, err = run_cli(capsys, "--lake", str(lake.root), "--db", db_url)

    assert code == 1
    assert summary["tables"]["account"]["status"] == "loaded"
    assert summary["tables"]["orphan"]["status"] == "failed"
    assert "no metadata for this table" in summary["tables"]["orphan"]["error"]
    assert "orphan" in err
    assert "orphan" not in table_names(db_url)


def test_snapshot_layout_replaces_the_table_when_a_partition_changes(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from tests.lakebuilder import entity, model_json

    lake = LakeBuilder(tmp_path / "lake")
    lake.write(
        "model.json", model_json([entity("account", ACCOUNT, ["account/Snapshot/2025_1.csv"])])
    )
    lake.write("account/Snapshot/2025_1.csv", "00000000-0000-0000-0000-000000000001,a,1,True,\n")
    lake.write("account/2025.csv", "live file being rewritten: never read\n")
    run_cli(capsys, "--lake", str(lake.root), "--db", db_url)
    lake.write(
        "account/Snapshot/2025_1.csv",
        "00000000-0000-0000-0000-000000000001,a2,1,True,\n"
        "00000000-0000-0000-0000-000000000002,b,2,False,\n",
    )

    code, summary, err = run_cli(capsys, "--lake", str(lake.root), "--db", db_url)

    assert code == 0, err
    assert sorted(r["name"] for r in fetch(db_url, "account")) == ["a2", "b"]
    account = summary["tables"]["account"]
    assert (account["rows_inserted"], account["rows_updated"]) == (1, 1)


def test_table_option_limits_the_run(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"a": ACCOUNT, "b": ACCOUNT},
        {
            "a/2025.csv": "00000000-0000-0000-0000-000000000001,a,1,True,\n",
            "b/2025.csv": "00000000-0000-0000-0000-000000000001,b,1,True,\n",
        },
    )
    code, summary, _ = run_cli(capsys, "--lake", str(lake.root), "--db", sqlite_url, "--table", "b")
    assert code == 0
    assert list(summary["tables"]) == ["b"]
    assert "a" not in table_names(sqlite_url)


def test_cli_runs_as_a_module_and_exits_non_zero_on_rejects(tmp_path: Path) -> None:
    lake = account_lake(tmp_path, "not-a-guid,a,1,True,\n")
    db = f"sqlite:///{tmp_path / 'out.sqlite'}"
    done = subprocess.run(
        [sys.executable, "-m", "turbodata", "migrate", "--lake", str(lake), "--db", db],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "run " in done.stdout and "completed_with_rejects" in done.stdout
    assert "row 1, column 'Id'" in done.stderr


def test_a_snapshot_missing_a_listed_partition_leaves_the_table_as_it_is(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from tests.lakebuilder import entity, model_json

    lake = LakeBuilder(tmp_path / "lake")
    files = ["account/Snapshot/2024_1.csv", "account/Snapshot/2025_1.csv"]
    lake.write("model.json", model_json([entity("account", ACCOUNT, files)]))
    lake.write(files[0], "00000000-0000-0000-0000-000000000001,old,1,True,\n")
    lake.write(files[1], "00000000-0000-0000-0000-000000000002,new,1,True,\n")
    run_cli(capsys, "--lake", str(lake.root), "--db", db_url)
    (lake.root / files[0]).unlink()  # retention cleanup took it; 2025 is refreshed
    lake.write(files[1], "00000000-0000-0000-0000-000000000002,newer,2,True,\n")

    code, summary, err = run_cli(capsys, "--lake", str(lake.root), "--db", db_url)

    assert code == 1 and summary["tables"]["account"]["status"] == "failed"
    assert "2024_1.csv not found" in err
    assert sorted(r["name"] for r in fetch(db_url, "account")) == ["new", "old"]


def test_the_last_tick_of_9999_stays_in_9999_and_nul_characters_are_handled_per_row(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lake = account_lake(
        tmp_path,
        '00000000-0000-0000-0000-000000000001,"a",1,True,"9999-12-31T23:59:59.9999999Z"\n'
        '00000000-0000-0000-0000-000000000002,"nul \x00 inside",1,True,\n',
    )
    code, summary, err = run_cli(capsys, "--lake", str(lake), "--db", db_url)

    assert summary["tables"]["account"]["status"] == "loaded", err
    rows = {str(r["Id"])[-1]: r for r in fetch(db_url, "account")}
    if is_postgres(db_url):
        assert str(rows["1"]["modifiedon"]) == "9999-12-31 23:59:59.999999"
        assert code == 1 and set(rows) == {"1"}  # PostgreSQL text cannot hold NUL
        assert "row 2, column 'name': PostgreSQL text cannot hold NUL" in err
    else:
        assert code == 0, err
        assert rows["1"]["modifiedon"] == "9999-12-31 23:59:59.9999999"
        assert rows["2"]["name"] == "nul \x00 inside"


def test_the_same_lake_loads_into_two_schemas_of_one_database(
    postgres_url: str, example_lake: Path, make_lake
) -> None:
    import sqlalchemy as sa

    from turbodata import migrate
    from turbodata.pipeline import status

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA dv")
    engine.dispose()
    first = migrate(example_lake, postgres_url)
    second = migrate(example_lake, postgres_url, db_schema="dv")

    assert first.ok and second.ok
    expected = make_lake.expected_final_rows()
    assert second.tables["account"].rows_inserted == len(expected["account"])
    count = scalar(postgres_url, 'SELECT COUNT(*) FROM dv."account"')
    assert count == len(expected["account"])
    in_dv = {s["table"]: s["rows"] for s in status(postgres_url, "dv")}
    in_public = {s["table"]: s["rows"] for s in status(postgres_url)}
    assert in_dv["account"] == in_public["account"] == len(expected["account"])
    assert status(postgres_url, "public") == status(postgres_url)  # the default, named
    again = [
        migrate(example_lake, postgres_url),
        migrate(example_lake, postgres_url, db_schema="dv"),
    ]
    assert all(t.files_read == 0 for run in again for t in run.tables.values())


def test_an_unreachable_database_or_lake_is_one_line_on_stderr_without_the_password(
    example_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    unreachable = "postgresql+psycopg://loader:S3cret-pw@127.0.0.1:1/dw"
    assert main(["migrate", "--lake", str(example_lake), "--db", unreachable]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the run could not start: connection failed:")
    assert err.count("\n") == 1 and err.endswith("; nothing was loaded\n")
    assert "S3cret-pw" not in err

    missing = tmp_path / "no-such-lake"
    assert main(["migrate", "--lake", str(missing), "--db", f"sqlite:///{tmp_path}/x.db"]) == 1
    assert capsys.readouterr().err == f"error: lake folder not found: {missing}\n"


def test_progress_shows_on_a_terminal_and_stays_quiet_otherwise(
    example_lake: Path, tmp_path: Path
) -> None:
    import os
    import pty

    command = [sys.executable, "-m", "turbodata", "migrate", "--lake", str(example_lake)]
    quiet = subprocess.run(
        [*command, "--db", f"sqlite:///{tmp_path}/a.db"], capture_output=True, check=True
    )
    assert quiet.stderr == b""

    leader, follower = pty.openpty()
    on_terminal = subprocess.run(
        [*command, "--db", f"sqlite:///{tmp_path}/b.db"],
        stdout=subprocess.PIPE,
        stderr=follower,
        check=True,
    )
    os.close(follower)
    shown = b""
    while chunk := _read_available(leader):
        shown += chunk
    os.close(leader)
    assert on_terminal.returncode == 0
    assert b"\raccount: " in shown and b" rows read" in shown


def _read_available(fd: int) -> bytes:
    import os
    import select

    if not select.select([fd], [], [], 0.5)[0]:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other end closed
        return b""


def test_small_decimals_are_stored_as_positional_text_on_sqlite(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture
) -> None:
    lake = account_lake(
        tmp_path,
        "00000000-0000-0000-0000-000000000001,a,0,True,\n"
        "00000000-0000-0000-0000-000000000002,b,-0.0001,True,\n",
    )
    assert run_cli(capsys, "--lake", str(lake), "--db", sqlite_url)[0] == 0
    assert sorted(r["revenue"] for r in fetch(sqlite_url, "account")) == ["-0.0001", "0.0000"]


def test_a_dry_run_fails_the_tables_the_run_would_fail(tmp_path: Path, sqlite_url: str) -> None:
    """`plan` said `planned` (exit 0) for a folder listing a file the lake lacks and for a
    file added to a folder applied already; `migrate` fails both tables."""
    from turbodata import migrate

    columns = [attribute("Id", "guid"), attribute("name", "string", 20)]
    row = "10000000-0000-0000-0000-00000000000{},x\n".format
    lake = LakeBuilder(tmp_path / "lake")
    first = {"a/1.csv": row(1), "b/1.csv": row(2)}
    lake.folder("2025-01-01T00.00.00Z", {"a": columns, "b": columns}, first)
    later = {"a/1.csv": row(3), "a/2.csv": row(4), "b/1.csv": row(5)}
    lake.folder("2025-01-02T00.00.00Z", {"a": columns, "b": columns}, later)
    assert migrate(lake.root, sqlite_url).ok
    lake.folder("2025-01-03T00.00.00Z", {"a": columns, "b": columns}, {"a/3.csv": row(8)})
    (lake.root / "2025-01-03T00.00.00Z" / "a" / "3.csv").unlink()  # listed, not there
    lake.write("2025-01-01T00.00.00Z/b/9.csv", row(7))  # late, into a folder applied already

    planned = migrate(lake.root, sqlite_url, dry_run=True)
    done = migrate(lake.root, sqlite_url)

    for summary in (planned, done):
        assert {t: r.status for t, r in summary.tables.items()} == {"a": "failed", "b": "failed"}
    assert [planned.tables[t].error for t in "ab"] == [done.tables[t].error for t in "ab"]
