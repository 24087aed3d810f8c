"""A lake URL in an HTTP body cannot make the app send its storage token to another host.

The credential is a stand-in that records every token it hands out, and the HTTP transport
records every request (with its Authorization header) instead of sending it: a refused URL
must leave both empty, an allowed one must only ever reach the configured account's host.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import RequestsTransport

from turbodata.lake.azure import AzureLake, AzureLakeError, AzureLocation
from turbodata.settings import DEFAULT_STORAGE_SUFFIXES, Settings

Index = dict[str, Any]


class RecordingCredential:
    """A stand-in for the app's managed identity: records the scopes of every token issued."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append(scopes)
        return AccessToken(f"app-token-{len(self.calls)}", 2**31)


class SentRequests(list[tuple[str, str | None]]):
    """(host, Authorization header) of every request the Azure SDK tried to send."""

    def hosts(self) -> set[str]:
        return {host for host, _ in self}

    def bearer_hosts(self) -> set[str]:
        return {host for host, auth in self if auth and auth.startswith("Bearer ")}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> SentRequests:
    """Every Azure SDK request is recorded and fails as unreachable; retries do not sleep."""
    recorded = SentRequests()

    def send(self: RequestsTransport, request: Any, **kwargs: Any) -> Any:
        recorded.append((urlsplit(request.url).netloc, request.headers.get("Authorization")))
        raise ServiceRequestError("recorded, not sent")

    monkeypatch.setattr(RequestsTransport, "send", send)
    monkeypatch.setattr(RequestsTransport, "sleep", lambda self, duration: None)
    return recorded


@pytest.fixture
def recorder() -> RecordingCredential:
    return RecordingCredential()


@pytest.fixture
def app_settings(
    tmp_path: Path, recorder: RecordingCredential, use_settings: Callable[[Settings], None]
) -> Iterator[Settings]:
    settings = Settings(
        lake="abfs://raw@mylake.dfs.core.windows.net/org",
        storage_accounts=("second",),
        database_url=f"sqlite:///{tmp_path}/target.sqlite",
        credential=recorder,
    )
    use_settings(settings)
    yield settings


