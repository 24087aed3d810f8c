"""The database's own loader as a whole process: the baseline that `bench/cli.py` times.

    python bench/raw_load.py sqlite CSV DB_FILE COLUMNS
    python bench/raw_load.py postgresql CSV CONNINFO CREATE_TABLE_DDL

sqlite: `csv.reader` → `sqlite3.executemany` of the raw string rows ('' → None) into a new
untyped table `raw` (c0..cN-1) of a new file, one transaction.
postgresql: `COPY raw FROM STDIN (FORMAT csv)` of the file's bytes in 1 MB writes (psycopg)
into a new table created by CREATE_TABLE_DDL (turbodata's column types, no key), one
transaction.

Prints the number of rows loaded. Imports only what the load needs (no turbodata), so its
start-up is that of a hand-written script.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from pathlib import Path

COPY_BLOCK = 1 << 20


def sqlite_executemany(csv_path: Path, db_file: Path, width: int) -> int:
    conn = sqlite3.connect(db_file, isolation_level=None)
    conn.execute(f"CREATE TABLE raw ({', '.join(f'c{i}' for i in range(width))})")
    insert = f"INSERT INTO raw VALUES ({', '.join('?' * width)})"
    conn.execute("BEGIN")
    with csv_path.open(encoding="utf-8", newline="") as stream:
        rows = (tuple(v if v != "" else None for v in row) for row in csv.reader(stream))
        cursor = conn.executemany(insert, rows)
    conn.execute("COMMIT")
    conn.close()
    return cursor.rowcount


def postgresql_copy(csv_path: Path, conninfo: str, ddl: str) -> int:
    import psycopg

    with psycopg.connect(conninfo) as conn, conn.cursor() as cursor:
        cursor.execute(ddl)  # type: ignore[arg-type]  # a trusted string from bench/cli.py
        with csv_path.open("rb") as stream, cursor.copy("COPY raw FROM STDIN (FORMAT csv)") as copy:
            while block := stream.read(COPY_BLOCK):
                copy.write(block)
        rows = cursor.rowcount
    return rows  # the `with` committed


def main(argv: list[str]) -> None:
    target, csv_path, where, extra = argv
    if target == "sqlite":
        rows = sqlite_executemany(Path(csv_path), Path(where), int(extra))
    elif target == "postgresql":
        rows = postgresql_copy(Path(csv_path), where, extra)
    else:
        raise SystemExit(f"unknown target {target!r}")
    print(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
