"""Settings from the environment, validation, and the database each configuration yields."""

from __future__ import annotations

import logging
import secrets as pysecrets
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from turbodata import secrets
from turbodata.secrets import SecretNotFoundError
from turbodata.settings import ENVIRONMENT, Settings, SettingsError


def test_values_are_read_and_typed() -> None:
    settings = Settings.from_env(
        {
            "TURBODATA_LAKE": " abfs://raw/org ",
            "TURBODATA_TABLES": "account, contact,,",
            "TURBODATA_SCHEDULE": "0 0 2 * * *",
            "TURBODATA_DATABASE_URL": "sqlite:///x.sqlite",
            "TURBODATA_STORAGE_ACCOUNT": "",
            "UNRELATED": "x",
        }
    )
    assert settings.lake == "abfs://raw/org"
    assert settings.tables == ("account", "contact")
    assert settings.schedule == "0 0 2 * * *"
    assert settings.storage_account is None  # empty means unset
    assert settings.sql_driver == "ODBC Driver 18 for SQL Server"


def test_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODATA_LAKE", "/data/lake")
    assert Settings.from_env().lake == "/data/lake"


def test_unknown_turbodata_settings_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        Settings.from_env({"TURBODATA_LAKES": "/x"})
    assert "TURBODATA_LAKES" in caplog.text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {
                "TURBODATA_DATABASE_URL": "sqlite://",
                "TURBODATA_SQL_SERVER": "s",
                "TURBODATA_SQL_DATABASE": "d",
            },
            "only one of TURBODATA_DATABASE_URL, TURBODATA_SQL_SERVER",
        ),
        ({"TURBODATA_SQL_SERVER": "s"}, "TURBODATA_SQL_DATABASE"),
        ({"TURBODATA_DATABASE_PASSWORD_SECRET": "pw"}, "needs TURBODATA_DATABASE_URL"),
        ({"TURBODATA_DATABASE_URL_SECRET": "db-url"}, "TURBODATA_KEY_VAULT_URL"),
        (
            {
                "TURBODATA_STORAGE_CONNECTION_STRING_SECRET": "cs",
                "TURBODATA_STORAGE_CONNECTION_STRING": "x",
                "TURBODATA_KEY_VAULT_URL": "https://v",
            },
            "only one of TURBODATA_STORAGE_CONNECTION_STRING",
        ),
        (
            {
                "TURBODATA_DATABASE_URL": "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/db/)"
            },
            "TURBODATA_DATABASE_URL is a Key Vault reference the platform could not resolve",
        ),
    ],
)
def test_contradictions_are_refused_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


def test_missing_lake_or_database_names_the_setting() -> None:
    settings = Settings.from_env({})
    with pytest.raises(SettingsError, match="TURBODATA_LAKE"):
        settings.lake_location()
    with pytest.raises(SettingsError, match="TURBODATA_DATABASE_URL"):
        settings.create_engine()
    assert settings.lake_location("abfs://c/p") == "abfs://c/p"


def test_plain_url_builds_the_engine_and_registers_its_password(tmp_path: Any) -> None:
    password = "Pw" + pysecrets.token_hex(8)
    url = f"postgresql+psycopg://loader:{password}@127.0.0.1:1/dw"
    settings = Settings.from_env({"TURBODATA_DATABASE_URL": url})
    assert password not in repr(settings)
    assert password not in str(settings.describe())
    assert secrets.redact(f"x {password} y") == "x *** y"
    engine = settings.create_engine()
    assert engine.url.password == password
    sqlite = Settings.from_env({"TURBODATA_DATABASE_URL": f"sqlite:///{tmp_path}/t.sqlite"})
    with sqlite.create_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    assert "sqlite" in secrets.redact(f"sqlite:///{tmp_path}/t.sqlite")  # not a secret


def test_password_comes_from_key_vault(
    keyvault: Any, make_settings: Callable[..., Settings], secret_name: str
) -> None:
    password = "Pw/" + pysecrets.token_urlsafe(12)
    keyvault.set_secret(secret_name, password)
    settings = make_settings(
        {
            "TURBODATA_DATABASE_URL": "postgresql+psycopg://loader@db.example:5432/dw",
            "TURBODATA_DATABASE_PASSWORD_SECRET": secret_name,
        }
    )
    engine = settings.create_engine()
    assert engine.url.password == password
    assert engine.url.username == "loader" and engine.url.host == "db.example"
    assert password not in engine.url.render_as_string(hide_password=True)


def test_whole_url_comes_from_key_vault(
    keyvault: Any, make_settings: Callable[..., Settings], secret_name: str, tmp_path: Any
) -> None:
    keyvault.set_secret(secret_name, f"sqlite:///{tmp_path}/kv.sqlite")
    settings = make_settings({"TURBODATA_DATABASE_URL_SECRET": secret_name})
    assert settings.create_engine().url.database == f"{tmp_path}/kv.sqlite"


def test_missing_database_secret_names_it(
    make_settings: Callable[..., Settings], secret_name: str
) -> None:
    settings = make_settings({"TURBODATA_DATABASE_URL_SECRET": secret_name})
    with pytest.raises(SecretNotFoundError, match=secret_name):
        settings.create_engine()


def test_sql_server_settings_build_a_token_engine(credential: Any) -> None:
    settings = Settings.from_env(
        {"TURBODATA_SQL_SERVER": "srv.database.windows.net", "TURBODATA_SQL_DATABASE": "dw"},
        credential=credential,
    )
    engine = settings.create_engine(module=_NoDriver)
    assert engine.dialect.name == "mssql"
    assert engine.url.password is None
    assert "srv.database.windows.net" in engine.url.query["odbc_connect"]
    assert "PWD" not in engine.url.query["odbc_connect"].upper()


class _NoDriver:
    """Stand-in DBAPI module: the engine is built, never connected."""

    paramstyle = "qmark"
    version = "5.5.0"
    Error = type("Error", (Exception,), {})
    Cursor = type("Cursor", (), {"nextset": None})


def test_every_setting_has_an_environment_variable() -> None:
    fields = {
        f for f in Settings.__dataclass_fields__ if f not in ("credential", "key_vault_options")
    }
    assert fields == set(ENVIRONMENT)
    assert all(var.startswith("TURBODATA_") for var in ENVIRONMENT.values())


def test_loading_settings_installs_log_redaction() -> None:
    Settings.from_env({})
    assert any(isinstance(f, secrets.SecretFilter) for f in logging.getLogger("turbodata").filters)
