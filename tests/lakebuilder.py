"""Small synthetic lakes for tests: model.json documents, timestamp folders, CSV partitions."""

from __future__ import annotations

import json
from pathlib import Path

ACCOUNT_URL = "https://example.dfs.core.windows.net/dataverse-test-org"


def attribute(
    name: str,
    data_type: str = "string",
    max_length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
) -> dict[str, object]:
    attr: dict[str, object] = {"name": name, "dataType": data_type, "maxLength": max_length or -1}
    traits = []
    if max_length:
        traits.append(
            {
                "traitReference": "is.constrained",
                "arguments": [{"name": "maximumLength", "value": max_length}],
            }
        )
    if precision is not None:
        traits.append(
            {
                "traitReference": "is.dataFormat.numeric.shaped",
                "arguments": [
                    {"name": "precision", "value": precision},
                    {"name": "scale", "value": scale or 0},
                ],
            }
        )
    if traits:
        attr["cdm:traits"] = traits
    return attr


def entity(
    name: str,
    attributes: list[dict[str, object]],
    partitions: list[str] = (),  # type: ignore[assignment]
    annotations: dict[str, str] | None = None,
) -> dict[str, object]:
    notes = annotations or {"Athena:InitialSyncState": "Completed"}
    return {
        "$type": "LocalEntity",
        "name": name,
        "description": name,
        "annotations": [{"name": k, "value": v} for k, v in notes.items()],
        "attributes": attributes,
        "partitions": [
            {
                "name": Path(p).stem,
                "location": f"{ACCOUNT_URL}/{p}",
                "fileFormatSettings": {
                    "$type": "CsvFormatSettings",
                    "columnHeaders": False,
                    "delimiter": ",",
                    "quoteStyle": "QuoteStyle.Csv",
                    "csvStyle": "CsvStyle.QuoteAlways",
                },
            }
            for p in partitions
        ],
    }


def model_json(entities: list[dict[str, object]]) -> str:
    return json.dumps({"name": "cdm", "description": "cdm", "version": "1.0", "entities": entities})


class LakeBuilder:
    """Writes files under `root`; paths are lake-relative."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def write(self, path: str, content: str | bytes) -> Path:
        full = self.root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            full.write_bytes(content.encode("utf-8"))
        else:
            full.write_bytes(content)
        return full

    def folder(
        self,
        name: str,
        tables: dict[str, list[dict[str, object]]],
        files: dict[str, str | bytes],
        *,
        model: bool = True,
    ) -> None:
        """A timestamp folder: `files` maps `table/2024.csv` to content; listed in model.json."""
        for path, content in files.items():
            self.write(f"{name}/{path}", content)
        if model:
            entities = [
                entity(t, attrs, [f"{name}/{p}" for p in files if p.startswith(f"{t}/")])
                for t, attrs in tables.items()
            ]
            self.write(f"{name}/model.json", model_json(entities))

    def changelog(self, in_progress: str) -> None:
        self.write("Changelog/changelog.info", in_progress)


ACCOUNT_ID = "00000000-0000-0000-0000-000000000001"


def one_account_lake(root: Path) -> LakeBuilder:
    """A classic lake (model.json at the root) whose `account` entity (Id GUID, name) lists
    one file, account/2024.csv, of one row: ACCOUNT_ID, "A"."""
    lake = LakeBuilder(root)
    attributes = [attribute("Id", "guid"), attribute("name", "string", 50)]
    lake.write("account/2024.csv", f"{ACCOUNT_ID},A\n")
    lake.write("model.json", model_json([entity("account", attributes, ["account/2024.csv"])]))
    return lake
