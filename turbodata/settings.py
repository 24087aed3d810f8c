"""One typed `Settings` object, read from the environment (app settings in Azure).

Every setting is documented once, in `SETTING_DOCS` below; `infra/settings_doc.py` writes
`docs/configuration.md` and `local.settings.json.example` from it. Settings never hold a secret
value for production use: they name Key Vault secrets (`*_SECRET`), or they are App Service
Key Vault references that the platform resolves into the environment. The database is one of

- `TURBODATA_DATABASE_URL`: a SQLAlchemy URL (local use; optionally without its password,
  which then comes from the Key Vault secret `TURBODATA_DATABASE_PASSWORD_SECRET`);
- `TURBODATA_DATABASE_URL_SECRET`: the Key Vault secret holding the whole URL;
- `TURBODATA_SQL_SERVER` + `TURBODATA_SQL_DATABASE`: Azure SQL with an Entra token from the
  app's identity, no password anywhere (`turbodata.sql_auth`).

Loading settings installs the log filter that masks secret values (`turbodata.secrets`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from turbodata import secrets
from turbodata.lake.storage import Lake, LakeLocation, LocalLake

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

PREFIX = "TURBODATA_"
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("
AZURE_LAKE_SCHEMES = ("abfs://", "abfss://", "az://")
WEB_SCHEMES = ("https://", "http://")  # refused as lakes, with the abfs:// URL to write instead


class SettingsError(ValueError):
    """The configuration is missing something or contradicts itself (names the setting)."""


@dataclass(frozen=True)
class SettingDoc:
    """One setting's documentation: the single source of `docs/configuration.md` and of
    `local.settings.json.example` (both written by `infra/settings_doc.py`).

    `meaning` is Markdown. `default` describes what an unset value means when the `Settings`
    field's own default does not say it (settings read where they act, or empty = all).
    `example` is the value in `local.settings.json.example`; None leaves the setting out of it.
    """

    variable: str
    meaning: str
    example: str | None = ""
    default: str | None = None


# field name -> its documentation; the order is the documentation order
SETTING_DOCS: dict[str, SettingDoc] = {
    "lake": SettingDoc(
        "TURBODATA_LAKE",
        "Where the Dataverse / Synapse Link export is: "
        "`abfs[s]://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH`, or `abfs://CONTAINER/PATH` / "
        "`az://…` with `TURBODATA_STORAGE_ACCOUNT`. A local folder works for local runs only. "
        "An HTTP request's `lake` may name another `abfs://` URL (see "
        "`TURBODATA_STORAGE_ACCOUNTS`); the CLI's `--lake` overrides it.",
        example="abfs://dataverse-myorg@mylakeaccount.dfs.core.windows.net/",
    ),
    "tables": SettingDoc(
        "TURBODATA_TABLES",
        "Tables for Functions runs (HTTP, Durable, timer) whose request names none. "
        "The CLI ignores it.",
        default="empty, meaning every table in the lake",
    ),
    "database_url": SettingDoc(
        "TURBODATA_DATABASE_URL",
        "SQLAlchemy URL of the target database, e.g. `sqlite:///out.sqlite` or "
        "`postgresql+psycopg://loader@dbhost/dw`, for local use. Leave the password out and set "
        "`TURBODATA_DATABASE_PASSWORD_SECRET`, or in Azure make this app setting a Key Vault "
        "reference. One of the three ways to name the database.",
    ),
    "database_url_secret": SettingDoc(
        "TURBODATA_DATABASE_URL_SECRET",
        "Name of the Key Vault secret holding the whole SQLAlchemy URL "
        "(instead of `TURBODATA_DATABASE_URL`).",
    ),
    "database_password_secret": SettingDoc(
        "TURBODATA_DATABASE_PASSWORD_SECRET",
        "Name of the Key Vault secret holding the password for `TURBODATA_DATABASE_URL` "
        "(which then has none).",
    ),
    "sql_server": SettingDoc(
        "TURBODATA_SQL_SERVER",
        "Azure SQL / SQL Server host for password-less sign-in with an Entra token from the "
        "app's identity (with `TURBODATA_SQL_DATABASE`); the identity must be a database user "
        "(docs/sql-user.md). Use this, or one of the two `TURBODATA_DATABASE_URL` settings.",
        example="my-sql-server.database.windows.net",
    ),
    "sql_database": SettingDoc(
        "TURBODATA_SQL_DATABASE",
        "Database name on `TURBODATA_SQL_SERVER`; the two are set together.",
        example="dataverse",
    ),
    "sql_driver": SettingDoc(
        "TURBODATA_SQL_DRIVER",
        "ODBC driver name for `TURBODATA_SQL_SERVER`.",
        example="ODBC Driver 18 for SQL Server",
    ),
    "key_vault_url": SettingDoc(
        "TURBODATA_KEY_VAULT_URL",
        "The Key Vault the `*_SECRET` settings name secrets in, read with the app's identity "
        "(`DefaultAzureCredential`), which needs the *Key Vault Secrets User* role.",
        example="https://my-turbodata-vault.vault.azure.net/",
    ),
    "storage_account": SettingDoc(
        "TURBODATA_STORAGE_ACCOUNT",
        "Storage account of `abfs://CONTAINER/PATH` lake locations that do not name one.",
    ),
    "storage_accounts": SettingDoc(
        "TURBODATA_STORAGE_ACCOUNTS",
        "Other storage accounts a request's `lake` may name, besides "
        "`TURBODATA_STORAGE_ACCOUNT` and the account of `TURBODATA_LAKE`. Any other account is "
        "refused (HTTP 400) before a token is requested.",
        default="empty, meaning no account besides those two",
    ),
    "storage_endpoint_suffixes": SettingDoc(
        "TURBODATA_STORAGE_ENDPOINT_SUFFIXES",
        "Storage host suffixes a lake URL's host may end in; other hosts and ports are "
        "refused, because the app's token is sent to that host. For emulators and private "
        "endpoints use `TURBODATA_STORAGE_BLOB_ENDPOINT`.",
    ),
    "storage_blob_endpoint": SettingDoc(
        "TURBODATA_STORAGE_BLOB_ENDPOINT",
        "Blob endpoint replacing `https://ACCOUNT.blob.core.windows.net` (private endpoint, "
        "emulator). Not used with a connection string, which names its own endpoint.",
    ),
    "storage_connection_string_secret": SettingDoc(
        "TURBODATA_STORAGE_CONNECTION_STRING_SECRET",
        "Name of the Key Vault secret holding a storage connection string (account key or SAS) "
        "for the lake. Without it (and without `TURBODATA_STORAGE_CONNECTION_STRING`) the app's "
        "identity reads the lake (*Storage Blob Data Reader* on the container).",
    ),
    "storage_connection_string": SettingDoc(
        "TURBODATA_STORAGE_CONNECTION_STRING",
        "The same connection string as a value: only as a Key Vault reference in Azure, or "
        "Azurite's `UseDevelopmentStorage=true` locally. Not together with "
        "`TURBODATA_STORAGE_CONNECTION_STRING_SECRET`.",
    ),
    "schedule": SettingDoc(
        "TURBODATA_SCHEDULE",
        "NCRONTAB schedule (six fields, UTC unless `WEBSITE_TIME_ZONE` is set) of the "
        "timer-triggered run, e.g. `0 0 2 * * *` for 02:00 daily. The Functions host does not "
        "start the timer without it.",
        example="0 0 2 * * *",
        default="none (required by the Functions app; the Bicep sets `0 0 2 * * *`)",
    ),
    "lease_wait_seconds": SettingDoc(
        "TURBODATA_LEASE_WAIT_SECONDS",
        "Seconds a run waits for a table that another run is loading before it fails that "
        "table, naming the other run (another run's start, which holds the database-wide "
        "lease for a moment, is waited for up to 15 s whatever this says). A request whose "
        "every table stays held answers 409. "
        "A value that is not a number of 0 or more is an error.",
        example="5",
        default="5",
    ),
    "parallel_tables": SettingDoc(
        "TURBODATA_PARALLEL_TABLES",
        "Durable runs (`POST /api/migrations`): how many table activities run at once. Tables "
        "have leases of their own, so they load together; the database is the ceiling (its log "
        "write rate, DTU / vCore limits). Raise it while the database's log IO and CPU stay "
        "below their limits; keep 1 for SQLite (one writer).",
        example="4",
        default="1",
    ),
    "table_attempts": SettingDoc(
        "TURBODATA_TABLE_ATTEMPTS",
        "Durable runs: attempts of a table whose activity failed or found the table held by "
        "another run, the first retry after 60 s; the other tables are not redone.",
        example="3",
        default="1 (no retry)",
    ),
    "soft_delete": SettingDoc(
        "TURBODATA_SOFT_DELETE",
        "`true`: Functions runs keep deleted rows, marked in their IsDelete column, as the "
        "CLI's `--soft-delete` (docs/database.md); `false`: they delete them. A table whose "
        "deletes were applied one way is refused by a run the other (soft to hard: rows would "
        "go for good), so set it as the CLI runs of the same database do.",
        example="true",
        default="false",
    ),
    "types_file": SettingDoc(
        "TURBODATA_TYPES",
        "Path of an override file (YAML or JSON: pinned column types, `_infer`, `_renamed`, "
        "`_moved`; docs/database.md) for Functions runs, deployed with the app: what the CLI's "
        "`--types` gives. A file that cannot be read fails the run (HTTP 500, naming the file "
        "and line).",
        default="none: no override",
    ),
}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
# field name -> environment variable; the order is the documentation order
ENVIRONMENT: dict[str, str] = {name: doc.variable for name, doc in SETTING_DOCS.items()}
# Settings the app needs but does not read itself: the Functions host and the Azure SDK do.
PLATFORM_SETTING_DOCS: tuple[SettingDoc, ...] = (
    SettingDoc("FUNCTIONS_WORKER_RUNTIME", "Functions host: always `python`.", example="python"),
    SettingDoc(
        "AzureWebJobsStorage",
        "Functions host: the storage account the host and Durable Functions keep their state "
        "in. Locally Azurite's `UseDevelopmentStorage=true`; in Azure the identity-based "
        "`AzureWebJobsStorage__accountName` (the Bicep sets it).",
        example="UseDevelopmentStorage=true",
    ),
    SettingDoc(
        "AZURE_CLIENT_ID",
        "Client id of the user-assigned managed identity the app uses, read by "
        "`DefaultAzureCredential` itself. Empty: the system-assigned identity, or your "
        "developer login (`az login`) locally.",
    ),
    SettingDoc(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "Application Insights that the Functions host and turbodata's OpenTelemetry traces, "
        "metrics and logs go to (the Bicep sets it). Unset: no telemetry is sent.",
        example=None,
    ),
    SettingDoc(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "`Authorization=AAD;ClientId=<client id>`: telemetry is sent signed in as that managed "
        "identity (which needs Monitoring Metrics Publisher), not with the instrumentation key "
        "alone (the Bicep sets it).",
        example=None,
    ),
    SettingDoc(
        "PYTHON_ENABLE_OPENTELEMETRY",
        "`true` (with `telemetryMode: OpenTelemetry` in host.json): the function invocation is "
        "the parent span of a run (the Bicep sets it).",
        example=None,
    ),
)
# settings holding a comma-separated list (empty entries ignored)
LIST_VALUED = ("tables", "storage_accounts", "storage_endpoint_suffixes")
# The Azure clouds' storage endpoint suffixes: public, China (21Vianet), US Government.
# A lake URL naming any other host is refused before a token is requested for it.
DEFAULT_STORAGE_SUFFIXES = ("core.windows.net", "core.chinacloudapi.cn", "core.usgovcloudapi.net")
# settings whose value is itself secret (only sensible as a Key Vault reference or locally)
SECRET_VALUED = ("database_url", "storage_connection_string")


@dataclass(frozen=True)
class Settings:
    lake: str | None = None
    tables: tuple[str, ...] = ()
    database_url: str | None = field(default=None, repr=False)
    database_url_secret: str | None = None
    database_password_secret: str | None = None
    sql_server: str | None = None
    sql_database: str | None = None
    sql_driver: str = "ODBC Driver 18 for SQL Server"
    key_vault_url: str | None = None
    storage_account: str | None = None
    storage_accounts: tuple[str, ...] = ()
    storage_endpoint_suffixes: tuple[str, ...] = DEFAULT_STORAGE_SUFFIXES
    storage_blob_endpoint: str | None = None
    storage_connection_string_secret: str | None = None
    storage_connection_string: str | None = field(default=None, repr=False)
    schedule: str | None = None
    lease_wait_seconds: str | None = None
    parallel_tables: str | None = None
    table_attempts: str | None = None
    types_file: str | None = None
    soft_delete: str | None = None
    # Not from the environment: what tests (or an embedding program) inject.
    credential: Any = field(default=None, repr=False, compare=False)
    key_vault_options: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `environ` (default `os.environ`); `overrides` set non-env fields."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in ENVIRONMENT.items():
            raw = (env.get(var) or "").strip()
            if raw.startswith(KEY_VAULT_REFERENCE):
                raise SettingsError(
                    f"{var} is a Key Vault reference the platform could not resolve; "
                    "check the app identity's access to the vault and the reference's syntax"
                )
            if raw:
                values[name] = raw
        for name in LIST_VALUED:
            if name in values:
                values[name] = tuple(v.strip() for v in values[name].split(",") if v.strip())
        warn_unknown_settings(env)
        secrets.install_log_redaction()
        return cls(**values, **overrides)

    def __post_init__(self) -> None:
        self.validate()
        for name in SECRET_VALUED:  # their password/key parts, not the whole (local) URL
            secrets.register_embedded_secrets(getattr(self, name))

    def validate(self) -> None:
        chosen = [
            ENVIRONMENT[n]
            for n in ("database_url", "database_url_secret", "sql_server")
            if getattr(self, n)
        ]
        if len(chosen) > 1:
            raise SettingsError(f"set only one of {', '.join(chosen)}")
        if self.database_password_secret and not self.database_url:
            raise SettingsError(
                "TURBODATA_DATABASE_PASSWORD_SECRET needs TURBODATA_DATABASE_URL (without password)"
            )
        if bool(self.sql_server) != bool(self.sql_database):
            raise SettingsError("set both TURBODATA_SQL_SERVER and TURBODATA_SQL_DATABASE")
        for name, var in ENVIRONMENT.items():
            if var.endswith("_SECRET") and getattr(self, name) and not self.key_vault_url:
                raise SettingsError(f"{var} names a Key Vault secret: set TURBODATA_KEY_VAULT_URL")
        if self.soft_delete is not None and self.soft_delete.lower() not in _BOOLEANS:
            raise SettingsError(f"TURBODATA_SOFT_DELETE={self.soft_delete!r}: give true or false")
        if self.storage_connection_string and self.storage_connection_string_secret:
            raise SettingsError(
                "set only one of TURBODATA_STORAGE_CONNECTION_STRING, "
                "TURBODATA_STORAGE_CONNECTION_STRING_SECRET"
            )

    @property
    def soft_deletes(self) -> bool:
        return _BOOLEANS[(self.soft_delete or "false").lower()]

    # --- Azure access ----------------------------------------------------------------------

    def get_credential(self) -> Any:
        """The credential for Azure calls: the injected one, else `DefaultAzureCredential`."""
        return self.credential or secrets.default_credential()

    @functools.cached_property
    def secret_source(self) -> secrets.KeyVaultSecrets:
        if not self.key_vault_url:
            raise SettingsError("a Key Vault secret is needed: set TURBODATA_KEY_VAULT_URL")
        return secrets.KeyVaultSecrets(
            self.key_vault_url, self.credential, **dict(self.key_vault_options)
        )

    def secret(self, name: str) -> str:
        return self.secret_source.get(name)

    def storage_connection_string_value(self) -> str | None:
        """The storage connection string when one is explicitly configured, else None."""
        if self.storage_connection_string_secret:
            return self.secret(self.storage_connection_string_secret)
        return self.storage_connection_string

    def allowed_storage_accounts(self) -> frozenset[str]:
        """The storage accounts a requested lake may name: `TURBODATA_STORAGE_ACCOUNT`,
        `TURBODATA_STORAGE_ACCOUNTS` and the account of `TURBODATA_LAKE`."""
        accounts = {a for a in (self.storage_account, *self.storage_accounts) if a}
        if self.lake and self.lake.lower().startswith(AZURE_LAKE_SCHEMES):
            from turbodata.lake.azure import AzureLakeError, AzureLocation

            with contextlib.suppress(AzureLakeError):  # a run of it says what is wrong
                accounts.add(AzureLocation.parse(self.lake).account or "")
        return frozenset(a.lower() for a in accounts if a)

    def check_requested_lake(self, location: str) -> None:
        """Refuse a lake location that a caller (not the configuration) chose, before any request.

        Design choice: the app's identity holds a storage token, so a location from an HTTP
        body may only name an Azure storage endpoint (`TURBODATA_STORAGE_ENDPOINT_SUFFIXES`)
        of a configured account (`allowed_storage_accounts`); a location without an account
        uses the configured one. Raises `AzureLakeError` saying which setting allows more.
        """
        from turbodata.lake.azure import AzureLakeError, AzureLocation

        requested = AzureLocation.parse(location)
        requested.check_endpoint(self.storage_endpoint_suffixes)
        allowed = self.allowed_storage_accounts()
        if requested.account is not None and requested.account not in allowed:
            shown = ", ".join(sorted(allowed)) or "none"
            raise AzureLakeError(
                f"storage account {requested.account!r} is not configured for this app "
                f"(configured: {shown}); add it to TURBODATA_STORAGE_ACCOUNTS to allow it"
            )

    # --- what a run needs ------------------------------------------------------------------

    def lake_location(self, override: str | None = None) -> str:
        location = override or self.lake
        if not location:
            raise SettingsError("no lake configured: set TURBODATA_LAKE")
        return location

    def open_lake(self, override: str | None = None) -> Lake:
        """The lake at `override` or `TURBODATA_LAKE`, Azure URLs with these settings."""
        location = self.lake_location(override)
        if "://" in location:  # abfs:// (https:// and others are refused with the form to use)
            from turbodata.lake.azure import AzureLake  # the Azure SDK only when needed

            return AzureLake.from_url(location, settings=self)
        return LocalLake(location)

    def database_url_value(self) -> str:
        """The SQLAlchemy URL (with its password) for URL-configured databases."""
        from sqlalchemy.engine import make_url

        if self.database_url_secret:
            return self.secret(self.database_url_secret)
        if not self.database_url:
            raise SettingsError(
                "no database configured: set TURBODATA_DATABASE_URL, "
                "TURBODATA_DATABASE_URL_SECRET or TURBODATA_SQL_SERVER + TURBODATA_SQL_DATABASE"
            )
        if not self.database_password_secret:
            return self.database_url
        url = make_url(self.database_url).set(password=self.secret(self.database_password_secret))
        return url.render_as_string(hide_password=False)

    def create_engine(self, **engine_options: Any) -> Engine:
        """A SQLAlchemy engine for the configured database (token auth for Azure SQL)."""
        if self.sql_server and self.sql_database:
            from turbodata.sql_auth import create_token_engine

            return create_token_engine(
                self.sql_server,
                self.sql_database,
                self.get_credential(),
                driver=self.sql_driver,
                **engine_options,
            )
        from turbodata.database_url import create_engine

        url = self.database_url_value()
        secrets.register_embedded_secrets(url)  # before an error can show it
        engine = create_engine(url, **engine_options)
        password = engine.url.password  # percent-decoded, as a driver's error may show it
        secrets.register_secret(password if isinstance(password, str) else None)
        return engine

    def describe(self) -> dict[str, Any]:
        """The settings for logs: names and locations only, URLs masked."""
        shown = {
            var: getattr(self, name)
            for name, var in ENVIRONMENT.items()
            if getattr(self, name) and name not in SECRET_VALUED
        }
        if self.database_url:
            shown["TURBODATA_DATABASE_URL"] = secrets.mask_url(self.database_url)
        if self.storage_connection_string:
            shown["TURBODATA_STORAGE_CONNECTION_STRING"] = secrets.mask_url(
                self.storage_connection_string
            )
        return shown


# variables of the project's own scripts and tests (scripts/test, tests/servers), no settings
TOOLING = (
    "TURBODATA_ROOT",
    "TURBODATA_ARTIFACTS",
    "TURBODATA_FIXTURES",
    "TURBODATA_PG_BINDIR",
    "TURBODATA_MSSQL_URL",
)


def warn_unknown_settings(env: Mapping[str, str]) -> None:
    """A warning for each TURBODATA_* variable that is no setting (a typo is ignored)."""
    known = {*ENVIRONMENT.values(), *TOOLING}
    for var in sorted(env):
        if var.startswith(PREFIX) and var not in known:
            log.warning("unknown setting %s is ignored (typo?)", var)


def open_lake(location: LakeLocation) -> Lake:
    """A Lake as it is; a folder path as a `LocalLake`; a URL (`abfs://...`) with the
    environment's settings (credentials, Key Vault secrets, allowed endpoints)."""
    if not isinstance(location, str | os.PathLike):
        return location
    text = os.fspath(location)
    if "://" in text:
        return Settings.from_env().open_lake(text)
    return LocalLake(text)
