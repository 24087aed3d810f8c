"""PostgreSQL's binary COPY format, built from typed Arrow batches in Arrow (no Python object
per value).

The binary format (`COPY … FROM STDIN (FORMAT binary)`): a signature header, then per row a
16-bit field count and per field a 32-bit length (-1 for NULL) and the value in the type's
binary wire form, all big-endian; a 16-bit -1 ends the data. The server then only copies
bytes into tuples where it would parse text: on bench/columnar.py's 20-column table, 3.1
against 5.5 µs/row of server CPU, for about the client CPU the text form costs to build.

How it is built: each column becomes one or two Arrow binary arrays of per-row pieces (a
fixed-width field; or a length header and the value's bytes), and
`binary_join_element_wise` joins the pieces of every row, so the joined array's data buffer
is the rows, in order. The fixed-width wire forms are gathered byte by byte with `take`
from a little-endian buffer in a periodic order (the byte swap), with the field's constant
bytes in front. Date/time text is parsed by Arrow's own casts, GUID hex digits through a
lookup table, and NUMERIC's base-10000 digits come from division of the decimal's 128-bit
integer, only as many integer groups as a slice's largest value needs. The index arrays
that drive `take` are cached per layout for more rows than a slice has, and read in part.

Which column gets which wire form comes from the table's SQLAlchemy column type, never from
the Arrow type alone: a value of the wrong width would be read as another value, silently.
A column type this module has no exact wire form for (`REAL`: float8 → float4 in the client
could round apart from the server's reading of the text) makes `encoders` return None, and
the caller sends the batch as text; a value it does not take (not the canonical text the
converters write, an integer beyond its column, a decimal beyond its precision) makes
`copy_rows` return None, and the caller sends that slice as text, so the server judges it
as it always did.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # signature, flags, extension
TRAILER = struct.pack("!h", -1)

_NULL_FIELD = pa.scalar(struct.pack("!i", -1), pa.binary())
_EMPTY = pa.scalar(b"", pa.binary())
_MICROS_PER_DAY = 86_400_000_000
_DAYS_1970_TO_2000 = 10_957  # PostgreSQL counts days and microseconds from 2000-01-01
_MICROS_1970_TO_2000 = _DAYS_1970_TO_2000 * _MICROS_PER_DAY

# a column's values → the pieces (binary arrays, one element per row) of its fields; raises
# NotEncodable when a value is not one this module encodes exactly
Encoder = Callable[[pa.Array], list[pa.Array]]


class NotEncodable(Exception):
    """A value is not in the form the encoder expects: the slice goes as text instead."""


def encoders(table: sa.Table, batch_schema: pa.Schema) -> list[Encoder] | None:
    """One encoder per batch column, from the table's column types; None when a column has
    a type (or an Arrow type) the binary form is not built for here."""
    found = []
    for field in batch_schema:
        column = table.c.get(field.name)
        encoder = None if column is None else _encoder(column.type, field.type)
        if encoder is None:
            return None
        found.append(encoder)
    return found


def copy_rows(batch: pa.RecordBatch, column_encoders: Sequence[Encoder]) -> memoryview | None:
    """The rows of `batch` in the binary COPY format, without the header and trailer; None
    when a value cannot be encoded exactly here (the caller sends the batch as text)."""
    pieces = [pa.scalar(struct.pack("!h", batch.num_columns), pa.binary())]
    try:
        for array, encode in zip(batch.columns, column_encoders, strict=True):
            pieces += encode(array)
    except NotEncodable:
        return None
    rows = pc.binary_join_element_wise(*pieces, _EMPTY)
    offsets = rows.buffers()[1]
    end = struct.unpack_from("<i", offsets, (rows.offset + len(rows)) * 4)[0]
    start = struct.unpack_from("<i", offsets, rows.offset * 4)[0]
    return memoryview(rows.buffers()[2].slice(start, end - start))


# ---------------------------------------------------------------------------- type mapping


def _encoder(column_type: sa.types.TypeEngine, arrow: pa.DataType) -> Encoder | None:
    """The wire form for a column of `column_type` holding Arrow values of type `arrow`."""
    if isinstance(column_type, sa.Boolean):
        return _boolean if pa.types.is_boolean(arrow) else None
    if isinstance(column_type, sa.Integer):
        width = _integer_width(column_type)
        return functools.partial(_integer, width=width) if pa.types.is_integer(arrow) else None
    if isinstance(column_type, sa.Float):  # before Numeric: Float is one
        if isinstance(column_type, sa.Double) and pa.types.is_float64(arrow):
            return _float8
        return None  # REAL: float8 → float4 here could round apart from the server's strtof
    if isinstance(column_type, sa.Numeric):
        return _numeric if pa.types.is_decimal128(arrow) else None
    if not pa.types.is_string(arrow):
        return None
    if isinstance(column_type, sa.Uuid):
        return _uuid
    if isinstance(column_type, pg.TIMESTAMP):
        return _timestamptz if column_type.timezone else _timestamp
    if isinstance(column_type, sa.DateTime):
        return None  # a generic DateTime is not one the dialect creates
    if isinstance(column_type, sa.Date):
        return _date
    if isinstance(column_type, sa.Time):
        return None if column_type.timezone else _time
    if isinstance(column_type, sa.String):
        return _text
    return None


def _integer_width(column_type: sa.types.TypeEngine) -> int:
    if isinstance(column_type, sa.SmallInteger):
        return 2
    if isinstance(column_type, sa.BigInteger):
        return 8
    return 4


_INT64 = pa.int64()
_INTEGER_TYPES = {2: pa.int16(), 4: pa.int32(), 8: _INT64}


# ---------------------------------------------------------------------------- encoders


def _integer(values: pa.Array, width: int) -> list[pa.Array]:
    try:
        narrow = values.cast(_INTEGER_TYPES[width], safe=True)
    except (pa.ArrowInvalid, OverflowError) as error:  # out of the column's range: the
        raise NotEncodable from error  # text path lets the server say so
    return [_fixed_fields(narrow, width)]


def _boolean(values: pa.Array) -> list[pa.Array]:
    return [_fixed_fields(values.cast(pa.uint8()), 1)]


def _float8(values: pa.Array) -> list[pa.Array]:
    return [_fixed_fields(values, 8)]


def _timestamp(values: pa.Array) -> list[pa.Array]:
    """Canonical 'YYYY-MM-DD HH:MM:SS.fffffff' (UTC) → microseconds since 2000-01-01, the 7th
    digit cut as the text path cuts it; the server rounds to the column's precision on
    receipt, as it does for text."""
    micros = _parsed(_cut(values, 26, 27), pa.timestamp("us"))
    return [_fixed_fields(pc.subtract(micros, _MICROS_1970_TO_2000), 8, values)]


def _timestamptz(values: pa.Array) -> list[pa.Array]:
    """Canonical '…fffffff+HH:MM' → microseconds since 2000-01-01 UTC."""
    micros = _parsed(_cut(values, 26, 33), pa.timestamp("us", tz="UTC"))
    return [_fixed_fields(pc.subtract(micros, _MICROS_1970_TO_2000), 8, values)]


def _date(values: pa.Array) -> list[pa.Array]:
    """'YYYY-MM-DD' → days since 2000-01-01 (int4)."""
    _check_lengths(values, 10)
    days = _parsed(values, pa.date32(), pa.int32())
    since_2000 = pc.subtract(days, pa.scalar(_DAYS_1970_TO_2000, pa.int32()))
    return [_fixed_fields(since_2000, 4, values)]


def _time(values: pa.Array) -> list[pa.Array]:
    """'HH:MM:SS.fffffff' → microseconds since midnight (int8)."""
    stamps = pc.binary_join_element_wise("2000-01-01 ", _cut(values, 15, 16), "")
    micros = _parsed(stamps, pa.timestamp("us"))
    return [_fixed_fields(pc.subtract(micros, _MICROS_1970_TO_2000), 8, values)]


def _cut(values: pa.Array, digit: int, length: int) -> pa.Array:
    """Canonical date/time text of `length` characters without the character at `digit`
    (the 7th fraction digit, cut, never rounded); text of another length is not canonical."""
    _check_lengths(values, length)
    return pc.binary_replace_slice(values, digit, digit + 1, "")


def _parsed(text: pa.Array, arrow: pa.DataType, as_int: pa.DataType = _INT64) -> pa.Array:
    try:
        return text.cast(arrow).cast(as_int)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise NotEncodable from error


def _check_lengths(values: pa.Array, length: int) -> None:
    """Every value (NULLs aside) is `length` bytes long."""
    bounds = pc.min_max(pc.binary_length(values))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is not None and (low, high) != (length, length):
        raise NotEncodable


def _text(values: pa.Array) -> list[pa.Array]:
    """A 32-bit length (-1 for NULL), then the UTF-8 bytes as they are."""
    lengths = _filled(pc.binary_length(values), pa.scalar(-1, pa.int32()))
    length_fields = _fields(b"", (3, 2, 1, 0), _value_bytes(lengths, 4), 4, len(values))
    return [length_fields, _filled(values.view(pa.binary()), _EMPTY)]


_HEX_VALUES = bytes(int(chr(c), 16) if chr(c) in "0123456789abcdef" else 0xFF for c in range(256))
_UUID_HEX = [p for p in range(36) if p not in (8, 13, 18, 23)]  # its 32 hex digits, in order


def _uuid(values: pa.Array) -> list[pa.Array]:
    """Canonical lower-case 8-4-4-4-12 text → its 16 bytes."""
    text = _filled(values, "00000000-0000-0000-0000-000000000000")
    _check_lengths(text, 36)
    rows = len(text)
    nibbles = pc.take(_byte_array(_HEX_VALUES), _string_bytes(text))
    high = pc.take(nibbles, _periodic(tuple(_UUID_HEX[0::2]), (36,) * 16, rows))
    low = pc.take(nibbles, _periodic(tuple(_UUID_HEX[1::2]), (36,) * 16, rows))
    if pc.max(pc.bit_wise_or(high, low)).as_py() > 15:  # not lower-case hex digits
        raise NotEncodable
    uuid_bytes = pc.bit_wise_or(pc.shift_left(high, pa.scalar(4, pa.uint8())), low)
    fields = _fields(struct.pack("!i", 16), (*_CONSTANT_HEAD, *range(16)), uuid_bytes, 16, rows)
    return [_with_nulls(fields, values)]


# ---------------------------------------------------------------------------- numeric

_NEGATIVE = 0x4000  # NUMERIC's sign word; 0 is positive
_LIMB = 2**32


def _numeric(values: pa.Array) -> list[pa.Array]:
    """Decimal → NUMERIC's binary form: a digit count, the weight (the power of 10000 of the
    first digit), the sign, the display scale, then base-10000 digits with the decimal point
    between two of them. Every row of a slice gets the same digits: all the fraction groups
    (zeros included), and as many integer groups as the slice's largest value needs (not
    the precision's: fewer bytes to build and send). The server strips zero groups at
    either end itself, and it sets the display scale to the column's, as it does for text.

    The digits come from the decimal's unscaled 128-bit integer: first divided by
    10**(scale % 4), so that the decimal point falls between two groups, then by 10**4 one
    group at a time, in uint64 where every value of the slice is below 2**64, else by long
    division (`_wide_digits`)."""
    scale, rows = values.type.scale, len(values)
    filled = _filled(values, pa.scalar(0, values.type))
    negative = pc.less(filled, pa.scalar(0, values.type))
    least_first = _base_10000_digits(pc.abs(filled), scale)  # the least significant first
    groups = len(least_first)
    integer_groups = groups - _fraction_groups(scale)
    if integer_groups > -(-(values.type.precision - scale) // 4):
        raise NotEncodable  # more digits than the precision: the server refuses it as text
    signs = pc.if_else(negative, _NEGATIVE, 0).cast(pa.uint16())
    words = [signs, *(digits.cast(pa.uint16(), safe=False) for digits in least_first[::-1])]
    # each word padded to the capacity `_periodic` caches for, so that the gather's offsets
    # depend on the slice's length only through it
    capacity = _capacity(rows)
    padding = _zeros_uint16(capacity).slice(0, capacity - rows)
    column_major = pa.concat_arrays([piece for word in words for piece in (word, padding)])
    head = struct.pack("!ihh", 8 + 2 * groups, groups, integer_groups - 1)
    template = (
        *(-1 - i for i in range(8)),  # length, digit count, weight
        *(1, 0),  # the sign word, big-endian
        *(-9, -10),  # the display scale
        *(
            offset
            for w in range(1, groups + 1)
            for offset in (2 * w * capacity + 1, 2 * w * capacity)
        ),
    )
    data = _value_bytes(column_major, 2)
    fields = _fields(head + struct.pack("!h", scale), template, data, 2, rows)
    return [_with_nulls(fields, values)]


@functools.lru_cache(maxsize=4)
def _zeros_uint16(length: int) -> pa.Array:
    return pa.Array.from_buffers(pa.uint16(), length, [None, pa.py_buffer(bytes(2 * length))])


def _fraction_groups(scale: int) -> int:
    return -(-scale // 4)


def _base_10000_digits(unsigned: pa.Array, scale: int) -> list[pa.Array]:
    """A non-negative decimal128's digits in base 10000 (uint64 arrays), the least
    significant first: every fraction group, then the integer groups up to the largest
    value's highest non-zero one."""
    rows = len(unsigned)
    halves = pa.Array.from_buffers(
        pa.uint64(), rows * 2, [None, unsigned.buffers()[1]], offset=unsigned.offset * 2
    )
    if pc.max(pc.take(halves, _periodic((1,), (2,), rows))).as_py():
        least_first, rest = _wide_digits(unsigned, scale)
    else:
        least_first, rest = [], pc.take(halves, _periodic((0,), (2,), rows))
        if scale % 4:
            rest, remainder = _divmod(rest, 10 ** (scale % 4))
            least_first.append(pc.multiply(remainder, _uint64(10 ** (4 - scale % 4))))
    while len(least_first) < _fraction_groups(scale) or pc.max(rest).as_py():
        rest, remainder = _divmod(rest, 10_000)
        least_first.append(remainder)
    while len(least_first) > _fraction_groups(scale) and not pc.max(least_first[-1]).as_py():
        least_first.pop()  # an upper group of `_wide_digits`, zero in every row
    return least_first


