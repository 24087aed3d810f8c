#!/usr/bin/env python3
"""Generate examples/lake/: a small Azure Synapse Link for Dataverse export.

The layout is the *incremental update folders* mode (docs: lake-format.md 6.2):

    model.json                                  latest schema of all tables
    Changelog/changelog.info                    names the folder being written (in progress)
    Changelog/Synapse.log                       earlier folder names
    Microsoft.Athena.TrickleFeedService/        per-table model.json, latest schema
    2025-02-03T09.15.00Z/                       three completed folders, each with
        model.json                              its own schema and partition list,
        Microsoft.Athena.TrickleFeedService/    per-table model.json of the tables with data,
        OptionsetMetadata/*.csv                 the five option set label tables,
        account/2024.csv ...                    headerless CSVs named after the createdon year
    2025-02-03T12.15.00Z/                       in progress: CSVs, but a 0-byte model.json

Tables `account` and `contact`, with the nasty-but-valid content real exports have: multi-line
strings (LF and CRLF inside quotes), embedded quotes, commas, tabs, non-ASCII text and emoji,
leading/trailing spaces, US-style Sink dates (one with hour 0 + PM), ISO dates with 7 fraction
digits, date-only values, the 1900-01-01 and 9999-12-31 sentinels, decimals with 20+
significant digits, ints with leading zeros, `TRUE`, NULLs as empty unquoted fields, IsDelete
empty on every row, updates of the same Id in later folders, partitions 1900/2024/2025 and a
split 2025_001, and a schema change: in the third folder `account` gains `new_loyaltytier`
after IsDelete, and that folder's CSVs start with rows of the old width. Every value is valid:
loading the completed folders must produce no rejects.

`expected_rows()` gives every row written to the completed folders as Python values, from the
same source rows as the CSV text, so tests can compare a loaded database with it.

Run `python examples/make_lake.py` to rewrite examples/lake (`--check` only compares). Standard
library only; deterministic (fixed seed, no clock).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

LAKE_DIR = Path(__file__).resolve().parent / "lake"
STORAGE_ACCOUNT = "contosodataverse"
CONTAINER = "dataverse-contosoprod-unq5f2c81d07e"
SEED = 20250203

COMPLETED_FOLDERS = ("2025-02-03T09.15.00Z", "2025-02-03T10.15.00Z", "2025-02-03T11.15.00Z")
IN_PROGRESS_FOLDER = "2025-02-03T12.15.00Z"
FOLDERS = (*COMPLETED_FOLDERS, IN_PROGRESS_FOLDER)
SCHEMA_CHANGE_FOLDER = COMPLETED_FOLDERS[2]  # account gains new_loyaltytier here
TABLES = ("account", "contact")
LANGUAGES = (1033, 1040)  # English (US), Italian

FILE_FORMAT_SETTINGS = {
    "$type": "CsvFormatSettings",
    "columnHeaders": False,
    "delimiter": ",",
    "quoteStyle": "QuoteStyle.Csv",
    "csvStyle": "CsvStyle.QuoteAlways",
}


# -- schemas ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One model.json attribute. `data_type` is spelled as in model.json."""

    name: str
    data_type: str
    max_length: int = -1
    precision: int | None = None
    scale: int | None = None


def _string(name: str, length: int) -> Column:
    return Column(name, "string", length)


def _decimal(name: str, precision: int, scale: int) -> Column:
    return Column(name, "decimal", precision=precision, scale=scale)


_SYSTEM_HEAD = (
    Column("Id", "guid"),
    Column("SinkCreatedOn", "dateTime"),
    Column("SinkModifiedOn", "dateTime"),
)

ACCOUNT_COLUMNS_V1: tuple[Column, ...] = (
    *_SYSTEM_HEAD,
    _string("name", 160),
    _string("accountnumber", 20),
    _string("description", 2000),
    Column("industrycode", "int64"),
    Column("statecode", "int64"),
    Column("numberofemployees", "int64"),
    _decimal("revenue", 38, 4),
    _decimal("exchangerate", 38, 10),
    Column("address1_latitude", "double"),
    Column("donotemail", "boolean"),
    Column("lastusedincampaign", "dateTime"),
    Column("new_contractenddate", "dateTime"),
    Column("createdon", "dateTimeOffset"),
    Column("versionnumber", "int64"),
    Column("IsDelete", "boolean"),
)
ACCOUNT_COLUMNS_V2: tuple[Column, ...] = (*ACCOUNT_COLUMNS_V1, _string("new_loyaltytier", 20))

