"""Every answer and notification the real server sends, checked against docs/protocol.schema.json."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "protocol.schema.json"


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())  # type: ignore[no-any-return]


def _check(where: str, part: dict[str, Any], value: Any) -> None:
    schema = _schema()
    wrapped = {**part, "$defs": schema["$defs"]}
    errors = sorted(jsonschema.Draft202012Validator(wrapped).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        path = "/".join(str(x) for x in first.path) or "(top)"
        raise AssertionError(f"{where} does not match docs/protocol.schema.json at {path}: {first.message}")


def check_result(method: str, result: Any) -> Any:
    """``result`` of ``method`` as the schema says; returns it, for chaining."""
    methods = _schema()["methods"]
    if method in methods:
        _check(f"the result of {method}", methods[method]["result"], result)
    return result


def check_notification(method: str, params: Any) -> Any:
    notes = _schema()["notifications"]
    if method in notes:
        _check(f"{method}", notes[method]["params"], params)
    return params