def post(index: Index, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = func.HttpRequest(method="POST", url=f"/api/{name}", body=json.dumps(body).encode())
    resp = index[name].get_user_function()(req)
    answer = json.loads(resp.get_body())
    assert isinstance(answer, dict)
    return resp.status_code, answer


REFUSED = [
    "abfs://c@acct.dfs.attacker.example/x",  # another host
    "abfs://raw@mylake.dfs.core.windows.net.attacker.example/x",  # a suffix that only starts ok
    "abfs://raw@mylake.dfs.attacker.example/core.windows.net",
    "abfs://raw@mylake.dfs.core.windows.net:8443/x",  # a port
    "abfs://raw@mylake.dfs.core.windows.net@attacker.example/x",  # a second userinfo
    "abfs://raw@otheracct.dfs.core.windows.net/org",  # an Azure account not configured
    "abfss://raw@mylake.blob.core.windows.net%2f@attacker.example/x",
]


@pytest.mark.parametrize("lake", REFUSED)
def test_refused_lake_gets_400_and_no_token_is_requested_or_sent(
    functions_index: Index,
    app_settings: Settings,
    recorder: RecordingCredential,
    sent: SentRequests,
    lake: str,
) -> None:
    status, body = post(functions_index, "migrate", {"lake": lake})
    assert status == 400, body
    assert body["ok"] is False and body["field"] == "lake"
    assert recorder.calls == []
    assert sent == []
    assert not Path(app_settings.database_url or "").exists()


def test_an_allowed_lake_only_reaches_the_configured_accounts_host(
    functions_index: Index,
    app_settings: Settings,
    recorder: RecordingCredential,
    sent: SentRequests,
) -> None:
    """The control: the recorders do see the token when the account is allowed."""
    for lake, host in [
        ("abfs://raw@mylake.dfs.core.windows.net/other", "mylake.blob.core.windows.net"),
        ("abfs://raw@second.dfs.core.windows.net/org", "second.blob.core.windows.net"),
        ("abfs://raw/org", None),  # no account: none configured besides the URL's
    ]:
        sent.clear()
        status, body = post(functions_index, "migrate", {"lake": lake})
        assert status == 500, body  # unreachable (the recorder sends nothing)
        if host is not None:
            assert sent.bearer_hosts() == sent.hosts() == {host}
    assert recorder.calls and all(
        c == ("https://storage.azure.com/.default",) for c in recorder.calls
    )


def test_the_durable_starter_refuses_the_same_lakes(
    functions_index: Index,
    app_settings: Settings,
    recorder: RecordingCredential,
    sent: SentRequests,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    from unittest.mock import AsyncMock

    import azure.durable_functions as df
    from test_azure_functions import CLIENT_BINDING

    start_new = AsyncMock(return_value="abc123")
    monkeypatch.setattr(df.DurableOrchestrationClient, "start_new", start_new)
    starter = functions_index["migrations"].get_user_function()
    for lake in REFUSED:
        req = func.HttpRequest(
            method="POST", url="/api/migrations", body=json.dumps({"lake": lake}).encode()
        )
        resp = asyncio.run(starter(req, client=CLIENT_BINDING))
        assert resp.status_code == 400, lake
    start_new.assert_not_awaited()
    assert recorder.calls == [] and sent == []


def test_the_endpoint_check_applies_to_every_lake_not_only_http(
    recorder: RecordingCredential, sent: SentRequests
) -> None:
    settings = Settings(credential=recorder)
    with pytest.raises(AzureLakeError, match="TURBODATA_STORAGE_ENDPOINT_SUFFIXES"):
        AzureLake.from_url("abfs://c@acct.dfs.attacker.example/x", settings)
    assert recorder.calls == [] and sent == []


@pytest.mark.parametrize("suffix", DEFAULT_STORAGE_SUFFIXES)
def test_sovereign_cloud_suffixes_are_accepted_by_default(suffix: str) -> None:
    location = AzureLocation.parse(f"abfs://raw@acct.dfs.{suffix}/org")
    location.check_endpoint(DEFAULT_STORAGE_SUFFIXES)
    assert location.suffix == suffix


def test_suffixes_and_accounts_come_from_settings() -> None:
    settings = Settings.from_env(
        {
            "TURBODATA_STORAGE_ENDPOINT_SUFFIXES": "core.windows.net, storage.example.org",
            "TURBODATA_STORAGE_ACCOUNTS": "one,Two",
            "TURBODATA_STORAGE_ACCOUNT": "three",
        }
    )
    assert settings.storage_endpoint_suffixes == ("core.windows.net", "storage.example.org")
    assert settings.allowed_storage_accounts() == {"one", "two", "three"}
    settings.check_requested_lake("abfs://c@one.dfs.storage.example.org/x")
    settings.check_requested_lake("abfs://c/x")  # the configured account
    with pytest.raises(AzureLakeError, match="TURBODATA_STORAGE_ACCOUNTS"):
        settings.check_requested_lake("abfs://c@four.dfs.core.windows.net/x")
    with pytest.raises(AzureLakeError, match="not an Azure storage endpoint"):
        settings.check_requested_lake("abfs://c@one.dfs.core.chinacloudapi.cn/x")


def test_a_lake_path_cannot_climb_into_another_container() -> None:
    with pytest.raises(AzureLakeError, match=r"no \. or \.\."):
        AzureLocation.parse("abfs://raw@mylake.dfs.core.windows.net/org/../../other/x")


def test_an_error_before_the_run_is_masked_even_when_not_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from turbodata import http_api

    def broken() -> Settings:
        raise RuntimeError("cannot connect to Server=s;PWD=NotRegistered-9f3;Database=d")

    monkeypatch.setattr(http_api, "load_settings", broken)
    status, body = http_api.run_migration(http_api.MigrateRequest())
    assert status == 500
    assert "NotRegistered-9f3" not in json.dumps(body)


def test_a_malformed_configured_lake_does_not_block_the_other_accounts() -> None:
    settings = Settings(lake="abfs://c@Bad_Name!.dfs.core.windows.net/x", storage_account="ok1")
    settings.check_requested_lake("abfs://c@ok1.dfs.core.windows.net/x")
    assert settings.allowed_storage_accounts() == {"ok1"}
