"""The whole `turbodata migrate` CLI process against the database's own loader (issue 11).

    .venv/bin/python bench/cli.py [--rows 300000] [--repeat 3] [--targets sqlite,postgresql]
        [--scenarios snapshot,incremental,many-files] [--before DIR [--no-current]]
        [--memory-rows 1000000,3000000] [--startup]

What a user waits for: every variant is one child process, timed from spawn to exit (wall,
start-up included), its peak RSS and CPU from the kernel's accounting of that child alone
(GNU /usr/bin/time's rusage). Variants run round-robin, so noise hits them alike; each run
gets a fresh database (a new SQLite file; `CREATE DATABASE` on a throwaway PostgreSQL cluster
started as the test suite does, with a CHECKPOINT before the run, outside the timing).

Scenarios (`--scenarios`, and the opt-in `--memory-rows` and `--startup`):

  snapshot     classic layout (`bench/classic.py`): one `account` snapshot of --rows rows ×
               25 columns keyed by Id. `python -m turbodata migrate` vs the database's own
               loader run by `bench/raw_load.py`: SQLite `csv.reader` + `executemany` of the raw
               rows ('' → None) in one transaction; PostgreSQL `COPY … FROM STDIN (FORMAT csv)`
               of the raw file (1 MB writes) into a table of turbodata's column types.
  incremental  `bench/data.py`'s lake (20 columns): the first folder is loaded by the CLI as
               untimed setup, then the CLI run that applies the second folder (--rows/2 rows,
               99% updates, 1% deletes) is timed, against the baseline loading the same file.
               The updates follow the first folder's order (`--updates file`, the default,
               as in earlier figures) or come in random order (`--updates random`, as
               changes come in a real export).
  many-files   `bench/many_files.py`'s lake (300 tables × 4 closed folders × 3 rows) into
               SQLite: a first run on a fresh file, then a rerun with nothing new.
  memory       (--memory-rows N,M) the snapshot into SQLite at each size: peak RSS.
  startup      (--startup) `turbodata --version` and `migrate --help` wall time and RSS, and
               the top imports by cumulative time (`python -X importtime`).

Every run is checked: exit status 0, the summary's counts, and the row count in the target
(so a broken load cannot pass as fast). Ratio = the baseline's median seconds ÷ the variant's
(the same rows: its rows/s ÷ the baseline's rows/s).

Trees: the CLI runs as `<this python> -m turbodata` with PYTHONPATH=<tree> from a scratch
directory. `current` is this checkout; `--before DIR` (or `--checkout DIR`) adds another source
tree, interleaved with it, e.g. `git -C . archive e088977 | tar -x -C /tmp/td-before`;
`--no-current` measures the other tree alone. Which tree a child imports is checked at start.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classic import ClassicLake, ensure_classic_lake
from common import DEFAULT_DATA, REPO, Runs, add_repo_paths, environment
from data import FOLDERS, TABLE, Lake, ensure_lake
from load import Databases, lake_view, postgres_server

add_repo_paths()

RAW_LOAD = Path(__file__).resolve().parent / "raw_load.py"
TIME = "/usr/bin/time"  # GNU time: -o FILE -f FORMAT
SCENARIOS = ("snapshot", "incremental", "many-files")
STARTUP_REPEAT = 5


# ------------------------------------------------------------------------------ processes


@dataclass(frozen=True)
class Exit:
    """One finished child process."""

    argv: list[str]
    seconds: float  # wall, spawn to exit
    peak_rss_kb: int
    cpu_seconds: float  # user + system
    returncode: int
    stdout: str
    stderr: str

    def failed(self, what: str) -> RuntimeError:
        return RuntimeError(
            f"{what}: exit status {self.returncode}\n$ {shlex.join(self.argv)}\n"
            f"{self.stdout[-2000:]}{self.stderr[-3000:]}"
        )


def run_timed(argv: list[str], env: dict[str, str], cwd: Path) -> Exit:
    """Run `argv` to completion: wall time from spawn to exit, the child's peak RSS and CPU.

    The child runs under /usr/bin/time, which reports the rusage of its own child only. This
    process's own wait4 rusage would not do: Linux counts the memory a process had before
    exec() (here: a copy of this benchmark, with pyarrow and SQLAlchemy imported) in its peak.
    """
    with tempfile.NamedTemporaryFile("r") as rusage, tempfile.TemporaryFile() as out:
        with tempfile.TemporaryFile() as err:
            timed = [TIME, "-o", rusage.name, "-f", "%M %U %S", *argv]
            started = time.perf_counter()
            proc = subprocess.Popen(timed, stdout=out, stderr=err, env=env, cwd=cwd)
            _, status, _ = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        out.seek(0)
        peak_kb, user, system = rusage.read().split("\n")[-2].split()  # after a status line
        return Exit(
            argv=argv,
            seconds=seconds,
            peak_rss_kb=int(peak_kb),
            cpu_seconds=float(user) + float(system),
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=stderr,
        )


@dataclass(frozen=True)
class Tree:
    """A turbodata source tree the CLI is run from."""

    label: str
    path: Path

    def env(self) -> dict[str, str]:
        # TURBODATA_* settings of the calling shell would change what a run does
        base = {k: v for k, v in os.environ.items() if not k.startswith("TURBODATA_")}
        return {**base, "PYTHONPATH": str(self.path)}

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "turbodata", *args]

    def migrate(self, lake: Path, db: str) -> list[str]:
        return self.cli("migrate", "--lake", str(lake), "--db", db, "--json")


def verify_tree(tree: Tree, scratch: Path) -> str:
    """The `turbodata/__init__.py` a child with this tree's PYTHONPATH imports; must be the
    tree's (the venv holds an editable install of one checkout, which must not win)."""
    code = "import turbodata; print(turbodata.__file__)"
    done = run_timed([sys.executable, "-c", code], tree.env(), scratch)
    if done.returncode != 0:
        raise done.failed(f"import turbodata from {tree.path}")
    imported = Path(done.stdout.strip()).resolve()
    expected = (tree.path / "turbodata" / "__init__.py").resolve()
    if imported != expected:
        raise SystemExit(f"tree {tree.label}: a child imported {imported}, not {expected}")
    return str(imported)


