"""turbodata: Dynamics 365 / Dataverse lake exports (CSV + CDM metadata) into SQL databases."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from turbodata.load.options import LoadOptions
    from turbodata.pipeline import discover_tables, migrate
    from turbodata.summary import RunSummary

__version__ = "0.1.0"
__all__ = ["LoadOptions", "RunSummary", "__version__", "discover_tables", "migrate"]

# Design: the API is imported on first use (PEP 562), not with the package: `import turbodata`
# and `turbodata --version` then load neither SQLAlchemy nor pyarrow (a fifth of a second).
_LAZY = {
    "discover_tables": "turbodata.pipeline",
    "migrate": "turbodata.pipeline",
    "RunSummary": "turbodata.summary",
    "LoadOptions": "turbodata.load.options",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:  # also how `from turbodata import ledger` finds the submodule
        raise AttributeError(f"module 'turbodata' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
