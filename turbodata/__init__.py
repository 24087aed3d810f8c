"""turbodata: Dynamics 365 / Dataverse lake exports (CSV + CDM metadata) into SQL databases."""

from turbodata.pipeline import discover_tables, migrate
from turbodata.summary import RunSummary

__version__ = "0.1.0"
__all__ = ["RunSummary", "__version__", "discover_tables", "migrate"]
