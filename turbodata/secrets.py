"""Secrets: Key Vault look-ups by name, and keeping every secret value out of logs and output.

Where secrets come from, in the order a deployment would use them:

- **Key Vault by name** (`KeyVaultSecrets`): settings hold a secret *name*
  (`TURBODATA_DATABASE_URL_SECRET`, ...); the value is fetched with `SecretClient` and the
  app's credential (`DefaultAzureCredential`: managed identity in Azure, developer login
  locally). Values are cached for the life of the process.
- **App Service Key Vault references**: an app setting written as
  `@Microsoft.KeyVault(SecretUri=...)` reaches the process as the resolved value, so the code
  only reads an environment variable. `Settings` refuses a reference the platform could not
  resolve (the raw `@Microsoft.KeyVault(` text) with a message naming the setting.
- **Plain environment values** for local use (a SQLite or local PostgreSQL URL).

Redaction: every value fetched here (and every password a settings value carries) is
registered; `redact()` replaces registered values with `***`; `mask_secrets()` (also named
`mask_url`) hides the password parts of URLs and connection strings even when they were never
registered, then applies `redact()` — it is the one function for everything shown or stored,
and `redact_data()` applies it to every string of a summary; `install_log_redaction()`
applies it to every log record.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import quote, quote_plus, unquote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary text ("1", "abc") everywhere

log = logging.getLogger(__name__)


class SecretError(RuntimeError):
    """A secret could not be read. The message names the secret, never its value."""


class SecretNotFoundError(SecretError, LookupError):
    """The named secret does not exist (or is empty)."""


class SecretSource(Protocol):
    def get(self, name: str) -> str:
        """The secret's current value; raises `SecretError` naming the secret."""
        ...


# ------------------------------------------------------------------------------------------
# Key Vault


