"""ao-server, the editor-facing server: see :mod:`.app` (state and dispatch), :mod:`.handlers`,
:mod:`.poller` and :mod:`.transport` (stdio and pygls)."""

from .app import AoServer, create_server, main

__all__ = ["AoServer", "create_server", "main"]
