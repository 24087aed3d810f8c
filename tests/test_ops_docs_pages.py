"""The README is a front page and docs/ holds the rest (issue 14): every page is reachable from
the README's index, every relative link leads to a file, and the pages the issue asks for
exist. That the console examples print what the pages show is tests/test_trust_cli_readme.py.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# what the issue names: Azure deployment, configuration, Data Factory, reruns, rejects,
# security, troubleshooting, architecture
REQUIRED = {
    "azure.md",
    "deploy.md",
    "configuration.md",
    "reruns.md",
    "rejects.md",
    "security.md",
    "troubleshooting.md",
    "architecture.md",
}


def relative_links(page: Path) -> list[str]:
    return [
        t for t in LINK.findall(page.read_text()) if "://" not in t and not t.startswith("mailto:")
    ]


def readme_index() -> str:
    text = README.read_text()
    return text[text.index("## Documentation") :]


def test_every_docs_page_is_in_the_readme_index() -> None:
    linked = {Path(t).name for t in relative_links(README) if t.startswith("docs/")}
    index = readme_index()
    missing = [p.name for p in PAGES if p.name not in linked or f"docs/{p.name}" not in index]
    assert not missing, f"docs pages not in the README's index: {missing}"


def test_every_relative_link_leads_to_a_file() -> None:
    broken = [
        f"{page.relative_to(REPO)} -> {target}"
        for page in [README, *PAGES]
        for target in relative_links(page)
        if not (page.parent / target).resolve().exists()
    ]
    assert not broken, broken


def test_the_pages_the_issue_asks_for_exist() -> None:
    assert {p.name for p in PAGES} >= REQUIRED


def test_the_readme_is_a_front_page() -> None:
    """Three lines of what it does, the two commands, a quickstart, the index; the rest is in
    docs/ (the README was 37 KB)."""
    text = README.read_text()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings[0] == "Two commands on a fresh machine"
    assert "Documentation" in headings and any("sample lake" in h for h in headings)
    assert "./scripts/demo" in text and "./scripts/test" in text
    assert len(text.encode()) < 12_000, len(text.encode())
