"""A storage answer shorter than the range asked for (a valid 206 whose Content-Range says
so): the SDK's read across chunks fetched the next chunk at its planned offset, leaving a
gap that a later read refilled from the wrong place; the stream kept the blob's length, and
rows were lost and doubled while the run succeeded (found by a fault-injection review). A
proxy in front of Azurite cuts one ranged answer short; every row must still load exactly."""

from __future__ import annotations

import http.client
import re
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.storage.blob import ContainerClient

from tests.azure.servers import azurite_server
from tests.lakebuilder import attribute, entity, model_json
from turbodata import migrate
from turbodata.lake.azure import AzureLake

CHUNK = 64 * 1024
ROW_BYTES = 64
ROWS = 3 * CHUNK // ROW_BYTES + 10  # past three chunks
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class ShortAnswers:
    """Which ranged GETs of `blob` (1-based, counted over that blob's ranged GETs) are cut to
    `keep` bytes, and what was cut."""

    def __init__(self, blob: str, nth: set[int], keep: int = 1024) -> None:
        self.blob, self.nth, self.keep = blob, nth, keep
        self.count, self.cut = 0, []
        self.lock = threading.Lock()

    def cut_this(self, path: str, ranged: bool) -> bool:
        if not ranged or not path.split("?")[0].endswith(self.blob):
            return False
        with self.lock:
            self.count += 1
            return self.count in self.nth


def proxy_handler(upstream: str, answers: ShortAnswers) -> type[BaseHTTPRequestHandler]:
    host, port = urlsplit(upstream).hostname, urlsplit(upstream).port

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.relay()

        def do_HEAD(self) -> None:
            self.relay()

        def do_PUT(self) -> None:
            self.relay()

        def relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ranged = "x-ms-range" in self.headers or "Range" in self.headers
            cut = self.command == "GET" and answers.cut_this(self.path, ranged)
            upstream_conn = http.client.HTTPConnection(host, port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream_conn.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream_conn.getresponse()
            data = response.read()
            out = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            if cut and response.status == 206:
                found = re.match(r"bytes (\d+)-\d+/(\d+)", response.getheader("Content-Range"))
                assert found is not None
                start, total = int(found[1]), int(found[2])
                data = data[: answers.keep]
                dropped = ("content-range", "content-length", "content-md5")
                out = [(k, v) for k, v in out if k.lower() not in dropped]
                out.append(("Content-Range", f"bytes {start}-{start + len(data) - 1}/{total}"))
                answers.cut.append(start)
            self.send_response(response.status)
            for key, value in out:
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            upstream_conn.close()

    return Handler


@pytest.fixture
def answers() -> ShortAnswers:
    return ShortAnswers("t/part.csv", nth={2})


@pytest.fixture
def proxied(
    azurite: azurite_server.Azurite, container: ContainerClient, answers: ShortAnswers
) -> Iterator[AzureLake]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy_handler(azurite.blob_endpoint, answers))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/{azurite_server.ACCOUNT}"
    connection = azurite.connection_string.replace(azurite.blob_endpoint, endpoint)
    client = ContainerClient.from_connection_string(
        connection,
        container.container_name,
        max_single_get_size=CHUNK,
        max_chunk_get_size=CHUNK,
    )
    try:
        yield AzureLake(client, "")
    finally:
        server.shutdown()
        server.server_close()


def rows(tag: str) -> bytes:
    lines = []
    for n in range(ROWS):
        start = f"k{n:07d},{tag}{n:07d}"
        lines.append(f"{start},{'x' * (ROW_BYTES - len(start) - 2)}\n")
    return "".join(lines).encode()


def test_a_short_range_answer_loses_and_doubles_no_row(
    container: ContainerClient, proxied: AzureLake, answers: ShortAnswers, tmp_path: Path
) -> None:
    columns = [
        attribute("Id", "string", 20),
        attribute("name", "string", 20),
        attribute("pad", "string", 80),
    ]
    container.upload_blob("model.json", model_json([entity("t", columns, ["t/part.csv"])]))
    container.upload_blob("t/part.csv", rows("v"))
    db = tmp_path / "t.sqlite"

    summary = migrate(proxied, f"sqlite:///{db}")

    assert answers.cut == [CHUNK]  # the second range came back 1 KiB long
    assert summary.ok, summary.to_dict()
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT name FROM t ORDER BY name").fetchall()
    assert stored == [(f"v{n:07d}",) for n in range(ROWS)]