CONTACT_COLUMNS: tuple[Column, ...] = (
    *_SYSTEM_HEAD,
    _string("firstname", 50),
    _string("lastname", 50),
    _string("emailaddress1", 100),
    Column("parentcustomerid", "guid"),
    Column("preferredcontactmethodcode", "int64"),
    Column("birthdate", "dateTime"),
    Column("donotphone", "boolean"),
    Column("statecode", "int64"),
    Column("createdon", "dateTimeOffset"),
    Column("modifiedon", "dateTime"),
    Column("versionnumber", "int64"),
    Column("IsDelete", "boolean"),
)

LATEST_SCHEMA: dict[str, tuple[Column, ...]] = {
    "account": ACCOUNT_COLUMNS_V2,
    "contact": CONTACT_COLUMNS,
}


def schema(folder: str, table: str) -> tuple[Column, ...]:
    """The attribute list of `table` in `folder`'s model.json."""
    if table == "account":
        changed = FOLDERS.index(folder) >= FOLDERS.index(SCHEMA_CHANGE_FOLDER)
        return ACCOUNT_COLUMNS_V2 if changed else ACCOUNT_COLUMNS_V1
    return CONTACT_COLUMNS


# Option set label tables (lake-format.md section 9), headerless, in this column order.
OPTIONSET_SCHEMAS: dict[str, tuple[Column, ...]] = {
    "OptionsetMetadata": (
        _string("EntityName", 64),
        _string("OptionSetName", 64),
        Column("Option", "int64"),
        Column("IsUserLocalizedLabel", "boolean"),
        Column("LocalizedLabelLanguageCode", "int64"),
        _string("LocalizedLabel", 256),
    ),
    "GlobalOptionsetMetadata": (
        _string("OptionSetName", 64),
        Column("Option", "int64"),
        Column("IsUserLocalizedLabel", "boolean"),
        Column("LocalizedLabelLanguageCode", "int64"),
        _string("LocalizedLabel", 256),
        _string("GlobalOptionSetName", 64),
        _string("EntityName", 64),
    ),
    "StateMetadata": (
        _string("EntityName", 64),
        Column("State", "int64"),
        Column("IsUserLocalizedLabel", "boolean"),
        Column("LocalizedLabelLanguageCode", "int64"),
        _string("LocalizedLabel", 256),
    ),
    "StatusMetadata": (
        _string("EntityName", 64),
        Column("State", "int64"),
        Column("Status", "int64"),
        Column("IsUserLocalizedLabel", "boolean"),
        Column("LocalizedLabelLanguageCode", "int64"),
        _string("LocalizedLabel", 256),
    ),
    "TargetMetadata": (
        _string("EntityName", 64),
        _string("AttributeName", 64),
        _string("ReferencedEntity", 64),
        _string("ReferencedAttribute", 64),
    ),
}


# -- values and how they are spelled ---------------------------------------------------------


@dataclass(frozen=True)
class Stamp:
    """A .NET DateTime: `at` to the second plus `ticks` (100 ns units, 0..9_999_999).

    `style` is how the CSV spells it:
      us      M/d/yyyy h:mm:ss AM|PM, no fraction (SinkCreatedOn / SinkModifiedOn)
      us_h0   the same, but 12 o'clock PM written as hour 0 ("2/3/2025 0:04:10 PM")
      z       2025-01-28T14:03:27.1234567Z
      offset  2025-01-28T14:03:27.1234567+00:00 (always used for dateTimeOffset columns)
      naive   2025-02-15T00:00:00.0000000 (date-only fields)
    All values are UTC.
    """

    at: datetime
    ticks: int = 0
    style: str = "z"

    def csv_text(self, *, offset_column: bool) -> str:
        style = "offset" if offset_column else self.style
        iso = f"{self.at:%Y-%m-%dT%H:%M:%S}.{self.ticks:07d}"
        if style == "z":
            return iso + "Z"
        if style == "offset":
            return iso + "+00:00"
        if style == "naive":
            return iso
        if style in ("us", "us_h0"):
            if self.ticks:
                raise ValueError("US-style values have no fraction")
            hour = self.at.hour % 12 or 12
            if style == "us_h0":
                if self.at.hour != 12:
                    raise ValueError("hour-0 PM spelling is only for 12:xx PM")
                hour = 0
            half = "PM" if self.at.hour >= 12 else "AM"
            return (
                f"{self.at.month}/{self.at.day}/{self.at.year} "
                f"{hour}:{self.at.minute:02d}:{self.at.second:02d} {half}"
            )
        raise ValueError(f"unknown style {style!r}")

    def canonical(self) -> str:
        """`YYYY-MM-DD HH:MM:SS.fffffff` (UTC, 7 fraction digits)."""
        return f"{self.at:%Y-%m-%d %H:%M:%S}.{self.ticks:07d}"


@dataclass(frozen=True)
class Spelled:
    """A value written with a non-default spelling (`TRUE`, an int with leading zeros)."""

    text: str
    value: object