# ------------------------------------------------------------------------------ targets


def count_rows(spec: dict[str, Any], table: str) -> int:
    """Rows in `table` of the run's database (checked after every run, untimed)."""
    if spec["db"].startswith("sqlite"):
        with sqlite3.connect(spec["db"].removeprefix("sqlite:///")) as conn:
            return int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    import psycopg

    with psycopg.connect(spec["conninfo"]) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # type: ignore[arg-type]
        return int(row[0]) if row else -1


def expect_rows(spec: dict[str, Any], table: str, expected: int, what: str) -> None:
    got = count_rows(spec, table)
    if got != expected:
        raise RuntimeError(f"{what}: {table} holds {got:,} rows, expected {expected:,}")


def create_table_ddl(model: Path, table: str) -> str:
    """CREATE TABLE raw (...) with the PostgreSQL column types turbodata gives `table`."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from turbodata.dialects.postgresql import PostgreSQLDialect
    from turbodata.load.schema import table_object
    from turbodata.metadata.model_json import parse_model_json
    from turbodata.types.sql import from_cdm

    schema = parse_model_json(model.read_bytes(), "model.json").tables[table]
    types = {c.name: from_cdm(c) for c in schema.columns}
    target = table_object(PostgreSQLDialect(), "raw", types, None)
    return str(sa.schema.CreateTable(target).compile(dialect=postgresql.dialect()))


# ------------------------------------------------------------------------------ variants


@dataclass(frozen=True)
class Variant:
    """One measured program on one target. `tree` None: the database's own loader."""

    target: str  # sqlite | postgresql
    tree: Tree | None = None

    @property
    def name(self) -> str:
        prefix = "sqlite" if self.target == "sqlite" else "pg"
        if self.tree is None:
            return f"{prefix}-{'executemany' if prefix == 'sqlite' else 'copy'}"
        return f"{prefix}-turbodata@{self.tree.label}"


