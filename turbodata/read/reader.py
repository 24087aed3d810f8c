"""CSV partitions → bounded chunks of string columns, with every irregular row explained.

Two paths produce the same chunks:

* the **fast path**, pyarrow's streaming CSV reader (`newlines_in_values=True`), for files whose
  rows all have the schema's width and are valid UTF-8 — the common case;
* the **exact path**, a small tokenizer in Python, for the rest: rows shorter than the schema
  (columns appended later), rows wider than it, truncated rows, invalid UTF-8, and files in
  any other encoding the metadata declares (windows-1252, UTF-16...). It pads short rows with
  NULLs and rejects bad rows with their row number, column and raw text.

The fast path gives up at the first irregular row; the exact path then reads the file again
from a fresh stream and resumes right after the rows already yielded, so a file is never read
into memory whole and no row is seen twice. Empty unquoted fields are NULL (None); a quoted `""`
is the empty string. A tiny file (`TINY_FILE_BYTES`) is read whole and goes to the exact path
alone: for a few rows, pyarrow's set-up and the hand-overs to its read-ahead thread cost more
(tests/test_reader_small_files.py holds both paths to the same chunks on irregular input).

Chunks are bounded in bytes as well as rows (`CHUNK_BYTES`): 50,000 rows of 25 wide columns
were 25 MB of text, held several times over between reader, converter and database driver.

Design: the two paths never share a stream. pyarrow reads ahead on a background thread, which
may still be inside `read()` when the fast path gives up; seeking that stream back to 0 for the
exact path let both consume it, and the exact path silently lost up to a block of rows. So
`read_raw` takes an opener, the exact path opens the file anew, and the fast path's stream is
first fenced off (`_FastInput.retire`: no read reaches it once that returns) and then closed.

Design: the declared encoding is decoded, never assumed to be UTF-8 (which rejected every
non-ASCII row of a windows-1252 file). One Python cannot decode text with fails the file with
`UnsupportedEncoding` before a row is read; ASCII is read as UTF-8, its superset.
"""

from __future__ import annotations

import codecs
import functools
import io
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from turbodata.model import CsvDialect, unique_names

CHUNK_ROWS = 50_000  # rows per chunk handed to the loader, at most
CHUNK_BYTES = 8 << 20  # ... and about this many bytes of values at most
READ_BLOCK = 1 << 20  # small blocks keep pyarrow's read-ahead lean (performance.md §6)
# A file this small is read by the exact path alone, from memory: pyarrow's reader set-up and
# the hand-overs to its read-ahead thread cost more than tokenizing its few rows in Python.
TINY_FILE_BYTES = 16 << 10

Opener = Callable[[], BinaryIO]  # a fresh stream of the file's bytes from its start, each call


@dataclass(frozen=True)
class RowReject:
    """A row that will not be loaded, and why."""

    row: int  # 1-based data row in the file (header and blank lines not counted)
    column: str | None
    reason: str
    raw: str
    width: bool = False  # the row has the wrong number of values (not a bad value)


@dataclass
class RawChunk:
    """Up to CHUNK_ROWS rows as one Arrow string array per schema column."""

    columns: list[pa.Array]
    row_numbers: pa.Array  # int64, 1-based, same length as each column
    rejects: list[RowReject] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return len(self.row_numbers)


class UnsupportedEncoding(ValueError):
    """The metadata declares an encoding Python has no text codec for."""


class HeaderMismatch(ValueError):
    """A file's header row names other columns, or another order, than its metadata: its
    values would land in the wrong columns."""


def check_header(header: Sequence[str | None], column_names: Sequence[str]) -> None:
    """The header names the metadata's columns in order (case and surrounding spaces aside),
    or the first of them (a file written before columns were appended)."""
    named = [(value or "").strip().lstrip("\ufeff").strip() for value in header]
    while named and not named[-1]:  # a trailing delimiter names no column
        named.pop()
    declared = [name.casefold() for name in column_names]
    # `Name` and `name` in the metadata are columns `Name` and `name_2` (`unique_names`)
    if [name.casefold() for name in unique_names(named)] != declared[: len(named)]:
        raise HeaderMismatch(
            f"its header row names the columns {', '.join(named)}, the metadata"
            f" {', '.join(column_names)}: its values would go into the wrong columns"
        )


class _Irregular(Exception):
    """The fast path met a row it cannot take; the exact path resumes the file."""


