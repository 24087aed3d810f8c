"""A storage answer shorter than the range asked for (a valid 206 whose Content-Range says
so): the SDK's read across chunks fetched the next chunk at its planned offset, leaving a
gap that a later read refilled from the wrong place; the stream kept the blob's length, and
rows were lost and doubled while the run succeeded (found by a fault-injection review). The
test proxy in front of Azurite (`throttle_proxy`) cuts one ranged answer short; the stream
must still give the blob's bytes, in order."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from azure.storage.blob import ContainerClient
from throttle_proxy import ThrottlingProxy

from tests.azure.servers import azurite_server
from turbodata.lake.azure import AzureLake

CHUNK = 64 * 1024
ROW_BYTES = 64
ROWS = 3 * CHUNK // ROW_BYTES + 10  # past three chunks


class ShortAnswers:
    """Cuts the `nth` ranged GET of `blob` (1-based, over that blob's ranged GETs) to `keep`
    bytes, its Content-Range saying so: a valid 206, shorter than asked."""

    def __init__(self, blob: str, nth: int, keep: int = 1024) -> None:
        self.blob, self.nth, self.keep = blob, nth, keep
        self.count, self.cut_at = 0, []
        self.lock = threading.Lock()

    def __call__(
        self,
        method: str,
        path: str,
        asked: dict[str, str],
        status: int,
        headers: dict[str, str],
        data: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        ranged = "x-ms-range" in {k.lower() for k in asked}
        if method != "GET" or status != 206 or not ranged:
            return status, headers, data
        if not path.split("?")[0].endswith(self.blob):
            return status, headers, data
        with self.lock:
            self.count += 1
            if self.count != self.nth:
                return status, headers, data
        content_range = next(v for k, v in headers.items() if k.lower() == "content-range")
        found = re.match(r"bytes (\d+)-\d+/(\d+)", content_range)
        assert found is not None
        start, total = int(found[1]), int(found[2])
        dropped = ("content-range", "content-length", "content-md5")
        kept = {k: v for k, v in headers.items() if k.lower() not in dropped}
        kept["Content-Range"] = f"bytes {start}-{start + self.keep - 1}/{total}"
        self.cut_at.append(start)
        return status, kept, data[: self.keep]


@pytest.fixture
def answers() -> ShortAnswers:
    return ShortAnswers("t/part.csv", nth=2)


@pytest.fixture
def proxied(
    azurite: azurite_server.Azurite, container: ContainerClient, answers: ShortAnswers
) -> Iterator[AzureLake]:
    proxy = ThrottlingProxy(azurite.blob_endpoint, alter=answers)
    connection = azurite.connection_string.replace(azurite.blob_endpoint, proxy.url)
    client = ContainerClient.from_connection_string(
        connection,
        container.container_name,
        max_single_get_size=CHUNK,
        max_chunk_get_size=CHUNK,
    )
    try:
        yield AzureLake(client, "")
    finally:
        proxy.stop()


def rows(tag: str) -> bytes:
    lines = []
    for n in range(ROWS):
        start = f"k{n:07d},{tag}{n:07d}"
        lines.append(f"{start},{'x' * (ROW_BYTES - len(start) - 2)}\n")
    return "".join(lines).encode()


@pytest.mark.parametrize("read_size", [8192, 1 << 20, None])
def test_a_short_range_answer_leaves_no_gap_in_the_stream(
    container: ContainerClient, proxied: AzureLake, answers: ShortAnswers, read_size: int | None
) -> None:
    """Read as the CSV reader (1 MiB), Python's buffering (8 KiB) and `read_bytes` (all at
    once) read it: the bytes are the blob's, in order. (Before, reads of 8 KiB and 1 MiB gave
    the blob's length with a gap and a doubled stretch, and the whole read stopped short.)
    End to end, the reviewer's 12 MiB snapshot lost 32,760 of 98,404 rows on Azurite; a file
    this small is read again by the CSV reader's exact path, which hid it."""
    blob = rows("v")
    container.upload_blob("t/part.csv", blob)

    with proxied.open("t/part.csv") as stream:
        if read_size is None:
            got = stream.read()
        else:
            got = b"".join(iter(lambda: stream.read(read_size), b""))

    assert answers.cut_at == [CHUNK]  # the second range came back 1 KiB long
    assert len(got) == len(blob) and got == blob