@dataclass(frozen=True)
class Timed:
    """One timed process of a run, under the name its figures are collected."""

    name: str
    done: Exit
    rows: int


def baseline_load(csv: Path, model: Path, spec: dict[str, Any], scratch: Path) -> Exit:
    """bench/raw_load.py into the fresh database; its printed count and the table checked."""
    if spec["db"].startswith("sqlite"):
        db_file = spec["db"].removeprefix("sqlite:///")
        argv = [sys.executable, str(RAW_LOAD), "sqlite", str(csv), db_file, str(spec["width"])]
    else:
        argv = [sys.executable, str(RAW_LOAD), "postgresql", str(csv), spec["conninfo"]]
        argv.append(spec["ddl"])
    done = run_timed(argv, os.environ.copy(), scratch)
    if done.returncode != 0:
        raise done.failed("baseline")
    return done


def check_summary(done: Exit, table: str, counts: tuple[int, int, int], what: str) -> None:
    """Exit status 0, status succeeded, and `table`'s inserted/updated/deleted as expected."""
    import json

    if done.returncode != 0:
        raise done.failed(what)
    summary = json.loads(done.stdout)
    result = summary["tables"][table]
    got = (result["rows_inserted"], result["rows_updated"], result["rows_deleted"])
    if summary["status"] != "succeeded" or got != counts:
        problems = (summary["problems"] + result["problems"])[:5]
        raise RuntimeError(
            f"{what}: status {summary['status']}, inserted/updated/deleted {got}, expected "
            f"{counts}; {problems}"
        )


# ------------------------------------------------------------------------------ scenarios


@dataclass
class Scenario:
    """What one round of one variant runs; returns its timed processes (already verified)."""

    title: str
    variants: list[Variant]
    run: Callable[[Variant, dict[str, Any]], list[Timed]]
    spec: dict[str, Any] = field(default_factory=dict)  # per-run facts the baseline needs
    files: int | None = None  # files per run, for ms per file


def snapshot_scenario(
    lake: ClassicLake, variants: list[Variant], title: str, spec: dict[str, Any]
) -> Scenario:
    def run(variant: Variant, spec: dict[str, Any]) -> list[Timed]:
        scratch = Path(spec["workdir"])
        if variant.tree is None:
            done = baseline_load(lake.csv, lake.model, spec, scratch)
            expect_rows(spec, "raw", lake.rows, variant.name)
        else:
            done = run_timed(
                variant.tree.migrate(lake.root, spec["db"]), variant.tree.env(), scratch
            )
            check_summary(done, TABLE, (lake.rows, 0, 0), variant.name)
            expect_rows(spec, TABLE, lake.rows, variant.name)
        return [Timed(variant.name, done, lake.rows)]

    return Scenario(title, variants, run, spec)


def incremental_scenario(lake: Lake, variants: list[Variant], spec: dict[str, Any]) -> Scenario:
    updates, deletes = lake.update_rows - lake.update_rows // 100, lake.update_rows // 100

    def run(variant: Variant, spec: dict[str, Any]) -> list[Timed]:
        scratch = Path(spec["workdir"])
        if variant.tree is None:
            model = lake.root / FOLDERS[1] / "model.json"
            done = baseline_load(lake.csv(1), model, spec, scratch)
            expect_rows(spec, "raw", lake.update_rows, variant.name)
            return [Timed(variant.name, done, lake.update_rows)]
        tree = variant.tree
        setup = run_timed(
            tree.migrate(lake_view(scratch, lake.root, 1), spec["db"]), tree.env(), scratch
        )
        check_summary(setup, TABLE, (lake.rows, 0, 0), f"{variant.name} setup")
        done = run_timed(
            tree.migrate(lake_view(scratch, lake.root, 2), spec["db"]), tree.env(), scratch
        )
        check_summary(done, TABLE, (0, updates, deletes), variant.name)
        expect_rows(spec, TABLE, lake.rows - deletes, variant.name)
        return [Timed(variant.name, done, lake.update_rows)]

    title = (
        f"Incremental folder: {lake.update_rows:,} rows ({updates:,} updates, {deletes:,} "
        f"deletes, {lake.csv(1).stat().st_size / 1e6:.1f} MB, 20 columns) onto "
        f"{lake.rows:,} rows; the baseline loads the same file into an empty table"
    )
    return Scenario(title, variants, run, spec)


