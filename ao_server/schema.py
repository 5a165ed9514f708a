"""The JSON Schema of the wire, generated from the typed values (``python -m ao_server.schema``).

``docs/protocol.schema.json`` is this module's output; the tests check that it
is current and that the TypeScript types of the VS Code extension, the LuaCATS
annotations of the Neovim plugin and docs/protocol.md name the same fields, so
a new field cannot drift. To add a field: add it to the dataclass in
:mod:`ao_server.model`, run ``python -m ao_server.schema > docs/protocol.schema.json``,
then follow the failing tests.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from enum import Enum
from typing import Any

from . import model as m
from . import protocol as p

SCHEMA_ID = "https://github.com/ao-server/ao-server/docs/protocol.schema.json"


class _Builder:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def ref(self, cls: type[Any]) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # reserve first: recursive types
            self.defs[name] = self.object(cls)
        return {"$ref": f"#/$defs/{name}"}

    def object(self, cls: type[Any], *, params: bool = False) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        props: dict[str, Any] = {}
        required: list[str] = []
        for f in dataclasses.fields(cls):
            name = p.camel(f.name)
            props[name] = self.type(hints[f.name])
            doc = _comment(cls, f.name)
            if doc:
                props[name] = {**props[name], "description": doc}
            if (params and f.metadata.get("required")) or not params:
                required.append(name)
        out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
            out["description"] = " ".join(cls.__doc__.split())
        if required:
            out["required"] = required
        return out

    def type(self, hint: Any) -> dict[str, Any]:
        origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType):
            parts = [self.type(a) for a in typing.get_args(hint)]
            simple = [x["type"] for x in parts if set(x) == {"type"} and isinstance(x["type"], str)]
            if len(simple) == len(parts):  # int | str | None -> {"type": ["integer", "string", "null"]}
                return {"type": simple}
            enums = [x for x in parts if "enum" in x]
            if len(parts) == 2 and enums and {"type": "null"} in parts:  # an enum or null
                return {"type": ["string", "null"], "enum": [*enums[0]["enum"], None]}
            return {"anyOf": parts}
        if origin is list:
            return {"type": "array", "items": self.type(typing.get_args(hint)[0])}
        if hint is type(None):
            return {"type": "null"}
        if hint is bool:
            return {"type": "boolean"}
        if hint is int:
            return {"type": "integer"}
        if hint is float:
            return {"type": "number"}
        if hint is str:
            return {"type": "string"}
        if isinstance(hint, type) and issubclass(hint, Enum):
            return {"type": "string", "enum": [e.value for e in hint]}
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return self.ref(hint)
        raise TypeError(f"no JSON Schema for {hint!r}")


def _comment(cls: type[Any], field: str) -> str | None:
    """The ``# comment`` after a field in the class's source, as its description."""
    import inspect

    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(f"{field}:") and "  # " in stripped:
            return stripped.split("  # ", 1)[1].strip()
    return None


def schema() -> dict[str, Any]:
    """Every method (params and result) and notification of the protocol."""
    b = _Builder()
    methods = {
        name: {"params": b.object(p.PARAMS[name], params=True), "result": b.type(p.RESULTS[name])} for name in p.METHODS
    }
    notifications = {name: {"params": b.ref(cls)} for name, cls in p.NOTIFICATIONS.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "ao-server protocol",
        "description": "Generated from ao_server/model.py by `python -m ao_server.schema`; "
        "docs/protocol.md explains it.",
        "methods": methods,
        "notifications": notifications,
        "$defs": dict(sorted(b.defs.items())),
    }


def render() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
    _ = m  # the types live there
