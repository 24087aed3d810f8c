"""Generate a deterministic classic-layout lake: one `account` snapshot, 25 columns, keyed by Id.

    .venv/bin/python bench/classic.py --rows 300000 [--seed 1]

Writes the layout of classic Synapse Link / Export to Data Lake (issue 11's benchmark shape):

    DIR/model.json            one entity, `account`, 25 attributes
    DIR/account/2025.csv      N rows, every Id new, headerless

The first 20 columns and their values are `bench/data.py`'s (same generators: GUIDs, US and ISO
dates, decimal(38,10), a memo with commas, quotes and line breaks, ~30% NULLs); five more
Dataverse-style columns follow (an option set, a phone number, a lookup GUID, a mostly empty
date/time and a double). The same seed and size always give the same bytes; a lake already
generated with the same parameters is reused. The parameters stamp lives next to the lake,
not in it, so the lake root holds only what an export holds.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common import DEFAULT_DATA, add_repo_paths
from data import COLUMNS as DATA_COLUMNS
from data import PARTITION, TABLE, guid, iso_time, maybe, upsert_row

add_repo_paths()

from tests.lakebuilder import attribute, entity, model_json  # noqa: E402

GENERATOR_VERSION = 1
COLUMNS = [
    *DATA_COLUMNS,
    attribute("statuscode", "int32"),
    attribute("telephone1", "string", 50),
    attribute("primarycontactid", "guid"),
    attribute("overriddencreatedon", "dateTime"),
    attribute("address1_longitude", "double"),
]


@dataclass(frozen=True)
class ClassicLake:
    root: Path
    rows: int

    @property
    def csv(self) -> Path:
        return self.root / PARTITION

    @property
    def model(self) -> Path:
        return self.root / "model.json"


def extra_fields(rng: random.Random, seed: int) -> str:
    """The five columns after data.py's twenty."""
    created = f'"{iso_time(rng)}"' if rng.random() < 0.05 else ""
    return ",".join(
        [
            str(rng.randrange(1, 3)),
            maybe(rng, f'"+1 425 555 {rng.randrange(10**4):04d}"'),
            maybe(rng, guid(seed + 2, rng.randrange(50_000))),
            created,
            maybe(rng, f"{rng.uniform(-180, 180):.7f}"),
        ]
    )


def rows(count: int, seed: int) -> Iterator[str]:
    rng = random.Random(f"{seed}/classic")
    for n in range(count):
        yield upsert_row(rng, seed, n, 0) + "," + extra_fields(rng, seed)


def write_lake(root: Path, count: int, seed: int) -> ClassicLake:
    lake = ClassicLake(root, count)
    lake.csv.parent.mkdir(parents=True, exist_ok=True)
    with lake.csv.open("w", encoding="utf-8", newline="") as out:
        buffer: list[str] = []
        for line in rows(count, seed):
            buffer.append(line)
            if len(buffer) >= 10_000:
                out.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            out.write("\n".join(buffer) + "\n")
    lake.model.write_text(model_json([entity(TABLE, COLUMNS, [PARTITION])]), encoding="utf-8")
    return lake


def ensure_classic_lake(count: int, seed: int = 1, base: Path = DEFAULT_DATA) -> ClassicLake:
    """The classic lake for (count, seed) under `base`, generated unless already there."""
    root = base / f"classic-{count}-s{seed}"
    stamp = base / f"classic-{count}-s{seed}.params.json"
    params = {"rows": count, "seed": seed, "version": GENERATOR_VERSION}
    if stamp.exists() and json.loads(stamp.read_text()) == params and root.exists():
        return ClassicLake(root, count)
    started = time.perf_counter()
    print(f"generating {count:,} classic rows (seed {seed}) into {root} ...", file=sys.stderr)
    lake = write_lake(root, count, seed)
    stamp.write_text(json.dumps(params))
    print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return lake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="generated data cache")
    args = parser.parse_args()
    lake = ensure_classic_lake(args.rows, args.seed, args.data)
    print(f"{lake.csv}  {lake.csv.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