def many_files_scenario(
    lake: Path, tables: int, folders: int, rows: int, trees: list[Tree]
) -> Scenario:
    per_table = rows + (folders - 1) * (rows - 1)  # see many_files.partition_rows
    files, rows_read = tables * folders, tables * folders * rows

    def verify(done: Exit, what: str, inserted: int) -> None:
        import json

        if done.returncode != 0:
            raise done.failed(what)
        summary = json.loads(done.stdout)
        results = summary["tables"]
        got = sum(int(r["rows_inserted"]) for r in results.values())
        if summary["status"] != "succeeded" or got != inserted:
            raise RuntimeError(f"{what}: status {summary['status']}, {got} rows inserted")

    def run(variant: Variant, spec: dict[str, Any]) -> list[Timed]:
        assert variant.tree is not None
        tree, scratch = variant.tree, Path(spec["workdir"])
        first = run_timed(tree.migrate(lake, spec["db"]), tree.env(), scratch)
        verify(first, f"{variant.name} first", tables * per_table)
        rerun = run_timed(tree.migrate(lake, spec["db"]), tree.env(), scratch)
        verify(rerun, f"{variant.name} rerun", 0)
        for table in ("table0000", f"table{tables - 1:04d}"):
            expect_rows(spec, table, per_table, variant.name)
        return [
            Timed(f"first run@{tree.label}", first, rows_read),
            Timed(f"rerun, nothing new@{tree.label}", rerun, 0),
        ]

    title = (
        f"Many small files: {tables} tables × {folders} closed folders × {rows} rows "
        f"({files:,} files) into SQLite"
    )
    variants = [Variant("sqlite", tree) for tree in trees]
    return Scenario(title, variants, run, files=files)


# ------------------------------------------------------------------------------ measuring


def measure(scenario: Scenario, repeat: int, databases: Databases) -> dict[str, Runs]:
    """Every variant `repeat` times, round-robin, each on a fresh database."""
    runs: dict[str, Runs] = {}
    shown: set[str] = set()
    for round_number in range(1, repeat + 1):
        for variant in scenario.variants:
            spec: dict[str, Any] = {"variant": variant.name, **scenario.spec}
            databases.fresh(spec)
            for timed in scenario.run(variant, spec):
                report = {
                    "seconds": timed.done.seconds,
                    "rows": timed.rows,
                    "peak_rss_kb": timed.done.peak_rss_kb,
                    "cpu_seconds": timed.done.cpu_seconds,
                }
                runs.setdefault(timed.name, Runs(timed.name)).reports.append(report)
                if timed.name not in shown:
                    shown.add(timed.name)
                    print(f"    {timed.name}: $ {command_line(timed.done.argv, variant)}")
                progress(round_number, repeat, timed)
    databases.cleanup()
    return runs


def command_line(argv: list[str], variant: Variant) -> str:
    shown = ["<CREATE TABLE raw …>" if "CREATE TABLE" in a else a for a in argv]
    prefix = f"PYTHONPATH={variant.tree.path} " if variant.tree else ""
    return prefix + shlex.join(shown)


def progress(round_number: int, repeat: int, timed: Timed) -> None:
    done = timed.done
    print(
        f"  round {round_number}/{repeat} {timed.name:<34} {done.seconds:7.2f} s  "
        f"peak {done.peak_rss_kb / 1024:6.0f} MB  load {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
        flush=True,
    )


def baseline_of(name: str) -> str | None:
    if name.startswith("sqlite-turbodata"):
        return "sqlite-executemany"
    if name.startswith("pg-turbodata"):
        return "pg-copy"
    return None


