"""What a load is asked to do, the same for every table: keys, deletes, types, retries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from turbodata.metadata.overrides import Overrides

DEFAULT_KEY = ("Id",)


@dataclass(frozen=True)
class LoadOptions:
    db_schema: str | None = None  # None: the connection's default (dbo, public, main)
    keys: Mapping[str, Sequence[str]] = field(default_factory=dict)  # table → key columns
    soft_delete: bool = False  # keep deleted rows, with IsDelete set
    keep_empty_strings: bool = False  # load `""` as '' instead of NULL in string columns
    retries: int = 3  # transient database errors: attempts after the first
    retry_wait: float = 1.0  # seconds before the first retry; doubles up to 30 s
    overrides: Overrides = field(default_factory=Overrides)  # pinned column types
    infer: bool = True  # narrow weakly typed columns from the data
    # use jemalloc with a short decay for Arrow (`read.arrow_memory`), set when the first file
    # is read (a run that reads none, a rerun with nothing new, never imports Arrow): the CLI
    # and the HTTP API ask for it; a library caller's pool stays its own
    lean_arrow_pool: bool = False

    def key_for(self, table: str, names: Sequence[str]) -> tuple[str, ...]:
        """The configured key, else `Id` when the table has it; () for plain inserts."""
        if table in self.keys:
            return tuple(self.keys[table])
        lower = {n.lower(): n for n in names}
        return (
            tuple(lower[k.lower()] for k in DEFAULT_KEY)
            if all(k.lower() in lower for k in DEFAULT_KEY)
            else ()
        )
