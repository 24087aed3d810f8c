"""A dry run says what the run then does: the same outcome for the same lake (found by
review: plans that failed tables the run loads, and that said `succeeded` for runs that
then rejected rows)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata import migrate
from turbodata.summary import RunSummary

COLUMNS = [
    attribute("Id", "guid"),
    attribute("qty", "unclassified"),
    attribute("code", "string"),
    attribute("versionnumber", "int64"),
    attribute("IsDelete", "boolean"),
]


def key(i: int) -> str:
    return f"10000000-0000-0000-0000-{i:012d}"


def test_a_column_typed_by_its_values_plans_as_the_table_has_it(tmp_path: Path, db_url: str):
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"t": COLUMNS}, {"t/1.csv": f"{key(1)},5,ab,1,\n"})
    assert migrate(lake.root, db_url).ok  # qty: a small integer column, from its values
    lake.folder("2025-01-02T00.00.00Z", {"t": COLUMNS}, {"t/1.csv": f"{key(2)},7,cd,1,\n"})
    for count_rows in (False, True):  # `plan`, `migrate --dry-run`
        plan = migrate(lake.root, db_url, dry_run=True, count_rows=count_rows)
        assert plan.ok and plan.tables["t"].status == "planned", plan.tables["t"].error
        assert plan.tables["t"].ddl == []  # qty stays as it is; nothing to change
    run = migrate(lake.root, db_url)
    assert run.ok and run.tables["t"].rows_inserted == 1


def outcome(summary: RunSummary) -> tuple[object, ...]:
    t = summary.tables["t"]
    return summary.status, t.status == "failed", t.rows_rejected, t.error


def test_a_dry_run_rejects_the_rows_the_run_rejects(tmp_path: Path, db_url: str) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("n", "int32"), *COLUMNS[3:]]
    first = f"{key(1)},1,1,\n{key(2)},2,1,\n"
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": first})
    # a bad value, a short row, a row without a key, and two rows that load
    second = f"{key(1)},x,2,\n{key(3)}\n,5,1,\n{key(4)},4,1,\n{key(2)},,,True\n"
    lake.folder("2025-01-02T00.00.00Z", {"t": columns}, {"t/1.csv": second})
    dry = migrate(lake.root, db_url, dry_run=True)
    run = migrate(lake.root, db_url)
    assert outcome(dry) == outcome(run) == ("completed_with_rejects", False, 3, None)
    rejects = sorted(p for p in run.tables["t"].problems if ": row " in p)
    assert sorted(p for p in dry.tables["t"].problems if ": row " in p) == rejects
    assert dry.tables["t"].rows_inserted == 2 + 2  # the rows each folder would load


def test_a_refused_snapshot_is_refused_by_the_dry_run_and_says_why(tmp_path: Path, db_url: str):
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("n", "int32")]
    lake.write("model.json", model_json([entity("t", columns, ["t/1.csv"])]))
    lake.write("t/1.csv", f"{key(1)},1\n{key(2)},2\n")
    assert migrate(lake.root, db_url).ok
    lake.write("t/1.csv", "not-a-key,3\n,4\n")  # every row rejected: no row that loads
    dry = migrate(lake.root, db_url, dry_run=True)
    run = migrate(lake.root, db_url)
    assert outcome(dry)[:2] == outcome(run)[:2] == ("failed", True)
    for summary in (dry, run):
        error = summary.tables["t"].error
        assert "holds no row that loads (its rows were rejected: t/1.csv: row 1" in error
        assert "row 2" in error and "2 rows are left as they are" in error


def test_versions_a_database_ranks_as_text_fail_the_plan_where_they_fail_the_run(
    tmp_path: Path, db_url: str
) -> None:
    """On SQLite a decimal versionnumber is text: the run refuses to rank changes by it from
    the second folder on (the first goes straight into the new table); elsewhere it loads."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("versionnumber", "decimal"), COLUMNS[4]]
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": f"{key(1)},9,\n"})
    lake.folder("2025-01-02T00.00.00Z", {"t": columns}, {"t/1.csv": f"{key(1)},10,\n"})
    plans = [migrate(lake.root, db_url, dry_run=True, count_rows=c) for c in (False, True)]
    run = migrate(lake.root, db_url)
    assert outcome(plans[0]) == outcome(plans[1]) == outcome(run)
    if db_url.startswith("sqlite"):
        assert run.tables["t"].error.startswith("2025-01-02T00.00.00Z: its versionnumber")


@pytest.mark.parametrize("later", ["007", "abc", "99999999999"])
def test_a_dry_run_types_later_folders_as_the_first_ones_leave_the_table(
    tmp_path: Path, db_url: str, later: str
) -> None:
    """A new table: folder 1 makes qty a small integer; folder 2's value is rejected (not in
    invariant form, not a number) or widens it, in the dry run as in the run."""
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"t": COLUMNS}, {"t/1.csv": f"{key(1)},5,ab,1,\n"})
    lake.folder("2025-01-02T00.00.00Z", {"t": COLUMNS}, {"t/1.csv": f"{key(2)},{later},c,1,\n"})
    dry = migrate(lake.root, db_url, dry_run=True)
    assert outcome(dry) == outcome(migrate(lake.root, db_url))


def test_a_version_its_values_widen_past_bigint_fails_the_dry_run_where_the_run_fails(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"t": COLUMNS}, {"t/1.csv": f"{key(1)},5,ab,9,\n"})
    assert migrate(lake.root, db_url).ok
    second = f"{key(1)},6,cd,99999999999999999999,\n{key(2)},7,ef,10,\n"
    lake.folder("2025-01-02T00.00.00Z", {"t": COLUMNS}, {"t/1.csv": second})
    dry = migrate(lake.root, db_url, dry_run=True)
    assert outcome(dry) == outcome(migrate(lake.root, db_url))
    assert dry.ok is db_url.startswith("postgresql")  # SQLite keeps the decimal as text


def test_a_snapshot_whose_rejected_rows_keep_their_keys_is_not_refused(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("n", "int32")]
    lake.write("model.json", model_json([entity("t", columns, ["t/1.csv"])]))
    lake.write("t/1.csv", f"{key(1)},1\n{key(2)},2\n")
    assert migrate(lake.root, db_url).ok
    lake.write("t/1.csv", f"{key(1)},x\n{key(2)},y\n")  # rejected, keys kept: nothing goes
    dry = migrate(lake.root, db_url, dry_run=True)
    assert outcome(dry) == outcome(migrate(lake.root, db_url))
    assert outcome(dry) == ("completed_with_rejects", False, 2, None)
