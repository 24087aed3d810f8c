"""Telemetry: the spans and metrics of a real migrate, read with OpenTelemetry's in-memory
exporters, and configure() handing Application Insights its settings.

There is no Application Insights here: configure_azure_monitor is replaced by a stand-in that
records its arguments. What reaches Azure is whatever these spans and metrics hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.monitor.opentelemetry
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from turbodata import migrate
from turbodata.cli import main
from turbodata.ops import telemetry

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_LAKE = REPO / "examples" / "lake"
DB_PASSWORD = "Planted-Db-Password-4471"
INCREMENTAL = {"account", "contact"}  # the rest of examples/lake are snapshots

_SPANS = InMemorySpanExporter()
_METRICS = InMemoryMetricReader()


def _install_providers() -> None:
    """The process's providers can be set once: set them the first time, with the in-memory
    exporter and reader."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if not getattr(provider, "_turbodata_test_exporter", False):
        provider.add_span_processor(SimpleSpanProcessor(_SPANS))
        provider._turbodata_test_exporter = True  # type: ignore[attr-defined]
    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        metrics.set_meter_provider(MeterProvider(metric_readers=[_METRICS]))


@pytest.fixture()
def spans() -> Iterator[InMemorySpanExporter]:
    _install_providers()
    _SPANS.clear()
    yield _SPANS
    _SPANS.clear()


def metric_points() -> dict[tuple[str, str], float]:
    """(metric name, table) → the value (sum, gauge value, or a histogram's count)."""
    points: dict[tuple[str, str], float] = {}
    data = _METRICS.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = point.count  # a histogram: how many values were recorded
                    points[(metric.name, str(point.attributes.get("table")))] = value
    return points


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def every_attribute_text(finished: tuple[ReadableSpan, ...]) -> str:
    return json.dumps(
        [
            [dict(s.attributes or {}), s.status.description, [e.attributes for e in s.events]]
            for s in finished
        ],
        default=str,
    )


def test_a_migrate_makes_the_run_table_batch_tree_under_the_invocation(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    before = metric_points()
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("functions.invocation") as invocation:
        summary = migrate(EXAMPLE_LAKE, f"sqlite:///{tmp_path / 'out.db'}")
    assert summary.ok, summary.problems
    finished = spans.get_finished_spans()

    [run] = by_name(finished, "turbodata.run")
    assert run.parent is not None
    assert run.parent.span_id == invocation.get_span_context().span_id
    assert run.context.trace_id == invocation.get_span_context().trace_id
    assert run.attributes["turbodata.run_id"] == summary.run_id
    assert run.attributes["turbodata.status"] == "succeeded"
    assert run.attributes["turbodata.database"] == f"sqlite:///{tmp_path / 'out.db'}"
    assert run.attributes["turbodata.lake"] == str(EXAMPLE_LAKE)
    assert run.status.status_code is not StatusCode.ERROR

    tables = {s.attributes["turbodata.table"]: s for s in by_name(finished, "turbodata.table")}
    assert set(tables) == set(summary.tables)
    batches = by_name(finished, "turbodata.batch")
    after = metric_points()
    for name, result in summary.tables.items():
        table = tables[name]
        assert table.parent is not None and table.parent.span_id == run.context.span_id
        assert {k: table.attributes[f"turbodata.{k}"] for k in COUNTS} == {
            k: getattr(result, k if k != "files" else "files_read") for k in COUNTS
        }
        assert table.attributes["turbodata.status"] == result.status == "loaded"
        own = [b for b in batches if b.attributes["turbodata.table"] == name]
        assert own and all(b.parent.span_id == table.context.span_id for b in own)  # type: ignore[union-attr]
        assert sum(b.attributes["turbodata.files"] for b in own) == result.files_read
        written = result.rows_inserted + result.rows_updated + result.rows_deleted
        assert written > 0
        assert sum(b.attributes["turbodata.rows"] for b in own) == written
        assert written_since(before, after, "turbodata.rows.written", name) == written
        assert written_since(before, after, "turbodata.rows.rejected", name) == result.rows_rejected
        assert after[("turbodata.table.rows_per_second", name)] >= 1
        if name in INCREMENTAL:  # its newest folder is applied
            assert after[("turbodata.table.lag", name)] == 0
        else:  # the option-set tables are snapshots: no lag to measure
            assert ("turbodata.table.lag", name) not in after
    assert set(summary.tables) > INCREMENTAL


COUNTS = ("rows_inserted", "rows_updated", "rows_deleted", "rows_rejected", "files")


def written_since(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float], name: str, table: str
) -> float:
    return after.get((name, table), 0) - before.get((name, table), 0)