def read_raw(
    open_stream: Opener,
    *,
    column_names: list[str],
    dialect: CsvDialect,
    min_width: int | None = None,
    widths: Collection[int] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[RawChunk]:
    """Stream a CSV partition as string chunks.

    `open_stream` is called once per path, so the exact path never reads a stream pyarrow's
    read-ahead thread may still be reading. `min_width` is the narrowest row width the table's
    metadata history allows (columns are only ever appended); shorter rows are rejected.
    Defaults to the narrowest of `widths`, else the full width. `widths`: the widths the
    table's schemas have had; a short row must have one of them (a row between two schemas
    is a truncated one). A chunk ends after `chunk_rows` rows or about `chunk_bytes` bytes of
    values, whichever comes first (it may pass either by one read block).
    """
    width = len(column_names)
    if min_width is None:
        min_width = min(widths) if widths else width
    encoding = _text_encoding(dialect.encoding)
    rows_done, tiny = 0, None
    if _fast_dialect(dialect, encoding):
        with open_stream() as stream:
            head = _read_up_to(stream, TINY_FILE_BYTES + 1)
            if len(head) <= TINY_FILE_BYTES:
                tiny = head  # read by the exact path alone, from memory
            else:
                fast_input = _FastInput(stream, head)
                try:
                    chunks = _fast_chunks(
                        fast_input, column_names, dialect, chunk_rows, chunk_bytes
                    )
                    for chunk in chunks:
                        rows_done += chunk.num_rows
                        yield chunk
                    return
                except _Irregular:
                    pass
                finally:
                    fast_input.retire()
    reopen = open_stream if tiny is None else functools.partial(io.BytesIO, tiny)
    with reopen() as stream:
        text = io.TextIOWrapper(stream, encoding=encoding, errors=_MARK_UNDECODABLE, newline="")
        try:
            yield from _exact_chunks(
                text,
                column_names,
                (min_width, widths),
                dialect,
                (chunk_rows, chunk_bytes),
                rows_done,
            )
        finally:
            text.detach()  # the opener's `with` closes the stream


def _fast_dialect(dialect: CsvDialect, encoding: str) -> bool:
    """Whether pyarrow's parser can read this dialect (ASCII quote and delimiter, UTF-8)."""
    quote, delimiter = dialect.quote_char, dialect.delimiter
    return (
        quote is not None
        and encoding == _UTF8
        and len(quote) == len(delimiter) == 1
        and (quote + delimiter).isascii()
    )


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """The stream's first `size` bytes, or all of it when shorter (a read may return less)."""
    parts, missing = [], size
    while missing > 0:
        part = stream.read(missing)
        if not part:
            break
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


_UTF8 = "utf-8-sig"  # UTF-8, with or without a byte order mark
_MARK_UNDECODABLE = "turbodata-mark-undecodable"


def _text_encoding(declared: str) -> str:
    """The codec that decodes a partition of the declared encoding."""
    try:
        name = codecs.lookup(declared).name
        "".encode(name)  # LookupError for codecs that are not text encodings (base64, zlib)
    except LookupError:
        raise UnsupportedEncoding(f"unsupported encoding {declared!r}") from None
    return _UTF8 if name in ("utf-8", "utf-8-sig", "ascii") else name


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    """Decode each byte the codec cannot decode as U+DC00 + byte: decoding never produces a
    lone surrogate from valid text, so these mark the rows to reject (any byte value, unlike
    `surrogateescape`, which cannot mark the ASCII bytes a UTF-16 error may involve)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


codecs.register_error(_MARK_UNDECODABLE, _mark_undecodable)


# ---------------------------------------------------------------------------- fast path


def _fast_chunks(
    fast_input: _FastInput,
    column_names: list[str],
    dialect: CsvDialect,
    chunk_rows: int,
    chunk_bytes: int,
) -> Iterator[RawChunk]:
    names = [f"c{i}" for i in range(len(column_names))]

    try:
        reader = pacsv.open_csv(
            fast_input,
            read_options=pacsv.ReadOptions(
                column_names=names,
                block_size=READ_BLOCK,
                use_threads=False,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char=dialect.quote_char or False,
                double_quote=True,
                newlines_in_values=True,
                ignore_empty_lines=True,
                # no invalid_row_handler: a row of the wrong width raises ArrowInvalid and the
                # exact path takes over (a handler also fails on a row of invalid UTF-8)
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
                check_utf8=True,
            ),
        )
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error):
            return
        raise _Irregular from error
    first_row, pending, last_batch = 1, _Pending(), None
    header = dialect.header  # pyarrow's skip_rows skips a line, not a record with quoted newlines
    header_row: list[str | None] | None = None  # checked once it is known to be whole
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as error:  # invalid UTF-8, or a row of the wrong width
            raise _Irregular from error
        if batch.num_rows:
            last_batch = batch
        if header and batch.num_rows:
            header_row = list(batch.slice(0, 1).to_pylist()[0].values())
            batch, header = batch.slice(1), False
        if header_row is not None and batch.num_rows:  # rows follow: a header complete
            check_header(header_row, column_names)
            header_row = None
        if not batch.num_rows:
            continue
        if pending.rows >= chunk_rows or pending.bytes >= chunk_bytes:
            # full, and not the file's last rows (a batch follows): safe to hand over
            chunk = _chunk_from_batches(pending.take(), first_row)
            first_row += chunk.num_rows
            yield chunk
        pending.add(batch)
    if last_batch is not None and _last_row_is_doubtful(last_batch, fast_input.tail(), dialect):
        # pyarrow takes a file that ends inside a quoted field as complete: its last row is
        # truncated. The exact path re-reads the last batch, which holds it, and rejects it.
        batches = pending.take()[:-1]
        if batches:
            yield _chunk_from_batches(batches, first_row)
        raise _Irregular
    if header_row is not None:
        check_header(header_row, column_names)
    if pending.rows:
        yield _chunk_from_batches(pending.take(), first_row)


def _last_row_is_doubtful(last_batch: pa.RecordBatch, tail: bytes, dialect: CsvDialect) -> bool:
    """Whether pyarrow may have read the file's last row wrongly, judged by its last bytes
    (`tail`): the file may end inside a quoted field, or ends with an empty field right after
    its delimiter that pyarrow read as '' instead of NULL (pyarrow 26 does so when the file has
    no final line break and a quoted field came before: `x,"a",`).

    Ending inside a quoted field:
    Inside quotes no delimiter counts, so a field left open makes its row end at that field:
    pyarrow fails a row that is short, and an open field that passes can only be the last
    column of the last row. Open, it runs from its opening quote to the end of the file, with
    every quote in it doubled; so the file may end inside it only if its bytes end with the
    quote and the value's escaped text. A closed field ends with its closing quote (and maybe
    a line break), an unquoted one with its text. When that text reaches further back than
    `tail` the answer is yes: the exact path reads the file to find out. Before, every byte
    was scanned for quotes (0.5 s of CPU per 145 MB file, holding the GIL);
    tests/test_reader_small_files.py holds this rule to the exact path on random quoting.
    """
    value = last_batch.column(last_batch.num_columns - 1)[-1].as_py()
    if value is None:  # an empty unquoted field
        return False
    if value == "" and tail.endswith(dialect.delimiter.encode()):
        return True
    quote = str(dialect.quote_char)
    opened = (quote + value.replace(quote, quote + quote)).encode()
    return len(opened) > len(tail) or tail.endswith(opened)


class _Pending:
    """pyarrow's record batches not yet handed over as a chunk."""

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []
        self.rows = self.bytes = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)
        self.rows += batch.num_rows
        self.bytes += batch.nbytes

    def take(self) -> list[pa.RecordBatch]:
        batches, self.batches, self.rows, self.bytes = self.batches, [], 0, 0
        return batches


