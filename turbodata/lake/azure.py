"""The lake on Azure: an ADLS Gen2 container read through the Blob API.

Why the Blob API and not the DFS one: hierarchical-namespace accounts serve the Blob API too
(multi-protocol access), and Azurite — which the tests run the real SDK calls against — has no
DFS endpoint. On HNS accounts every directory also shows up as a zero-length blob with
`hdi_isfolder=true` metadata; those placeholders are folders, never files.

Locations: `abfs[s]://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH`, or
`abfs://CONTAINER/PATH` / `az://CONTAINER/PATH` with the account from
`TURBODATA_STORAGE_ACCOUNT`. The host must end in one of the Azure clouds' storage suffixes
(`TURBODATA_STORAGE_ENDPOINT_SUFFIXES`; no port, no other host), because the app's token is
sent to it. `TURBODATA_STORAGE_BLOB_ENDPOINT` replaces the blob endpoint (private endpoints,
emulators such as Azurite): it is the one explicit way to point the lake at another host.

Authentication: the app's credential (`DefaultAzureCredential`) unless a connection string is
explicitly configured (`TURBODATA_STORAGE_CONNECTION_STRING_SECRET`, read from Key Vault; or a
Key Vault reference in `TURBODATA_STORAGE_CONNECTION_STRING`). A connection string brings its
own endpoint.

Throttling and transient faults: the storage SDK's own retry policy (`ExponentialRetry`:
408, 5xx such as 503 ServerBusy / 500 OperationTimedOut, and connection errors, with
exponential back-off from 15 s and jitter), set here to `RETRY_TOTAL` retries.

Reads are streamed in `chunk_size` ranged GETs, the first one included; the stream is seekable
(a seek starts a ranged download at the new offset). A stream pins the blob's etag, so a blob
rewritten mid-read fails the read instead of mixing two versions; so do later opens of one
read (`open(version=…)`, `storage.VersionPinnedOpener`).
Memory per open file is bounded by the chunk size, not the file size: about 9 x `chunk_size`
at the moment a chunk arrives, because the SDK builds `list()` of a response generator that
reports its byte length as `len()` (8 bytes of list slots per byte of chunk, freed at once).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.storage.blob import (
    BlobClient,
    BlobPrefix,
    BlobProperties,
    ContainerClient,
    ExponentialRetry,
    StorageStreamDownloader,
)

from turbodata.lake.storage import FileChanged, Listing, join
from turbodata.model import FileInfo
from turbodata.secrets import register_secret

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
RETRY_TOTAL = 6
DEFAULT_SUFFIX = "core.windows.net"
SCHEMES = ("abfs", "abfss", "az")
ONELAKE_SUFFIXES = (".fabric.microsoft.com",)  # OneLake: onelake.blob.fabric.microsoft.com
STORAGE_SCOPE = "https://storage.azure.com/.default"
ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
HOST_SUFFIX = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")


log = logging.getLogger(__name__)


class AzureLakeError(ValueError):
    """The lake cannot be used as written or configured: one line naming the account, the
    container or the setting, and what to do. A ValueError, so the CLI prints it as one line."""


class _QuietCredentialChain(logging.Filter):
    """Drops the credential chain's many-line warning unless turbodata logs at DEBUG (`-v`):
    the `AzureLakeError` that follows says what to do in one line, and the chain's details
    travel with it as its cause."""

    def filter(self, record: logging.LogRecord) -> bool:
        chain_failed = "failed to retrieve a token from the included" in str(record.msg)
        return not chain_failed or logging.getLogger("turbodata").isEnabledFor(logging.DEBUG)


_CHAIN_FILTER = _QuietCredentialChain()


def _quiet_credential_chain() -> None:
    chain = logging.getLogger("azure.identity._credentials.chained")
    if _CHAIN_FILTER not in chain.filters:
        chain.addFilter(_CHAIN_FILTER)


class LakeRetry(ExponentialRetry):
    """The SDK's exponential retry, for what can pass: throttling, 5xx, dropped connections.

    Design choice: a failed sign-in (no credential, a refused token) and a host name that does
    not resolve (a mistyped account) are not retried. The SDK would retry them with back-offs
    of 15 s and more (7 attempts, about 400 s, the credential chain's warning each time), and
    waiting cannot fix them; the run fails at once with `AzureLakeError` saying what to fix.
    A DNS failure that was only temporary fails that run too; the next run reads the lake again.
    """

    def increment(
        self,
        settings: dict[str, Any],
        request: Any,
        response: Any = None,
        error: AzureError | None = None,
    ) -> bool:
        if isinstance(error, ClientAuthenticationError) or (
            isinstance(error, ServiceRequestError) and _name_not_resolved(error)
        ):
            return False
        return bool(super().increment(settings, request, response=response, error=error))


@dataclass(frozen=True)
class AzureLocation:
    """A parsed `abfs://` / `az://` location."""

    scheme: str
    container: str
    root: str  # folder inside the container, no leading/trailing "/"
    account: str | None = None
    suffix: str = DEFAULT_SUFFIX  # e.g. core.windows.net, core.chinacloudapi.cn

    @classmethod
    def parse(cls, location: str) -> AzureLocation:
        scheme, sep, rest = location.partition("://")
        if scheme.lower() in ("https", "http") and sep:
            raise AzureLakeError(
                f"a lake is not given as an {scheme.lower()}:// URL: write "
                f"{abfs_for_web_url(location)} (abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH)"
            )
        if not sep or scheme.lower() not in SCHEMES:
            raise AzureLakeError(f"not an abfs:// or az:// location: {location!r}")
        if "?" in rest or "#" in rest:
            raise AzureLakeError(
                "lake locations take no query string; configure a connection string or SAS "
                "through TURBODATA_STORAGE_CONNECTION_STRING_SECRET instead"
            )
        netloc, _, path = rest.partition("/")
        container, at, host = netloc.partition("@")
        if not container:
            raise AzureLakeError(f"no container in {location!r}")
        if any(part in (".", "..") for part in path.split("/")):
            raise AzureLakeError(f"no . or .. in a lake path: {location!r}")
        root = join(*path.split("/"))
        if not at:
            return cls(scheme.lower(), container, root)
        return cls(scheme.lower(), container, root, *_account_and_suffix(host, location))

    def check_endpoint(self, suffixes: Sequence[str]) -> None:
        """Refuse a host outside the Azure storage endpoint `suffixes` (exact match)."""
        if self.account is not None and self.suffix not in {s.lower() for s in suffixes}:
            raise AzureLakeError(
                f"{self.account}.dfs.{self.suffix} is not an Azure storage endpoint "
                f"(accepted: {', '.join(suffixes)}); write "
                "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH, or set "
                "TURBODATA_STORAGE_ENDPOINT_SUFFIXES for another cloud"
            )

    def display(self, account: str | None) -> str:
        host = f"@{account}.dfs.{self.suffix}" if account else ""
        return f"{self.scheme}://{self.container}{host}/{self.root}".rstrip("/")


class StorageSettings(Protocol):
    """What opening a lake needs from the configuration (`turbodata.settings.Settings` has
    it). A protocol, so that this module does not import the settings that open it."""

    @property
    def storage_endpoint_suffixes(self) -> tuple[str, ...]: ...

    @property
    def storage_blob_endpoint(self) -> str | None: ...

    @property
    def storage_account(self) -> str | None: ...

    def storage_connection_string_value(self) -> str | None: ...

    def get_credential(self) -> Any: ...


class AzureLake:
    """A folder in a blob container, as a `turbodata.lake.storage.Lake`."""

    def __init__(self, container: ContainerClient, root: str = "", *, url: str | None = None):
        self._container = container
        self.root = join(*root.split("/"))
        endpoint = container.url.split("?", 1)[0]  # never a SAS token in messages
        self._url = url or f"{endpoint}/{self.root}".rstrip("/")

    @classmethod
    def from_url(
        cls,
        location: str,
        settings: StorageSettings,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        **client_options: Any,
    ) -> AzureLake:
        """The lake at `location`; `client_options` go to `ContainerClient` (tests)."""
        loc = AzureLocation.parse(location)
        loc.check_endpoint(settings.storage_endpoint_suffixes)
        options: dict[str, Any] = {
            "max_single_get_size": chunk_size,  # the first GET is bounded too (SDK default 32 MiB)
            "max_chunk_get_size": chunk_size,
            "retry_policy": LakeRetry(retry_total=RETRY_TOTAL),
            **client_options,
        }
        container = _container_client(loc, settings, options)
        _quiet_credential_chain()
        return cls(container, loc.root, url=loc.display(container.account_name))

    @property
    def url(self) -> str:
        return self._url

    def delta_storage(self) -> tuple[str, dict[str, str]]:
        """Where delta-rs finds this lake: the root as `az://container/root` and its
        object-store options, signed in as this lake is (the account key or SAS of a
        connection string, else a bearer token from the lake's credential).

        The bearer token is taken once: it lives about an hour, longer than one table's read.
        """
        client = self._container
        parts = urlsplit(client.url)
        options = {"account_name": client.account_name or ""}
        host = (parts.hostname or "").lower()
        if host.endswith(ONELAKE_SUFFIXES):
            options["use_fabric_endpoint"] = "true"
        elif not host.startswith(f"{options['account_name']}.blob."):  # emulator, private link
            base = parts.path.rsplit("/", 1)[0]  # the path up to the container
            options["endpoint"] = f"{parts.scheme}://{parts.netloc}{base}"
        if parts.scheme == "http":
            options["allow_http"] = "true"
        credential = _delta_credential(client.credential, parts.query)
        for secret in credential.values():  # a delta-rs error may quote its options
            register_secret(secret)
        options.update(credential)
        return f"az://{client.container_name}/{self.root}".rstrip("/"), options

    # --- names -----------------------------------------------------------------------------

    def _blob_name(self, path: str) -> str:
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise ValueError(f"path escapes the lake: {path}")
        return join(self.root, *parts)

    def _prefix(self, folder: str) -> str:
        name = self._blob_name(folder)
        return f"{name}/" if name else ""

    def _relative(self, blob_name: str) -> str:
        return blob_name[len(self.root) + 1 :] if self.root else blob_name

    def _info(self, props: BlobProperties) -> FileInfo:
        return FileInfo(
            path=self._relative(props.name),
            size=props.size,
            modified=props.last_modified,
            etag=_plain_etag(props.etag),
        )

    # --- the Lake protocol -----------------------------------------------------------------

    def list_dir(self, folder: str = "") -> Listing:
        prefix = self._prefix(folder)
        folders: set[str] = set()
        files: list[FileInfo] = []
        items = self._container.walk_blobs(
            name_starts_with=prefix or None, delimiter="/", include=["metadata"]
        )
        with self._explained():
            items = list(items)
        for item in items:
            name = item.name[len(prefix) :].strip("/")
            if isinstance(item, BlobPrefix) or _is_folder_placeholder(item):
                if name:  # "" is the folder's own marker blob ("folder/")
                    folders.add(name)
            else:
                files.append(self._info(item))
        return Listing(sorted(folders), sorted(files, key=lambda f: f.path))

    def iter_files(self, folder: str = "") -> Iterator[FileInfo]:
        """Every file below `folder`, in the service's listing order (by name, as required)."""
        prefix = self._prefix(folder)
        with self._explained():  # the SDK's errors are raised while iterating
            for props in self._container.list_blobs(
                name_starts_with=prefix or None, include=["metadata"]
            ):
                if not _is_folder_placeholder(props):
                    yield self._info(props)

    def stat(self, path: str) -> FileInfo | None:
        blob = self._container.get_blob_client(self._blob_name(path))
        try:
            with self._explained():
                props = blob.get_blob_properties()
        except ResourceNotFoundError:
            return None
        return None if _is_folder_placeholder(props) else self._info(props)

    def open(self, path: str, *, version: FileInfo | None = None) -> BinaryIO:
        """A buffered, seekable stream that downloads the blob chunk by chunk as it is read;
        with `version`, pinned to its etag (`VersionPinnedOpener`)."""
        blob = self._container.get_blob_client(self._blob_name(path))
        pinned = {}
        if version is not None and version.etag:  # quoted, as the service gives it
            etag = f'"{_plain_etag(version.etag)}"'
            pinned = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        with _read_errors(path), self._explained():
            stream = _BlobStream.opened(blob, path, pinned)
        return io.BufferedReader(stream)  # type: ignore[return-value]

    def opened_version(self, stream: BinaryIO, path: str) -> FileInfo:
        raw = stream.raw if isinstance(stream, io.BufferedReader) else stream
        if not isinstance(raw, _BlobStream):
            raise TypeError(f"not a stream this lake opened: {stream!r}")
        return FileInfo(path, raw.size, raw.last_modified, _plain_etag(raw.etag))

    @contextlib.contextmanager
    def _explained(self) -> Iterator[None]:
        """SDK errors a person can act on become one-line `AzureLakeError`s (the rest pass)."""
        try:
            yield
        except AzureError as error:
            message = _explanation(error, self._container.account_name, self._container)
            if message is None:
                raise
            log.debug("storage error behind %r", message, exc_info=True)
            raise AzureLakeError(message) from error


def _explanation(error: AzureError, account: str | None, container: ContainerClient) -> str | None:
    """What went wrong and how to fix it, for the errors a person can fix; None for others."""
    owner = f"storage account {account!r}" if account else container.primary_hostname
    where = f"container {container.container_name!r} in {owner}"
    code = getattr(error, "error_code", None)
    status = getattr(error, "status_code", None)
    if isinstance(error, ResourceNotFoundError) and code == "ContainerNotFound":
        return (
            f"{where} does not exist: check the container name in the lake URL "
            f"abfs://CONTAINER@{account or 'ACCOUNT'}.dfs.core.windows.net/PATH (a Synapse Link "
            "export's container is named dataverse-<environment>-<organization>)"
        )
    if isinstance(error, ClientAuthenticationError) and status is None:
        return (
            f"no Azure credential to read {where}: run `az login` (locally), give the app a "
            "managed identity with the Storage Blob Data Reader role (in Azure), or set "
            "TURBODATA_STORAGE_CONNECTION_STRING_SECRET to a Key Vault secret holding a "
            f"connection string ({_first_line(error)})"
        )
    if status == 403 or isinstance(error, ClientAuthenticationError):
        return (
            f"access to {where} was refused ({code or status}): give the identity the Storage "
            "Blob Data Reader role on the account or container, or check the key or SAS in the "
            "configured connection string"
        )
    if isinstance(error, ServiceRequestError):
        reason = "its host name does not resolve" if _name_not_resolved(error) else "no answer"
        return (
            f"cannot reach {owner} at {container.primary_hostname} ({reason}): check the "
            "account name in the lake URL, or TURBODATA_STORAGE_BLOB_ENDPOINT"
        )
    if isinstance(error, HttpResponseError) and status == 400 and code == "InvalidResourceName":
        return f"{where}: not a valid container name (3-63 lowercase letters, digits and -)"
    return None


def _name_not_resolved(error: BaseException) -> bool:
    """The error comes from a host name that does not resolve (DNS), at any depth."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror) or type(current).__name__ == "NameResolutionError":
            return True
        inner = getattr(current, "inner_exception", None)
        reason = getattr(current, "reason", None)
        pending += [current.__cause__, current.__context__, *current.args[:1], inner, reason]
        pending = [p for p in pending if isinstance(p, BaseException) or p is None]
    return False


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def _read_errors(path: str) -> Iterator[None]:
    """The SDK's errors for a blob gone or rewritten, at its open or at any later range, as
    the lake's own errors naming the file."""
    try:
        yield
    except ResourceNotFoundError:
        raise FileNotFoundError(f"not in the lake: {path}") from None
    except ResourceModifiedError:
        raise FileChanged(path) from None


class _BlobStream(io.RawIOBase):
    """A raw stream over a blob, one ranged download of at most `_range_bytes` at a time, each
    pinned to the etag the stream opened with (a blob rewritten meanwhile: `FileChanged`).

    Why one range per download, never the SDK's read across chunks: `StorageStreamDownloader`
    fetches the chunks of one `read(n)` at offsets planned in advance, so a short answer (a
    valid 206 with fewer bytes than asked) left a gap that a later read refilled from the
    wrong offset; the stream kept the blob's length, and rows were lost or doubled while the
    run succeeded (found by a fault-injection review). Within one range of at most one chunk
    the SDK fetches what an answer left short from where it really ended, and a read that
    still comes back short ends the range: the next read asks for a new range from where the
    bytes really end. A range that gives no byte fails the read.
    """

    def __init__(self, blob: BlobClient, path: str, first: StorageStreamDownloader[bytes]) -> None:
        self._blob, self._path = blob, path
        self._size = _blob_size(first)
        self._etag: str = first.properties.etag
        self.last_modified = first.properties.last_modified
        self._pinned = {"etag": self._etag, "match_condition": MatchConditions.IfNotModified}
        self._position = 0
        # the range being read, and its bytes not read yet: the first one at the start
        self._range: StorageStreamDownloader[bytes] | None = first
        self._range_left = min(first.size, self._size)

    @classmethod
    def opened(cls, blob: BlobClient, path: str, pinned: dict[str, Any]) -> _BlobStream:
        """The stream, its first range downloaded (which gives the blob's size and version)."""
        try:
            first = blob.download_blob(
                offset=0, length=_range_bytes(blob), max_concurrency=1, **pinned
            )
        except HttpResponseError as error:
            if error.status_code != 416:  # a range of an empty blob: no byte to give
                raise
            first = blob.download_blob(max_concurrency=1, **pinned)
        return cls(blob, path, first)

    @property
    def size(self) -> int:
        return self._size

    @property
    def etag(self) -> str:
        return self._etag

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size or len(buffer) == 0:
            return 0
        if self._range is None or self._range_left == 0:
            self._start_range()
        assert self._range is not None
        wanted = min(len(buffer), self._range_left)
        with _read_errors(self._path):
            data = self._range.read(wanted)
        if not data:
            raise OSError(
                f"{self._path}: the storage service sent no bytes at offset {self._position}"
                f" of {self._size}: nothing of the file is loaded"
            )
        buffer[: len(data)] = data
        self._position += len(data)
        self._range_left = self._range_left - len(data) if len(data) == wanted else 0
        return len(data)

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read(_RANGE_BYTES):
            parts.append(chunk)
        return b"".join(parts)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self._position:
            self._range, self._range_left = None, 0
            self._position = target
        return target

    def _start_range(self) -> None:
        length = min(_range_bytes(self._blob), self._size - self._position)
        with _read_errors(self._path):
            self._range = self._blob.download_blob(
                offset=self._position, length=length, max_concurrency=1, **self._pinned
            )
        self._range_left = length


_RANGE_BYTES = DEFAULT_CHUNK_SIZE


def _range_bytes(blob: BlobClient) -> int:
    """The bytes of one range: at most one chunk of the client's, so that the SDK fetches
    what an answer left short in one request, from where that answer ended."""
    config = getattr(blob, "_config", None)
    chunk = getattr(config, "max_chunk_get_size", _RANGE_BYTES)
    single = getattr(config, "max_single_get_size", _RANGE_BYTES)
    return max(1, min(_RANGE_BYTES, chunk, single))


def _blob_size(downloader: StorageStreamDownloader[bytes]) -> int:
    """The whole blob's size: the total of the first range's Content-Range (the SDK sets
    `properties.content_range` to `bytes start-end/total`); a download without a range (an
    empty blob) has its size as the download's."""
    content_range = downloader.properties.content_range or ""
    total = content_range.rpartition("/")[2]
    return int(total) if total.isdigit() else downloader.size


def abfs_for_web_url(location: str) -> str:
    """The abfs:// location of an https:// blob or dfs URL (its query, a SAS, left out)."""
    try:
        parts = urlsplit(location)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH"
    account, _, domain = (parts.hostname or "").partition(".")
    service, _, suffix = domain.partition(".")
    container, _, path = parts.path.strip("/").partition("/")
    if not (account and service in ("blob", "dfs") and suffix and container):
        return "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH"
    return f"abfs://{container}@{account}.dfs.{suffix}/{path}".rstrip("/")


def _account_and_suffix(host: str, location: str) -> tuple[str, str]:
    """ACCOUNT and the endpoint suffix of `ACCOUNT[.dfs|.blob.SUFFIX]`, validated.

    Anything that could steer the request elsewhere is refused: a port, a second "@",
    characters outside host names, an account name Azure would not accept.
    """
    host = host.lower()
    if ":" in host:
        raise AzureLakeError(f"lake locations take no port: {location!r}")
    account, _, domain = host.partition(".")
    service, _, suffix = domain.partition(".")
    if not account or (domain and service not in ("dfs", "blob")):
        raise AzureLakeError(f"expected CONTAINER@ACCOUNT.dfs.<suffix> in {location!r}")
    if not ACCOUNT_NAME.fullmatch(account):
        raise AzureLakeError(
            f"{account!r} is not a storage account name (3-24 lowercase letters and digits) "
            f"in {location!r}"
        )
    if suffix and not HOST_SUFFIX.fullmatch(suffix):
        raise AzureLakeError(f"not a storage host name in {location!r}")
    return account, suffix or DEFAULT_SUFFIX


def _container_client(
    loc: AzureLocation, settings: StorageSettings, options: dict[str, Any]
) -> ContainerClient:
    connection_string = settings.storage_connection_string_value()
    if connection_string:
        client = ContainerClient.from_connection_string(connection_string, loc.container, **options)
        if loc.account and loc.account != client.account_name:
            raise AzureLakeError(
                f"the lake is in account {loc.account!r} but the configured connection string "
                f"is for {client.account_name!r}"
            )
        return client
    endpoint = settings.storage_blob_endpoint
    account = loc.account or settings.storage_account
    if not endpoint and not account:
        raise AzureLakeError(
            f"no storage account for {loc.display(None)}: write "
            "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH or set TURBODATA_STORAGE_ACCOUNT"
        )
    url = endpoint or f"https://{account}.blob.{loc.suffix}"
    return ContainerClient(url, loc.container, credential=settings.get_credential(), **options)


def _delta_credential(credential: Any, sas_in_url: str) -> dict[str, str]:
    """The container client's credential in delta-rs's storage-option form."""
    if account_key := getattr(credential, "account_key", None):  # StorageSharedKeyCredential
        return {"account_key": account_key}
    if named := getattr(credential, "named_key", None):  # AzureNamedKeyCredential
        return {"account_key": named.key}
    if signature := getattr(credential, "signature", None):  # AzureSasCredential
        return {"sas_token": signature.lstrip("?")}
    if sas_in_url:
        return {"sas_token": sas_in_url}
    if hasattr(credential, "get_token"):  # managed identity, az login, workload identity
        return {"bearer_token": credential.get_token(STORAGE_SCOPE).token}
    raise AzureLakeError("the lake has no credential delta-rs can use")


def _is_folder_placeholder(props: BlobProperties) -> bool:
    """HNS directory entries (`hdi_isfolder`), and `name/` marker blobs some tools write."""
    metadata = props.metadata or {}
    return props.name.endswith("/") or str(metadata.get("hdi_isfolder", "")).lower() == "true"


def _plain_etag(etag: str | None) -> str | None:
    """The etag without the quotes the properties call has and the listing has not."""
    return etag.strip('"') if etag else None