@functools.cache
def default_credential() -> Any:
    """One `DefaultAzureCredential` per process (it caches tokens; building it is not free)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class KeyVaultSecrets:
    """Secrets by name from one Key Vault, fetched once and registered for redaction.

    `client_options` go to `SecretClient` unchanged (tests pass `connection_verify` and
    `verify_challenge_resource=False` for their local stand-in; production passes nothing).
    """

    def __init__(self, vault_url: str, credential: Any = None, **client_options: Any) -> None:
        self.vault_url = vault_url.rstrip("/")
        self._credential = credential
        self._options = client_options
        self._client: Any = None
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def _secret_client(self) -> Any:
        if self._client is None:
            from azure.keyvault.secrets import SecretClient

            credential = self._credential or default_credential()
            self._client = SecretClient(self.vault_url, credential, **self._options)
        return self._client

    def get(self, name: str) -> str:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = self._fetch(name)
            return self._cache[name]

    def _fetch(self, name: str) -> str:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        where = f"Key Vault secret {name!r} in {self.vault_url}"
        try:
            value = self._secret_client().get_secret(name).value
        except ResourceNotFoundError:
            raise SecretNotFoundError(f"{where} does not exist") from None
        except AzureError as exc:
            reason = redact(getattr(exc, "message", None) or type(exc).__name__)
            raise SecretError(f"could not read {where}: {reason}") from None
        if not value:
            raise SecretNotFoundError(f"{where} is empty")
        register_secret(value)
        log.debug("read %s", where)
        return value


# ------------------------------------------------------------------------------------------
# Redaction

_SENSITIVE_KEYS = (
    "password",
    "pwd",
    "accountkey",
    "sharedaccesssignature",
    "sharedaccesskey",
    "accesstoken",
    "access_token",
    "client_secret",
    "clientsecret",
)
# `key=value` in connection strings (ODBC, ADO.NET, storage) and query strings. A value is
# `{...}` (ODBC braces, "}}" escapes "}"), `"..."` / `'...'` (ADO.NET quoting), or runs to the
# next ";" or line end, so a password holding "&" or a space is masked whole. A quote followed
# by a delimiter (`", ` in JSON, `')` in a repr) ends it too. Design choice: a query string
# such as `?password=x&sslmode=require` loses its tail to the mask — over-masked, never under.
_UNBRACED = r"""(?:[^;\r\n"']|["'](?![\s,;:}\])]|$))*"""
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>(?<![\w-])(?:" + "|".join(_SENSITIVE_KEYS) + r")\s*=\s*)"
    r"""(?P<value>\{(?:[^}]|\}\})*\}|"(?:[^"]|"")*"|'(?:[^']|'')*'|""" + _UNBRACED + ")"
)
# a SAS signature is a query parameter: it ends at "&" (base64 never holds a raw "&")
_SIGNATURE = re.compile(r"(?i)(?P<key>(?<![\w-])sig\s*=\s*)(?P<value>[^;&#\s\"']*)")
# scheme://user:password@host — the password runs to the last "@" of the URL (a raw "@" in a
# password ends it for SQLAlchemy, which then reads the rest as the host): a URL with "@" in
# its path is over-masked, never under-masked
_USERINFO = re.compile(r"""(?P<head>\b[A-Za-z][\w+.-]*://[^:@/?#\s"']*:)(?P<value>[^\s"'<>]*)@""")
# a query parameter whose value is percent-encoded: odbc_connect=Driver%3D...%3BPWD%3D...
_QUERY_PARAM = re.compile(r"""(?P<key>(?:^|(?<=[?&\s]))[\w.-]+=)(?P<value>[^&#\s"']*%[^&#\s"']*)""")
# `"password": "value"` in JSON or a dict's repr
_QUOTED_FIELD = re.compile(
    r"""(?i)(?P<key>(?P<q>["'])(?:""" + "|".join(_SENSITIVE_KEYS) + r"""|secret)(?P=q)\s*:\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
)
_BEARER = re.compile(r"(?i)(?P<key>\bBearer\s+)(?P<value>[\w.~+/-]{16,}=*)")

_registry_lock = threading.Lock()
_registered: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Remember a secret value (and the forms it can take in URLs) so `redact` hides it."""
    candidates = {value or ""} | set(embedded_secrets(value or ""))
    candidates |= {quote_plus(c) for c in candidates} | {quote(c, safe="") for c in candidates}
    new = {c for c in candidates if len(c) >= MIN_SECRET_LENGTH}
    global _pattern
    with _registry_lock:
        if new - _registered:
            _registered.update(new)
            ordered = sorted(_registered, key=len, reverse=True)  # longest first
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def register_embedded_secrets(text: str | None) -> None:
    """Register only the password/key parts of a URL or connection string."""
    for part in embedded_secrets(text or ""):
        register_secret(part)


def embedded_secrets(text: str) -> list[str]:
    """The password/key parts inside a URL or connection string (nothing else of it).

    An unbraced value is also given up to its first "&", which is all of it in a query string.
    """
    found = [m["value"] for m in _USERINFO.finditer(text)]
    found += [m["value"] for m in _SIGNATURE.finditer(text)]
    for m in _KEY_VALUE.finditer(text):
        value = m["value"]
        found += [_unquote_value(value), value.split("&")[0]]
    for m in _QUERY_PARAM.finditer(text):
        found += embedded_secrets(unquote_plus(m["value"]))
    return [f for f in found if f and MASK not in f]


def _unquote_value(value: str) -> str:
    if len(value) >= 2 and value[0] + value[-1] in ("{}", '""', "''"):
        return value[1:-1]
    return value


def forget_secrets() -> None:
    """Drop every registered value (tests only)."""
    global _pattern
    with _registry_lock:
        _registered.clear()
        _pattern = None


def redact(text: str) -> str:
    """`text` with every registered secret value replaced by `***`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def mask_secrets(text: str) -> str:
    """`text` fit for display, logs and the ledger: every secret in it masked with `***`.

    The one function for anything turbodata shows or stores. Masks, whether registered or not:
    URL passwords (`scheme://user:***@host`); `PWD=`, `Password=`, `AccessToken=`,
    `AccountKey=`, `SharedAccessSignature=`, client secrets (any case; `{...}` and quoted
    values) in connection strings; SAS signatures (`sig=`); the same inside percent-encoded
    query parameters such as `odbc_connect=`; `"password": "..."` fields and bearer tokens.
    Then every registered secret value (`redact`).
    """
    if not text:
        return text
    if not _may_hold_secret_syntax(text):  # most of a summary's strings
        return redact(text)
    masked = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    for pattern in (_KEY_VALUE, _SIGNATURE, _BEARER):
        masked = pattern.sub(lambda m: m["key"] + MASK, masked)
    masked = _QUOTED_FIELD.sub(lambda m: m["key"] + m["value"][0] + MASK + m["value"][0], masked)
    masked = _QUERY_PARAM.sub(_mask_encoded_parameter, masked)
    return redact(masked)


def _may_hold_secret_syntax(text: str) -> bool:
    """Whether any pattern above can match: each needs "=" (key=value, sig=, query
    parameters), ":" (URLs, quoted fields) or the word Bearer."""
    return "=" in text or ":" in text or "bearer" in text.lower()


def _mask_encoded_parameter(match: re.Match[str]) -> str:
    decoded = unquote_plus(match["value"])
    masked = mask_secrets(decoded)
    return match[0] if masked == decoded else match["key"] + quote_plus(masked)


mask_url = mask_secrets  # the name callers used first


def redact_data(value: Any) -> Any:
    """A JSON-ready structure with every string (dict keys too) passed through `mask_secrets`."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, Mapping):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------
# Logging


class SecretFilter(logging.Filter):
    """Replaces secret values in a log record's message, arguments and exception text.

    The record is formatted once here (`msg % args`) so that a secret passed as an argument is
    masked too; the exception traceback is formatted and masked into `exc_text`, which every
    `logging.Formatter` uses instead of formatting `exc_info` again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class MaskedException(Exception):
    """An exception whose text held a secret, as log exporters receive it: its traceback
    with the secret masked."""


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    if getattr(record, "_turbodata_redacted", False):
        return record
    record._turbodata_redacted = True  # type: ignore[attr-defined]
    try:
        message = record.getMessage()
    except Exception:  # a broken format string is the handler's problem; mask what we can
        message = str(record.msg)
    masked = mask_secrets(message)
    if masked != message:  # records without secrets keep their msg/args untouched
        record.msg, record.args = masked, ()
    exc_text = record.exc_text
    if record.exc_info and not exc_text:
        exc_text = logging.Formatter().formatException(record.exc_info)
    if exc_text and mask_secrets(exc_text) != exc_text:
        record.exc_text = mask_secrets(exc_text)
        # formatters print the masked exc_text; exporters that format the exception again
        # from exc_info (OpenTelemetry's LoggingHandler: exception.message, .stacktrace)
        # would send the secret, so they get one that carries the masked text instead
        masked = MaskedException(record.exc_text)
        record.exc_info = (MaskedException, masked, None)
    if record.stack_info:
        record.stack_info = mask_secrets(record.stack_info)
    return record


_FILTER = SecretFilter()
_installed = False


def install_log_redaction(logger_names: Iterable[str] = ("turbodata", "function_app")) -> None:
    """Mask secrets in every log record; idempotent.

    The filter is attached to turbodata's loggers, and — because a logger's filters do not
    see records that child loggers propagate up, nor loggers created later — it also wraps
    the process's log record factory, so records from `turbodata.*` modules imported later,
    the Azure SDK and the Functions host's handlers are masked as well.
    """
    global _installed
    for name in logger_names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    with _registry_lock:
        if _installed:
            return
        _installed = True
        logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))


def _redacting_factory(
    factory: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(factory(*args, **kwargs))

    return make_record
