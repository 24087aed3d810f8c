"""Key Vault look-ups against the HTTPS stand-in, masking, and the log filter."""

from __future__ import annotations

import logging
import secrets as pysecrets
from typing import Any

import pytest

from turbodata import secrets
from turbodata.secrets import KeyVaultSecrets, SecretError, SecretNotFoundError, mask_url

SAS_KEYWORD = "SharedAccessSignature"  # the SAS below is fake


def _secret_value() -> str:
    return "Pw-" + pysecrets.token_urlsafe(18)  # may hold "-" and "_"; never a real secret


# -- mask_url ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "hidden", "kept"),
    [
        ("postgresql+psycopg://loader:Sup3r/Secret@db.example:5432/dw", "Sup3r/Secret", "loader"),
        ("mssql+pyodbc://u:p%40ss%3Aword@srv/db?driver=ODBC+Driver+18", "p%40ss%3Aword", "srv/db"),
        (
            "Driver={ODBC Driver 18};Server=tcp:x,1433;UID=me;PWD={a;b}}c};Encrypt=yes",
            "a;b}}c",
            "UID=me",
        ),
        ("Server=x;Password=hunter2hunter;Database=y", "hunter2hunter", "Database=y"),
        (
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=AbC123+/xyz==;"
            "EndpointSuffix=core.windows.net",
            "AbC123+/xyz==",
            "AccountName=acct",
        ),
        (
            f"BlobEndpoint=https://acct.blob.core.windows.net;{SAS_KEYWORD}=sv=2024&sig=S1gN4ture%3D",
            "S1gN4ture",
            "BlobEndpoint=https://acct.blob.core.windows.net",
        ),
        (
            "https://acct.blob.core.windows.net/c/x.csv?sv=2024-05-04&sig=AbCdEf%2B123",
            "AbCdEf",
            "sv=2024-05-04",
        ),
    ],
)
def test_mask_url_hides_passwords_keys_and_signatures(url: str, hidden: str, kept: str) -> None:
    masked = mask_url(url)
    assert hidden not in masked
    assert "***" in masked
    assert kept in masked


def test_mask_url_looks_inside_odbc_connect() -> None:
    from urllib.parse import quote_plus

    odbc = "Driver={ODBC Driver 18 for SQL Server};Server=s;UID=u;PWD=TopSecret99"
    masked = mask_url(f"mssql+pyodbc:///?odbc_connect={quote_plus(odbc)}")
    assert "TopSecret99" not in masked
    assert "Server%3Ds" in masked


def test_mask_url_leaves_urls_without_secrets_alone() -> None:
    for url in (
        "sqlite:////tmp/x.sqlite",
        "postgresql://host:5432/db",
        "abfs://c@a.dfs.core.windows.net/p",
    ):
        assert mask_url(url) == url


def test_registered_secrets_are_masked_in_any_form() -> None:
    value = "with space&amp/" + _secret_value()
    secrets.register_secret(value)
    from urllib.parse import quote, quote_plus

    for text in (f"x {value} y", f"u={quote_plus(value)}", f"p={quote(value, safe='')}"):
        assert "***" in secrets.redact(text)
        assert value not in secrets.redact(text)


def test_short_values_are_not_registered() -> None:
    secrets.register_secret("abc")
    assert secrets.redact("abc abc") == "abc abc"


def test_redact_data_masks_nested_strings() -> None:
    value = _secret_value()
    secrets.register_secret(value)
    data = {"a": [value, 3, {"b": f"x{value}"}], value: True}
    assert value not in repr(secrets.redact_data(data))
    assert secrets.redact_data(data)["a"][1] == 3


# -- the log filter ---------------------------------------------------------------------------


def test_log_records_lose_secret_args_messages_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    value = _secret_value()
    secrets.install_log_redaction()
    secrets.register_secret(value)
    logger = logging.getLogger("turbodata.some.module.created.later")
    with caplog.at_level(logging.DEBUG):
        logger.info("connecting with %s", value)
        logger.warning(f"inline {value}")
        try:
            raise RuntimeError(f"failed with {value}")
        except RuntimeError:
            logger.exception("boom")
        logging.getLogger("azure.somewhere").error("url postgresql://u:%s@h/db", "NotRegistered1")
    text = caplog.text + "".join(caplog.messages)
    assert value not in text
    assert "NotRegistered1" not in text
    assert text.count("***") >= 4


def test_records_without_secrets_are_untouched(caplog: pytest.LogCaptureFixture) -> None:
    secrets.install_log_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("turbodata.x").info("loaded %d rows into %s", 5, "account")
    assert caplog.records[-1].args == (5, "account")


def test_the_filter_is_attached_to_turbodata_loggers() -> None:
    secrets.install_log_redaction()
    assert any(isinstance(f, secrets.SecretFilter) for f in logging.getLogger("turbodata").filters)
    record = logging.LogRecord("turbodata", logging.INFO, __file__, 1, "pw=%s", ("x",), None)
    value = _secret_value()
    secrets.register_secret(value)
    record.args = (value,)
    assert secrets.SecretFilter().filter(record)
    assert record.getMessage() == "pw=***"


# -- Key Vault --------------------------------------------------------------------------------


def test_secret_is_read_with_the_credential_through_the_challenge(
    keyvault: Any, credential: Any, vault_options: dict[str, Any], secret_name: str
) -> None:
    value = _secret_value()
    keyvault.set_secret(secret_name, value)
    source = KeyVaultSecrets(keyvault.url, credential, **vault_options)
    assert source.get(secret_name) == value
    assert source.get(secret_name) == value  # cached: one authorised read
    assert keyvault.secret_reads().count(secret_name) == 1
    assert ("https://vault.azure.net/.default",) in credential.calls
    assert secrets.redact(f"v={value}") == "v=***"  # fetched values are registered


def test_missing_secret_names_the_secret(
    keyvault: Any, credential: Any, vault_options: dict[str, Any], secret_name: str
) -> None:
    source = KeyVaultSecrets(keyvault.url, credential, **vault_options)
    with pytest.raises(SecretNotFoundError) as caught:
        source.get(secret_name)
    assert secret_name in str(caught.value)
    assert keyvault.url in str(caught.value)


def test_unreachable_vault_is_a_clear_error(credential: Any, secret_name: str) -> None:
    from azurite_server import free_port

    source = KeyVaultSecrets(f"https://127.0.0.1:{free_port()}", credential, retry_total=0)
    with pytest.raises(SecretError, match=secret_name):
        source.get(secret_name)


def test_default_azure_credential_reaches_the_vault_via_managed_identity(
    keyvault: Any, secret_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production credential, untouched: App Service managed identity → Key Vault."""
    from azure.identity import DefaultAzureCredential

    for var in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", keyvault.msi_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", "test-identity-header")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(keyvault.ca_path))
    value = _secret_value()
    keyvault.set_secret(secret_name, value)
    source = KeyVaultSecrets(
        keyvault.url, DefaultAzureCredential(), verify_challenge_resource=False
    )
    assert source.get(secret_name) == value
