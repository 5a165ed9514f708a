"""Fixtures shared by every test; see tests/support/bed.py for the test bed itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.bed import Bed, make_bed, opencode_binary
from tests.support.hosts import Hosts, hosts_fixture


@pytest.fixture(scope="session")
def opencode() -> str:
    """Absolute path of the pinned real OpenCode (installed into the cache on first use)."""
    return opencode_binary()


@pytest.fixture
def bed(tmp_path: Path, opencode: str) -> Iterator[Bed]:
    """An isolated world with the fake model, the real OpenCode and a private tmux socket."""
    yield from make_bed(tmp_path, opencode)


@pytest.fixture
def test_hosts(tmp_path: Path, opencode: str) -> Iterator[Callable[..., Hosts]]:
    """``make(n=2)`` -> n running SSH test hosts h1..hn (network namespaces with their own sshd and fake model;
    see tests/support/hosts.py), all stopped and deleted after the test. Skips when this machine cannot make
    them (not root, no sshd, ...), but fails under CI=true."""
    yield from hosts_fixture(tmp_path, opencode)
