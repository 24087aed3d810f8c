"""Start-up: the CLI loads the Azure SDK only for runs that use Azure, and still reports an
Azure error as one line with exit status 1."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from azure.core.exceptions import AzureError

from turbodata import cli


def test_importing_the_cli_loads_no_azure_sdk() -> None:
    probe = "import sys, turbodata.cli; print(sorted(m for m in sys.modules if m[:6] == 'azure.'))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_an_azure_error_is_still_one_line_and_exit_status_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def command(_args: argparse.Namespace) -> int:
        raise AzureError("the storage account refused the request\nsecond line")

    code = cli._run(command, argparse.Namespace(verbose=False))
    assert code == 1
    assert "the storage account refused the request" in capsys.readouterr().err
