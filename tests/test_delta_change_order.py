"""A Delta change feed applied in the order its commits happened, for a table whose rows carry
no `versionnumber` or `SinkModifiedOn` (a Fabric lakehouse table, not a Synapse Link export).

Several versions are applied as one batch (one staged file per commit). A key deleted in one
commit and inserted again in a later one must end present, as in the Delta table; a key
inserted, then deleted, must end absent.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from tests.dbcheck import fetch
from turbodata import migrate

SCHEMA = pa.schema([("Id", pa.string()), ("name", pa.string()), ("IsDelete", pa.bool_())])
FEED = {"delta.enableChangeDataFeed": "true"}


def rows(*pairs: tuple[str, str]) -> pa.Table:
    return pa.Table.from_pylist([{"Id": k, "name": n, "IsDelete": None} for k, n in pairs], SCHEMA)


def loaded_table(tmp_path: Path, db_url: str) -> str:
    """A Delta table of rows a and b, with its change feed, loaded once; its folder."""
    delta = str(tmp_path / "lake" / "deltalake" / "account_partitioned")
    write_deltalake(delta, rows(("a", "A1"), ("b", "B1")), configuration=FEED)
    assert migrate(tmp_path / "lake", db_url).ok
    return delta


def stored(db_url: str) -> list[tuple[str, str]]:
    return sorted((r["Id"], r["name"]) for r in fetch(db_url, "account"))


def test_a_key_deleted_then_inserted_again_in_a_later_commit_is_present(
    tmp_path: Path, db_url: str
) -> None:
    delta = loaded_table(tmp_path, db_url)
    DeltaTable(delta).delete("Id = 'a'")
    write_deltalake(delta, rows(("a", "A2")), mode="append")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert summary.tables["account"].files_read == 2  # both commits, staged as one batch
    assert stored(db_url) == [("a", "A2"), ("b", "B1")]


def test_a_key_inserted_then_deleted_in_a_later_commit_is_absent(
    tmp_path: Path, db_url: str
) -> None:
    delta = str(tmp_path / "lake" / "deltalake" / "account_partitioned")
    write_deltalake(delta, rows(("a", "A1")), configuration=FEED)
    assert migrate(tmp_path / "lake", db_url).ok
    write_deltalake(delta, rows(("c", "C1")), mode="append")
    DeltaTable(delta).delete("Id = 'c'")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert stored(db_url) == [("a", "A1")]


VERSIONED = pa.schema([*SCHEMA, ("versionnumber", pa.int64())])


def test_an_update_that_changes_a_key_removes_the_old_key(tmp_path: Path, db_url: str) -> None:
    delta = loaded_table(tmp_path, db_url)
    DeltaTable(delta).update(updates={"Id": "'z'"}, predicate="Id = 'a'")
    DeltaTable(delta).update(updates={"name": "'B2'"}, predicate="Id = 'b'")  # same key

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert summary.tables["account"].problems == []  # the change feed, not a reconciliation
    assert stored(db_url) == [("b", "B2"), ("z", "A1")]
    result = summary.tables["account"]
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 1)


def test_a_key_change_of_a_versioned_row_removes_the_old_key(tmp_path: Path, db_url: str) -> None:
    delta = str(tmp_path / "lake" / "deltalake" / "account_partitioned")
    first = [
        {"Id": key, "name": name, "IsDelete": None, "versionnumber": 1}
        for key, name in (("a", "A1"), ("b", "B1"))
    ]
    write_deltalake(delta, pa.Table.from_pylist(first, VERSIONED), configuration=FEED)
    assert migrate(tmp_path / "lake", db_url).ok
    DeltaTable(delta).update(updates={"Id": "'z'", "versionnumber": "2"}, predicate="Id = 'a'")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert summary.tables["account"].problems == []  # the change feed, not a reconciliation
    assert stored(db_url) == [("b", "B1"), ("z", "A1")]


def test_a_row_inserted_under_a_key_renamed_away_in_the_same_commit_stays(
    tmp_path: Path, db_url: str
) -> None:
    delta = loaded_table(tmp_path, db_url)
    source = pa.Table.from_pylist(
        [{"key": "a", "new": "z", "name": "A1"}, {"key": "none", "new": "a", "name": "NEW"}]
    )
    (  # one commit: a renamed to z, and a new row under a
        DeltaTable(delta)
        .merge(source, "t.Id = s.key", source_alias="s", target_alias="t")
        .when_matched_update(updates={"Id": "s.new"})
        .when_not_matched_insert(updates={"Id": "s.new", "name": "s.name"})
        .execute()
    )

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert stored(db_url) == [("a", "NEW"), ("b", "B1"), ("z", "A1")]


VERSIONED = pa.schema(
    [
        ("Id", pa.string()),
        ("versionnumber", pa.int64()),
        ("name", pa.string()),
        ("IsDelete", pa.bool_()),
    ]
)


def versioned(*rows: tuple[str, int, str]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"Id": k, "versionnumber": v, "name": n, "IsDelete": None} for k, v, n in rows],
        VERSIONED,
    )


def test_the_feed_applies_changes_in_commit_order_whatever_their_versionnumber(
    tmp_path: Path, db_url: str
) -> None:
    """A generic table's `versionnumber` need not grow: a key deleted and inserted again
    with a lower one, or updated without changing it, ends as the Delta table holds it (as
    a full reload would), not as the higher versionnumber would have it."""
    delta = str(tmp_path / "lake" / "deltalake" / "account_partitioned")
    write_deltalake(delta, versioned(("a", 1, "A"), ("b", 3, "B")), configuration=FEED)
    assert migrate(tmp_path / "lake", db_url).ok
    DeltaTable(delta).delete("Id = 'b'")
    write_deltalake(delta, versioned(("b", 1, "B again")), mode="append")
    DeltaTable(delta).update(updates={"name": "'A2'"}, predicate="Id = 'a'")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert stored(db_url) == [("a", "A2"), ("b", "B again")]


@pytest.mark.parametrize(
    ("flag_type", "not_deleted"), [(pa.string(), ""), (pa.int64(), 0), (pa.bool_(), False)]
)
def test_a_feed_delete_is_applied_whatever_type_isdelete_has(
    tmp_path: Path, db_url: str, flag_type: pa.DataType, not_deleted: object
) -> None:
    """The feed marks its delete rows in IsDelete: cast to boolean, a text or number column
    failed the table ("" does not parse as a boolean)."""
    schema = pa.schema([("Id", pa.string()), ("name", pa.string()), ("IsDelete", flag_type)])
    delta = str(tmp_path / "lake" / "deltalake" / "account_partitioned")
    table = pa.Table.from_pylist(
        [{"Id": k, "name": k.upper(), "IsDelete": not_deleted} for k in "abc"], schema
    )
    write_deltalake(delta, table, configuration=FEED)
    assert migrate(tmp_path / "lake", db_url).ok
    DeltaTable(delta).delete("Id = 'b'")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert summary.tables["account"].rows_deleted == 1
    assert stored(db_url) == [("a", "A"), ("c", "C")]


def test_a_feed_delete_is_applied_whatever_values_its_row_image_holds(
    tmp_path: Path, db_url: str
) -> None:
    """The delete's row image holds a value the table rejects (a NaN): it was rejected with
    it, and the deleted row stayed in the table for good while runs succeeded (found by
    review). A delete applies by its key."""
    schema = pa.schema([("Id", pa.string()), ("f", pa.float64()), ("IsDelete", pa.bool_())])
    delta = str(tmp_path / "lake" / "deltalake" / "account_partitioned")
    write_deltalake(
        delta,
        pa.Table.from_pylist([{"Id": "a", "f": 1.0}, {"Id": "b", "f": 2.0}], schema),
        configuration=FEED,
    )
    assert migrate(tmp_path / "lake", db_url).ok
    nan = pa.Table.from_pylist([{"Id": "a", "f": float("nan")}], schema)
    DeltaTable(delta).merge(
        nan, "t.Id = s.Id", source_alias="s", target_alias="t"
    ).when_matched_update_all().execute()
    updated = migrate(tmp_path / "lake", db_url)
    assert updated.tables["account"].rows_rejected == 1  # the NaN: rejected, reported
    DeltaTable(delta).delete("Id = 'a'")

    summary = migrate(tmp_path / "lake", db_url)

    account = summary.tables["account"]
    assert summary.ok and (account.rows_deleted, account.rows_rejected) == (1, 0), summary.to_dict()
    assert sorted(r["Id"] for r in fetch(db_url, "account")) == ["b"]


def test_a_key_deleted_and_inserted_in_one_commit_is_present(tmp_path: Path, db_url: str) -> None:
    """An overwrite with a predicate rewrites rows in one commit: its feed holds a delete of
    the row before and an insert of the row after, in no order the reader keeps (delta-rs
    gave the inserts first). Ranked by read order, the delete won and the rows were gone,
    the run succeeding (found by review). Within a commit the row after it wins."""
    schema = pa.schema([*SCHEMA, ("part", pa.string())])
    delta = str(tmp_path / "lake" / "deltalake" / "account_partitioned")

    def parted(*rows_: tuple[str, str, str]) -> pa.Table:
        data = [{"Id": k, "name": n, "IsDelete": None, "part": p} for k, n, p in rows_]
        return pa.Table.from_pylist(data, schema)

    first = parted(("a", "A1", "x"), ("b", "B1", "x"), ("c", "C1", "y"))
    write_deltalake(delta, first, configuration=FEED)
    assert migrate(tmp_path / "lake", db_url).ok
    again = parted(("a", "A2", "x"), ("b", "B1", "x"))  # one changed, one written again
    write_deltalake(delta, again, mode="overwrite", predicate="part = 'x'")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert stored(db_url) == [("a", "A2"), ("b", "B1"), ("c", "C1")]