def figures_table(runs: dict[str, Runs], files: int | None = None) -> str:
    """Markdown: median s (min–max), rows/s, ratio to the baseline, peak RSS, CPU."""
    per_file = " ms per file |" if files else ""
    lines = [
        "| Variant | n | Median s (min–max) | Rows/s | Ratio | Peak RSS MB | CPU s |" + per_file,
        "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if files else ""),
    ]
    for name, r in runs.items():
        base = baseline_of(name)
        ratio = (
            f"{runs[base].median('seconds') / r.median('seconds'):.2f}×" if base in runs else "—"
        )
        rate = f"{r.rows_per_s:,.0f}" if r.median("rows") else "—"
        cell = f" {r.median('seconds') / files * 1000:.1f} |" if files else ""
        lines.append(
            f"| {name} | {len(r.reports)} | {r.median('seconds'):.2f} "
            f"({min(r.seconds):.2f}–{max(r.seconds):.2f}) | {rate} | {ratio} "
            f"| {r.median('peak_rss_kb') / 1024:.0f} | {r.median('cpu_seconds'):.2f} |{cell}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ start-up


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def startup(tree: Tree, scratch: Path) -> str:
    """`turbodata --version` and `migrate --help`: median wall and RSS, and the top imports."""
    lines = [
        f"**Start-up, tree {tree.label}** ({STARTUP_REPEAT} runs each, median)",
        "",
        "| Command | Median s (min–max) | Peak RSS MB |",
        "|---|---:|---:|",
    ]
    commands = {
        "python -c pass (the interpreter alone)": [sys.executable, "-c", "pass"],
        "turbodata --version": tree.cli("--version"),
        "turbodata migrate --help": tree.cli("migrate", "--help"),
    }
    for label, argv in commands.items():
        exits = [run_timed(argv, tree.env(), scratch) for _ in range(STARTUP_REPEAT)]
        if any(e.returncode != 0 for e in exits):
            raise exits[0].failed(label)
        seconds = [e.seconds for e in exits]
        rss = statistics.median(e.peak_rss_kb for e in exits) / 1024
        lines.append(
            f"| `{label}` | {statistics.median(seconds):.2f} "
            f"({min(seconds):.2f}–{max(seconds):.2f}) | {rss:.0f} |"
        )
    lines += ["", top_imports(tree, scratch)]
    return "\n".join(lines)


def top_imports(tree: Tree, scratch: Path, top: int = 10) -> str:
    argv = [sys.executable, "-X", "importtime", "-m", "turbodata", "--version"]
    done = run_timed(argv, tree.env(), scratch)
    found = [m for m in map(IMPORT_LINE.match, done.stderr.splitlines()) if m]
    ranked = sorted(found, key=lambda m: -int(m.group(2)))[:top]
    lines = [
        f"Top {top} imports of `turbodata --version` by cumulative time (`-X importtime`, one "
        f"run; indented = imported by the row above it in the import tree):",
        "",
        "| Module | Cumulative ms | Self ms |",
        "|---|---:|---:|",
    ]
    for match in ranked:
        depth = len(match.group(3)) // 2
        name = "·" * depth + match.group(4)
        lines.append(
            f"| {name} | {int(match.group(2)) / 1000:.0f} | {int(match.group(1)) / 1000:.0f} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000, help="snapshot rows")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--updates",
        choices=("file", "random"),
        default="file",
        help="incremental: updates in the snapshot's file order, or in random order",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="generated data cache")
    parser.add_argument("--targets", default="sqlite,postgresql", help="sqlite, postgresql")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=", ".join(SCENARIOS))
    parser.add_argument("--before", "--checkout", type=Path, help="another turbodata tree")
    parser.add_argument(
        "--current",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"measure this tree ({REPO}) too",
    )
    parser.add_argument("--memory-rows", default="", help="e.g. 1000000,3000000 (SQLite)")
    parser.add_argument("--memory-repeat", type=int, default=1)
    parser.add_argument("--startup", action="store_true", help="CLI start-up and top imports")
    parser.add_argument("--many-tables", type=int, default=300)
    parser.add_argument("--many-folders", type=int, default=4)
    parser.add_argument("--many-rows", type=int, default=3)
    args = parser.parse_args()
    args.targets = [t for t in args.targets.split(",") if t]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}")
    if unknown := set(args.targets) - {"sqlite", "postgresql"}:
        parser.error(f"unknown targets {sorted(unknown)}")
    args.memory_rows = [int(n) for n in args.memory_rows.split(",") if n]
    return args