def render_field(column: Column, value: object) -> str:
    """The CSV field text (quotes included) for a source value."""
    if value is None:
        return ""  # NULL: empty and unquoted
    if isinstance(value, Spelled):
        return value.text
    kind = column.data_type
    if kind == "string":
        assert isinstance(value, str) and value, "empty strings are written as NULL"
        assert len(value) <= column.max_length, (column.name, value)
        return '"' + value.replace('"', '""') + '"'
    if kind in ("dateTime", "dateTimeOffset"):
        assert isinstance(value, Stamp)
        return '"' + value.csv_text(offset_column=kind == "dateTimeOffset") + '"'
    if kind == "guid":
        assert isinstance(value, uuid.UUID)
        return str(value)
    if kind == "int64":
        assert isinstance(value, int) and not isinstance(value, bool)
        return str(value)
    if kind == "boolean":
        assert isinstance(value, bool)
        return "True" if value else "False"
    if kind == "decimal":
        assert isinstance(value, Decimal) and column.scale is not None
        return format(value.quantize(Decimal(1).scaleb(-column.scale)), "f")
    if kind == "double":
        assert isinstance(value, float)
        return repr(value)
    raise ValueError(f"unsupported type {kind}")


def expected_value(column: Column, value: object) -> object:
    """What a loader must make of the field `render_field(column, value)`."""
    if value is None:
        return None
    if isinstance(value, Spelled):
        return value.value
    text = render_field(column, value)
    kind = column.data_type
    if kind == "decimal":
        return Decimal(text)
    if kind == "double":
        return float(text)
    if kind == "dateTime":
        assert isinstance(value, Stamp)
        return value.canonical()
    if kind == "dateTimeOffset":
        assert isinstance(value, Stamp)
        return value.canonical() + "+00:00"
    if kind == "guid":
        return str(value)
    return value  # str, int, bool


def render_row(columns: Sequence[Column], values: dict[str, object], width: int) -> str:
    return ",".join(render_field(c, values.get(c.name)) for c in columns[:width])


# -- source rows -----------------------------------------------------------------------------


