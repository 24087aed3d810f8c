"""The HTML run report as a person sees it: opened in headless Chromium (DevTools protocol).

A small lake is migrated for real three times (rejects in the first run, an update in the
second, nothing new in the third), then a folder arrives that no run loaded yet. The report
of that database, with the lake, is opened in Chromium; the tests read the page's visible
text and the chart's laid-out bar heights. The screenshot is kept (path printed; the folder
is $TURBODATA_ARTIFACTS when set, else pytest's tmp_path).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.cdp import Browser, Page
from tests.browser.chromium import ChromiumNotAvailable, ensure_chromium
from tests.lakebuilder import LakeBuilder, attribute
from turbodata.ops.report import write_report
from turbodata.pipeline import migrate
from turbodata.summary import RunSummary

F1, F2, F3 = "2025-01-01T00.00.00Z", "2025-01-01T01.00.00Z", "2025-01-01T03.30.00Z"
ODD_TABLE = "<img src=x onerror=document.body.dataset.pwned=1>"
SCRIPT_VALUE = "<script>document.title='pwned'</script>"
ACCOUNT = [attribute("Id", "guid"), attribute("name", "string", 20), attribute("active", "boolean")]
ACCOUNT_STAFF = [*ACCOUNT, attribute("employees", "int64")]
CONTACT = [attribute("Id", "guid"), attribute("name", "string", 20)]


def guid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


@dataclass(frozen=True)
class Loaded:
    lake: Path
    db_url: str
    runs: list[RunSummary]  # in the order they ran


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    root = tmp_path_factory.mktemp("report")
    lake = LakeBuilder(root / "lake")
    db_url = f"sqlite:///{root / 'target.sqlite'}"
    account_f1 = (
        f'{guid(1)},"Contoso",True,15\n{guid(2)},"Fabrikam",False,2\n{guid(3)},"Tailspin",1,3\n'
        f'{guid(4)},"Maybe Ltd",maybe,4\n'  # rejected: not a boolean
        f'{guid(5)},"{SCRIPT_VALUE}",{SCRIPT_VALUE},5\n'  # rejected: not a boolean
        f'{guid(6)},"Fractional",True,12.5\n'  # rejected: a fraction in an integer column
    )
    lake.folder(
        F1,
        {"account": ACCOUNT_STAFF, "contact": CONTACT, ODD_TABLE: CONTACT},
        {
            "account/1.csv": account_f1,
            "contact/1.csv": f'{guid(11)},"Ann"\n{guid(12)},"Bob"\n',
            f"{ODD_TABLE}/1.csv": f'{guid(21)},"odd"\n',
        },
    )
    runs = [migrate(lake.root, db_url)]
    account_f2 = f'{guid(1)},"Contoso Ltd",True,15\n{guid(7)},"Northwind",False,7\n'
    lake.folder(F2, {"account": ACCOUNT_STAFF}, {"account/2.csv": account_f2})
    runs.append(migrate(lake.root, db_url))
    runs.append(migrate(lake.root, db_url))  # nothing new
    # arrives after the last run: account and the new table lead are behind
    lake.folder(
        F3,
        {"account": ACCOUNT_STAFF, "lead": CONTACT},
        {"account/3.csv": f'{guid(8)},"Late",True,8\n', "lead/3.csv": f'{guid(31)},"L"\n'},
    )
    return Loaded(lake.root, db_url, runs)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    try:
        executable = ensure_chromium()
    except ChromiumNotAvailable as error:
        pytest.fail(str(error), pytrace=False)
    with Browser.launch(executable, tmp_path_factory.mktemp("chromium-profile")) as started:
        yield started


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("TURBODATA_ARTIFACTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(browser: Browser, loaded: Loaded, artifacts: Path) -> Page:
    report = write_report(loaded.db_url, artifacts / "report.html", lake=loaded.lake)
    opened = browser.new_page(1280, 900)
    opened.goto(report.as_uri())
    return opened


def visible_rows(page: Page, selector: str) -> list[list[str]]:
    """The cells' text as rendered (innerText: what CSS shows, whitespace collapsed)."""
    return page.evaluate(
        f"[...document.querySelectorAll({selector!r})].map("
        "r => [...r.cells].map(c => c.innerText.trim()))"
    )


