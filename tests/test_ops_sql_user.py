"""infra/sql/create_user.sql: the least rights, checked from the text (no SQL Server here).

The script must create the identity's user from Entra, give it a schema of its own and the
CREATE TABLE permission, and nothing else: no fixed role, no grant on another schema. It must
stop at the first error (a THROW must not be followed by the next batch) and take its names
only from the two sqlcmd variables the docs describe.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "infra" / "sql" / "create_user.sql"


def statements() -> str:
    """The script without its comments, upper-cased."""
    text = SCRIPT.read_text()
    return re.sub(r"--[^\n]*", "", text).upper()


def test_it_stops_at_the_first_error() -> None:
    assert SCRIPT.read_text().splitlines()[0] == ":on error exit"
    assert "SET XACT_ABORT ON" in statements()


def test_the_user_comes_from_entra_with_its_own_default_schema() -> None:
    code = statements()
    assert "CREATE USER [$(IDENTITYNAME)] FROM EXTERNAL PROVIDER" in code
    assert "WITH DEFAULT_SCHEMA = [$(SCHEMANAME)]" in code
    assert "CREATE SCHEMA [$(SCHEMANAME)] AUTHORIZATION [$(IDENTITYNAME)]" in code


def test_the_only_grant_is_create_table_and_no_role_is_given() -> None:
    code = statements()
    assert re.findall(r"\bGRANT\b[^;]*;", code) == ["GRANT CREATE TABLE TO [$(IDENTITYNAME)];"]
    for broad in ("ALTER ROLE", "SP_ADDROLEMEMBER", "DB_OWNER", "DB_DDLADMIN", "DB_DATAWRITER"):
        assert broad not in code, broad
    assert "ALTER AUTHORIZATION ON" not in code  # another's schema is never taken over


def test_a_schema_owned_by_someone_else_or_a_built_in_one_stops_the_script() -> None:
    code = statements()
    assert re.search(r"<> DATABASE_PRINCIPAL_ID\(N'\$\(IDENTITYNAME\)'\)\s+THROW", code)
    assert "N'DBO'" in code and "THROW 50000, N'SCHEMANAME MUST BE A SCHEMA OF ITS OWN" in code


def test_its_variables_are_the_ones_the_docs_pass() -> None:
    used = set(re.findall(r"\$\((\w+)\)", SCRIPT.read_text()))
    assert used == {"IdentityName", "SchemaName"}
    doc = (REPO / "docs" / "sql-user.md").read_text()
    for name in used:
        assert f'-v {name}="' in doc or f' {name}="' in doc, name
        assert f"`{name}`" in doc, name
    assert "`identityName`" in doc  # the Bicep output that names the identity
    assert "output identityName string" in (REPO / "infra" / "main.bicep").read_text()
