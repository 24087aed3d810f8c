"""A dry run says what the run then does: the same outcome for the same lake (found by
review: plans that failed tables the run loads, and that said `succeeded` for runs that
then rejected rows)."""

from __future__ import annotations

from pathlib import Path

from tests.lakebuilder import LakeBuilder, attribute
from turbodata import migrate

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
