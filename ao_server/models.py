"""The models OpenCode offers a project, for editors' model pickers and completion (``ao/models``, ``ao models``).

OpenCode is the one authority on which models exist: ``opencode models`` prints
one ``provider/model`` per line, from its built-in catalogue and the providers
configured in ``opencode.json`` (global and the project's own), so it runs in the
project's folder with ``PWD`` set, like an agent does. The project's default model
comes first: ``agentConfig.model`` when set, else the ``model`` of OpenCode's
resolved config (``opencode debug config``).

Both commands run with an absolute binary path, argv only (no shell), the
caller's environment (its ``XDG_*`` dirs decide which OpenCode data is read) and
a timeout. A failure is an :class:`~ao_server.errors.AoError` naming the command
and the last line it printed.

Results are cached per process and per (binary, project folder), because one call
costs OpenCode's start-up (about 2 s); ``refresh`` asks OpenCode again. Callers on
several threads share the cache; concurrent misses for one key run OpenCode once.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .agents.opencode import error_line, strip_ansi
from .config import Config, Project
from .errors import AoError, UsageError
from .formats import iso
from .model import Models
from .orchestrator import MODEL_RE, Orchestrator
from .remote import SshHost

MODEL_TIMEOUT = 60.0  # seconds; a first run on a fresh data dir creates OpenCode's files
MAX_MODELS = 5000


@dataclass(frozen=True)
class ModelList:
    models: tuple[str, ...]
    opencode_default: str | None
    fetched_at: float


_cache: dict[tuple[str, str], ModelList] = {}
_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()


def clear_cache() -> None:
    """Forget every cached list (tests)."""
    with _guard:
        _cache.clear()


def pick_project(config: Config, name: str | None, cwd: Path | None) -> Project:
    """``name``, else the workspace's project (the one containing ``cwd``, or the only one)."""
    if name:
        return config.project(name)
    proj = config.default_project(cwd)
    if proj is None:
        raise UsageError(
            f"which project? name one (projects in {config.describe_source()}: {', '.join(sorted(config.projects))})"
        )
    return proj


def models_for(orch: Orchestrator, project: str | None, cwd: Path | None, refresh: bool = False) -> Models:
    """:func:`project_models` with the orchestrator's config, agent binary and environment."""
    agent = orch.agent()
    if agent.name != "opencode":
        raise AoError(f"listing models needs the opencode agent; plugins.agent is {agent.name!r}")
    proj = pick_project(orch.config, project, cwd)
    host = orch.config.host_of(proj)
    if host is not None:  # OpenCode on the host, over ssh, in the project's folder there
        from .runtimes.ssh import SshRuntime

        rt = orch.runtime(SshRuntime.name)
        assert isinstance(rt, SshRuntime)
        return project_models(
            orch.config, host.opencode, orch.env, project=proj.name, cwd=cwd, refresh=refresh, remote=rt.conn(host)
        )
    binary = agent.check_installed()
    agent.prepare(binary, orch.store.state_dir)  # OpenCode's database first: two OpenCode processes on a fresh one race
    return project_models(orch.config, binary, orch.env, project=project, cwd=cwd, refresh=refresh)


def project_models(
    config: Config,
    binary: str,
    env: Mapping[str, str],
    *,
    project: str | None = None,
    cwd: Path | None = None,
    refresh: bool = False,
    remote: SshHost | None = None,
) -> Models:
    """OpenCode's models with the project's default first (``remote``: asked on the project's host)."""
    proj = pick_project(config, project, cwd)
    if remote is None and not proj.path.is_dir():
        raise AoError(
            f"project {proj.name}: path {proj.path} does not exist or is not a folder; "
            f"fix projects[].path in {config.describe_source()}"
        )
    folder = proj.path.resolve() if remote is None else proj.path
    key = (binary, str(folder) if remote is None else f"{remote.host.name}:{folder}")
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        cached = None if refresh else _cache.get(key)
        if cached is None:
            listed = fetch(binary, folder, env, remote)
            with _guard:
                _cache[key] = listed
        else:
            listed = cached
    default = proj.agent_config.model or listed.opencode_default
    models = [m for m in listed.models if m != default]
    if default:
        models.insert(0, default)
    return Models(
        project=proj.name,
        models=models,
        default=default,
        cached=cached is not None,
        fetched_at=iso(listed.fetched_at),
    )


# On a host: $1 the folder, then the command.
RUN_IN = 'cd "$1" || { echo "Error: there is no folder $1 on this host" >&2; exit 3; }; shift; exec "$@"'


def fetch(binary: str, folder: Path, env: Mapping[str, str], remote: SshHost | None = None) -> ModelList:
    """Run ``opencode models`` and ``opencode debug config`` (side by side) in ``folder`` (on ``remote``'s host)."""
    run_env = {**env, "PWD": str(folder)}
    if remote is not None:
        from .remote import command_line

        ssh = [*remote.ssh_argv(), "--", remote.host.ssh]
        models = _start([*ssh, command_line(RUN_IN, [str(folder), binary, "models"])], None, os.environ)
        config = _start([*ssh, command_line(RUN_IN, [str(folder), binary, "debug", "config"])], None, os.environ)
    else:
        models = _start([binary, "models"], folder, run_env)
        config = _start([binary, "debug", "config"], folder, run_env)
    try:
        out, err, code = _finish(models, "opencode models")
        if code != 0:
            said = _what_it_said(err) or _what_it_said(out) or "no output"
            raise AoError(
                f"`{binary} models` failed (exit code {code}): {said}; run it in {folder} to see more "
                "(check opencode.json there and in ~/.config/opencode)"
            )
        lines = [line.strip() for line in out.splitlines()]
        names = tuple(dict.fromkeys(x for x in lines if _looks_like_model(x)))[:MAX_MODELS]
        opencode_default: str | None = None
        try:
            cfg_out, _, cfg_code = _finish(config, "opencode debug config")
            if cfg_code == 0:
                value = json.loads(cfg_out).get("model")
                if isinstance(value, str) and _looks_like_model(value):
                    opencode_default = value
        except (AoError, ValueError, AttributeError):
            opencode_default = None  # the list is still useful without the default
    finally:
        for proc in (models, config):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return ModelList(models=names, opencode_default=opencode_default, fetched_at=time.time())


def _start(argv: list[str], cwd: Path | None, env: Mapping[str, str]) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
    except OSError as e:
        raise AoError(f"cannot run {argv[0]}: {e.strerror or e}; set AO_OPENCODE_BIN to a working opencode") from None


def _finish(proc: subprocess.Popen[str], what: str) -> tuple[str, str, int]:
    try:
        out, err = proc.communicate(timeout=MODEL_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AoError(
            f"`{what}` did not answer within {MODEL_TIMEOUT:g} s; run it by hand to see what it waits for"
        ) from None
    return out, err, proc.returncode


def _looks_like_model(text: str) -> bool:
    return "/" in text and " " not in text and bool(MODEL_RE.fullmatch(text))


def _what_it_said(text: str) -> str:
    """OpenCode's error line (the agent plugin's reader), else its last line; at most 300 characters."""
    said = error_line(text)
    if said is None:
        lines = [line.strip() for line in strip_ansi(text).splitlines() if line.strip()]
        said = lines[-1] if lines else ""
    return said if len(said) <= 300 else said[:297] + "..."
