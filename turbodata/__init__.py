"""turbodata: Dynamics 365 / Dataverse lake exports (CSV + CDM metadata) into SQL databases."""

__version__ = "0.1.0"
