"""How times and money are written: the protocol's one time format, and dollars as people read them.

A leaf (it imports nothing of ao_server), so every part of ao can use it without importing the engine.
"""

from __future__ import annotations

import math
import time


def iso(ts: float) -> str:
    """An epoch time as the protocol writes it: UTC, milliseconds, ``2026-11-01T12:00:00.000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1000):03d}Z"


def usd(amount: float) -> str:
    """Dollars as people read them: cents, or two significant digits below one cent ($0.000021)."""
    if amount >= 0.01 or amount <= 0:
        return f"${amount:.2f}"
    return f"${amount:.{1 - math.floor(math.log10(amount))}f}"
