"""Placeholder until the server lands (issue 5)."""

import sys


def main() -> int:
    print("ao-server: not implemented yet", file=sys.stderr)
    return 1
