"""The ways a batch is loaded, and why a try is rolled back to load it again another way.

Each reason a try gives up (`LoadAgain`) turns off the way that failed (`next_try`), so a
batch is tried at most once per way: first the fast one (types from its first rows, keyed
rows straight into a table it created), then, only where the data needs it, the general one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class How:
    """How a batch is loaded."""

    sized_numbers: bool = False  # number columns sized by their values, not their metadata
    direct: bool = True  # keyed rows into a table the batch created go in without staging
    one_pass: bool = True  # types from the first rows, checked against the rest as it loads


class LoadAgain(Exception):
    """The batch was rolled back and loads again another way (`next_try`)."""

    def next_try(self, how: How) -> How:
        raise NotImplementedError


class NumbersOutgrowTypes(LoadAgain):
    """A value needs a wider number type than its column's: load the batch again, widened."""

    def next_try(self, how: How) -> How:
        return replace(how, sized_numbers=True, one_pass=False)

    def __str__(self) -> str:
        return f"{super().__str__()}; widening"


class TypesNeedAllRows(LoadAgain):
    """The rows after the first ones need other types: load again after a full type pass."""

    def next_try(self, how: How) -> How:
        return replace(how, one_pass=False)

    def __str__(self) -> str:
        return f"{super().__str__()}; loading again after a type pass over every row"


class RepeatedKeys(LoadAgain):
    """A key came twice in a batch inserted without staging: load it again through staging."""

    def next_try(self, how: How) -> How:
        return replace(how, direct=False)

    def __str__(self) -> str:
        return f"a key comes more than once ({super().__str__()}); loading through staging"