def _uint64(value: int) -> pa.Scalar:
    return pa.scalar(value, pa.uint64())


def _divmod(dividend: pa.Array, divisor: int) -> tuple[pa.Array, pa.Array]:
    by = _uint64(divisor)
    quotient = pc.divide(dividend, by)
    return quotient, pc.subtract(dividend, pc.multiply(quotient, by))


def _wide_digits(unsigned: pa.Array, scale: int) -> tuple[list[pa.Array], pa.Array]:
    """The lowest base-10000 digits of values up to 2**127, by long division of 32-bit
    limbs in uint64 (exact: every partial dividend stays below 2**59), two groups a step,
    until the rest of every value is below 2**64: (those digits, the rest)."""
    limbs = _limbs(unsigned)
    least_first: list[pa.Array] = []
    if scale % 4:
        limbs, remainder = _divide(limbs, 10 ** (scale % 4))
        least_first.append(pc.multiply(remainder, _uint64(10 ** (4 - scale % 4))))
    while len(limbs) > 2:
        limbs, remainder = _divide(limbs, 10**8)
        high = pc.divide(remainder, _U64_10000)
        least_first += [pc.subtract(remainder, pc.multiply(high, _U64_10000)), high]
    if len(limbs) == 1:
        return least_first, limbs[0]
    return least_first, pc.add(pc.multiply(limbs[0], _U64_LIMB), limbs[1])