class _FastInput(io.RawIOBase):
    """The fast path's view of its stream: passes it through (after the `head` already read
    from it), keeps the last two reads (`tail`), and can be retired so that pyarrow's
    read-ahead thread never reads it again."""

    def __init__(self, stream: BinaryIO, head: bytes = b"") -> None:
        self.stream = stream
        self._head = head  # read from the stream before pyarrow's first read
        self._lock = threading.Lock()  # a read in progress finishes before `retire` returns
        self._retired = False
        self._last_reads = (b"", b"")

    def tail(self) -> bytes:
        """The last bytes read: at least one read block's worth once the file is read."""
        return b"".join(self._last_reads)

    def readable(self) -> bool:
        return True

    def retire(self) -> None:
        """From now on every read returns end of file; the stream itself is left alone."""
        with self._lock:
            self._retired = True

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            if self._retired:
                return b""
            if not self._head:
                data = self.stream.read(size)
            elif size < 0:
                data, self._head = self._head + self.stream.read(), b""
            else:  # a whole block: pyarrow fails a row that straddles three blocks
                data, self._head = self._head[:size], self._head[size:]
                if len(data) < size:
                    data += _read_up_to(self.stream, size - len(data))
            if len(data) > 1 and data.endswith(b"\r") and size > 0:
                # a block ending in the CR of a CRLF inside a quoted value: pyarrow's parser
                # (26.0) kept the CR and lost the LF; the CR goes with the next block
                data, self._head = data[:-1], b"\r" + self._head
            if data:
                self._last_reads = (self._last_reads[1], data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _chunk_from_batches(batches: list[pa.RecordBatch], first_row: int) -> RawChunk:
    """One array per column. Each column's pieces are let go once it is joined, so joining
    holds the chunk once plus one column, not twice."""
    rows = sum(batch.num_rows for batch in batches)
    pieces = [[batch.column(i) for batch in batches] for i in range(batches[0].num_columns)]
    batches.clear()  # the caller's list: the pieces are the last references to the buffers
    columns = []
    for index, parts in enumerate(pieces):
        columns.append(parts[0] if len(parts) == 1 else pa.concat_arrays(parts))
        pieces[index] = []
    return RawChunk(
        columns=columns, row_numbers=pa.array(range(first_row, first_row + rows), pa.int64())
    )


# ---------------------------------------------------------------------------- exact path


def _exact_chunks(
    text: io.TextIOBase,
    column_names: list[str],
    allowed: tuple[int, Collection[int] | None],
    dialect: CsvDialect,
    chunk_size: tuple[int, int],
    skip_rows: int,
) -> Iterator[RawChunk]:
    records = _records(text, dialect)
    if dialect.header and (first := next(records, None)) is not None and first[0] is not None:
        check_header(first[0], column_names)  # (None: the file ends inside the header)
    builder = _ChunkBuilder(len(column_names))
    undecodable = f"invalid {_encoding_label(dialect.encoding)}"
    widest = 0  # widths may only grow down a file: a narrower row is truncated or misaligned
    for row_number, (fields, raw) in enumerate(records, start=1):
        reject = _check_row(
            fields,
            raw,
            row_number,
            column_names,
            (max(allowed[0], widest), allowed[1]),
            undecodable,
        )
        if reject is None:
            widest = len(fields)
        if row_number <= skip_rows:
            continue
        if reject:
            builder.rejects.append(reject)
        else:
            builder.add(row_number, fields, raw)
        if builder.num_rows >= chunk_size[0] or builder.characters >= chunk_size[1]:
            yield builder.take()
    if builder.num_rows or builder.rejects:
        yield builder.take()


def _encoding_label(encoding: str) -> str:
    return "UTF-8" if _text_encoding(encoding) == _UTF8 else encoding


def _check_row(
    fields: list[str | None] | None,
    raw: str,
    row: int,
    column_names: list[str],
    allowed: tuple[int, Collection[int] | None],
    undecodable: str,
) -> RowReject | None:
    """Why the row cannot load, or None. `allowed`: the narrowest width a row may have, and
    the widths a short row may have (None: any from the narrowest)."""
    width = len(column_names)
    min_width, widths = allowed
    if fields is None:
        return RowReject(
            row, None, "the file ends inside a quoted field (truncated row)", _shown(raw)
        )
    if len(fields) > width:
        reason = f"row has {len(fields)} values, the schema has {width}"
        return RowReject(row, None, reason, _shown(raw), width=True)
    if len(fields) < min_width:
        reason = (
            f"row has {len(fields)} values, expected at least {min_width} of {width}"
            " (truncated or misaligned row)"
        )
        return RowReject(row, None, reason, _shown(raw), width=True)
    if widths is not None and len(fields) < width and len(fields) not in widths:
        known = ", ".join(map(str, sorted({*widths, width})))
        reason = (
            f"row has {len(fields)} values, and the table's schemas have {known} columns"
            " (truncated or misaligned row)"
        )
        return RowReject(row, None, reason, _shown(raw), width=True)
    for index, value in enumerate(fields):
        if value is not None and _has_undecodable(value):
            return RowReject(row, column_names[index], undecodable, _shown(raw))
    return None


def _has_undecodable(value: str) -> bool:
    # `_mark_undecodable` maps each undecodable byte to U+DC00..U+DCFF; text never holds them
    return any("\udc00" <= ch <= "\udcff" for ch in value) if not value.isascii() else False


def _shown(raw: str) -> str:
    """The row's text for a reject: each undecodable byte shown as U+FFFD."""
    if raw.isascii():
        return raw
    return "".join("\ufffd" if "\udc00" <= ch <= "\udcff" else ch for ch in raw)


class _ChunkBuilder:
    def __init__(self, width: int) -> None:
        self.width = width
        self._reset()

    def _reset(self) -> None:
        self.values: list[list[str | None]] = [[] for _ in range(self.width)]
        self.row_numbers: list[int] = []
        self.rejects: list[RowReject] = []
        self.characters = 0  # of the values added: the chunk's size, near enough

    @property
    def num_rows(self) -> int:
        return len(self.row_numbers)

    def add(self, row_number: int, fields: list[str | None], raw: str) -> None:
        self.row_numbers.append(row_number)
        self.characters += len(raw)
        for index, column in enumerate(self.values):
            column.append(fields[index] if index < len(fields) else None)

    def take(self) -> RawChunk:
        chunk = RawChunk(
            columns=[pa.array(column, pa.string()) for column in self.values],
            row_numbers=pa.array(self.row_numbers, pa.int64()),
            rejects=self.rejects,
        )
        self._reset()
        return chunk


def _records(
    text: io.TextIOBase, dialect: CsvDialect
) -> Iterator[tuple[list[str | None] | None, str]]:
    """(fields, raw text) per record; a field is None for an empty unquoted value, and the
    fields are None for a last record cut inside a quoted field.

    Physical lines are joined while a quoted field is open, so CR, LF and CRLF inside quotes
    are data. Blank lines are skipped, as the fast path does.
    """
    delimiter, quote = dialect.delimiter, dialect.quote_char
    pending: list[str] = []  # the lines so far of a record whose quoted field is open
    for number, line in enumerate(text):
        if number == 0:
            line = line.removeprefix("\ufeff")  # a BOM
        if quote is not None and _open_quote(line, delimiter, quote, inside=bool(pending)):
            pending.append(line)
            continue
        raw = "".join([*pending, line]) if pending else line
        pending = []
        body = raw.rstrip("\r\n")
        if body == "":
            continue
        yield _split(body, delimiter, quote), raw
    if pending:  # the file ends inside a quoted field: a truncated last row
        yield None, "".join(pending)


def _open_quote(line: str, delimiter: str, quote: str, inside: bool = False) -> bool:
    """True when the record is inside a quoted field at the end of `line` (more lines belong
    to it). `inside`: the line continues a quoted field left open by the lines before it.

    A quote opens a quoted field only at the start of a field, as in pyarrow's parser; inside
    one, a doubled quote is a literal quote. Jumps from quote to quote (a loop over every
    character was most of a small file's cost). Each line is scanned once: rescanning the
    record from its start for every line took minutes for one field of 40,000 lines.
    """
    start = 0
    if inside:
        closing = _closing_quote(line, 0, quote)
        if closing == -1:
            return True
        start = closing + 1
    at = line.find(quote, start)
    while at != -1:
        if at == 0 or line[at - 1] in (delimiter, "\r", "\n"):  # opens a quoted field
            closing = _closing_quote(line, at + 1, quote)
            if closing == -1:
                return True
            at = line.find(quote, closing + 1)
        else:  # a literal quote inside an unquoted field
            at = line.find(quote, at + 1)
    return False


def _closing_quote(raw: str, position: int, quote: str) -> int:
    """The index of the quote that closes a quoted field, from `position` on; -1 if none."""
    while True:
        closing = raw.find(quote, position)
        if closing == -1 or not raw.startswith(quote, closing + 1):
            return closing
        position = closing + 2  # a doubled quote


def _split(body: str, delimiter: str, quote: str | None) -> list[str | None]:
    body = body.rstrip("\r\n")
    if quote is None:
        return [value if value != "" else None for value in body.split(delimiter)]
    fields: list[str | None] = []
    position, end = 0, len(body)
    while True:
        if position < end and body[position] == quote:
            value, position = _quoted(body, position + 1, quote)
            next_delimiter = body.find(delimiter, position)
            if next_delimiter == -1:
                value += body[position:]  # text after the closing quote is kept, not lost
                fields.append(value)
                return fields
            value += body[position:next_delimiter]
            fields.append(value)
            position = next_delimiter + 1
        else:
            next_delimiter = body.find(delimiter, position)
            stop = end if next_delimiter == -1 else next_delimiter
            fields.append(body[position:stop] or None)
            if next_delimiter == -1:
                return fields
            position = next_delimiter + 1


def _quoted(body: str, position: int, quote: str) -> tuple[str, int]:
    """The value of a quoted field starting after its opening quote, and the index after it."""
    parts: list[str] = []
    while True:
        closing = body.find(quote, position)
        if closing == -1:  # unterminated: everything to the end is the value
            parts.append(body[position:])
            return "".join(parts), len(body)
        parts.append(body[position:closing])
        if body.startswith(quote, closing + 1):
            parts.append(quote)
            position = closing + 2
        else:
            return "".join(parts), closing + 1
