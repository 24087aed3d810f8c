"""End to end on Azure stand-ins: the sample lake in Azurite, secrets in the Key Vault stand-in.

1. Migrating the lake from Azurite gives exactly what migrating the same local folder gives,
   on the first run, on a rerun (nothing to do), and after a file is rewritten (new etag).
2. A migration whose database password and storage connection string come from Key Vault, run
   through every entry point (HTTP, Durable, timer, CLI --json) and through a failure, leaves
   no secret value in logs, exceptions, summaries, output or the ledger.
"""

from __future__ import annotations

import json
import logging
import os
import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import durable_replay
import pytest
import sqlalchemy as sa
from azure.functions.timer import TimerRequest
from azure.storage.blob import ContainerClient

from turbodata import http_api, pipeline
from turbodata.lake.azure import AzureLake
from turbodata.settings import Settings

RUN_KEYS = ("status", "rows_inserted", "rows_rejected", "files_read", "columns_created", "error")


def table_contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every user table's rows, sorted (the ledger tables hold run ids and times: skipped)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(n for n in sa.inspect(conn).get_table_names() if not n.startswith("_"))
            return {
                n: sorted(map(tuple, conn.execute(sa.text(f'SELECT * FROM "{n}"')).all()), key=repr)
                for n in names
            }
    finally:
        engine.dispose()


def per_table(summary: pipeline.RunSummary) -> dict[str, dict[str, Any]]:
    tables = summary.to_dict()["tables"]
    assert isinstance(tables, dict)
    return {name: {k: t[k] for k in RUN_KEYS} for name, t in tables.items()}


def test_azure_lake_migrates_exactly_like_the_local_folder(
    example_container: ContainerClient, azurite: Any, lake_copy: Path, tmp_path: Path
) -> None:
    """`example_container` holds examples/lake; `lake_copy` is the same files on disk."""
    local_dir = lake_copy
    settings = Settings(storage_connection_string=azurite.connection_string)
    azure_lake = AzureLake.from_url(f"abfs://{example_container.container_name}/org", settings)
    azure_db, local_db = f"sqlite:///{tmp_path}/azure.sqlite", f"sqlite:///{tmp_path}/local.sqlite"

    def both() -> tuple[dict[str, Any], dict[str, Any]]:
        from_azure = pipeline.migrate(azure_lake, azure_db)
        from_local = pipeline.migrate(str(local_dir), local_db)
        assert from_azure.ok and from_local.ok, (from_azure.to_dict(), from_local.to_dict())
        assert per_table(from_azure) == per_table(from_local)
        assert table_contents(azure_db) == table_contents(local_db)
        return per_table(from_azure), table_contents(azure_db)

    first, contents = both()
    assert all(t["status"] == "loaded" and t["rows_inserted"] > 0 for t in first.values())
    assert sum(len(rows) for rows in contents.values()) > 0

    rerun, _ = both()
    assert all(t["status"] == "unchanged" and t["files_read"] == 0 for t in rerun.values())

    # Rewrite one data file with the same bytes: only its etag (Azure) / mtime (local) changes.
    in_progress = (local_dir / "Changelog" / "changelog.info").read_text().strip()
    changed = sorted(  # in the newest applied folder: older folders are never applied again
        p for p in local_dir.glob("2025-*/contact/*.csv") if in_progress not in str(p)
    )[-1]
    name = f"org/{changed.relative_to(local_dir).as_posix()}"
    before = azure_lake.stat(name.removeprefix("org/"))
    example_container.upload_blob(name, changed.read_bytes(), overwrite=True)
    after = azure_lake.stat(name.removeprefix("org/"))
    assert before and after and after.etag != before.etag and after.size == before.size
    stamp = changed.stat().st_mtime + 60
    os.utime(changed, (stamp, stamp))

    third, _ = both()
    folder_files = len(list(changed.parent.glob("*.csv")))  # read again with its folder
    assert folder_files > 1 and third["contact"]["files_read"] == folder_files, third
    assert third["contact"]["status"] == "loaded"
    assert third["account"]["status"] == "unchanged" and third["account"]["files_read"] == 0


# -- no secret anywhere -----------------------------------------------------------------------


@pytest.fixture
def vault_secrets(keyvault: Any, azurite: Any) -> dict[str, str]:
    """Fresh secret values in the vault: the database password and the storage connection."""
    names = {
        "password": f"db-password-{pysecrets.token_hex(4)}",
        "storage": f"lake-connection-{pysecrets.token_hex(4)}",
    }
    values = {
        "password": "Pw-" + pysecrets.token_urlsafe(24),
        "storage": azurite.connection_string,
    }
    for key, name in names.items():
        keyvault.set_secret(name, values[key])
    return {**{f"{k}_name": v for k, v in names.items()}, **values}