_U64_10000 = _uint64(10_000)


def _limbs(unsigned: pa.Array) -> list[pa.Array]:
    """A non-negative decimal128's unscaled integer as 32-bit limbs (uint64), the most
    significant first, without the leading limbs that are 0 in every row."""
    words = pa.Array.from_buffers(
        pa.uint32(), len(unsigned) * 4, [None, unsigned.buffers()[1]], offset=unsigned.offset * 4
    )
    limbs = [
        pc.take(words, _periodic((k,), (4,), len(unsigned))).cast(pa.uint64()) for k in (3, 2, 1, 0)
    ]
    while len(limbs) > 1 and not pc.max(limbs[0]).as_py():
        limbs.pop(0)
    return limbs


def _divide(limbs: list[pa.Array], divisor: int) -> tuple[list[pa.Array], pa.Array]:
    """(the quotient's limbs, the remainder) of a long division by `divisor` (< 2**27)."""
    by = pa.scalar(divisor, pa.uint64())
    quotient, remainder = [], None
    for limb in limbs:
        dividend = limb if remainder is None else pc.add(pc.multiply(remainder, _U64_LIMB), limb)
        digit = pc.divide(dividend, by)
        remainder = pc.subtract(dividend, pc.multiply(digit, by))
        quotient.append(digit)
    while len(quotient) > 1 and not pc.max(quotient[0]).as_py():
        quotient.pop(0)
    return quotient, remainder


