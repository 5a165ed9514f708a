"""How ``ao/merge`` brings a session's branch into its base (the ``strategy`` of its params).

Its own module, with nothing but the standard library, so that the command line can list the
choices in its parser (``ao --help``) without loading the model's dataclasses; :mod:`.model`
re-exports it.
"""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    """How ``ao/merge`` brings a session's branch into its base."""

    AUTO = "auto"  # fast-forward when the base has not moved, else a merge commit (git's default)
    FF = "ff"  # fast-forward only; refused when the base has moved
    MERGE = "merge"  # always a merge commit
    SQUASH = "squash"  # one commit on the base with all of the session's changes
