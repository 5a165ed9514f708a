"""Name -> plugin class, from our built-ins plus third-party entry points."""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

from .errors import ConfigError

log = logging.getLogger(__name__)

BUILTIN_AGENTS = {"opencode": "ao_server.agents.opencode:OpenCodeAgent"}
BUILTIN_RUNTIMES = {
    "tmux": "ao_server.runtimes.tmux:TmuxRuntime",
    "process": "ao_server.runtimes.process:ProcessRuntime",
    "live": "ao_server.runtimes.live:LiveRuntime",
    "ssh": "ao_server.runtimes.ssh:SshRuntime",
}


def _discover(group: str, builtins: dict[str, str]) -> dict[str, str]:
    from importlib.metadata import entry_points  # scanning the installed distributions takes tens of ms

    found = dict(builtins)
    try:
        for ep in entry_points(group=group):
            found.setdefault(ep.name, ep.value)
    except Exception:  # a broken third-party distribution must not break us
        log.exception("reading entry points for %s failed", group)
    return found


def agent_names() -> list[str]:
    return sorted(_discover("ao_server.agents", BUILTIN_AGENTS))


def runtime_names() -> list[str]:
    return sorted(_discover("ao_server.runtimes", BUILTIN_RUNTIMES))


def _load(kind: str, group: str, builtins: dict[str, str], name: str) -> Any:
    # A built-in name is never another's (entry points only add names): no need to scan for it.
    table = builtins if name in builtins else _discover(group, builtins)
    if name not in table:
        raise ConfigError(f"unknown {kind} plugin {name!r}; available: {', '.join(sorted(table))}")
    module, _, attr = table[name].partition(":")
    try:
        return getattr(import_module(module), attr)
    except Exception as e:
        raise ConfigError(f"the {kind} plugin {name!r} ({table[name]}) failed to load: {e}") from None


def load_agent_class(name: str) -> Any:
    return _load("agent", "ao_server.agents", BUILTIN_AGENTS, name)


def load_runtime_class(name: str) -> Any:
    return _load("runtime", "ao_server.runtimes", BUILTIN_RUNTIMES, name)
