"""The ledger's prebuilt statements (executed with parameters, built once) write and read the
same rows as before: file rows, their forgetting, and the table state's update-or-insert."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from turbodata.ledger import records as ledger
from turbodata.model import FileInfo


def test_file_rows_and_table_state_round_trip() -> None:
    engine = sa.create_engine("sqlite://")
    modified = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    with engine.begin() as conn:
        ledger.ensure(conn)
        for path in ("a/1.csv", "a/2.csv", "a/3.csv"):
            info = FileInfo(path, 10, modified, "etag")
            ledger.record_file(
                conn,
                run_id="r1",
                table="t",
                batch_id="b1",
                info=info,
                rows_loaded=3,
                rows_rejected=1,
            )
        ledger.forget_files(conn, "t", ["a/1.csv", "a/3.csv", "elsewhere.csv"])
        ledger.forget_files(conn, "t", [])
        ledger.note_width(conn, "t", 5)
        ledger.note_width(conn, "t", 7)  # wider: the narrowest stays
        ledger.set_watermark(conn, "t", "2025-01-01T00.00.00Z", "r1")
        ledger.set_table_outcome(conn, "t", "r2", "loaded", None)
        ledger.set_watermark(conn, "other", "2025-01-02T00.00.00Z", "r2")

        history = ledger.history(conn, "t")
        assert history.loaded == {"a/2.csv": FileInfo("a/2.csv", 10, modified, "etag").fingerprint}
        assert (history.watermark, history.narrowest) == ("2025-01-01T00.00.00Z", 5)
        assert ledger.watermark(conn, "other") == "2025-01-02T00.00.00Z"
        assert ledger.history(conn, "other").narrowest is None
        assert ledger.watermark(conn, "missing") is None
        states = ledger.table_states(conn)
        assert (states["t"]["last_run_id"], states["t"]["last_status"]) == ("r2", "loaded")
        assert states["other"]["last_run_id"] == "r2"
        row = conn.execute(sa.select(ledger.files)).mappings().one()
        assert (row["rows_loaded"], row["rows_rejected"], row["batch_id"]) == (3, 1, "b1")
        assert ledger.loaded_by_run(conn, "r1") == {"t": (1, 3)}


def record_files(conn: sa.Connection, files: list[tuple[str, str]]) -> None:
    """A ledger row of one loaded row for each (table, path)."""
    modified = datetime(2025, 1, 2, tzinfo=UTC)
    for table, path in files:
        info = FileInfo(path, 1, modified, None)
        ledger.record_file(
            conn, run_id="r", table=table, batch_id="b", info=info, rows_loaded=1, rows_rejected=0
        )


def test_every_tables_history_at_once_equals_each_tables_own() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        ledger.ensure(conn)
        record_files(conn, [("t", "a/1.csv"), ("t", "a/2.csv"), ("u", "b/1.csv")])
        ledger.set_watermark(conn, "t", "2025-01-01T00.00.00Z", "r")
        ledger.note_width(conn, "v", 4)  # a state row without files
        every = ledger.histories(conn)
        assert set(every) == {"t", "u", "v"}
        for table in ("t", "u", "v"):
            assert every[table] == ledger.history(conn, table)
        assert ledger.history(conn, "missing") == ledger.TableHistory()


def test_sizes_of_more_files_than_one_statement_may_name() -> None:
    """SQL Server takes at most 2,100 parameters in a statement: asked for in slices."""
    engine = sa.create_engine("sqlite://")
    modified = datetime(2025, 1, 2, tzinfo=UTC)
    paths = [f"f/{n}.csv" for n in range(2 * ledger.MAX_NAMED_TABLES + 1)]
    with engine.begin() as conn:
        ledger.ensure(conn)
        for size, path in enumerate(paths):
            info = FileInfo(path, size, modified, None)
            ledger.record_file(
                conn, run_id="r", table="t", batch_id="b", info=info, rows_loaded=1, rows_rejected=0
            )
        sizes = ledger.loaded_sizes(conn, "t", [*paths, "never/loaded.csv"])
    assert sizes == {path: size for size, path in enumerate(paths)}


def test_forgetting_more_files_than_one_statement_may_name() -> None:
    """A changed snapshot of 2,100 files or more: each statement names at most
    MAX_NAMED_TABLES of them (SQL Server failed the table on every run)."""
    engine = sa.create_engine("sqlite://")
    modified = datetime(2025, 1, 2, tzinfo=UTC)
    paths = [f"f/{n}.csv" for n in range(2_500)]
    largest: list[int] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("DELETE"):
            largest.append(len(parameters))

    with engine.begin() as conn:
        ledger.ensure(conn)
        for path in paths:
            info = FileInfo(path, 1, modified, None)
            ledger.record_file(
                conn, run_id="r", table="t", batch_id="b", info=info, rows_loaded=1, rows_rejected=0
            )
        ledger.forget_files(conn, "t", paths[1:])
        assert list(ledger.loaded_fingerprints(conn, "t")) == paths[:1]
    assert 0 < max(largest) <= 2_100


def test_folders_loaded_from_by_any_table_match_the_folder_name_exactly() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        ledger.ensure(conn)
        record_files(conn, [("u", "F_1/u/1.csv"), ("v", "deep/F%2/v.csv"), ("w", "F3x/w.csv")])

        found = ledger.folders_loaded_from(conn, ["F_1", "FX1", "deep/F%2/", "deep/Fa2", "F3", "G"])

    # `_` and `%` are no wildcards, and a folder is not a prefix of another's name
    assert found == {"F_1", "deep/F%2/"}


def test_no_update_of_the_ledger_binds_a_null() -> None:
    """mssql-python asks the server the type of a NULL parameter; Babelfish fails that on an
    UPDATE naming its table's columns and rolls the transaction back without an error
    reaching turbodata: a batch's watermark written with a NULL error lost the batch (found
    by the live suite). NULLs are written into the statement."""
    engine = sa.create_engine("sqlite://")
    updates: list[tuple[str, object]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def seen(*args: object) -> None:  # conn, cursor, statement, parameters, …
        statement, parameters = args[2], args[3]
        if str(statement).startswith("UPDATE"):
            updates.append((str(statement), parameters))

    with engine.begin() as conn:
        ledger.ensure(conn)
        ledger.set_watermark(conn, "t", "b1", "r1")  # inserted: no UPDATE yet
        ledger.set_watermark(conn, "t", "b2", "r1")
        ledger.set_table_outcome(conn, "t", "r1", "loaded", None)
        ledger.set_table_outcome(conn, "u", "r1", "failed", "it broke")
        ledger.set_outcomes_if_unchanged(
            conn, "r2", {"t": ("r1", "unchanged", None), "u": ("r1", "failed", "again")}
        )
        ledger.forget_table(conn, "t", except_run="r3")
        states = ledger.table_states(conn)

    rows = [p for _, params in updates for p in (params if isinstance(params, list) else [params])]
    assert len(updates) >= 6 and all(None not in row for row in rows), updates
    assert (states["t"]["watermark"], states["t"]["last_status"]) == (None, "unchanged")
    assert states["t"]["last_error"] is None and states["u"]["last_error"] == "again"
