"""``python -m ao_server``: run the editor-facing server (the same as ``ao-server``)."""

from .server import main

if __name__ == "__main__":
    raise SystemExit(main())