_U64_LIMB = pa.scalar(_LIMB, pa.uint64())


# ---------------------------------------------------------------------------- byte layout

_CONSTANT_HEAD = (-1, -2, -3, -4)  # a field's first 4 constant bytes: its length


def _fixed_fields(values: pa.Array, width: int, nulls_of: pa.Array | None = None) -> pa.Array:
    """Fields of a fixed-width value: the 32-bit length, then the value's bytes big-endian
    (its little-endian bytes reversed); NULL where `nulls_of` (default `values`) is null."""
    template = (*_CONSTANT_HEAD, *range(width - 1, -1, -1))
    data = _value_bytes(values, width)
    fields = _fields(struct.pack("!i", width), template, data, width, len(values))
    return _with_nulls(fields, values if nulls_of is None else nulls_of)


def _fields(
    constants: bytes, template: tuple[int, ...], data: pa.Array, row_width: int, rows: int
) -> pa.Array:
    """A binary array of `rows` elements of `len(template)` bytes each: byte t of element r
    is `data[r * row_width + template[t]]`, or `constants[-1 - template[t]]` where
    `template[t]` is negative."""
    base = tuple(len(constants) + t if t >= 0 else -1 - t for t in template)
    steps = tuple(row_width if t >= 0 else 0 for t in template)
    source = pa.concat_arrays([_byte_array(constants), data]) if constants else data
    if source.type != pa.uint8():
        raise TypeError(f"bytes expected, not {source.type}")
    gathered = pc.take(source, _periodic(base, steps, rows))
    offsets = _offsets(len(template), rows)
    return pa.Array.from_buffers(pa.binary(), rows, [None, offsets, gathered.buffers()[1]])


