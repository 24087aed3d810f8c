"""A rerun's tables with nothing new: told apart from one read of the ledger, they take no lease
and skip the loader, and their outcomes are written together with the run's end. What the run
reports and records is what the loader would have: same summary, same ledger rows."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from deltalake import write_deltalake

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import pipeline
from turbodata.ledger import lease
from turbodata.ledger import records as ledger
from turbodata.load.loader import TableLoader
from turbodata.pipeline import connect, migrate
from turbodata.summary import RunSummary

COLUMNS = [attribute("Id", "guid"), attribute("name", "string", 50)]
WIDER = [*COLUMNS, attribute("rank", "int32")]
FIRST, SECOND = "2025-01-01T00.00.00Z", "2025-01-02T00.00.00Z"


def rows(*numbers: int, width: int = 2) -> str:
    extra = ",7" * (width - 2)
    return "".join(f"00000000-0000-0000-0000-{n:012d},name {n}{extra}\n" for n in numbers)


def two_table_lake(root: Path) -> LakeBuilder:
    lake = LakeBuilder(root)
    tables = {"alpha": COLUMNS, "beta": COLUMNS}
    lake.folder(FIRST, tables, {"alpha/2025.csv": rows(1, 2), "beta/2025.csv": rows(3)})
    return lake


@pytest.fixture()
def spied(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The tables whose lease was taken, and those that went through `TableLoader.load`."""
    seen: dict[str, list[str]] = {"leased": [], "loaded": []}
    acquire, load = lease.acquire_waiting, TableLoader.load

    def acquire_spy(*args: object, **kwargs: object) -> None:
        if kwargs.get("table"):
            seen["leased"].append(str(kwargs["table"]))
        acquire(*args, **kwargs)  # type: ignore[arg-type]

    def load_spy(self: TableLoader, result: object, batches: object) -> None:
        seen["loaded"].append(result.name)  # type: ignore[attr-defined]
        load(self, result, batches)  # type: ignore[arg-type]

    monkeypatch.setattr(lease, "acquire_waiting", acquire_spy)
    monkeypatch.setattr(TableLoader, "load", load_spy)
    return seen


def table_states(db_url: str) -> dict[str, dict]:
    return {r["table_name"]: r for r in fetch(db_url, "_turbodata_tables")}


def test_a_table_with_nothing_new_takes_no_lease_and_skips_the_loader(
    tmp_path: Path, db_url: str, spied: dict[str, list[str]]
) -> None:
    lake = two_table_lake(tmp_path / "lake")
    assert migrate(lake.root, db_url).ok
    lake.folder(
        SECOND, {"alpha": COLUMNS, "beta": COLUMNS}, {"beta/2025.csv": rows(3, 4)}
    )  # new rows for beta only
    spied["leased"].clear()
    spied["loaded"].clear()

    rerun = migrate(lake.root, db_url)

    assert rerun.ok, rerun.to_dict()
    assert spied == {"leased": ["beta"], "loaded": ["beta"]}
    alpha, beta = rerun.tables["alpha"], rerun.tables["beta"]
    assert (alpha.status, alpha.files_read, alpha.watermark) == ("unchanged", 0, FIRST)
    assert (beta.status, beta.files_read, beta.watermark) == ("loaded", 1, SECOND)
    states = table_states(db_url)
    for table, status in (("alpha", "unchanged"), ("beta", "loaded")):
        state = states[table]
        assert (state["last_run_id"], state["last_status"]) == (rerun.run_id, status)
        assert state["last_error"] is None
    assert states["alpha"]["watermark"] == FIRST  # its state otherwise untouched
    assert fetch(db_url, "_turbodata_lease") == []


def comparable(summary: RunSummary) -> dict:
    data = summary.to_dict()
    for varying in ("run_id", "started_at", "finished_at", "seconds"):
        data.pop(varying)
    for table in data["tables"].values():
        table.pop("seconds")
    return data


def recorded(db_url: str, summary: RunSummary) -> dict[str, tuple]:
    """The table rows of the ledger as this run left them (its id and the time aside)."""
    return {
        name: (
            r["watermark"],
            r["narrowest"],
            r["last_run_id"] == summary.run_id,
            r["last_status"],
            r["last_error"],
        )
        for name, r in table_states(db_url).items()
    }


def table_events(caplog: pytest.LogCaptureFixture) -> list[dict]:
    """The `table_finished` events logged, without what differs from run to run."""
    fields = ("table", "status", "files", "rows_read", "rows_inserted", "watermark", "error")
    events = [r for r in caplog.records if getattr(r, "event", "") == "table_finished"]
    logged = [{field: getattr(event, field) for field in fields} for event in events]
    return sorted(logged, key=lambda event: event["table"])  # tables of `jobs` end in any order