def _guid(table: str, number: int) -> uuid.UUID:
    digest = hashlib.sha256(f"turbodata-example/{table}/{number}".encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def _folder_time(folder: str) -> datetime:
    return datetime.strptime(folder, "%Y-%m-%dT%H.%M.%SZ")


_ACCOUNT_NAMES = (
    "Northwind Traders",
    "Adventure Works",
    'The "Good" Coffee Company',
    "東京商事株式会社",
    "Rocket Labs 🚀",
    "  Fabrikam, Inc.  ",
    "Contoso Pharmaceuticals",
    "Café Müller & Söhne",
    "Litware, Inc.",
    "Alpine Ski House",
    "Blue Yonder Airlines",
    "City Power & Light",
    "Coho Winery",
    "Società Cooperativa «La Vigna»",
    "Fourth Coffee",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Lucerne Publishing",
    "Margie's Travel",
    "Proseware, Inc.",
    "School of Fine Art",
    "Southridge Video",
    "Tailspin Toys",
    "Trey Research",
    "Wide World Importers",
    "Wingtip Toys",
    "Woodgrove Bank",
    "A. Datum Corporation",
    "Bellows College",
    "First Up Consultants",
    "Relecloud",
    "VanArsdel, Ltd.",
    "Consolidated Messenger",
    "Olympia Assicurazioni S.p.A.",
    "北京科技有限公司",
    "Ærøskøbing Fiskeri ApS",
)

_ACCOUNT_DESCRIPTIONS = {
    0: "Key account.\nRenewal due in March.\nOwner: Anna Bianchi",
    1: "Ship to:\r\n1 Microsoft Way\r\nRedmond, WA 98052",
    2: 'Said "maybe", then "yes, definitely".',
    3: "日本の主要顧客。\n第二営業部が担当。",
    4: "Launch partner 🚀🌍 — contract signed",
    7: "Columns:\tA\tB",
    9: "Mixed line endings:\nLF here,\r\nCRLF there.",
    13: "Vendemmia 2024: qualità eccellente, consegna a novembre.",
}
_PLAIN_DESCRIPTIONS = (
    "Preferred supplier.",
    "Quarterly review, Q1.",
    "Met at the trade fair in Milan.",
    "Net 30 payment terms.",
)

_FIRST_NAMES = (
    "José", "Zoë", "Anna", "Marco", "Giulia", "Liam", "山田", "Chloé", "Noah", "Søren",
    "Emma", "Luca", "Olivia", "Mateo", "Aisha", "Björn", "Sofia", "Ethan", "Priya", "François",
    "Hiroshi", "Mia", "Élodie", "Ömer", "Grace", "Ben", "Lena", "Tomás", "Yuki", "Ada",
    "Kofi", "Ines", "Rafael", "Nora", "Pietro", "Saanvi", "Jonas", "Maëlle",
)  # fmt: skip
_LAST_NAMES = (
    "García", "O'Brien", "Rossi", "Müller", "Smith, Jr.", "Nguyễn", "Tanaka", "Dubois",
    "Kowalski", "Andersen", "Bianchi", "Silva", "de la Cruz", "Yılmaz", "Okafor", "Hansen",
    "Ricci", "Sato", "Martin", "Ferrari",
)  # fmt: skip


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


@dataclass
class Event:
    """One row version written to the lake (before times and version numbers are set)."""

    table: str
    values: dict[str, object]
    is_new: bool
    short: bool = False  # written with the width of the previous schema
    created_at_sink: bool = False  # a brand-new record: createdon just before it is written


@dataclass
class WrittenRow:
    folder: str
    table: str
    file: str  # e.g. "2025_001.csv"
    values: dict[str, object]
    width: int  # number of fields written


@dataclass
class Lake:
    files: dict[str, bytes] = field(default_factory=dict)  # relative posix path -> content
    rows: list[WrittenRow] = field(default_factory=list)  # in folder, table, file, row order


class _Generator:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.version = 3_141_592_653  # > 2**31, as Dataverse row versions are
        self.current: dict[tuple[str, int], dict[str, object]] = {}

    # -- accounts --------------------------------------------------------------------------

    def new_account(self, n: int, *, initial: bool, tier: str | None = None) -> Event:
        rng = self.rng
        if initial:
            year = 2024 if n % 2 == 0 else 2025
            if year == 2024:
                created = datetime(2024, 1, 8) + timedelta(minutes=rng.randrange(0, 350 * 1440))
            else:
                created = datetime(2025, 1, 2) + timedelta(minutes=rng.randrange(0, 30 * 1440))
        else:
            created = datetime(2025, 2, 3)  # replaced by stamp_events
        created += timedelta(seconds=rng.randrange(60))
        contract_end = {
            11: datetime(1900, 1, 1),
            12: datetime(9999, 12, 31),
            13: datetime(2025, 2, 15),
        }.get(n)
        if contract_end is None and rng.random() < 0.5:
            contract_end = datetime(2025, 1, 1) + timedelta(days=rng.randrange(30, 900))
        campaign = None
        if rng.random() < 0.7:
            campaign = Stamp(
                datetime(2025, 1, 2) + timedelta(seconds=rng.randrange(0, 30 * 86400)),
                self._fraction(),
            )
        values: dict[str, object] = {
            "Id": _guid("account", n),
            "name": _ACCOUNT_NAMES[n % len(_ACCOUNT_NAMES)],
            "accountnumber": "000457" if n == 6 else f"ACC-{1000 + n:05d}",
            "description": _ACCOUNT_DESCRIPTIONS.get(n)
            or (rng.choice(_PLAIN_DESCRIPTIONS) if rng.random() < 0.3 else None),
            "industrycode": rng.choice((1, 2, 3, 4, 5, None)),
            "statecode": 0,
            "numberofemployees": Spelled("0000250", 250)
            if n == 6
            else (rng.randrange(1, 25_000) if rng.random() < 0.8 else None),
            "revenue": {
                9: Decimal("98765432109876.5432"),
                10: Decimal("-1234.5600"),
                15: Decimal("0"),
            }.get(n, Decimal(rng.randrange(10_000, 5_000_000_000)) / 100),
            "exchangerate": Decimal("12345678901.1234567891")
            if n == 9
            else Decimal(rng.choice(("1", "0.9234567891", "1.0834512876", "156.4200000001"))),
            "address1_latitude": round(rng.uniform(-60.0, 70.0), 7) if n != 16 else None,
            "donotemail": Spelled("TRUE", True)
            if n == 8
            else rng.choice((True, False, False, None)),
            "lastusedincampaign": campaign,
            "new_contractenddate": Stamp(contract_end, 0, "naive") if contract_end else None,
            "createdon": Stamp(created, rng.randrange(1000) * 10_000, "offset"),
            "IsDelete": None,
            "new_loyaltytier": tier,
        }
        event = Event("account", values, is_new=True, created_at_sink=not initial)
        return self._remember("account", n, event)

    def update_account(self, n: int, *, tier: str | None = None) -> Event:
        rng = self.rng
        values = dict(self.current[("account", n)])
        values["revenue"] = Decimal(rng.randrange(10_000, 9_000_000_000)) / 100
        if n == 0:
            values["description"] = "Key account.\nRenewal signed.\nOwner: Anna Bianchi"
        if n == 12:
            values["statecode"] = 1
        if n == 4:
            values["numberofemployees"] = 12
        values["lastusedincampaign"] = Stamp(datetime(2025, 2, 3, 8, 30, 12), self._fraction())
        values["new_loyaltytier"] = tier
        return self._remember("account", n, Event("account", values, is_new=False))

    # -- contacts --------------------------------------------------------------------------

    def new_contact(self, n: int, *, initial: bool) -> Event:
        rng = self.rng
        first = _FIRST_NAMES[n % len(_FIRST_NAMES)]
        last = _LAST_NAMES[(n * 7) % len(_LAST_NAMES)]
        created: Stamp | None
        if initial and n in (5, 11, 17):
            created = None  # no createdon: goes to partition 1900
        elif initial:
            base = datetime(2024, 2, 1) if n % 2 == 0 else datetime(2025, 1, 3)
            span = 300 if n % 2 == 0 else 28
            created = Stamp(base + timedelta(seconds=rng.randrange(span * 86400)), 0, "offset")
        else:
            created = Stamp(datetime(2025, 2, 3), 0, "offset")  # replaced by stamp_events
        birth = None
        if rng.random() < 0.6:
            birth = Stamp(datetime(1950, 1, 1) + timedelta(days=rng.randrange(18_000)), 0, "naive")
        email = None
        if rng.random() < 0.85:
            email = f"{_ascii_slug(first) or 'contact'}.{_ascii_slug(last)}{n}@example.com"
        values: dict[str, object] = {
            "Id": _guid("contact", n),
            "firstname": first,
            "lastname": last,
            "emailaddress1": email,
            "parentcustomerid": _guid("account", rng.randrange(20)) if rng.random() < 0.8 else None,
            "preferredcontactmethodcode": rng.choice((1, 2, 3, 4, 5, None)),
            "birthdate": birth,
            "donotphone": rng.choice((True, False, None)),
            "statecode": 0,
            "createdon": created,
            "modifiedon": None,  # set from the time the version is written
            "IsDelete": None,
        }
        event = Event("contact", values, is_new=True, created_at_sink=not initial)
        return self._remember("contact", n, event)

    def update_contact(self, n: int) -> Event:
        values = dict(self.current[("contact", n)])
        values["donotphone"] = not values["donotphone"]
        if n == 10:
            values["statecode"] = 1
        if n == 2:
            values["emailaddress1"] = "zoe.moved@example.org"
        return self._remember("contact", n, Event("contact", values, is_new=False))

    # -- helpers ---------------------------------------------------------------------------

    def _fraction(self) -> int:
        """7 fraction digits with a non-zero last digit."""
        ticks = self.rng.randrange(1_000_000, 10_000_000)
        return ticks - ticks % 10 + self.rng.randrange(1, 10)

    def _remember(self, table: str, n: int, event: Event) -> Event:
        self.current[(table, n)] = event.values
        return event

    def stamp_folder(
        self,
        folder: str,
        events: dict[tuple[str, str], list[Event]],
        *,
        hour0_table: str | None = None,
    ) -> None:
        """Set the times and version numbers of the row versions written to `folder`.

        Called folder by folder, before the next folder's updates copy these values.
        """
        for table in TABLES:
            self.stamp_events(folder, events[folder, table], hour0=table == hour0_table)

    def stamp_events(self, folder: str, events: list[Event], *, hour0: bool = False) -> None:
        """Give the events of one table in one folder their Sink times and version numbers."""
        start = _folder_time(folder) + timedelta(seconds=35)
        step = 53 * 60 // max(len(events), 1)
        hour0_done = not hour0
        for i, event in enumerate(events):
            at = start + timedelta(seconds=i * step + self.rng.randrange(min(step, 20)))
            style = "us"
            if not hour0_done and at.hour == 12:
                style, hour0_done = "us_h0", True
            sink = Stamp(at, 0, style)
            self.version += self.rng.randrange(7, 900)
            event.values["SinkModifiedOn"] = sink
            if event.is_new:
                event.values["SinkCreatedOn"] = sink
            if event.created_at_sink:
                created = at - timedelta(seconds=self.rng.randrange(5, 50))
                ticks = self.rng.randrange(1000) * 10_000
                event.values["createdon"] = Stamp(created, ticks, "offset")
            event.values["versionnumber"] = self.version
            if event.table == "contact":
                ticks = self._fraction()
                spelled_with_offset = event.is_new and event.values["Id"] == _guid("contact", 3)
                style = "offset" if spelled_with_offset else "z"
                event.values["modifiedon"] = Stamp(at - timedelta(seconds=3), ticks, style)
        if not hour0_done:
            raise AssertionError(f"no 12 o'clock PM row in {folder} to spell as hour 0")


def _partition(values: dict[str, object]) -> str:
    created = values.get("createdon")
    return "1900" if created is None else str(created.at.year)  # type: ignore[union-attr]


# Partitions split into several files: (folder, table, partition) -> rows in the first file.
_SPLITS = {(COMPLETED_FOLDERS[0], "account", "2025"): 5}
# Files written without a newline after the last row.
_NO_FINAL_NEWLINE = {(COMPLETED_FOLDERS[0], "contact", "1900.csv")}


def _events() -> dict[tuple[str, str], list[Event]]:
    """The row versions written to each (folder, table), in the order they happened."""
    g = _Generator()
    f1, f2, f3, live = FOLDERS
    out: dict[tuple[str, str], list[Event]] = {}

    out[f1, "account"] = [g.new_account(n, initial=True) for n in range(20)]
    out[f1, "contact"] = [g.new_contact(n, initial=True) for n in range(24)]
    g.stamp_folder(f1, out)

    out[f2, "account"] = [
        g.update_account(0),
        g.new_account(20, initial=False),
        g.update_account(3),
        g.new_account(21, initial=False),
        g.update_account(7),
        g.new_account(22, initial=False),
        g.new_account(23, initial=False),
        g.update_account(12),
        g.new_account(24, initial=False),
        g.update_account(3),  # the same Id twice in one folder
        g.new_account(25, initial=False),
    ]
    out[f2, "contact"] = []  # contact did not change: listed in model.json, no files
    g.stamp_folder(f2, out)

    # Schema change: account gains new_loyaltytier; the first rows still have the old width.
    short = [
        g.update_account(1),
        g.new_account(26, initial=False),
        g.update_account(4),
        g.new_account(27, initial=False),
        g.new_account(28, initial=False),
    ]
    for event in short:
        event.short = True
    out[f3, "account"] = [
        *short,
        g.new_account(29, initial=False, tier="Gold"),
        g.update_account(0, tier="Platinum"),
        g.new_account(30, initial=False),
        g.update_account(9, tier='Gold "VIP"'),
        g.new_account(31, initial=False, tier="Silver"),
        g.update_account(14, tier="Bronze, legacy"),
        g.new_account(32, initial=False),
    ]
    contact_updates = iter((0, 2, 5, 10, 15, 20))
    f3_contacts: list[Event] = []
    for n in range(24, 36):
        f3_contacts.append(g.new_contact(n, initial=False))
        if n % 2:
            f3_contacts.append(g.update_contact(next(contact_updates)))
    out[f3, "contact"] = f3_contacts
    g.stamp_folder(f3, out, hour0_table="account")

    out[live, "account"] = [
        g.new_account(33, initial=False, tier="Silver"),
        g.update_account(2, tier="Gold"),
        g.new_account(34, initial=False),
    ]
    out[live, "contact"] = [g.new_contact(36, initial=False), g.new_contact(37, initial=False)]
    g.stamp_folder(live, out)
    return out


# -- option set metadata ---------------------------------------------------------------------


def optionset_rows(folder: str) -> dict[str, list[tuple[object, ...]]]:
    """Rows of the five OptionsetMetadata files written into `folder` (by file stem)."""
    relabelled = FOLDERS.index(folder) >= FOLDERS.index(SCHEMA_CHANGE_FOLDER)
    industry = {
        1: ("Accounting", "Contabilità"),
        2: ('Consulting, "Advisory" & Services', 'Consulenza, "Advisory" e servizi'),
        3: ("Agriculture and Non-petrol Natural Resource Extraction", "Agricoltura"),
        4: ("Broadcasting, Printing and Publishing", "Radiodiffusione, stampa ed editoria"),
        5: ("Brokers & Agents", "Broker e agenti") if relabelled else ("Brokers", "Broker"),
    }
    contact_method = {
        1: ("Any", "Qualsiasi"),
        2: ("Email", "E-mail"),
        3: ("Phone", "Telefono"),
        4: ("Fax", "Fax"),
        5: ("Mail", "Posta"),
    }
    region = {
        100000000: ("North America", "Nord America"),
        100000001: ("Europe, Middle East & Africa", "Europa, Medio Oriente e Africa"),
        100000002: ('Asia "Pacific"', 'Asia "Pacifico"'),
    }
    states = {0: ("Active", "Attivo"), 1: ("Inactive", "Inattivo")}

    local: list[tuple[object, ...]] = []
    for entity, option_set, labels in (
        ("account", "industrycode", industry),
        ("contact", "preferredcontactmethodcode", contact_method),
    ):
        for option, pair in labels.items():
            custom = relabelled and option_set == "industrycode" and option == 5
            for lang, label in zip(LANGUAGES, pair, strict=True):
                local.append((entity, option_set, option, custom, lang, label))
    global_rows = [
        ("new_region", option, False, lang, label, "new_region", "account")
        for option, pair in region.items()
        for lang, label in zip(LANGUAGES, pair, strict=True)
    ]
    state_rows = [
        (entity, state, False, lang, label)
        for entity in TABLES
        for state, pair in states.items()
        for lang, label in zip(LANGUAGES, pair, strict=True)
    ]
    status_rows = [
        (entity, state, state + 1, False, lang, label)
        for entity in TABLES
        for state, pair in states.items()
        for lang, label in zip(LANGUAGES, pair, strict=True)
    ]
    target_rows: list[tuple[object, ...]] = [
        ("contact", "parentcustomerid", "account", "accountid"),
        ("contact", "parentcustomerid", "contact", "contactid"),
    ]
    return {
        "OptionsetMetadata": local,
        "GlobalOptionsetMetadata": list(global_rows),
        "StateMetadata": list(state_rows),
        "StatusMetadata": list(status_rows),
        "TargetMetadata": target_rows,
    }


# -- model.json ------------------------------------------------------------------------------


def _attribute(column: Column) -> dict[str, object]:
    attribute: dict[str, object] = {
        "name": column.name,
        "dataType": column.data_type,
        "maxLength": column.max_length,
    }
    if column.data_type == "string":
        attribute["cdm:traits"] = [
            {
                "traitReference": "is.constrained",
                "arguments": [{"name": "maximumLength", "value": column.max_length}],
            }
        ]
    elif column.data_type == "decimal":
        attribute["cdm:traits"] = [
            {
                "traitReference": "is.dataFormat.numeric.shaped",
                "arguments": [
                    {"name": "precision", "value": column.precision},
                    {"name": "scale", "value": column.scale},
                ],
            }
        ]
    return attribute


def _entity(
    table: str, columns: Sequence[Column], folder: str | None, files: Iterable[str]
) -> dict[str, object]:
    partitions = []
    for i, file in enumerate(files):
        assert folder is not None
        closed = _folder_time(folder) + timedelta(minutes=59, seconds=40 + i)
        partitions.append(
            {
                "name": file.removesuffix(".csv"),
                "location": f"https://{STORAGE_ACCOUNT}.dfs.core.windows.net/{CONTAINER}/"
                f"{folder}/{table}/{file}",
                "refreshTime": f"{closed:%Y-%m-%dT%H:%M:%S}.{(i * 7919 + 1234567) % 10**7:07d}"
                "+00:00",
                "fileFormatSettings": dict(FILE_FORMAT_SETTINGS),
            }
        )
    return {
        "$type": "LocalEntity",
        "name": table,
        "description": table,
        "annotations": [
            {"name": "Athena:PartitionGranularity", "value": "Year"},
            {"name": "Athena:InitialSyncState", "value": "Completed"},
            {"name": "Athena:InitialSyncDataCompletedTime", "value": "2/3/2025 10:14:07 AM"},
        ],
        "attributes": [_attribute(c) for c in columns],
        "partitions": partitions,
    }


def _model(entities: list[dict[str, object]]) -> bytes:
    model = {"name": "cdm", "description": "cdm", "version": "1.0", "entities": entities}
    return (json.dumps(model, indent=2, ensure_ascii=False) + "\n").encode()


# -- the lake --------------------------------------------------------------------------------


def build() -> Lake:
    """Every file of the sample lake, and every row written, in memory."""
    lake = Lake()
    events = _events()
    for folder in FOLDERS:
        in_progress = folder == IN_PROGRESS_FOLDER
        entities = []
        for table in TABLES:
            columns = schema(folder, table)
            by_file: dict[str, list[Event]] = {}
            for event in events[folder, table]:
                partition = _partition(event.values)
                first_file = _SPLITS.get((folder, table, partition))
                name = f"{partition}.csv"
                if first_file is not None:
                    so_far = sum(len(v) for k, v in by_file.items() if k.startswith(partition))
                    if so_far >= first_file:
                        name = f"{partition}_001.csv"
                by_file.setdefault(name, []).append(event)
            files = sorted(by_file)
            for file in files:
                lines = []
                for event in by_file[file]:
                    width = len(columns) - 1 if event.short else len(columns)
                    if event.short:
                        assert event.values.get(columns[-1].name) is None
                    lines.append(render_row(columns, event.values, width))
                    if not in_progress:
                        lake.rows.append(WrittenRow(folder, table, file, event.values, width))
                text = "\n".join(lines)
                if (folder, table, file) not in _NO_FINAL_NEWLINE:
                    text += "\n"
                lake.files[f"{folder}/{table}/{file}"] = text.encode()
            entity = _entity(table, columns, folder, files)
            entities.append(entity)
            if files and not in_progress:
                lake.files[f"{folder}/Microsoft.Athena.TrickleFeedService/{table}-model.json"] = (
                    _model([entity])
                )
        if in_progress:
            lake.files[f"{folder}/model.json"] = b""  # written when the folder closes
            continue
        lake.files[f"{folder}/model.json"] = _model(entities)
        for stem, rows in optionset_rows(folder).items():
            columns = OPTIONSET_SCHEMAS[stem]
            text = "".join(
                render_row(columns, dict(zip((c.name for c in columns), row, strict=True)), 99)
                + "\n"
                for row in rows
            )
            lake.files[f"{folder}/OptionsetMetadata/{stem}.csv"] = text.encode()

    latest = [_entity(table, LATEST_SCHEMA[table], None, ()) for table in TABLES]
    lake.files["model.json"] = _model(latest)
    for entity in latest:
        lake.files[f"Microsoft.Athena.TrickleFeedService/{entity['name']}-model.json"] = _model(
            [entity]
        )
    lake.files["Changelog/changelog.info"] = IN_PROGRESS_FOLDER.encode()
    lake.files["Changelog/Synapse.log"] = "".join(f"{f}\n" for f in COMPLETED_FOLDERS).encode()
    return lake


def expected_rows() -> dict[str, list[dict[str, object]]]:
    """Per table, every row written to the completed folders, as values.

    Order: folder, then file name, then row. Every dict has all columns of the table's latest
    schema (LATEST_SCHEMA): Decimal for decimals, float, int, bool, lowercase str for guids,
    `YYYY-MM-DD HH:MM:SS.fffffff` for dateTime (UTC), the same plus `+00:00` for
    dateTimeOffset, None for NULL and for columns a row does not have (older schema, short row).
    """
    out: dict[str, list[dict[str, object]]] = {table: [] for table in TABLES}
    for row in build().rows:
        written = {c.name for c in schema(row.folder, row.table)[: row.width]}
        out[row.table].append(
            {
                c.name: expected_value(c, row.values.get(c.name)) if c.name in written else None
                for c in LATEST_SCHEMA[row.table]
            }
        )
    return out


def expected_final_rows() -> dict[str, dict[str, dict[str, object]]]:
    """Per table and Id, the newest version (highest versionnumber): the state after loading."""
    out: dict[str, dict[str, dict[str, object]]] = {}
    for table, rows in expected_rows().items():
        latest: dict[str, dict[str, object]] = {}
        for row in rows:
            key, version = str(row["Id"]), row["versionnumber"]
            assert isinstance(version, int)
            if key not in latest or version > latest[key]["versionnumber"]:  # type: ignore[operator]
                latest[key] = row
        out[table] = latest
    return out


def expected_optionset_rows(
    folder: str = COMPLETED_FOLDERS[-1],
) -> dict[str, list[dict[str, object]]]:
    """The option set tables of `folder` (default: the newest completed one), as values."""
    out: dict[str, list[dict[str, object]]] = {}
    for stem, rows in optionset_rows(folder).items():
        columns = OPTIONSET_SCHEMAS[stem]
        out[stem] = [
            {c.name: expected_value(c, v) for c, v in zip(columns, row, strict=True)}
            for row in rows
        ]
    return out


def write_lake(out: Path, lake: Lake | None = None) -> Lake:
    """Replace `out` with the generated lake."""
    lake = lake or build()
    if out.exists():
        looks_like_lake = (out / "Changelog" / "changelog.info").is_file()
        if any(out.iterdir()) and not looks_like_lake:
            raise SystemExit(f"refusing to replace {out}: not empty and not a generated lake")
        shutil.rmtree(out)
    for relative, content in sorted(lake.files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return lake


def differences(out: Path, lake: Lake | None = None) -> list[str]:
    """How the files under `out` differ from a fresh generation (empty: identical)."""
    lake = lake or build()
    on_disk = {p.relative_to(out).as_posix(): p for p in out.rglob("*") if p.is_file()}
    problems = [f"missing: {name}" for name in sorted(set(lake.files) - set(on_disk))]
    problems += [f"unexpected: {name}" for name in sorted(set(on_disk) - set(lake.files))]
    problems += [
        f"differs: {name}"
        for name in sorted(set(lake.files) & set(on_disk))
        if on_disk[name].read_bytes() != lake.files[name]
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=LAKE_DIR, help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="only compare with a fresh generation")
    args = parser.parse_args(argv)
    lake = build()
    if args.check:
        problems = differences(args.out, lake)
        for problem in problems:
            print(problem)
        print(f"{args.out}: {'out of date' if problems else 'up to date'}")
        return 1 if problems else 0
    write_lake(args.out, lake)
    size = sum(len(content) for content in lake.files.values())
    counts = ", ".join(
        f"{table} {sum(1 for r in lake.rows if r.table == table)}" for table in TABLES
    )
    print(f"wrote {len(lake.files)} files ({size / 1024:.1f} KiB) to {args.out}")
    print(f"rows in completed folders: {counts}; in progress: {IN_PROGRESS_FOLDER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
