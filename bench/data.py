"""Generate a deterministic Dataverse-style incremental lake for the benchmarks.

    .venv/bin/python bench/data.py --rows 200000 [--seed 1] [--out DIR]

Writes a Synapse Link layout (one timestamp folder per batch, each with its model.json):

    DIR/2025-01-01T00.00.00Z/model.json, account/2025.csv   N rows, every Id new
    DIR/2025-01-02T00.00.00Z/model.json, account/2025.csv   N/2 rows: updates of every second
                                                             Id (newer versionnumber), 1% deletes

`account` has 20 columns as Synapse Link writes them: headerless, LF rows, GUIDs, integers,
decimals and booleans unquoted; strings and date/times quoted. There are US `M/d/yyyy h:mm:ss AM`
Sink dates, ISO timestamps with 7 fraction digits and `Z`, decimal(38,10) values (some with
20+ significant digits), `True`/`False`, a memo column with commas, doubled quotes and embedded
LF/CRLF, and about 30% empty (NULL) fields in the nullable columns.

The same seed and size always give the same bytes. A lake already generated with the same
parameters is reused (see `ensure_lake`). `write_csv(..., short_first_row=True)` writes the
first row one column short (a column appended later), which sends turbodata's reader down its
exact (Python) path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common import DEFAULT_DATA, add_repo_paths

add_repo_paths()

from tests.lakebuilder import attribute, entity, model_json  # noqa: E402

GENERATOR_VERSION = 2
TABLE = "account"
FOLDERS = ("2025-01-01T00.00.00Z", "2025-01-02T00.00.00Z")
PARTITION = f"{TABLE}/2025.csv"

COLUMNS = [
    attribute("Id", "guid"),
    attribute("SinkCreatedOn", "dateTime"),
    attribute("SinkModifiedOn", "dateTime"),
    attribute("name", "string", 160),
    attribute("accountnumber", "string", 20),
    attribute("description", "string"),  # memo: maxLength -1, unbounded
    attribute("emailaddress1", "string", 100),
    attribute("address1_city", "string", 80),
    attribute("revenue", "decimal", precision=38, scale=10),
    attribute("creditlimit", "decimal", precision=38, scale=10),
    attribute("exchangerate", "decimal", precision=38, scale=10),
    attribute("numberofemployees", "int32"),
    attribute("statecode", "int32"),
    attribute("address1_latitude", "double"),
    attribute("donotemail", "boolean"),
    attribute("ownerid", "guid"),
    attribute("createdon", "dateTime"),
    attribute("modifiedon", "dateTime"),
    attribute("versionnumber", "int64"),
    attribute("IsDelete", "boolean"),
]
NAMES = [str(c["name"]) for c in COLUMNS]
WORDS = (  # noqa: SIM905  (one string reads better than a 29-line list)
    "contoso fabrikam adventure works northwind litware tailspin wingtip proseware "
    "alpine ski house coho winery fourth coffee lucerne publishing margie travel "
    "trey research woodgrove bank blue yonder airlines humongous insurance"
).split()
CITIES = ["Seattle", "Redmond", "Zürich", "München", "São Paulo", "Tokyo", "Oslo", "Lyon"]
NULL_SHARE = 0.3


@dataclass(frozen=True)
class Lake:
    root: Path
    rows: int  # data rows of the first folder
    update_rows: int  # data rows of the second folder

    def csv(self, folder: int) -> Path:
        return self.root / FOLDERS[folder] / PARTITION


def guid(seed: int, n: int) -> str:
    h = hashlib.blake2b(f"{seed}:{n}".encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def us_time(rng: random.Random, day: int) -> str:
    """`M/d/yyyy h:mm:ss AM` as Synapse Link writes Sink dates (day of 2025 given)."""
    hour = rng.randrange(24)
    half = "AM" if hour < 12 else "PM"
    return f"1/{day}/2025 {hour % 12 or 12}:{rng.randrange(60):02d}:{rng.randrange(60):02d} {half}"


def iso_time(rng: random.Random) -> str:
    return (
        f"{rng.randrange(2015, 2025)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
        f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}."
        f"{rng.randrange(10**7):07d}Z"
    )


def decimal(rng: random.Random) -> str:
    """decimal(38,10) text with 10 fraction digits; one in five has 20+ significant digits."""
    digits = 18 if rng.random() < 0.2 else rng.randrange(1, 9)
    whole = rng.randrange(10 ** (digits - 1), 10**digits)
    sign = "-" if rng.random() < 0.1 else ""
    return f"{sign}{whole}.{rng.randrange(10**10):010d}"


def memo(rng: random.Random) -> str:
    """A quoted description: commas, doubled quotes, sometimes LF or CRLF inside."""
    words = [rng.choice(WORDS) for _ in range(rng.randrange(3, 60))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(["\n", "\r\n"]))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), '""quoted""')
    return '"' + " ".join(words).replace(" \n ", "\n").replace(" \r\n ", "\r\n") + ', end."'


def maybe(rng: random.Random, text: str) -> str:
    return "" if rng.random() < NULL_SHARE else text


def upsert_row(rng: random.Random, seed: int, n: int, folder: int) -> str:
    created_day = rng.randrange(1, 28)
    fields = [
        guid(seed, n),
        f'"{us_time(rng, created_day)}"',
        f'"{us_time(rng, created_day + folder)}"',
        f'"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {n} v{folder}"',
        maybe(rng, f'"AC-{rng.randrange(10**8):08d}"'),
        maybe(rng, memo(rng)),
        maybe(rng, f'"user{n}@{rng.choice(WORDS)}.example.com"'),
        maybe(rng, f'"{rng.choice(CITIES)}"'),
        maybe(rng, decimal(rng)),
        maybe(rng, decimal(rng)),
        maybe(rng, f"1.{rng.randrange(10**10):010d}"),
        maybe(rng, str(rng.randrange(1, 100_000))),
        str(rng.randrange(2)),
        maybe(rng, f"{rng.uniform(-90, 90):.7f}"),
        maybe(rng, rng.choice(("True", "False"))),
        guid(seed + 1, rng.randrange(1000)),
        f'"{iso_time(rng)}"',
        maybe(rng, f'"{iso_time(rng)}"'),
        str(3_000_000_000 + folder * 100_000_000 + n),
        "",  # IsDelete: empty on upserts, so every upsert row ends with ","
    ]
    return ",".join(fields)


def delete_row(rng: random.Random, seed: int, n: int, folder: int) -> str:
    day = rng.randrange(1, 28)
    version = 3_000_000_000 + folder * 100_000_000 + n
    return f'{guid(seed, n)},"{us_time(rng, day)}","{us_time(rng, day + folder)}"' + (
        "," * 16 + f"{version},True"
    )


def rows(count: int, seed: int, folder: int, random_updates: bool = False) -> Iterator[str]:
    """Folder 0: Ids 0..count-1. Folder 1: every second Id again, 1 in 100 of them deleted;
    in file order, or (`random_updates`) in random order, as changes come in a real export."""
    rng = random.Random(f"{seed}/{folder}")
    order = list(range(count))
    if folder and random_updates:
        random.Random(f"{seed}/order").shuffle(order)
    for i in order:
        if folder == 0:
            yield upsert_row(rng, seed, i, 0)
        elif i % 100 == 99:
            yield delete_row(rng, seed, 2 * i, folder)
        else:
            yield upsert_row(rng, seed, 2 * i, folder)


def write_csv(
    path: Path,
    count: int,
    seed: int,
    folder: int = 0,
    *,
    short_first_row: bool = False,
    random_updates: bool = False,
) -> int:
    """Write one partition; its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        lines = rows(count, seed, folder, random_updates)
        if short_first_row:
            first = next(lines)
            out.write(first.removesuffix(",") + "\n")  # drop the (empty) last column
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= 10_000:
                out.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            out.write("\n".join(buffer) + "\n")
    return path.stat().st_size


