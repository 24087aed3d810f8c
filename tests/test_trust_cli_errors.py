"""Errors a person can act on: one line with the cause and the fix, no traceback unless -v,
and the documented exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError

from tests.dbcheck import table_names
from turbodata import cli
from turbodata.cli import main
from turbodata.lake.azure import AzureLakeError

REPO = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err
    return err.removeprefix("error: ").strip()


def test_a_mistyped_database_scheme_suggests_the_closest(
    example_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "migrate", "--lake", str(example_lake), "--db", "sqlit:///x.db")
    assert code == 2
    assert one_error_line(err) == "unknown database URL scheme 'sqlit': did you mean sqlite://?"
    code, _, err = run(capsys, "status", "--db", "postgressql://u:pw-x1@h/db")
    assert code == 2 and "did you mean postgresql://?" in one_error_line(err)
    code, _, err = run(capsys, "status", "--db", "mysql://u@h/db")
    line = one_error_line(err)  # without its driver installed, or with it: unsupported
    assert code == 2 and "'mysql'" in line and line.endswith("mssql, postgresql, sqlite")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgress://u:pw-x1@h/db", "unknown database URL scheme 'postgress': did you mean"),
        ("not a url", "not a database URL: 'not a url'"),
        ("oracle://u:pw-x1@h/db", "cannot use 'oracle' URLs"),
    ],
)
def test_a_bad_database_url_from_the_settings_is_one_line_too(
    example_lake: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    message: str,
) -> None:
    """The same URL as `--db` gave one line and exit 2; from TURBODATA_DATABASE_URL, a
    traceback and exit 1 (found by review)."""
    monkeypatch.setenv("TURBODATA_DATABASE_URL", url)
    code, _, err = run(capsys, "migrate", "--lake", str(example_lake))
    assert code == 2 and one_error_line(err).startswith(message) and "pw-x1" not in err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--schema", "dw"], "--schema dw: SQLite has no schemas; leave --schema out"),
        (
            ["--key", "account=nope"],
            "--key account: 'nope' is not a column of account (it has Id, IsDelete,",
        ),
        (["--key", "acount=Id"], "--key acount: no such table in the lake; did you mean account?"),
        (["--table", "acount"], "--table acount: no such table in the lake; did you mean account?"),
    ],
)
def test_an_option_naming_what_is_not_there_loads_nothing_and_says_so(
    example_lake: Path,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    option: list[str],
    message: str,
) -> None:
    code, out, err = run(
        capsys, "migrate", "--lake", str(example_lake), "--db", sqlite_url, *option
    )
    assert code == 1
    assert one_error_line(err).startswith(message)
    assert out.strip().endswith(": failed")
    assert not [t for t in table_names(sqlite_url) if not t.startswith("_turbodata_")]


def test_a_malformed_key_is_bad_usage(
    example_lake: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "migrate", "--lake", str(example_lake), "--db", sqlite_url, "--key", "x"
    )
    assert code == 2
    assert one_error_line(err) == "--key wants TABLE=COLUMN[,COLUMN], not 'x'"


@pytest.mark.parametrize("dry", [[], ["--dry-run"]], ids=["run", "dry-run"])
def test_migrate_into_a_folder_that_does_not_exist(
    example_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], dry: list[str]
) -> None:
    db = f"sqlite:///{tmp_path}/missing/out.sqlite"
    code, _, err = run(capsys, "migrate", *dry, "--lake", str(example_lake), "--db", db)
    assert code == 2
    assert (
        one_error_line(err) == f"folder {tmp_path}/missing does not exist: create it, or fix --db"
    )
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    "error",
    [
        AzureLakeError("container 'nope' not found in account acct"),
        ClientAuthenticationError("DefaultAzureCredential failed: run az login"),
    ],
)
def test_lake_errors_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(cli, "migrate", unreachable)
    code, _, err = run(capsys, "migrate", "--lake", str(tmp_path), "--db", "sqlite://")
    assert code == 1
    assert one_error_line(err) == str(error).splitlines()[0]


def test_verbose_is_accepted_before_or_after_the_command(
    example_lake: Path, tmp_path: Path
) -> None:
    for position, db in ((0, "a"), (-1, "b")):
        args = ["migrate", "--lake", str(example_lake), "--db", f"sqlite:///{tmp_path}/{db}.db"]
        args.insert(len(args) if position else 0, "-v")
        done = subprocess.run(
            [sys.executable, "-m", "turbodata", *args], cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "INFO turbodata: " in done.stderr  # the notes only -v shows


def test_status_and_rejects_read_the_database_from_the_settings(
    example_lake: Path,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TURBODATA_DATABASE_URL", sqlite_url)
    assert run(capsys, "migrate", "--lake", str(example_lake))[0] == 0

    code, out, _ = run(capsys, "status")
    assert code == 0 and "account" in out
    code, out, _ = run(capsys, "rejects")
    assert code == 0 and out == ""


def test_no_database_anywhere_is_bad_usage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("TURBODATA_")]:  # the test scripts' too
        monkeypatch.delenv(name)
    code, _, err = run(capsys, "status")
    assert code == 2 and "no database configured" in one_error_line(err)


@pytest.mark.parametrize("command", ["migrate", "plan", "status", "rejects"])
def test_every_command_helps_with_a_description_and_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    description = out.split("\n\n")[1]
    assert "\n" not in description.strip() and description.strip().endswith(".")
    assert f"example:\n  turbodata {command} " in out


def test_a_closed_pipe_ends_quietly(example_lake: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/out.sqlite"
    assert main(["migrate", "--lake", str(example_lake), "--db", db]) == 0
    reader = subprocess.Popen(
        [sys.executable, "-m", "turbodata", "status", "--db", db],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader.stdout.close()  # like `| head` that has read enough
    err = reader.stderr.read()
    reader.wait()
    assert err == "" and reader.returncode == 141


@pytest.mark.parametrize("database_from", ["--db", "settings"])
def test_a_mistyped_setting_is_warned_of_wherever_the_database_comes_from(
    example_lake: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_from: str,
) -> None:
    """With --lake and --db both given, the settings were never read, and a typo went
    without the warning docs/configuration.md promises (found by review)."""
    url = f"sqlite:///{tmp_path / 'out.sqlite'}"
    monkeypatch.setenv("TURBODATA_LEASE_WAIT_SECOND", "60")
    monkeypatch.setenv("TURBODATA_ARTIFACTS", str(tmp_path))
    db = ["--db", url] if database_from == "--db" else []
    if not db:
        monkeypatch.setenv("TURBODATA_DATABASE_URL", url)
    code, _, err = run(capsys, "migrate", "--lake", str(example_lake), *db)
    assert code in (0, 1)  # the example lake has rejects
    assert "unknown setting TURBODATA_LEASE_WAIT_SECOND is ignored (typo?)" in err
    assert "TURBODATA_ARTIFACTS" not in err  # scripts/test's own, no setting