def test_the_run_results_are_what_the_report_is_built_from(loaded: Loaded) -> None:
    statuses = [run.status for run in loaded.runs]
    assert statuses == ["completed_with_rejects", "succeeded", "succeeded"]


def test_tables_show_status_last_applied_folder_and_lag(page: Page) -> None:
    rows = {row[0]: row for row in visible_rows(page, "#tables-table tbody tr")}

    assert rows["account"] == [
        "account", "unchanged", F2, F3, "1 folder behind, 2 h 30 min", "4", "3", "",
    ]  # fmt: skip
    assert rows["contact"] == ["contact", "unchanged", F1, F1, "up to date", "2", "0", ""]
    assert rows["lead"] == ["lead", "not loaded yet", "—", F3, "1 folder behind", "—", "0", ""]
    assert rows[ODD_TABLE][:5] == [ODD_TABLE, "unchanged", F1, F1, "up to date"]
    # the ledger's tables by name, then those only the lake has
    assert list(rows) == [ODD_TABLE, "account", "contact", "lead"]


def test_chart_has_one_bar_per_run_with_heights_in_proportion(page: Page) -> None:
    bars = page.evaluate(
        "[...document.querySelectorAll('#rows-chart g.run')].map(g => ({"
        " rows: g.querySelector('rect.rows').getBoundingClientRect().height,"
        " rejected: g.querySelector('rect.rejected').getBoundingClientRect().height}))"
    )
    # oldest left: run 1 wrote 6 rows and rejected 3, run 2 wrote 2, run 3 nothing; the
    # tallest bar (9 rows) fills the 160 px plot
    expected = [(160 * 6 / 9, 160 * 3 / 9), (160 * 2 / 9, 0), (0, 0)]
    assert len(bars) == 3
    for bar, (rows, rejected) in zip(bars, expected, strict=True):
        assert bar["rows"] == pytest.approx(rows, abs=0.5)
        assert bar["rejected"] == pytest.approx(rejected, abs=0.5)


def test_rejects_are_grouped_by_reason_with_the_rejected_rows(page: Page) -> None:
    headings = page.evaluate(
        "[...document.querySelectorAll('.reject-group h3')].map(h => h.innerText.trim())"
    )
    assert headings == [
        "2 not a boolean: '…' (expected True, False, 1 or 0)",
        "1 not a bigint: '…' (not an integer)",
    ]
    samples = visible_rows(page, ".reject-group table.samples tbody tr")
    raw_rows = [row[3] for row in samples]
    assert f"{guid(4)},Maybe Ltd,maybe,4" in raw_rows
    assert any(SCRIPT_VALUE in raw for raw in raw_rows)  # shown as text, never run
    assert [row[1] for row in samples] == ["4", "5", "6"]  # the rows' numbers in their file


def test_last_runs_are_listed_newest_first_with_status_and_rows(page: Page, loaded: Loaded) -> None:
    rows = visible_rows(page, "#runs-table tbody tr")
    shown = [(r[0], r[3], r[5], r[6]) for r in rows]
    run1, run2, run3 = (run.run_id for run in loaded.runs)
    assert shown == [
        (run3, "succeeded", "0", "0"),
        (run2, "succeeded", "2", "0"),
        (run1, "completed_with_rejects", "6", "3"),
    ]
    rates = [r[4] for r in rows]  # rows read per second: none read in the third run
    assert rates[0] == "—" and all(int(rate.replace(",", "")) > 0 for rate in rates[1:])


def test_nothing_from_the_data_runs_and_nothing_is_fetched(page: Page) -> None:
    assert page.evaluate("document.title") == "turbodata report"
    # fits the 1280 px window: nothing is cut off to the right
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.evaluate("document.body.dataset.pwned") is None
    assert page.evaluate("document.querySelectorAll('script, img, link, iframe').length") == 0
    assert page.evaluate("performance.getEntriesByType('resource').length") == 0
    assert page.console_messages() == []


def test_screenshot_is_kept_as_an_artifact(page: Page, artifacts: Path) -> None:
    shot = page.screenshot(artifacts / "report.png")
    print(f"report screenshot: {shot}")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    height = int.from_bytes(data[20:24], "big")  # the IHDR chunk: the whole page, not 900 px
    assert height > 900
