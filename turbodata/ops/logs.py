"""turbodata's logs on stderr: human-readable text (the default) or JSON lines.

`--log-format json` writes one JSON object per record: `time` (UTC, ISO 8601), `level`,
`logger`, `message`, then the record's structured fields (what the caller gave as `extra=`,
e.g. the per-table events of `turbodata.pipeline`) and `exception` when there is one.

Design choices:

- Secrets: `secrets.install_log_redaction` masks a record's message and traceback when the
  record is made, but `extra=` fields are set on the record after that, so this formatter
  passes every structured field through `secrets.redact_data` (and the message and traceback
  through `mask_secrets` again, which costs little and does not depend on the order in which
  filters and factories were installed).
- `configure` adds one handler of its own to the root logger and `LogSetup.close` takes it out
  again and restores the root level, so calling the CLI in-process (tests, notebooks) leaves
  the process's logging as it found it; the handler writes to the `sys.stderr` of the time.
- JSON logs are for machines that collect events, so they include INFO (the per-batch,
  per-table and per-run events); the text default stays at WARNING so a terminal shows problems
  only (skipped folders, metadata anomalies: `log_plan_note`), and `-v` shows the events too.
- Event fields carry no secret by construction where they can (error lines and DDL are passed
  through `mask_secrets` before they are logged), so the text form is safe even where
  `secrets.install_log_redaction` was never called (the library used without the CLI).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO

from turbodata.errors import first_line
from turbodata.secrets import mask_secrets, redact_data

if TYPE_CHECKING:
    from turbodata.summary import TableResult

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

# what every LogRecord has; anything else on a record came from `extra=`
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName", "_turbodata_redacted"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, secrets masked (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        fields = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}
        entry.update(redact_data(_json_ready(fields)))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = mask_secrets(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`TEXT_FORMAT` lines; a record's traceback only with `tracebacks` (-v). Records keep
    their `exc_info` for the other handlers (OpenTelemetry exports the traceback, masked),
    while a person at a terminal reads the one-line cause (docs/troubleshooting.md)."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__(TEXT_FORMAT)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self.tracebacks or not (record.exc_info or record.exc_text):
            return super().format(record)
        kept = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text = kept


def _json_ready(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields with values JSON cannot hold (datetimes, paths) as their text."""
    return json.loads(json.dumps(fields, default=str))


@dataclass
class LogSetup:
    """The handler `configure` installed, and the root level it replaced."""

    handler: logging.Handler
    previous_level: int
    structured: bool  # JSON lines: the CLI's own error lines are log records too

    def close(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self.previous_level)


def configure(
    log_format: LogFormat = "text", verbose: bool = False, stream: TextIO | None = None
) -> LogSetup:
    """Send log records to `stream` (default: the current `sys.stderr`) in `log_format`:
    DEBUG with `verbose`, else INFO for JSON and WARNING for text."""
    handler = logging.StreamHandler(stream or sys.stderr)
    structured = log_format == "json"
    handler.setFormatter(JsonFormatter() if structured else TextFormatter(tracebacks=verbose))
    root = logging.getLogger()
    setup = LogSetup(handler, root.level, structured)
    if verbose:
        root.setLevel(logging.DEBUG)
    else:
        root.setLevel(logging.INFO if structured else logging.WARNING)
    root.addHandler(handler)
    return setup


# ---------------------------------------------------------------------- events


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did to its table: the fields of a `batch_finished` event."""

    files: int
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    rows_rejected: int = 0
    ddl: tuple[str, ...] = ()
    seconds: float = 0.0
    status: str = "loaded"  # loaded | failed | interrupted
    error: str | None = None


_BATCH_COUNTERS = ("rows_inserted", "rows_updated", "rows_deleted", "rows_rejected")


def log_batch(
    logger: logging.Logger, run_id: str, table: str, folder: str, outcome: BatchOutcome
) -> None:
    """Log one `batch_finished` event (INFO): run id, table, folder (the batch's id: its
    timestamp folder, `snapshot`, or `delta vN`), files, rows inserted / updated / deleted /
    rejected, the DDL applied (`ddl`: how many; `ddl_statements`: which), seconds, status and
    error."""
    error = None if outcome.error is None else mask_secrets(outcome.error)
    fields = {
        "event": "batch_finished",
        "run_id": run_id,
        "table": table,
        "folder": folder,
        "status": outcome.status,
        "files": outcome.files,
        **{counter: getattr(outcome, counter) for counter in _BATCH_COUNTERS},
        "ddl": len(outcome.ddl),
        "ddl_statements": [mask_secrets(statement) for statement in outcome.ddl],
        "seconds": round(outcome.seconds, 3),
        "error": error,
    }
    logger.info(
        "%s %s %s: %s, %d files, %d inserted, %d updated, %d deleted, %d rejected, %d DDL, "
        "%.2f s%s",
        run_id,
        table,
        folder,
        outcome.status,
        outcome.files,
        *(getattr(outcome, counter) for counter in _BATCH_COUNTERS),
        len(outcome.ddl),
        outcome.seconds,
        f": {error}" if error else "",
        extra=fields,
    )


@contextlib.contextmanager
def batch_event(
    logger: logging.Logger, run_id: str, result: TableResult, folder: str, files: int
) -> Iterator[None]:
    """Log the `batch_finished` event of the batch loaded inside the block, however it ends.

    Its counts are what the block added to `result` (the table's running totals). A batch that
    rolls back has its counts taken back out of `result` before the error leaves the loader
    (`loader._restore`), so a failed batch logs the zeros it really applied, with its error;
    Ctrl-C logs `interrupted`. The error propagates unchanged.
    """
    counts_before = [getattr(result, counter) for counter in _BATCH_COUNTERS]
    ddl_before = len(result.ddl)
    started = time.monotonic()
    status, error = "loaded", None
    try:
        yield
    except Exception as failure:
        status, error = "failed", first_line(failure)
        raise
    except BaseException:
        status, error = "interrupted", "run interrupted"
        raise
    finally:
        added = {
            counter: getattr(result, counter) - before
            for counter, before in zip(_BATCH_COUNTERS, counts_before, strict=True)
        }
        outcome = BatchOutcome(
            files,
            **added,
            ddl=tuple(result.ddl[ddl_before:]),
            seconds=time.monotonic() - started,
            status=status,
            error=error,
        )
        log_batch(logger, run_id, result.name, folder, outcome)


def log_plan_note(logger: logging.Logger, run_id: str, note: str, *, warning: bool) -> None:
    """Log one note of the lake's plan: `plan_warning` (WARNING, shown on a terminal by
    default) for a folder or table skipped for a reason someone should look at, and for
    anomalies in the metadata; `plan_note` (INFO, `-v`) for what a healthy lake does too
    (a folder still being written, the layout found)."""
    fields = {"event": "plan_warning" if warning else "plan_note", "run_id": run_id}
    level = logging.WARNING if warning else logging.INFO
    logger.log(level, "%s", mask_secrets(note), extra=fields)
