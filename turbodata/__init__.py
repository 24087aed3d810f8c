"""turbodata: Dynamics 365 / Dataverse lake exports (CSV + CDM metadata) into SQL databases."""

from turbodata.pipeline import RunSummary, discover_tables, migrate

__version__ = "0.1.0"
__all__ = ["RunSummary", "__version__", "discover_tables", "migrate"]
