"""ao-server: run and watch OpenCode agents from editors and the ``ao`` command line."""

__version__ = "0.1.0"
