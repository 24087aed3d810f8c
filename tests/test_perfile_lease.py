"""Per-file cost: a table's lease is renewed between batches only once LEASE_RENEW_SECONDS
have passed, not after every batch (each renewal is a commit, an fsync on SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lakebuilder import LakeBuilder, attribute
from turbodata import migrate, pipeline
from turbodata.ledger import lease

ACCOUNT = [attribute("Id", "guid"), attribute("name", "string", 20)]
FOLDERS = ("2025-01-01T00.00.00Z", "2025-01-01T01.00.00Z", "2025-01-01T02.00.00Z")


def three_folder_lake(tmp_path: Path) -> Path:
    lake = LakeBuilder(tmp_path / "lake")
    for number, name in enumerate(FOLDERS, start=1):
        row = f"00000000-0000-0000-0000-{number:012d},name{number}\n"
        lake.folder(name, {"account": ACCOUNT}, {"account/2025.csv": row})
    return lake.root


def renewals_of_a_three_batch_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    renewed: list[str] = []
    real_renew = lease.renew

    def counting_renew(*args: object, **kwargs: object) -> None:
        renewed.append(str(kwargs.get("name")))
        real_renew(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lease, "renew", counting_renew)
    summary = migrate(three_folder_lake(tmp_path), f"sqlite:///{tmp_path / 'out.sqlite'}")
    assert summary.ok, summary.problems
    assert summary.tables["account"].files_read == 3
    return renewed


def test_a_quick_table_is_not_renewed_after_each_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert renewals_of_a_three_batch_load(tmp_path, monkeypatch) == []


def test_a_table_loading_longer_than_the_interval_is_renewed_between_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "LEASE_RENEW_SECONDS", 0.0)
    renewed = renewals_of_a_three_batch_load(tmp_path, monkeypatch)
    assert renewed == [lease.table_lease("account")] * 3


def test_the_interval_leaves_most_of_the_lease_to_the_next_batch() -> None:
    assert lease.DEFAULT_TTL.total_seconds() >= pipeline.LEASE_RENEW_SECONDS * 10
