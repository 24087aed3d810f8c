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
- JSON logs are for machines that collect events, so they include INFO (the per-table and
  per-run events); the text default stays at WARNING so a terminal shows problems only.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from turbodata.secrets import mask_secrets, redact_data

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
    handler.setFormatter(JsonFormatter() if structured else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    setup = LogSetup(handler, root.level, structured)
    if verbose:
        root.setLevel(logging.DEBUG)
    else:
        root.setLevel(logging.INFO if structured else logging.WARNING)
    root.addHandler(handler)
    return setup