def test_a_rerun_reports_and_records_what_the_loader_would_have(
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    spied: dict[str, list[str]],
) -> None:
    lake = two_table_lake(tmp_path / "lake")
    news = {"alpha/2025.csv": rows(5, width=3), "beta/2025.csv": rows(3, 4)}
    lake.folder(SECOND, {"alpha": WIDER, "beta": COLUMNS}, news)
    assert migrate(lake.root, db_url).ok
    caplog.set_level(logging.INFO, logger="turbodata")
    spied["loaded"].clear()

    caplog.clear()
    shortcut = migrate(lake.root, db_url)
    shortcut_events, shortcut_ledger = table_events(caplog), recorded(db_url, shortcut)
    assert spied["loaded"] == ["alpha"]  # its batches' columns differ: left to the loader
    with monkeypatch.context() as every_table_loads:
        every_table_loads.setattr(pipeline, "_nothing_new", lambda *args: ({}, {}))
        caplog.clear()
        loaded = migrate(lake.root, db_url)
        loaded_events = table_events(caplog)
    assert spied["loaded"] == ["alpha", "alpha", "beta"]

    assert comparable(shortcut) == comparable(loaded)
    assert shortcut.status == "succeeded"
    assert shortcut_events == loaded_events and len(loaded_events) == 2
    assert shortcut_ledger == recorded(db_url, loaded)


def test_a_reloaded_table_goes_through_the_loader(
    tmp_path: Path, sqlite_url: str, spied: dict[str, list[str]]
) -> None:
    lake = two_table_lake(tmp_path / "lake")
    assert migrate(lake.root, sqlite_url).ok
    spied["loaded"].clear()

    rerun = migrate(lake.root, sqlite_url, reload=["alpha"])

    assert spied["loaded"] == ["alpha"]
    assert rerun.tables["alpha"].files_read == 1
    assert rerun.tables["beta"].status == "unchanged"


def test_a_table_without_a_recorded_outcome_goes_through_the_loader(
    tmp_path: Path, sqlite_url: str, spied: dict[str, list[str]]
) -> None:
    """A run stopped after a batch but before the table's outcome leaves no last run: the
    outcome could not be written only where no other run wrote it since (see ledger)."""
    lake = two_table_lake(tmp_path / "lake")
    assert migrate(lake.root, sqlite_url).ok
    engine, _ = connect(sqlite_url)
    with engine.begin() as conn:
        conn.execute(
            sa.update(ledger.table_state)
            .where(ledger.table_state.c.table_name == "beta")
            .values(last_run_id=None)
        )
    spied["loaded"].clear()

    rerun = migrate(lake.root, sqlite_url)

    assert spied["loaded"] == ["beta"]
    assert table_states(sqlite_url)["beta"]["last_run_id"] == rerun.run_id


def test_a_delta_table_goes_through_the_loader(
    tmp_path: Path, sqlite_url: str, spied: dict[str, list[str]]
) -> None:
    lake = tmp_path / "lake"
    schema = pa.schema([("Id", pa.string()), ("versionnumber", pa.int64())])
    write_deltalake(
        str(lake / "deltalake" / "account_partitioned"),
        pa.Table.from_pylist([{"Id": "a", "versionnumber": 1}], schema=schema),
    )
    assert migrate(lake, sqlite_url).ok
    spied["leased"].clear()

    rerun = migrate(lake, sqlite_url)

    assert spied["leased"] == ["account"]
    assert rerun.tables["account"].status == "unchanged"


def test_a_table_with_nothing_new_is_not_held_up_by_a_run_holding_its_lease(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Design: it has nothing to load, so it needs no lease: the run is not `blocked` (it was
    when it waited for the lease to decide that there was nothing to load)."""
    lake = two_table_lake(tmp_path / "lake")
    assert migrate(lake.root, sqlite_url).ok
    engine, _ = connect(sqlite_url)
    for table in ("alpha", "beta"):
        lease.acquire(engine, "20260101T000000Z-other", name=lease.table_lease(table))

    rerun = migrate(lake.root, sqlite_url, lease_wait=0)

    assert rerun.status == "succeeded"
    assert {t.status for t in rerun.tables.values()} == {"unchanged"}


def test_unchanged_outcomes_leave_a_newer_outcome_of_another_run() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        ledger.ensure(conn)
        for table in ("t", "u"):
            ledger.set_table_outcome(conn, table, "run-1", "loaded", None)
        ledger.set_table_outcome(conn, "t", "run-2", "failed", "boom")  # after run-3 read it

        ledger.set_unchanged_outcomes(conn, "run-3", {"t": "run-1", "u": "run-1"})

        states = ledger.table_states(conn)
    assert (states["t"]["last_run_id"], states["t"]["last_status"]) == ("run-2", "failed")
    assert states["t"]["last_error"] == "boom"
    assert (states["u"]["last_run_id"], states["u"]["last_status"]) == ("run-3", "unchanged")
    assert states["u"]["last_error"] is None


def test_a_run_of_some_tables_reads_only_their_histories(
    tmp_path: Path, sqlite_url: str, spied: dict[str, list[str]]
) -> None:
    lake = two_table_lake(tmp_path / "lake")
    assert migrate(lake.root, sqlite_url).ok
    engine, _ = connect(sqlite_url)
    with engine.connect() as conn:
        every = ledger.histories(conn)
        assert ledger.histories(conn, ["alpha"]) == {"alpha": every["alpha"]}
        assert ledger.histories(conn, []) == {}
    spied["loaded"].clear()

    rerun = migrate(lake.root, sqlite_url, tables=["alpha"])

    assert list(rerun.tables) == ["alpha"] and rerun.tables["alpha"].status == "unchanged"
    assert spied["loaded"] == []
    assert table_states(sqlite_url)["alpha"]["last_run_id"] == rerun.run_id
    assert table_states(sqlite_url)["beta"]["last_run_id"] != rerun.run_id
