"""Fixtures for the Azure tests: Azurite, the Key Vault stand-in, a fake credential, settings.

Azurite is required, never skipped: without `.tools/node_modules` the tests fail and say to
run ./scripts/test (which installs it with `npm ci --prefix .tools`).
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.storage.blob import BlobServiceClient, ContainerClient

from turbodata import secrets
from turbodata.settings import Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_LAKE = REPO / "examples" / "lake"
# function_app.py sits at the repository root; the stand-ins live in tests/azure/servers under
# module names that cannot clash with tests/servers.
for _path in (str(REPO), str(Path(__file__).resolve().parent / "servers")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import azurite_server  # noqa: E402
from keyvault_server import KeyVaultStandIn  # noqa: E402


class FakeCredential:
    """A `TokenCredential` issuing tokens the Key Vault stand-in accepts; counts calls."""

    def __init__(self, vault: KeyVaultStandIn | None = None, lifetime: float = 3600) -> None:
        self.vault = vault
        self.lifetime = lifetime
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append(scopes)
        token = f"fake-{uuid.uuid4().hex}"
        if self.vault is not None:
            self.vault.accept_token(token)
        return AccessToken(token, int(time.time() + self.lifetime))


@pytest.fixture(scope="session")
def azurite() -> Iterator[azurite_server.Azurite]:
    if not azurite_server.AZURITE_BIN.exists():
        pytest.fail(azurite_server.NOT_INSTALLED, pytrace=False)
    server = azurite_server.start()
    yield server
    azurite_server.stop(server)


@pytest.fixture(scope="session")
def blob_service(azurite: azurite_server.Azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def container(blob_service: BlobServiceClient) -> Iterator[ContainerClient]:
    client = blob_service.create_container(f"lake-{uuid.uuid4().hex[:12]}")
    yield client
    client.delete_container()


@pytest.fixture(scope="session")
def keyvault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyVaultStandIn]:
    vault = KeyVaultStandIn(tmp_path_factory.mktemp("keyvault"))
    yield vault
    vault.stop()


@pytest.fixture
def credential(keyvault: KeyVaultStandIn) -> FakeCredential:
    return FakeCredential(keyvault)


@pytest.fixture
def vault_options(keyvault: KeyVaultStandIn) -> dict[str, Any]:
    """SecretClient options for the stand-in; `verify_challenge_resource=False` is test-only."""
    return {
        "connection_verify": str(keyvault.ca_path),
        "verify_challenge_resource": False,
        "retry_total": 0,
    }


@pytest.fixture
def make_settings(
    keyvault: KeyVaultStandIn, credential: FakeCredential, vault_options: dict[str, Any]
) -> Callable[..., Settings]:
    """Settings from an environment dict, with the stand-in vault and the fake credential."""

    def make(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        environ = {"TURBODATA_KEY_VAULT_URL": keyvault.url, **(env or {})}
        return Settings.from_env(
            environ, credential=credential, key_vault_options=vault_options, **overrides
        )

    return make


@pytest.fixture
def secret_name() -> str:
    """A unique Key Vault secret name (the stand-in vault is shared by the session)."""
    return f"turbodata-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _forget_registered_secrets() -> Iterator[None]:
    yield
    secrets.forget_secrets()


@pytest.fixture(scope="session")
def functions_index() -> dict[str, Any]:
    """function_app's functions by name, as the host indexes them (built once per app)."""
    import function_app

    return {f.get_function_name(): f for f in function_app.app.get_functions()}


@pytest.fixture
def lake_copy(tmp_path: Path) -> Path:
    """A writable copy of examples/lake (the sample Synapse Link export)."""
    if not EXAMPLE_LAKE.is_dir():
        pytest.fail(f"the sample lake is missing: {EXAMPLE_LAKE}", pytrace=False)
    return Path(shutil.copytree(EXAMPLE_LAKE, tmp_path / "lake"))


@pytest.fixture
def use_settings(monkeypatch: pytest.MonkeyPatch) -> Callable[[Settings], None]:
    """Make the Functions app load these settings instead of reading the environment."""
    from turbodata import http_api

    def use(settings: Settings) -> None:
        monkeypatch.setattr(http_api, "load_settings", lambda: settings)

    return use


def upload_folder(container: ContainerClient, folder: Path, prefix: str) -> int:
    """Upload every file under `folder` to `prefix/...` with the blob API; returns the count."""
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = f"{prefix}/{path.relative_to(folder).as_posix()}"
        with path.open("rb") as data:
            container.upload_blob(name, data, overwrite=True)
        count += 1
    return count


@pytest.fixture
def example_container(container: ContainerClient) -> ContainerClient:
    """A container holding examples/lake under `org/` (HNS-style folder placeholders too)."""
    if not EXAMPLE_LAKE.is_dir():
        pytest.fail(f"the sample lake is missing: {EXAMPLE_LAKE}", pytrace=False)
    upload_folder(container, EXAMPLE_LAKE, "org")
    for folder in sorted({p.parent for p in EXAMPLE_LAKE.rglob("*") if p.is_file()}):
        name = "/".join(["org", *folder.relative_to(EXAMPLE_LAKE).parts])
        container.upload_blob(name, b"", metadata={"hdi_isfolder": "true"}, overwrite=True)
    return container
