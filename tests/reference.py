"""An independent, row-at-a-time model of how change rows apply (lake-format.md 7.2), for
comparing with what the database holds after a load. Deliberately naive and plain Python."""

from __future__ import annotations

from collections.abc import Iterable


def _known(value: object) -> tuple[int, object]:
    return (0, "") if value is None else (1, value)


def final_state(
    batches: Iterable[list[dict[str, object]]], *, key: str = "Id"
) -> dict[object, dict[str, object]]:
    """`batches` in folder order, each a list of rows in file order then row order."""
    table: dict[object, dict[str, object]] = {}
    for rows in batches:
        for row in _winners(rows, key).values():
            _apply(table, row, key)
    return table


def _winners(rows: list[dict[str, object]], key: str) -> dict[object, dict[str, object]]:
    newest: dict[object, object] = {}
    for row in rows:
        version = row.get("versionnumber")
        if version is not None and (newest.get(row[key]) is None or version > newest[row[key]]):
            newest[row[key]] = version
    best: dict[object, tuple[tuple, dict[str, object]]] = {}
    for position, row in enumerate(rows):
        version = row.get("versionnumber")
        rank = (
            _known(version if version is not None else newest.get(row[key])),
            _known(row.get("SinkModifiedOn")),
            bool(row.get("IsDelete")),
            position,
        )
        if row[key] not in best or rank > best[row[key]][0]:
            best[row[key]] = (rank, row)
    return {k: row for k, (_, row) in best.items()}


def _apply(table: dict[object, dict[str, object]], row: dict[str, object], key: str) -> None:
    old = table.get(row[key])
    if row.get("IsDelete"):
        if old is not None and not _strictly_newer(old, row):  # a late delete keeps it
            del table[row[key]]
        return
    if old is None or _newer(row, old):
        table[row[key]] = row


def _newer(new: dict[str, object], old: dict[str, object]) -> bool:
    v_new, v_old = new.get("versionnumber"), old.get("versionnumber")
    if v_new is not None and v_old is not None:
        return v_new > v_old
    m_new, m_old = new.get("SinkModifiedOn"), old.get("SinkModifiedOn")
    return m_new is None or m_old is None or m_new > m_old


def _strictly_newer(first: dict[str, object], second: dict[str, object]) -> bool:
    """`first` is known to be newer: a greater versionnumber, or, where either has none, a
    later SinkModifiedOn (docs/database.md: a delete never removes a row newer than it)."""
    v_first, v_second = first.get("versionnumber"), second.get("versionnumber")
    if v_first is not None and v_second is not None:
        return v_first > v_second  # type: ignore[operator]
    m_first, m_second = first.get("SinkModifiedOn"), second.get("SinkModifiedOn")
    return m_first is not None and m_second is not None and m_first > m_second  # type: ignore[operator]
