"""An existing table is loaded the way it was: with the same key, and, once its deletes were
applied soft (rows kept, marked in IsDelete), never by a run that would delete rows for good.
A run keyed otherwise matched rows on other columns (one run keyed by `--key`, the next, a
Functions run, by Id; a keyless snapshot emptied the table), and a run without soft delete
after runs with it deleted the rows the operator kept (found by review, both). The ledger
keeps how each table is loaded (`ledger.records.load_options`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from turbodata.ledger import records as ledger
from turbodata.load.changes import ChangeColumns, marked_deleted
from turbodata.load.options import LoadOptions
from turbodata.model import TableBatch
from turbodata.types.sql import SqlType

START_OVER = "drop the table, then run again: it loads from its first file"


@dataclass
class KeptOptions:
    """What the ledger holds of how each table is loaded, as this run read and wrote it."""

    engine: Engine
    options: LoadOptions
    # ledger table → how it is loaded (None: no run recorded it, or no such table yet)
    _loaded_with: dict[str, ledger.LoadedWith | None] = field(default_factory=dict)

    def refusal(
        self,
        table: str,
        ledger_table: str,
        batch: TableBatch,
        table_types: dict[str, SqlType] | None,
    ) -> str | None:
        """Why this run must not load the existing table (`batch`: its first to load; its
        types: `table_types`), or None; a table the database does not have is created as
        this run says."""
        recorded = None
        if table_types is not None and self._ledger_keeps_them:
            with self.engine.connect() as conn:
                recorded = ledger.loaded_with(conn, ledger_table)
        self._loaded_with[ledger_table] = recorded
        key = tuple(self.options.key_for(table, batch.schema.column_names))
        if recorded is None and table_types is not None and not self.options.soft_delete:
            recorded = self._soft_before_this_ledger(table, key, table_types)
        if recorded is None:
            return None
        if key != recorded.key:
            return (
                f"it was loaded keyed by {_columns(recorded.key)}, and this run keys it by"
                f" {_columns(key)}: its rows would be matched on other columns (give the same"
                f" key, --key {table}={','.join(recorded.key) or '…'}; to key it otherwise,"
                f" {START_OVER})"
            )
        if recorded.deletes == "soft" and not self.options.soft_delete:
            return (
                "its deletes were applied with soft delete (deleted rows kept, marked in"
                " IsDelete), and this run without it would delete rows for good: run with"
                " --soft-delete (the Functions app: TURBODATA_SOFT_DELETE=true); to delete"
                f" rows from now on, {START_OVER}"
            )
        return None

    def _soft_before_this_ledger(
        self, table: str, key: tuple[str, ...], table_types: dict[str, SqlType]
    ) -> ledger.LoadedWith | None:
        """A keyed table loaded before the ledger kept how (an older turbodata) holds rows
        marked deleted only if it was loaded with soft delete: a hard run would delete the
        rows its operator kept (found by review)."""
        columns = ChangeColumns.find(list(table_types), key)
        if not key or columns.delete is None:
            return None
        target = sa.table(table, *map(sa.column, table_types), schema=self.options.db_schema)
        with self.engine.connect() as conn:
            marked = conn.execute(sa.select(marked_deleted(target, columns, table_types)))
            return ledger.LoadedWith(key, "soft") if marked.scalar() else None

    def note(self, conn: Connection, ledger_table: str, key: Sequence[str], *, soft: bool) -> None:
        """Keep how the table is loaded, in the batch's transaction, where that changed."""
        loaded = ledger.LoadedWith(tuple(key), "soft" if soft else "hard")
        if self._loaded_with.get(ledger_table) != loaded:
            ledger.note_loaded_with(conn, ledger_table, loaded)
            self._loaded_with[ledger_table] = loaded

    def forget(self, ledger_table: str) -> None:
        """After a batch rolled back: what it noted is not in the ledger."""
        self._loaded_with.pop(ledger_table, None)

    @functools.cached_property
    def _ledger_keeps_them(self) -> bool:
        """The ledger has its load options table (a dry run's ledger may be older): asked
        once per run, not once per table."""
        with self.engine.connect() as conn:
            return sa.inspect(conn).has_table(ledger.load_options.name)


def _columns(key: Sequence[str]) -> str:
    return ", ".join(key) if key else "nothing (no key)"
