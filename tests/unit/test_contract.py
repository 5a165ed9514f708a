"""One contract: the schema generated from the typed values, and every hand-written copy checked against it.

docs/protocol.schema.json must be what ``python -m ao_server.schema`` prints;
the VS Code extension's TypeScript types, the Neovim plugin's LuaCATS
annotations and docs/protocol.md must name exactly the fields the schema has,
with the same enum values. A new field in ao_server/model.py fails here until
every copy has it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ao_server import protocol as p
from ao_server.schema import render, schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]

# TypeScript interface / Lua class -> schema definition
TS_TYPES = {
    "Session": "Session",
    "Outcome": "Outcome",
    "Cost": "Cost",
    "Tokens": "Tokens",
    "SessionSummary": "Summary",
    "Workspace": "Workspace",
    "StatusChanged": "StatusChange",
    "ProjectInfo": "ProjectInfo",
    "SessionBrief": "SessionBrief",
    "AttachInfo": "Attach",
    "ListResult": "SessionList",
    "StatusResult": "StatusPage",
    "ModelsResult": "Models",
    "LogsResult": "Logs",
    "BudgetState": "BudgetState",
    "CostReport": "CostReport",
    "CostGroup": "CostGroup",
    "CostTotal": "CostTotal",
    "CostLimits": "CostLimits",
    "ChangedFile": "ChangedFile",
    "ChangesBase": "ChangesBase",
    "ChangesHead": "ChangesHead",
    "ChangesResult": "Changes",
    "FileSide": "FileSide",
    "FileDiffResult": "FileDiff",
    "MergeResult": "Merge",
    "DiscardResult": "Discard",
    "ReviewNote": "ReviewNote",
    "InputRequest": "InputRequest",
    "InputRequested": "InputRequested",
    "Question": "Question",
    "QuestionOption": "QuestionOption",
    "HostInfo": "HostInfo",
    "HostsResult": "Hosts",
}
LUA_TYPES = {
    "ao.Session": "Session",
    "ao.Outcome": "Outcome",
    "ao.Cost": "Cost",
    "ao.Tokens": "Tokens",
    "ao.Summary": "Summary",
    "ao.Workspace": "Workspace",
    "ao.StatusChanged": "StatusChange",
    "ao.AttachInfo": "Attach",
    "ao.BudgetState": "BudgetState",
    "ao.ChangedFile": "ChangedFile",
    "ao.Changes": "Changes",
    "ao.FileSide": "FileSide",
    "ao.FileDiff": "FileDiff",
    "ao.Merge": "Merge",
    "ao.InputRequest": "InputRequest",
    "ao.InputRequested": "InputRequested",
    "ao.Question": "Question",
    "ao.HostInfo": "HostInfo",
    "ao.Hosts": "Hosts",
}


def assert_same_fields(name: str, have: set[str], want: set[str]) -> None:
    assert have == want, f"{name}: missing {sorted(want - have)}, extra {sorted(have - want)}"


def enum_values(prop: dict[str, Any]) -> set[str] | None:
    values = prop.get("enum")
    return None if values is None else {v for v in values if v is not None}


def test_the_schema_file_is_generated_from_the_types() -> None:
    on_disk = (ROOT / "docs" / "protocol.schema.json").read_text()
    assert on_disk == render(), "run: python -m ao_server.schema > docs/protocol.schema.json"
    assert set(SCHEMA["methods"]) == set(p.METHODS)
    assert set(SCHEMA["notifications"]) == {p.STATUS_CHANGED, p.INPUT_REQUESTED}


def test_no_snake_case_reaches_the_wire() -> None:
    for name, d in DEFS.items():
        for prop in d["properties"]:
            assert "_" not in prop, f"{name}.{prop}"


# --- TypeScript ---------------------------------------------------------------------------------


def ts_declarations(text: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """``export interface X { a?: T; }`` -> {X: {a: T}} (depth-1 fields) and ``export type Y = ...;`` aliases."""
    interfaces: dict[str, dict[str, str]] = {}
    for m in re.finditer(r"export interface (\w+)[^{]*\{", text):
        depth, i, body_start = 1, m.end(), m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[body_start : i - 1]
        fields: dict[str, str] = {}
        depth = 0
        for line in body.splitlines():
            if depth == 0:
                f = re.match(r"\s*(\w+)\??:\s*(.+?);?\s*$", line)
                if f:
                    fields[f.group(1)] = f.group(2)
            depth += line.count("{") - line.count("}")
        interfaces[m.group(1)] = fields
    aliases = {m.group(1): m.group(2) for m in re.finditer(r"export type (\w+) = ([^;]+);", text)}
    return interfaces, aliases


def ts_literals(type_text: str, aliases: dict[str, str]) -> set[str] | None:
    parts = [t.strip() for t in type_text.split("|")]
    out: set[str] = set()
    for t in parts:
        if t in aliases:
            t_lits = ts_literals(aliases[t], aliases)
            if t_lits is None:
                return None
            out |= t_lits
        elif re.fullmatch(r"'[^']*'", t):
            out.add(t.strip("'"))
        elif t != "null":
            return None
    return out or None


@pytest.mark.parametrize(("ts_name", "def_name"), sorted(TS_TYPES.items()))
def test_typescript_types_match_the_schema(ts_name: str, def_name: str) -> None:
    text = (ROOT / "vscode-extension" / "src" / "common" / "protocol.ts").read_text()
    interfaces, aliases = ts_declarations(text)
    assert ts_name in interfaces, f"protocol.ts has no interface {ts_name}"
    fields = interfaces[ts_name]
    props = DEFS[def_name]["properties"]
    assert_same_fields(ts_name, set(fields), set(props))
    for name, prop in props.items():
        want = enum_values(prop)
        if want is not None:
            assert ts_literals(fields[name], aliases) == want, f"{ts_name}.{name}: {fields[name]} vs {sorted(want)}"


# --- Lua ------------------------------------------------------------------------------------------


def lua_classes(text: str) -> dict[str, dict[str, str]]:
    classes: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        c = re.match(r"---@class ([\w.]+)", line)
        if c:
            current = classes.setdefault(c.group(1), {})
            continue
        f = re.match(r"---@field (\w+)\??\s+(\S+)", line)
        if f and current is not None:
            current[f.group(1)] = f.group(2)
        elif not line.startswith("---"):
            current = None
    return classes


@pytest.mark.parametrize(("lua_name", "def_name"), sorted(LUA_TYPES.items()))
def test_lua_annotations_match_the_schema(lua_name: str, def_name: str) -> None:
    text = "\n".join(f.read_text() for f in sorted((ROOT / "editors" / "nvim" / "lua" / "ao").glob("*.lua")))
    classes = lua_classes(text)
    assert lua_name in classes, f"no ---@class {lua_name} in editors/nvim/lua/ao"
    fields = classes[lua_name]
    props = DEFS[def_name]["properties"]
    assert_same_fields(lua_name, set(fields), set(props))
    for name, prop in props.items():
        want = enum_values(prop)
        if want is not None:
            got = {t.strip('"') for t in fields[name].split("|") if t.startswith('"')}
            assert got == want, f"{lua_name}.{name}: {fields[name]} vs {sorted(want)}"


# --- docs/protocol.md -----------------------------------------------------------------------------


def test_protocol_md_names_every_field_and_param() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    section = text.split("## The session object", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for row in re.findall(r"^\| (`[^|]+) \|", section, re.M):
        documented |= set(re.findall(r"`(\w+)`", row))
    assert documented == set(DEFS["Session"]["properties"]), (
        f"session table: missing {set(DEFS['Session']['properties']) - documented}, "
        f"extra {documented - set(DEFS['Session']['properties'])}"
    )
    example = json.loads(re.search(r"```json\n(\{.*?\})\n```", section, re.S).group(1))  # type: ignore[union-attr]
    assert set(example) == set(DEFS["Session"]["properties"]), "the session example"
    for method in p.METHODS:
        head = f"\n## {method}\n"
        assert head in text, f"docs/protocol.md has no section {method}"
        body = text.split(head, 1)[1].split("\n## ", 1)[0]
        params = {k for k in SCHEMA["methods"][method]["params"]["properties"] if k != "workDoneToken"}
        listed = re.search(r"Params:\s*`\{([^}]*)\}`", body)
        if not params:
            continue
        assert listed, f"{method}: no `Params: {{...}}` line"
        assert {x.strip(" ?") for x in listed.group(1).split(",")} == params, f"{method} params"
