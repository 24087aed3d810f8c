"""Shared by the benchmark scripts: child-process runs, medians and ratios, cProfile, tables.

Every measured variant runs in a fresh child process (`python bench/<script>.py --child SPEC`)
so that its peak RSS (`ru_maxrss`) is its own. The child prints one JSON line; the parent
collects the runs, interleaving the variants round-robin so that noise hits them alike, and
prints medians and ratios against the baseline measured in the same session.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
DEFAULT_DATA = Path(os.environ.get("TMPDIR", "/tmp")) / "turbodata-bench"


def benchmark_parser(doc: str, rows: int, rows_help: str) -> argparse.ArgumentParser:
    """The arguments every benchmark takes: data size, seed, repeats, cache, profiling."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--rows", type=int, default=rows, help=rows_help)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="generated data cache")
    parser.add_argument("--profile", metavar="VARIANT", help="cProfile one variant in-process")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser


def add_repo_paths() -> None:
    """`turbodata`, `tests.*` (lake builder) and `servers.*` (the throwaway PostgreSQL)."""
    for path in (str(REPO), str(TESTS)):
        if path not in sys.path:
            sys.path.insert(0, path)


def rss_kb() -> int:
    """This process's resident set size now, in KiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def reset_peak_rss() -> None:
    """Start `ru_maxrss` again from the current RSS (Linux >= 4.0: clear_refs 5), so that a
    variant's untimed setup (imports, a first load) does not count in its peak."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def child_report(seconds: float, rows: int, nbytes: int, start_rss_kb: int, **extra: Any) -> None:
    """The last line a child prints: what the parent reads."""
    report = {
        "seconds": seconds,
        "rows": rows,
        "bytes": nbytes,
        "start_rss_kb": start_rss_kb,
        "peak_rss_kb": peak_rss_kb(),
        **extra,
    }
    print(json.dumps(report), flush=True)


@dataclass
class Runs:
    """The runs of one variant."""

    name: str
    reports: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(float(r[key]) for r in self.reports)

    @property
    def seconds(self) -> list[float]:
        return [float(r["seconds"]) for r in self.reports]

    @property
    def rows_per_s(self) -> float:
        return self.median("rows") / self.median("seconds")

    @property
    def mb_per_s(self) -> float:
        return self.median("bytes") / 1e6 / self.median("seconds")


def run_child(script: Path, spec: dict[str, Any], *, timeout: float = 3600) -> dict[str, Any]:
    """Run `script --child SPEC` and return its JSON report (the last stdout line)."""
    proc = subprocess.run(
        [sys.executable, str(script), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{spec.get('variant')}: child failed ({proc.returncode})\n{proc.stdout}{proc.stderr}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_rounds(
    script: Path,
    specs: Sequence[dict[str, Any]],
    repeat: int,
    *,
    before_each: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Runs]:
    """Every spec `repeat` times, round-robin; progress on stderr."""
    runs = {spec["variant"]: Runs(spec["variant"]) for spec in specs}
    for round_number in range(1, repeat + 1):
        for spec in specs:
            if before_each:
                before_each(spec)
            report = run_child(script, spec)
            runs[spec["variant"]].reports.append(report)
            print(
                f"  round {round_number}/{repeat} {spec['variant']:<22} "
                f"{report['seconds']:7.2f} s  {report['rows'] / report['seconds']:>9,.0f} rows/s  "
                f"peak {report['peak_rss_kb'] / 1024:6.0f} MB  load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
    return runs


def table(runs: dict[str, Runs], baselines: dict[str, str]) -> str:
    """Markdown table: median s (min–max), rows/s, MB/s, ratio to the variant's baseline, RSS.

    `baselines` maps a variant to the variant its ratio is taken against (rows/s ÷ rows/s).
    """
    lines = [
        "| Variant | n | Median s (min–max) | Rows/s | MB/s | Ratio | Baseline | Peak RSS MB "
        "| RSS at start MB |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, r in runs.items():
        base = baselines.get(name)
        ratio = f"{r.rows_per_s / runs[base].rows_per_s:.2f}" if base in runs else "—"
        lines.append(
            f"| {name} | {len(r.reports)} | {r.median('seconds'):.2f} "
            f"({min(r.seconds):.2f}–{max(r.seconds):.2f}) | {r.rows_per_s:,.0f} "
            f"| {r.mb_per_s:.1f} | {ratio} | {base or '—'} | {r.median('peak_rss_kb') / 1024:.0f} "
            f"| {r.median('start_rss_kb') / 1024:.0f} |"
        )
    return "\n".join(lines)


def environment() -> str:
    import sqlite3

    import pyarrow

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"python {platform.python_version()}, pyarrow {pyarrow.__version__}, "
        f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load average {load}"
    )


def profile(work: Callable[[], object], *, top: int = 30, sort: str = "tottime") -> str:
    """Run `work` under cProfile; the `top` functions by `sort`, as text."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    work()
    profiler.disable()
    elapsed = time.perf_counter() - started
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(sort).print_stats(top)
    return f"profiled wall time {elapsed:.2f} s (cProfile overhead included)\n{out.getvalue()}"
