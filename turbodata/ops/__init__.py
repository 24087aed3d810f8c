"""Operating turbodata: what people who run it look at (the HTML run report)."""

from turbodata.ops.report import render_report, write_report

__all__ = ["render_report", "write_report"]
