"""Fixtures shared by every test; see tests/support/bed.py for the test bed itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bed import Bed, make_bed, opencode_binary


@pytest.fixture(scope="session")
def opencode() -> str:
    """Absolute path of the pinned real OpenCode (installed into the cache on first use)."""
    return opencode_binary()


@pytest.fixture
def bed(tmp_path: Path, opencode: str) -> Iterator[Bed]:
    """An isolated world with the fake model, the real OpenCode and a private tmux socket."""
    yield from make_bed(tmp_path, opencode)
