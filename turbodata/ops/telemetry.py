"""Traces and metrics through the OpenTelemetry API; Application Insights when configured.

Spans: `turbodata.run` (a child of the current context, so that in Azure Functions the
invocation is its parent), `turbodata.table` under it, `turbodata.batch` under that. Metrics:
`turbodata.rows.written` and `turbodata.rows.rejected` (counters, attribute `table`),
`turbodata.table.rows_per_second` (histogram) and `turbodata.table.lag` (gauge, seconds between
the newest lake folder and the table's last applied one, incremental layouts only).

Only the API is used here: without an SDK (nothing configured) every call is a no-op, so
turbodata runs without any exporter. `configure()` sends them to Application Insights when
APPLICATIONINSIGHTS_CONNECTION_STRING is set. Every attribute and error message that could hold
a URL or an error text passes through `mask_secrets`; exceptions are not recorded with their
stack trace, whose text could hold a secret.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, Status, StatusCode

from turbodata.lake.layouts import folder_time
from turbodata.secrets import mask_secrets

if TYPE_CHECKING:
    from turbodata.summary import TableResult

log = logging.getLogger("turbodata")

CONNECTION_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AUTHENTICATION_ENV = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
SCOPE = "turbodata"
# outcomes of a table or a run that are not a failure of it
TABLE_OK = frozenset({"loaded", "unchanged", "planned"})
RUN_OK = frozenset({"succeeded", "completed_with_rejects"})

_tracer = trace.get_tracer(SCOPE)
_meter = metrics.get_meter(SCOPE)  # a proxy: instruments follow a provider configured later
_rows_written = _meter.create_counter(
    "turbodata.rows.written", unit="{row}", description="rows inserted, updated or deleted"
)
_rows_rejected = _meter.create_counter(
    "turbodata.rows.rejected", unit="{row}", description="rows rejected (see the ledger)"
)
_rows_per_second = _meter.create_histogram(
    "turbodata.table.rows_per_second", unit="{row}/s", description="a table's rows per second"
)
_lag = _meter.create_gauge(
    "turbodata.table.lag",
    unit="s",
    description="seconds between the newest lake folder and the table's last applied one",
)

_configured = False


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Send traces, metrics and turbodata's logs to Application Insights when
    APPLICATIONINSIGHTS_CONNECTION_STRING is set (once per process); True if it is.

    With APPLICATIONINSIGHTS_AUTHENTICATION_STRING `Authorization=AAD` (`;ClientId=<id>` for a
    user-assigned identity) the data is sent with the managed identity's token, so that the
    resource can refuse local (key) authentication.
    """
    global _configured
    env = os.environ if environ is None else environ
    connection_string = env.get(CONNECTION_ENV, "").strip()
    if not connection_string:
        return False
    if _configured:
        return True
    from azure.monitor.opentelemetry import configure_azure_monitor  # only where it is used

    options: dict[str, Any] = {"connection_string": connection_string, "logger_name": SCOPE}
    client_id = entra_client_id(env.get(AUTHENTICATION_ENV, ""))
    if client_id is not None:
        from azure.identity import ManagedIdentityCredential

        options["credential"] = ManagedIdentityCredential(client_id=client_id or None)
    configure_azure_monitor(**options)
    _configured = True
    return True


def entra_client_id(authentication: str) -> str | None:
    """For `Authorization=AAD[;ClientId=<id>]`: the client id ('' for the system-assigned
    identity); None when the string does not ask for Entra ID authentication."""
    pairs = dict(
        (key.strip().lower(), value.strip())
        for key, _, value in (part.partition("=") for part in authentication.split(";"))
    )
    if pairs.get("authorization", "").upper() != "AAD":
        return None
    return pairs.get("clientid", "")


# ---------------------------------------------------------------------- spans


@contextlib.contextmanager
def _span(name: str, attributes: dict[str, Any]) -> Iterator[Span]:
    """A span made current; an error escaping it sets status ERROR with a masked message."""
    with _tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except BaseException as error:
            fail(span, f"{type(error).__name__}: {error}")
            raise


def fail(span: Span, message: str) -> None:
    """Status ERROR with the first line of `message`, masked."""
    first_line = next(iter(message.splitlines()), "")
    span.set_status(Status(StatusCode.ERROR, mask_secrets(first_line)))


def run_span(
    run_id: str, lake: str, database: str, dry_run: bool
) -> contextlib.AbstractContextManager[Span]:
    return _span(
        "turbodata.run",
        {
            "turbodata.run_id": run_id,
            "turbodata.lake": mask_secrets(lake),
            "turbodata.database": mask_secrets(database),
            "turbodata.dry_run": dry_run,
        },
    )


def finish_run(span: Span, status: str, error: str | None) -> None:
    span.set_attribute("turbodata.status", status)
    if status not in RUN_OK:
        fail(span, error or status)


def table_span(table: str) -> contextlib.AbstractContextManager[Span]:
    return _span("turbodata.table", {"turbodata.table": table})


def finish_table(span: Span, result: TableResult) -> None:
    span.set_attributes(
        {
            "turbodata.status": result.status,
            "turbodata.rows_inserted": result.rows_inserted,
            "turbodata.rows_updated": result.rows_updated,
            "turbodata.rows_deleted": result.rows_deleted,
            "turbodata.rows_rejected": result.rows_rejected,
            "turbodata.files": result.files_read,
        }
    )
    if result.status not in TABLE_OK:
        fail(span, result.error or result.status)


@contextlib.contextmanager
def batch_span(result: TableResult, batch_id: str, files: int) -> Iterator[Span]:
    """The span of one batch of `result`'s table; its rows are what the batch added to it."""
    written, rejected = _written(result), result.rows_rejected
    attributes = {"turbodata.table": result.name, "turbodata.batch": batch_id}
    with _span("turbodata.batch", {**attributes, "turbodata.files": files}) as span:
        yield span
        span.set_attributes(
            {
                "turbodata.rows": _written(result) - written,
                "turbodata.rows_rejected": result.rows_rejected - rejected,
            }
        )


# ---------------------------------------------------------------------- metrics


def record_table(result: TableResult, newest_folder: str | None) -> None:
    """A loaded table's metrics (not for dry runs: nothing was written)."""
    table = {"table": result.name}
    _rows_written.add(_written(result), table)
    _rows_rejected.add(result.rows_rejected, table)
    if result.seconds > 0 and _written(result) > 0:
        _rows_per_second.record(_written(result) / result.seconds, table)
    lag = lag_seconds(newest_folder, result.watermark)
    if lag is not None:
        _lag.set(lag, table)


def lag_seconds(newest_folder: str | None, applied_folder: str | None) -> float | None:
    """Seconds from the applied folder's time to the newest folder's; None unless both are
    timestamp folders (Delta versions and snapshots have no folder time)."""
    newest = folder_time(newest_folder) if newest_folder else None
    applied = folder_time(applied_folder) if applied_folder else None
    if newest is None or applied is None:
        return None
    return max((newest - applied).total_seconds(), 0.0)


def _written(result: TableResult) -> int:
    return result.rows_inserted + result.rows_updated + result.rows_deleted