def write_lake(root: Path, count: int, seed: int, random_updates: bool = False) -> Lake:
    for folder, name in enumerate(FOLDERS):
        n = count if folder == 0 else count // 2
        write_csv(root / name / PARTITION, n, seed, folder, random_updates=random_updates)
        model = model_json([entity(TABLE, COLUMNS, [f"{name}/{PARTITION}"])])
        (root / name / "model.json").write_text(model, encoding="utf-8")
    return Lake(root, count, count // 2)


def ensure_lake(
    count: int, seed: int = 1, base: Path = DEFAULT_DATA, random_updates: bool = False
) -> Lake:
    """The lake for (count, seed) under `base`, generated unless already there."""
    root = base / f"lake-{count}-s{seed}{'-random-updates' if random_updates else ''}"
    stamp = root / "bench-params.json"
    params = {"rows": count, "seed": seed, "version": GENERATOR_VERSION}
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return Lake(root, count, count // 2)
    started = time.perf_counter()
    print(f"generating {count:,} rows (seed {seed}) into {root} ...", file=sys.stderr)
    lake = write_lake(root, count, seed, random_updates)
    stamp.write_text(json.dumps(params))
    print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return lake


def ensure_short_file(lake: Lake, seed: int) -> Path:
    """The first folder's file again, its first row one column short (exact reader path)."""
    path = lake.root.parent / f"{lake.root.name}-short.csv"
    if not path.exists() or path.stat().st_size != lake.csv(0).stat().st_size - 1:
        write_csv(path, lake.rows, seed, 0, short_first_row=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the first folder")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="lake root (default: a cache)")
    args = parser.parse_args()
    if args.out:
        lake = write_lake(args.out, args.rows, args.seed)
    else:
        lake = ensure_lake(args.rows, args.seed)
    for folder in (0, 1):
        path = lake.csv(folder)
        print(f"{path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