def _filled(values: pa.Array, fill: object) -> pa.Array:
    """`values` with `fill` for NULL; the same array (not a copy) when it has no NULL."""
    return pc.coalesce(values, fill) if values.null_count else values


def _with_nulls(fields: pa.Array, original: pa.Array) -> pa.Array:
    if original.null_count == 0:
        return fields
    return pc.if_else(pc.is_valid(original), fields, _NULL_FIELD)


def _periodic(base: tuple[int, ...], steps: tuple[int, ...], rows: int) -> pa.Array:
    """int32 indices: element r * len(base) + t is base[t] + r * steps[t]."""
    return _periodic_up_to(base, steps, _capacity(rows)).slice(0, rows * len(base))


def _capacity(rows: int) -> int:
    """The rows the cached index arrays are built for: a batch's last slice is shorter than
    the others, by a different amount in every batch, and reads a prefix of the same arrays
    (a cache keyed by its own length missed once per batch and layout: 0.97 against 0.60 s
    of CPU encoding the 300k-row snapshot, bench/pg_encode.py)."""
    return max(_MIN_CAPACITY, 1 << (rows - 1).bit_length())


_MIN_CAPACITY = 16_384  # pg_copy.COPY_SLICE_ROWS: every slice the dialect sends


@functools.lru_cache(maxsize=64)
def _periodic_up_to(base: tuple[int, ...], steps: tuple[int, ...], rows: int) -> pa.Array:
    period = len(base)
    index = _count(rows * period)
    row = pc.divide(index, period)
    slot = pc.subtract(index, pc.multiply(row, period))
    starts = pc.take(pa.array(base, pa.int64()), slot)
    return pc.add(starts, pc.multiply(row, pc.take(pa.array(steps, pa.int64()), slot))).cast(
        pa.int32()
    )


def _offsets(width: int, rows: int) -> pa.Buffer:
    """The offsets buffer of `rows` binary elements of `width` bytes each."""
    return _offsets_up_to(width, _capacity(rows)).slice(0, (rows + 1) * 4)


@functools.lru_cache(maxsize=16)
def _offsets_up_to(width: int, rows: int) -> pa.Buffer:
    return pc.multiply(_count(rows + 1), width).cast(pa.int32()).buffers()[1]


def _count(n: int) -> pa.Array:
    """0, 1, …, n-1 (int64)."""
    return pc.subtract(pc.cumulative_sum(pc.fill_null(pa.nulls(n, pa.int64()), 1)), 1)


def _byte_array(data: bytes) -> pa.Array:
    return pa.Array.from_buffers(pa.uint8(), len(data), [None, pa.py_buffer(data)])


def _value_bytes(values: pa.Array, width: int) -> pa.Array:
    """The data buffer of a fixed-width array (null slots hold any bytes) as bytes."""
    buffer = values.buffers()[1]
    return pa.Array.from_buffers(
        pa.uint8(), len(values) * width, [None, buffer], offset=values.offset * width
    )


def _string_bytes(text: pa.Array) -> pa.Array:
    """The bytes of a string array's values, back to back, as bytes."""
    offsets = text.buffers()[1]
    start = struct.unpack_from("<i", offsets, text.offset * 4)[0]
    end = struct.unpack_from("<i", offsets, (text.offset + len(text)) * 4)[0]
    return pa.Array.from_buffers(pa.uint8(), end - start, [None, text.buffers()[2]], offset=start)
