"""The storage seam: list, stat and stream files of a lake container.

Two implementations share the `Lake` protocol: `LocalLake` (a folder laid out like a container,
the embedded default) and `turbodata.lake.azure.AzureLake` (ADLS Gen2 through the Blob API,
which Azurite can serve in tests). Paths are always lake-relative posix paths with no leading
"/"; the lake root is a folder, not necessarily the container root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from turbodata.model import FileInfo


@dataclass(frozen=True)
class Listing:
    """One folder level: sub-folder names and the files directly in it."""

    folders: list[str]
    files: list[FileInfo]


class Lake(Protocol):
    """What every lake backend provides."""

    @property
    def url(self) -> str:
        """Where the lake is, for messages (no secret in it)."""
        ...

    def list_dir(self, folder: str = "") -> Listing:
        """The sub-folders and files directly in `folder` ("" = lake root), sorted by name."""
        ...

    def iter_files(self, folder: str = "") -> Iterator[FileInfo]:
        """Every file below `folder`, recursively, sorted by path. A folder that cannot be
        listed raises (OSError for local folders), it is never left out."""
        ...

    def stat(self, path: str) -> FileInfo | None:
        """The file's size, modification time and etag; None if it does not exist."""
        ...

    def open(self, path: str, *, version: FileInfo | None = None) -> BinaryIO:
        """A stream of the file's bytes; large files are never read whole into memory.
        `version`: only that version of the file (as `opened_version` gave it), else
        `FileChanged`."""
        ...

    def opened_version(self, stream: BinaryIO, path: str) -> FileInfo:
        """The version of the file that `stream` (from `open`) reads."""
        ...


class FileChanged(OSError):
    """A file was rewritten since the run listed it, or while it was read."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} changed since this run listed it (it is being rewritten?): nothing of"
            " it is loaded, and the next run reads it again"
        )


class VersionPinnedOpener:
    """Opens one file as often as its reader needs (the CSV reader opens it again where its
    fast path gives up), each time the version the plan listed: a file rewritten since the
    listing raises `FileChanged` instead of giving rows of another version, or of two
    (found by review). Why not the version found at the first open: ADLS rewrites a file by
    creating it empty and appending, so a file changed since the listing may be cut short,
    and its missing rows would be deleted from a snapshot's table while the run succeeded
    (found by review). The plan, the type pass and the load then read the same bytes; the
    next run lists the file again. `version` is what was read, for the ledger."""

    def __init__(self, lake: Lake, listed: FileInfo) -> None:
        self.lake, self.path, self.listed = lake, listed.path, listed
        self.version: FileInfo | None = None

    def __call__(self) -> BinaryIO:
        stream = self.lake.open(self.path, version=self.version or self.listed)
        if self.version is None:
            self.version = self.lake.opened_version(stream, self.path)
        return stream


def read_bytes(lake: Lake, path: str) -> bytes:
    """A small file's whole content (metadata documents, changelog markers)."""
    with lake.open(path) as stream:
        return stream.read()


def join(*parts: str) -> str:
    """Join lake path parts with "/", ignoring empty parts and stray slashes."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


class LocalLake:
    """A folder on disk laid out like a lake container."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"lake folder not found: {root}")

    @property
    def url(self) -> str:
        return str(self.root)

    def _full(self, path: str) -> Path:
        """The path in the lake folder, links not resolved: a metadata path may not climb out
        (`..`), a link the lake's owner put in it may lead anywhere (as `iter_files` follows
        it), and its files keep the link's path."""
        full = Path(os.path.normpath(self.root / path))
        if full != self.root and self.root not in full.parents:
            raise ValueError(f"path escapes the lake: {path}")
        return full

    def _info(self, full: Path) -> FileInfo:
        st = full.stat()
        return FileInfo(
            path=full.relative_to(self.root).as_posix(),
            size=st.st_size,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
            etag=None,
        )

    def list_dir(self, folder: str = "") -> Listing:
        base = self._full(folder)
        if not base.is_dir():
            return Listing([], [])
        folders, files = [], []
        for entry in sorted(base.iterdir(), key=lambda p: p.name):
            if entry.is_dir():
                folders.append(entry.name)
            elif entry.is_file():
                files.append(self._info(entry))
        return Listing(folders, files)

    def iter_files(self, folder: str = "") -> Iterator[FileInfo]:
        """Linked folders are followed, as `list_dir` lists them (skipped, their files were
        missing from the plan: found by review), but for a link back to a folder the walk is
        in (a loop, whose files it lists already)."""
        base = self._full(folder)
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base, onerror=_raise, followlinks=True):
            here = Path(dirpath)
            if links := [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                dirnames[:] = [d for d in dirnames if d not in links or not _loops(here / d, base)]
            dirnames.sort()
            for name in sorted(filenames):
                yield self._info(here / name)

    def stat(self, path: str) -> FileInfo | None:
        full = self._full(path)
        return self._info(full) if full.is_file() else None

    def open(self, path: str, *, version: FileInfo | None = None) -> BinaryIO:
        stream = self._full(path).open("rb")
        if version is not None and self.opened_version(stream, path) != version:
            stream.close()
            raise FileChanged(path)
        return stream

    def opened_version(self, stream: BinaryIO, path: str) -> FileInfo:
        now = os.fstat(stream.fileno())
        return FileInfo(path, now.st_size, datetime.fromtimestamp(now.st_mtime, UTC), None)


def _loops(link: Path, base: Path) -> bool:
    """Whether a linked folder leads back to the folder it is in or one above it (up to the
    walk's `base`): only a link can, so only links are resolved (a listing of many folders
    paid for resolving each)."""
    target = link.resolve()
    here = link.parent
    return any(
        target == p.resolve() for p in (here, *here.parents) if p == base or base in p.parents
    )


def _raise(error: OSError) -> None:
    """os.walk's error handler: a folder that cannot be listed is an error, never skipped
    (its files would silently be missing from the plan)."""
    raise error


LakeLocation = str | os.PathLike[str] | Lake
