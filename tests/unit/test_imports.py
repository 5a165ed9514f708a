"""No import cycle anywhere in ``ao_server``, and front doors that import only what a command uses.

The graph is read from the source with :mod:`ast`, not from ``sys.modules``: every ``import`` and
``from ... import`` of an ``ao_server`` module, relative or absolute, at module level or inside a
function, counts. Only the imports under ``if TYPE_CHECKING:`` are left out (they never run).
A cycle of late imports still ties its modules together: none of them can be understood, tested or
moved alone, and the late import only hides the knot from the interpreter.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ao_server"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The ``ao_server`` modules ``name`` imports anywhere in its file, ``TYPE_CHECKING`` blocks aside."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def target(base: str, names: list[str]) -> None:
        for n in names:  # ``from pkg import mod`` imports the module pkg.mod
            if f"{base}.{n}" in known:
                found.add(f"{base}.{n}")
            elif base in known:
                found.add(base)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                for i in range(len(parts), 0, -1):  # ``import a.b.c`` runs a.b.c (the deepest we know)
                    if ".".join(parts[:i]) in known:
                        found.add(".".join(parts[:i]))
                        break
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base.split(".")[0] == "ao_server":
                target(base, [a.name for a in node.names])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imported(name, path, known) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path back to its start) for each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)

    found = []
    for group in groups:
        start = min(group)
        # the shortest way back to ``start`` inside the group (breadth first)
        prev: dict[str, str] = {}
        frontier = [start]
        path: list[str] = []
        while frontier and not path:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & group):
                    if w == start:
                        path = [w]
                        while v != start:
                            path.append(v)
                            v = prev[v]
                        path.append(start)
                        path.reverse()
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if path:
                    break
            frontier = nxt
        inside = sorted(f"{v} -> {w}" for v in group for w in graph[v] & group)
        found.append([*path, f"(every import inside the knot: {'; '.join(inside)})"])
    return found


def test_the_graph_sees_late_and_relative_imports() -> None:
    graph = import_graph()
    assert "ao_server.config" in graph["ao_server.cli"] or "ao_server.errors" in graph["ao_server.cli"]
    assert "ao_server.server.app" in graph["ao_server.server"]  # from .app import ... in a package __init__
    assert "ao_server.agents.opencode_db" in graph["ao_server.agents.opencode"]  # only function-local there


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles in ao_server:\n" + "\n".join(" -> ".join(c) for c in found)


def test_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a", "(every import inside the knot: a -> b; b -> c; c -> a)"]]



def _loaded(code: str, tmp: Path) -> set[str]:
    """The modules a fresh interpreter has after ``code``, in an empty, private environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AO_", "XDG_"))}
    env.update(PYTHONPATH=str(ROOT), HOME=str(tmp), AO_STATE_DIR=str(tmp / "state"), XDG_DATA_HOME=str(tmp / "data"))
    (tmp / "agent-orchestrator.yaml").write_text("plugins:\n  runtime: process\nprojects:\n  - name: p\n    path: .\n")
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, env=env, check=True, cwd=tmp).stdout
    return set(out.split())


# What no front door loads before a command needs it: the wire's converter, the runtimes, git and review, the
# model list, the third-party plugin scan.
HEAVY = {"cattrs", "psutil", "importlib.metadata", "ao_server.protocol", "ao_server.review", "ao_server.workspace",
         "ao_server.models", "ao_server.remote", "ao_server.runtimes.common", "ao_server.runtimes.live",
         "ao_server.runtimes.ssh", "ao_server.runtimes.tmux", "ao_server.runtimes.process", "ao_server.agents.opencode"}
# ... and what `ao --help` needs none of: the engine, its config and store.
ENGINE = {"yaml", "ao_server.model", "ao_server.config", "ao_server.store", "ao_server.orchestrator"}


@pytest.mark.parametrize("argv", [["--help"], ["spawn", "--help"], ["merge", "--help"]])
def test_help_loads_no_engine(argv: list[str], tmp_path: Path) -> None:
    code = f"import ao_server.cli\ntry:\n    ao_server.cli.main({argv!r})\nexcept SystemExit:\n    pass"
    assert (HEAVY | ENGINE) & _loaded(code, tmp_path) == set()


def test_status_of_exited_sessions_loads_no_runtime(tmp_path: Path) -> None:
    code = "import ao_server.cli\nassert ao_server.cli.main(['status']) == 0"
    loaded = _loaded(code, tmp_path)
    assert "ao_server.orchestrator" in loaded
    assert HEAVY & loaded == set()
