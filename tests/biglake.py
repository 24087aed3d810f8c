"""A generated incremental lake large enough that a load takes a few seconds: for the
crash and concurrency tests (and nothing else: keep the other tests small)."""

from __future__ import annotations

from pathlib import Path

from tests.lakebuilder import LakeBuilder, attribute

COLUMNS = [
    attribute("Id", "guid"),
    attribute("SinkModifiedOn", "dateTime"),
    attribute("name", "string", 100),
    attribute("amount", "decimal", precision=38, scale=10),
    attribute("notes", "string"),
    attribute("versionnumber", "int64"),
    attribute("IsDelete", "boolean"),
]


def write_big_lake(root: Path, folders: int, rows_per_folder: int) -> list[list[dict]]:
    """Folders of upserts (every folder updates half the previous one's Ids) and deletes;
    returns the change rows per folder for `tests.reference.final_state`."""
    builder = LakeBuilder(root)
    batches = []
    for f in range(folders):
        rows = []
        lines = []
        for i in range(rows_per_folder):
            n = f * rows_per_folder // 2 + i
            delete = i % 97 == 0 and f > 0
            version = f * 1_000_000 + i
            row = {
                "Id": f"00000000-0000-0000-0000-{n:012d}",
                "name": None if delete else f"name {n} v{f}",
                "versionnumber": None if delete else version,
                "SinkModifiedOn": f"2025-01-01 0{f + 1}:00:00.0000000",
                "IsDelete": True if delete else None,
            }
            rows.append(row)
            if delete:
                lines.append(f'{row["Id"]},"1/1/2025 {f + 1}:00:00 AM",,,,,True\n')
            else:
                lines.append(
                    f'{row["Id"]},"1/1/2025 {f + 1}:00:00 AM","{row["name"]}",{n}.{i:010d},'
                    f'"note, with ""quotes""\nand a second line",{version},\n'
                )
        builder.folder(f"2025-01-01T1{f}.00.00Z", {"t": COLUMNS}, {"t/2025.csv": "".join(lines)})
        batches.append(rows)
    return batches