def test_no_secret_value_leaks_from_any_entry_point(
    example_container: ContainerClient,
    postgres_url: str,
    vault_secrets: dict[str, str],
    make_settings: Callable[..., Settings],
    use_settings: Callable[[Settings], None],
    functions_index: dict[str, Any],
    lake_copy: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = vault_secrets["password"]
    account_key = vault_secrets["storage"].split("AccountKey=")[1].split(";")[0]
    azure_url = f"abfs://{example_container.container_name}/org"
    settings = make_settings(
        {
            "TURBODATA_LAKE": str(lake_copy),  # requests below override it with the Azure URL
            "TURBODATA_DATABASE_URL": postgres_url,
            "TURBODATA_DATABASE_PASSWORD_SECRET": vault_secrets["password_name"],
            "TURBODATA_STORAGE_CONNECTION_STRING_SECRET": vault_secrets["storage_name"],
        }
    )
    use_settings(settings)
    outputs: list[str] = []
    caplog.set_level(logging.DEBUG)

    # HTTP: a real migration from Azurite into PostgreSQL with the vault's password
    req = func.HttpRequest(
        method="POST", url="/api/migrate", body=json.dumps({"lake": azure_url}).encode()
    )
    resp = functions_index["migrate"].get_user_function()(req)
    outputs.append(resp.get_body().decode())
    assert resp.status_code == 200, outputs[-1]
    body = json.loads(outputs[-1])
    assert body["tables"]["account"]["rows_inserted"] > 0
    assert settings.create_engine().url.password == password  # the vault's password was used
    assert body["database"].startswith("postgresql+psycopg://postgres:***@")

    # Durable: orchestrator + activities, as the host would replay them
    handle = functions_index["migrate_orchestrator"].get_user_function()
    acts = {n: functions_index[n].get_user_function() for n in ("list_tables", "migrate_table")}
    outcome = durable_replay.run(
        handle, {"lake": azure_url, "tables": None, "dry_run": False}, acts
    )
    assert outcome.runtime_status == "Completed", outcome.error
    outputs.append(json.dumps([outcome.output, outcome.custom_status, outcome.activity_calls]))

    # The timer (TURBODATA_LAKE: the local copy), past due
    functions_index["scheduled_migration"].get_user_function()(TimerRequest(past_due=True))

    # A failure whose exception text carries the URL with the password in it
    url_with_password = sa.make_url(postgres_url).set(password=password)

    def failing_migrate(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"driver refused {url_with_password.render_as_string(hide_password=False)}"
        )

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "migrate", failing_migrate)
        resp = functions_index["migrate"].get_user_function()(req)
    outputs.append(resp.get_body().decode())
    assert resp.status_code == 500 and "driver refused" in outputs[-1]

    # The CLI's --json output, given the URL with the password on its command line
    from turbodata.cli import main

    monkeypatch.setenv("TURBODATA_STORAGE_CONNECTION_STRING", vault_secrets["storage"])
    main(
        [
            "migrate",
            "--lake",
            azure_url,
            "--db",
            url_with_password.render_as_string(False),
            "--json",
        ]
    )
    cli = capsys.readouterr()
    outputs += [cli.out, cli.err]
    assert json.loads(cli.out)["database"].startswith("postgresql+psycopg://postgres:***@")

    # Everything the runs left behind
    logged = [caplog.text] + [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    ledger = ledger_text(postgres_url)
    for secret in (password, account_key):
        for where, text in (("logs", logged), ("outputs", outputs), ("ledger", [ledger])):
            assert not any(secret in t for t in text), f"a secret value leaked into the {where}"
    assert "***" in "".join(outputs)  # masking, not silence, is what kept them out
    assert any("past due" in m for m in logged)


def ledger_text(url: str) -> str:
    """Every row of turbodata's own tables, as text."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = [n for n in sa.inspect(conn).get_table_names() if n.startswith("_turbodata")]
            assert names, "the runs left no ledger"
            return "\n".join(
                repr(row) for n in names for row in conn.execute(sa.text(f'SELECT * FROM "{n}"'))
            )
    finally:
        engine.dispose()


def test_http_run_against_azure_lake_reports_the_lake_url(
    example_container: ContainerClient,
    vault_secrets: dict[str, str],
    make_settings: Callable[..., Settings],
    use_settings: Callable[[Settings], None],
    functions_index: dict[str, Any],
    tmp_path: Path,
) -> None:
    azure_url = f"abfs://{example_container.container_name}/org"
    use_settings(
        make_settings(
            {
                "TURBODATA_LAKE": azure_url,
                "TURBODATA_DATABASE_URL": f"sqlite:///{tmp_path}/t.sqlite",
                "TURBODATA_STORAGE_CONNECTION_STRING_SECRET": vault_secrets["storage_name"],
            }
        )
    )
    req = func.HttpRequest(method="POST", url="/api/migrate", body=b'{"tables": ["account"]}')
    resp = functions_index["migrate"].get_user_function()(req)
    body = json.loads(resp.get_body())
    assert resp.status_code == 200, body
    assert (
        body["lake"]
        == f"abfs://{example_container.container_name}@devstoreaccount1.dfs.core.windows.net/org"
    )
    assert list(body["tables"]) == ["account"]
    assert http_api.parse_migrate_request(b"{}").lake is None
