"""SQLAlchemy URLs for each SQL Server driver installed here, from one server URL."""

from __future__ import annotations

import importlib.util

import sqlalchemy as sa

DRIVERS = ("mssqlpython", "pytds", "pyodbc")


def driver_urls(text: str) -> list[str]:
    """`text` itself when it names a driver (`mssql+pytds://…`); for a plain `mssql://…` one
    URL per installed driver."""
    url = sa.engine.make_url(text)
    if url.drivername != "mssql":
        return [text]
    return [u for u in (_for_driver(url, d) for d in DRIVERS) if u is not None]


def _for_driver(url: sa.URL, driver: str) -> str | None:
    module = {"mssqlpython": "mssql_python", "pytds": "sqlalchemy_pytds", "pyodbc": "pyodbc"}
    if importlib.util.find_spec(module[driver]) is None:
        return None
    if driver == "pyodbc":
        return _odbc_url(url)
    query = dict(url.query)
    if driver == "mssqlpython":
        # a local test server without a certificate; bulk copy needs packets under 16 KiB on
        # some servers (Babelfish)
        query = {"Encrypt": "no", "TrustServerCertificate": "yes", "Packet Size": "8192"} | query
    return url.set(drivername=f"mssql+{driver}", query=query).render_as_string(hide_password=False)


def _odbc_url(url: sa.URL) -> str | None:
    import pyodbc

    installed = pyodbc.drivers()
    parts = {
        "SERVER": url.host or "127.0.0.1",
        "PORT": str(url.port or 1433),
        "DATABASE": url.database or "",
        "UID": url.username or "",
        "PWD": url.password or "",
    }
    if "ODBC Driver 18 for SQL Server" in installed:
        parts = {
            "DRIVER": "{ODBC Driver 18 for SQL Server}",
            "SERVER": f"{parts.pop('SERVER')},{parts.pop('PORT')}",
            "Encrypt": "no",
        } | parts
    elif "FreeTDS" in installed:
        # TDS_Version after SERVER: FreeTDS resets it to the server's defaults otherwise
        parts = {"DRIVER": "{FreeTDS}"} | parts | {"TDS_Version": "7.4"}
    else:
        return None
    odbc = ";".join(f"{k}={{{v}}}" if k == "PWD" else f"{k}={v}" for k, v in parts.items())
    return sa.URL.create("mssql+pyodbc", query={"odbc_connect": odbc}).render_as_string(
        hide_password=False
    )