def test_a_failed_run_is_an_error_span_with_no_secret(spans: InMemorySpanExporter) -> None:
    """The password is in the database URL, and the database cannot be reached."""
    url = f"postgresql+psycopg://loader:{DB_PASSWORD}@127.0.0.1:1/nowhere?connect_timeout=2"

    with pytest.raises(Exception) as raised:
        migrate(EXAMPLE_LAKE, url)

    finished = spans.get_finished_spans()
    [run] = by_name(finished, "turbodata.run")
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["turbodata.status"] == "failed"
    assert run.status.description and type(raised.value).__name__ in run.status.description
    assert "loader:***@127.0.0.1:1" in run.attributes["turbodata.database"]
    assert DB_PASSWORD not in every_attribute_text(finished)


def test_a_password_in_a_problem_is_masked_on_the_span(spans: InMemorySpanExporter) -> None:
    span = trace.get_tracer("test").start_span("s")
    telemetry.fail(span, f"cannot connect to postgresql://u:{DB_PASSWORD}@h/db\nsecond line")
    span.end()
    [finished] = spans.get_finished_spans()
    assert finished.status.description == "cannot connect to postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("newest", "applied", "lag"),
    [
        ("2025-02-03T12.15.00Z", "2025-02-03T10.15.00Z", 7200.0),
        ("2025-02-03T12.15.00Z", "2025-02-03T12.15.00Z", 0.0),
        ("2025-02-03T12.15.00Z", None, None),  # never loaded: no folder to measure from
        ("delta v3", "delta v3", None),  # Delta versions have no folder time
    ],
)
def test_lag_is_the_time_between_the_newest_and_the_applied_folder(
    newest: str, applied: str | None, lag: float | None
) -> None:
    assert telemetry.lag_seconds(newest, applied) == lag


class AzureMonitorStandIn:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **options: Any) -> None:
        self.calls.append(options)


@pytest.fixture()
def azure_monitor(monkeypatch: pytest.MonkeyPatch) -> AzureMonitorStandIn:
    stand_in = AzureMonitorStandIn()
    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", stand_in)
    monkeypatch.setattr(telemetry, "_configured", False)
    return stand_in


CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x/"


def test_configure_without_a_connection_string_sends_nothing(
    azure_monitor: AzureMonitorStandIn,
) -> None:
    assert telemetry.configure({}) is False
    assert azure_monitor.calls == []


def test_configure_hands_the_connection_string_over_once(
    azure_monitor: AzureMonitorStandIn,
) -> None:
    env = {telemetry.CONNECTION_ENV: CONNECTION}
    assert telemetry.configure(env) and telemetry.configure(env)
    assert azure_monitor.calls == [{"connection_string": CONNECTION, "logger_name": "turbodata"}]


@pytest.mark.parametrize(
    ("authentication", "client_id"),
    [("Authorization=AAD;ClientId=1234-abcd", "1234-abcd"), ("Authorization=AAD", None)],
)
def test_configure_authenticates_with_the_managed_identity(
    azure_monitor: AzureMonitorStandIn, authentication: str, client_id: str | None
) -> None:
    from azure.identity import ManagedIdentityCredential

    env = {telemetry.CONNECTION_ENV: CONNECTION, telemetry.AUTHENTICATION_ENV: authentication}
    telemetry.configure(env)
    [options] = azure_monitor.calls
    credential = options["credential"]
    assert isinstance(credential, ManagedIdentityCredential)
    assert telemetry.entra_client_id(authentication) == (client_id or "")


def test_the_cli_configures_telemetry(
    azure_monitor: AzureMonitorStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(telemetry.CONNECTION_ENV, CONNECTION)
    database = f"sqlite:///{tmp_path / 'out.db'}"
    assert main(["migrate", "--lake", str(EXAMPLE_LAKE), "--db", database]) == 0
    assert [c["connection_string"] for c in azure_monitor.calls] == [CONNECTION]


def test_tables_loaded_in_parallel_are_children_of_the_run(
    spans: InMemorySpanExporter, postgres_url: str
) -> None:
    """With --jobs 2 each table loads in a pool thread; its span still has the run as parent."""
    summary = migrate(EXAMPLE_LAKE, postgres_url, jobs=2)
    assert summary.ok, summary.problems
    finished = spans.get_finished_spans()
    [run] = by_name(finished, "turbodata.run")
    tables = by_name(finished, "turbodata.table")
    assert len(tables) == len(summary.tables) > 1
    assert all(t.parent is not None and t.parent.span_id == run.context.span_id for t in tables)