def trees_of(args: argparse.Namespace) -> list[Tree]:
    trees = []
    if args.before:
        trees.append(Tree("before", args.before.resolve()))
    if args.current:
        trees.append(Tree("current", REPO))
    if not trees:
        raise SystemExit("nothing to measure: --no-current without --before")
    return trees


def variants_for(targets: list[str], trees: list[Tree]) -> list[Variant]:
    """Per target: the baseline first, then each tree."""
    return [v for t in targets for v in (Variant(t), *(Variant(t, tree) for tree in trees))]


def scenarios(args: argparse.Namespace, trees: list[Tree]) -> Iterator[tuple[Scenario, int]]:
    """(scenario, repeat) in the order they run; data is generated (or reused) lazily."""
    variants = variants_for(args.targets, trees)
    if "snapshot" in args.scenarios:
        lake = ensure_classic_lake(args.rows, args.seed, args.data)
        yield snapshot_with_spec(lake, variants), args.repeat
    if "incremental" in args.scenarios:
        inc = ensure_lake(args.rows, args.seed, args.data, args.updates == "random")
        model = inc.root / FOLDERS[1] / "model.json"
        spec = table_spec(model, args.targets)
        yield incremental_scenario(inc, variants, spec), args.repeat
    if "many-files" in args.scenarios:
        from many_files import ensure_lake as ensure_many_files

        shape = (args.many_tables, args.many_folders, args.many_rows)
        lake_root = ensure_many_files(args.data, *shape)
        yield many_files_scenario(lake_root, *shape, trees), args.repeat
    for rows in args.memory_rows:
        lake = ensure_classic_lake(rows, args.seed, args.data)
        memory = snapshot_with_spec(lake, variants_for(["sqlite"], trees), "Memory: ")
        yield memory, args.memory_repeat


def table_spec(model: Path, targets: list[str]) -> dict[str, Any]:
    """What the baseline loader needs: the column count, and PostgreSQL's CREATE TABLE."""
    import json

    width = len(json.loads(model.read_text())["entities"][0]["attributes"])
    ddl = create_table_ddl(model, TABLE) if "postgresql" in targets else ""
    return {"width": width, "ddl": ddl}


def snapshot_with_spec(lake: ClassicLake, variants: list[Variant], prefix: str = "") -> Scenario:
    title = (
        f"{prefix}Snapshot (classic layout): `account`, {lake.rows:,} rows × 25 columns, "
        f"{lake.csv.stat().st_size / 1e6:.1f} MB, keyed by Id"
    )
    targets = sorted({v.target for v in variants})
    return snapshot_scenario(lake, variants, title, table_spec(lake.model, targets))


def machine(server: Any) -> str:
    versions = environment()
    if server is not None:
        with server.connect() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        versions += f", PostgreSQL {row[0] if row else '?'}"
    return versions


def header(trees: list[Tree], scratch: Path) -> None:
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# bench/cli.py: whole `turbodata migrate` processes, {now}")
    print(f"$ {shlex.join([sys.executable, *sys.argv])}")
    for tree in trees:
        print(f"tree {tree.label}: {tree.path} (a child imports {verify_tree(tree, scratch)})")


def main() -> None:
    args = parse_args()
    trees = trees_of(args)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="turbodata-bench-cli-") as tmp:
        scratch = Path(tmp)
        header(trees, scratch)
        if args.startup:
            for tree in trees:
                print(f"\n{startup(tree, scratch)}")
        needs_pg = "postgresql" in args.targets and bool(
            {"snapshot", "incremental"} & set(args.scenarios)
        )
        with postgres_server(needs_pg) as server:
            print(f"machine: {machine(server)}")
            databases = Databases(scratch, server)
            for scenario, repeat in scenarios(args, trees):
                print(f"\n### {scenario.title}\n", flush=True)
                runs = measure(scenario, repeat, databases)
                print(f"\n{figures_table(runs, scenario.files)}", flush=True)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nload average at the end: {load}; {time.time() - started:.0f} s in all")


if __name__ == "__main__":
    main()
