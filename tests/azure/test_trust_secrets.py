"""A password anywhere in a database URL or connection string is masked wherever it is shown
or stored: the summary, its JSON, the `_turbodata_runs` ledger, the HTTP answer, the logs."""

from __future__ import annotations

import json
import logging
import secrets as pysecrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import sqlalchemy as sa

from turbodata import http_api, pipeline, secrets
from turbodata.secrets import mask_secrets, redact_data
from turbodata.settings import Settings


def planted() -> str:
    return "Pl4nted" + pysecrets.token_hex(8)


ODBC = "Driver={ODBC Driver 18 for SQL Server};Server=tcp:srv,1433;UID=loader;"
PLANT = "S3CR3T"  # where the secret goes in a form


def odbc_url(credential: str, encode: Callable[[str], str] = quote_plus) -> str:
    return "mssql+pyodbc:///?odbc_connect=" + encode(ODBC + credential)


# (a text with PLANT where the secret goes, what must survive the masking, the password value
# the secret is part of: what a setting holding this text registers)
FORMS = [
    ("postgresql://loader:S3CR3T@db.example/dw", "db.example/dw", "S3CR3T"),
    ("postgresql://loader:pre@S3CR3T@db.example/dw", "db.example/dw", "pre@S3CR3T"),  # a raw "@"
    (odbc_url("PWD=S3CR3T"), "Server%3Dtcp", "S3CR3T"),
    (odbc_url("PWD=a&S3CR3T"), "UID%3Dloader", "a&S3CR3T"),
    (odbc_url("pwd={x;S3CR3T}", lambda t: quote(t, safe="")), "srv", "x;S3CR3T"),
    (odbc_url("PWD=a&S3CR3T;", lambda t: t), "UID=loader", "a&S3CR3T"),  # not encoded
    (
        "mssql+pyodbc://srv/db?driver=x&odbc_connect=" + quote_plus("AccessToken=S3CR3T;"),
        "x&",
        "S3CR3T",
    ),
    (ODBC + "Password=a S3CR3T;Encrypt=yes", "Encrypt=yes", "a S3CR3T"),  # a space in the value
    (ODBC + 'Password="a;S3CR3T";Encrypt=yes', "Encrypt=yes", "a;S3CR3T"),  # ADO.NET quoting
    (ODBC + "PWD={a}}S3CR3T};Encrypt=yes", "Encrypt=yes", "a}}S3CR3T"),  # "}}" inside braces
    ("Server=s;accesstoken=S3CR3T;Database=d", "Database=d", "S3CR3T"),
    (
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=S3CR3T==;EndpointSuffix=x",
        "a;",
        "S3CR3T==",
    ),
    (
        "BlobEndpoint=https://a.blob;SharedAccessSignature=sv=2024&sig=S3CR3T&se=1;x=1",
        "x=1",
        "S3CR3T",
    ),
    ("https://a.blob.core.windows.net/c/f.csv?sv=2024&sig=S3CR3T%3D&se=1", "se=1", "S3CR3T%3D"),
    ('{"user": "u", "password": "S3CR3T"}', '"user": "u"', None),
    ("Authorization: Bearer S3CR3T.eyJhbGciOiJSUzI1NiJ9", "Authorization", None),
]


@pytest.mark.parametrize(("form", "kept", "password"), FORMS)
def test_every_form_of_a_password_is_masked(form: str, kept: str, password: str | None) -> None:
    secret = planted()
    masked = mask_secrets(form.replace(PLANT, secret))
    assert secret not in masked
    assert "***" in masked or "%2A%2A%2A" in masked
    assert kept in masked
    assert mask_secrets(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(("form", "kept", "password"), [f for f in FORMS if f[2]])
def test_a_registered_text_masks_its_password_wherever_it_appears(
    form: str, kept: str, password: str
) -> None:
    """A URL from a setting is registered: its password is hidden even where it stands alone."""
    secret = planted()
    secrets.register_embedded_secrets(form.replace(PLANT, secret))
    alone = password.replace(PLANT, secret)
    assert secrets.redact(f"login failed for {alone}!") == "login failed for ***!"


def test_summary_data_masks_every_string() -> None:
    secret = planted()
    data = {"problems": [f"could not connect: Server=s;PWD={secret};"], "n": 3}
    assert secret not in json.dumps(redact_data(data))
    assert redact_data(data)["n"] == 3


def test_text_without_connection_syntax_still_hides_registered_values_and_tokens() -> None:
    """Text without "=", ":" or "Bearer" skips the patterns, not the registered values."""
    secret = planted()
    secrets.register_secret(secret)
    assert redact_data({"table": f"t {secret} x"}) == {"table": "t *** x"}
    assert mask_secrets("BEARER " + secret * 2) == "BEARER ***"


@pytest.fixture
def secret_db_url(tmp_path: Path) -> tuple[str, str]:
    """A SQLite URL carrying a planted password in `odbc_connect` (SQLite ignores it)."""
    secret = planted()
    odbc = quote_plus(f"{ODBC}PWD=x&{secret};")
    return f"sqlite:///{tmp_path}/target.sqlite?odbc_connect={odbc}", secret


def stored_summaries(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT summary FROM _turbodata_runs")).scalars()
            return [r for r in rows if r]
    finally:
        engine.dispose()


@pytest.mark.filterwarnings("ignore:Query string argument")
def test_a_run_shows_and_stores_no_password(
    lake_copy: Path, secret_db_url: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    url, secret = secret_db_url
    secrets.install_log_redaction()
    with caplog.at_level(logging.DEBUG):
        summary = pipeline.migrate(str(lake_copy), url)
    assert summary.ok, summary.to_dict()
    shown = summary.to_dict()
    assert "PWD%3D%2A%2A%2A" in str(shown["database"])  # masked, not dropped
    stored = stored_summaries(url)
    assert len(stored) == 1
    for text in (repr(shown), json.dumps(shown), *stored, caplog.text):
        assert secret not in text


@pytest.mark.filterwarnings("ignore:Query string argument")
def test_the_http_answer_holds_no_password(
    lake_copy: Path,
    secret_db_url: tuple[str, str],
    use_settings: Callable[[Settings], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, secret = secret_db_url
    use_settings(Settings(lake=str(lake_copy), database_url=url))
    with caplog.at_level(logging.DEBUG):
        status, body = http_api.run_migration(http_api.MigrateRequest(tables=("account",)))
        broken = http_api.run_migration(http_api.MigrateRequest(tables=("nosuchtable",)))
    assert status == 200, body
    assert broken[0] == 500
    for text in (json.dumps(body), json.dumps(broken[1]), *stored_summaries(url), caplog.text):
        assert secret not in text


def test_the_python_summary_masks_a_registered_secret_in_table_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`migrate()`'s own summary, not only the HTTP answer and the ledger: a table's error and
    problem lines quote what failed, and that may hold a secret."""
    from turbodata.load.loader import TableLoader

    secret = planted()
    secrets.register_secret(secret)

    def fails(*_args: object) -> None:
        raise RuntimeError(f"cannot read with key {secret}")

    monkeypatch.setattr(TableLoader, "load", fails)
    lake = Path(__file__).resolve().parents[2] / "examples" / "lake"
    try:
        summary = pipeline.migrate(lake, f"sqlite:///{tmp_path}/out.sqlite", tables=["account"])
        text = json.dumps(summary.to_dict())
    finally:
        secrets.forget_secrets()

    assert summary.tables["account"].status == "failed"
    assert secret not in text and "***" in text
