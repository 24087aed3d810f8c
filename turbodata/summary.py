"""What a run did, per table: the object the CLI prints and the Functions app returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from turbodata.secrets import mask_secrets


@dataclass
class TableResult:
    name: str
    status: str = "unchanged"  # loaded | unchanged | failed | planned | interrupted
    rows_read: int = 0  # data rows read from the files (loaded, collapsed or rejected)
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    rows_rejected: int = 0
    # rows an earlier attempt of a retried run rejected (`migrate(rejects_since=…)`): its
    # batch was applied when this run came, and the rows are not this run's own
    rejected_by_earlier_attempts: int = 0
    files_read: int = 0
    columns_created: int = 0
    seconds: float = 0.0
    watermark: str | None = None  # last batch fully applied: timestamp folder, or `delta:N id=…`
    error: str | None = None
    ddl: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line each: file, row, column, reason
    # the run holding the table's lease when this run gave up waiting (not in to_dict: the
    # error names it)
    blocked_by: str | None = field(default=None, repr=False)

    def fail(self, message: str) -> None:
        self.status, self.error = "failed", message
        self.problems.append(f"{self.name}: {message}")


@dataclass
class RunSummary:
    run_id: str
    lake: str
    database: str  # URL with the password masked
    started_at: datetime
    dry_run: bool = False
    finished_at: datetime | None = None
    tables: dict[str, TableResult] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # not tied to one table
    # what the plan skipped for a reason to look at (the run's outcome does not depend on it)
    warnings: list[str] = field(default_factory=list)
    blocked: bool = False  # another run held the lease: nothing was done
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM: committed batches stay

    @property
    def ok(self) -> bool:
        """Everything was loaded: no table failed, no row was rejected, nothing unresolved."""
        return (
            not self.problems
            and not self.interrupted
            and all(
                t.status != "failed" and t.rows_rejected == t.rejected_by_earlier_attempts == 0
                for t in self.tables.values()
            )
        )

    @property
    def status(self) -> str:
        if self.blocked:
            return "blocked"
        if self.interrupted:
            return "interrupted"
        if self.ok:
            return "succeeded"
        if self.problems or any(t.status == "failed" for t in self.tables.values()):
            return "failed"
        return "completed_with_rejects"

    def to_dict(self) -> dict[str, object]:
        finished = self.finished_at or datetime.now(UTC)
        return {
            "run_id": self.run_id,
            "status": self.status,
            "ok": self.ok,
            "dry_run": self.dry_run,
            # masked again here: whoever built the summary, no password leaves it
            "lake": mask_secrets(self.lake),
            "database": mask_secrets(self.database),
            "started_at": self.started_at.isoformat(),
            "finished_at": finished.isoformat(),
            "seconds": round((finished - self.started_at).total_seconds(), 3),
            "tables": {name: _table_dict(t) for name, t in self.tables.items()},
            "problems": [mask_secrets(p) for p in self.problems],
            "warnings": [mask_secrets(w) for w in self.warnings],
        }


_TABLE_FIELDS = tuple(f.name for f in fields(TableResult) if f.name not in ("name", "blocked_by"))


def _table_dict(result: TableResult) -> dict[str, object]:
    # not dataclasses.asdict: its deep copy of every value was a tenth of a rerun of 300 tables
    data: dict[str, object] = {name: getattr(result, name) for name in _TABLE_FIELDS}
    # error lines can quote what a driver or the lake said: masked, as in the logs
    data["ddl"] = [mask_secrets(statement) for statement in result.ddl]
    data["problems"] = [mask_secrets(problem) for problem in result.problems]
    data["error"] = mask_secrets(result.error) if result.error else None
    data["seconds"] = round(result.seconds, 3)
    return data


Progress = Callable[[TableResult], None]  # called with a table's result as it finishes
