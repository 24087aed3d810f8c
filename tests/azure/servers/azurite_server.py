"""Azurite's blob service on a free 127.0.0.1 port, in memory, stopped by process group."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
AZURITE_BIN = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (the same in every Azurite install; not a secret)
WELL_KNOWN_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
NOT_INSTALLED = (
    f"Azurite is not installed ({AZURITE_BIN} is missing): run ./scripts/test, "
    "which runs `npm ci --prefix .tools` first"
)


@dataclass(frozen=True)
class Azurite:
    process: subprocess.Popen[bytes]
    blob_endpoint: str

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={WELL_KNOWN_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(timeout: float = 30.0) -> Azurite:
    if not AZURITE_BIN.exists():
        raise FileNotFoundError(NOT_INSTALLED)
    port = free_port()
    args = [
        str(AZURITE_BIN),
        "--inMemoryPersistence",
        "--silent",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    azurite = Azurite(proc, f"http://127.0.0.1:{port}/{ACCOUNT}")
    atexit.register(stop, azurite)  # a safety net if the session dies before its teardown
    try:
        _wait_until_up(azurite, timeout)
    except BaseException:
        stop(azurite)
        raise
    return azurite


def _wait_until_up(azurite: Azurite, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if azurite.process.poll() is not None:
            raise RuntimeError(f"Azurite exited with status {azurite.process.returncode}")
        try:
            urllib.request.urlopen(azurite.blob_endpoint + "?comp=list", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer (403 without credentials) means it is up
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"Azurite did not answer on {azurite.blob_endpoint} within {timeout} s")


def stop(azurite: Azurite) -> None:
    if azurite.process.poll() is None:
        os.killpg(azurite.process.pid, signal.SIGTERM)
        try:
            azurite.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(azurite.process.pid, signal.SIGKILL)
            azurite.process.wait(timeout=10)
