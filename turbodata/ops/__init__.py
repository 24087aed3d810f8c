"""Operating turbodata: what the people who run it look at and collect (the HTML run report,
JSON logs, OpenTelemetry traces and metrics). The package imports none of its modules, so the
loader can use `telemetry` without loading the report, which reads through the pipeline."""
