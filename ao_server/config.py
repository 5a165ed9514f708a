"""Loading and validating ``agent-orchestrator.yaml``.

Search order: an explicit path (``--config`` / ``initializationOptions.configPath``),
then ``$AO_CONFIG``, then ``./agent-orchestrator.yaml`` searching upward from the
working directory, then ``~/.config/agent-orchestrator/agent-orchestrator.yaml``
(honouring ``$XDG_CONFIG_HOME``). With no file at all the embedded default
serves: the working directory is one project named after its folder.

Errors name the file, the line and the key, say what was expected and, for
unknown keys, suggest the closest known one.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError

CONFIG_NAME = "agent-orchestrator.yaml"
PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WORKSPACE_MODES = ("none", "worktree")


BUDGET_SCOPES = ("session", "project", "day")


@dataclass(frozen=True)
class Budget:
    """Spending limits in USD; None where there is none.

    ``session``: one session's cost; ``project``: everything the project's sessions cost;
    ``day``: what the project's sessions started today (local time) cost.
    """

    session: float | None = None
    project: float | None = None
    day: float | None = None

    def over(self, defaults: Budget) -> Budget:
        """These limits, with ``defaults`` where this one sets none."""
        return Budget(
            session=self.session if self.session is not None else defaults.session,
            project=self.project if self.project is not None else defaults.project,
            day=self.day if self.day is not None else defaults.day,
        )


@dataclass(frozen=True)
class AgentConfig:
    model: str | None = None
    prompt: str | None = None
    mode: str = "run"  # run: `opencode run` per agent; live: a session of the shared `opencode serve`
    keep_alive: bool = False  # live: the session stays running (waiting for ao send) after its turn


HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# An ssh destination: [user@]host, or ssh://[user@]host[:port]; never an option (-...), never whitespace.
SSH_DEST_RE = re.compile(r"^(ssh://)?([A-Za-z0-9._+-]+@)?[A-Za-z0-9_.:\[\]%-]+$")
DEFAULT_REMOTE_STATE_DIR = ".local/state/ao-server"  # relative: under the remote user's home


@dataclass(frozen=True)
class Host:
    """A machine reached over the user's own OpenSSH (``hosts:`` in the config)."""

    name: str
    ssh: str  # the destination given to ssh: user@host, an alias of ~/.ssh/config, ssh://user@host:port
    ssh_config: Path | None = None  # ssh -F <file>; None: the user's own ~/.ssh/config
    opencode: str = "opencode"  # the opencode executable on that host (a name looked up on its PATH, or a path)
    state_dir: str = DEFAULT_REMOTE_STATE_DIR  # on that host; relative paths are under its user's home


@dataclass(frozen=True)
class Project:
    name: str
    path: Path
    agent_config: AgentConfig = field(default_factory=AgentConfig)
    runtime: str | None = None
    workspace: str = "none"
    worktree_dir: Path | None = None
    base_branch: str | None = None
    budget: Budget = field(default_factory=Budget)  # the project's own limits (see Config.budget_of)
    host: str | None = None  # the name of a Host: the project's path is on that machine


@dataclass(frozen=True)
class Config:
    projects: dict[str, Project]
    agent: str = "opencode"
    runtime: str = "process"
    tmux_socket: str | None = None
    opencode_db: Path | None = None
    idle_threshold: float = 300.0
    server_grace: float = 600.0  # seconds the shared OpenCode server of live agents stays up once nothing needs it
    source: Path | None = None  # None: the embedded default
    budget: Budget = field(default_factory=Budget)  # top-level limits: the defaults of every project
    hosts: dict[str, Host] = field(default_factory=dict)

    def host_of(self, project: Project) -> Host | None:
        """The remote machine a project lives on, or None for this one."""
        return self.hosts[project.host] if project.host else None

    def budget_of(self, project: str) -> Budget:
        """A project's limits: its own, else the top-level ones."""
        proj = self.projects.get(project)
        return proj.budget.over(self.budget) if proj is not None else self.budget

    def project(self, name: str) -> Project:
        from .errors import UnknownProject

        try:
            return self.projects[name]
        except KeyError:
            known = ", ".join(sorted(self.projects)) or "none"
            hint = _did_you_mean(name, list(self.projects))
            raise UnknownProject(
                f"unknown project {name!r}{hint}; projects in {self.describe_source()}: {known}"
            ) from None

    def default_project(self, cwd: Path | None = None) -> Project | None:
        """The project whose path contains ``cwd``, else the only project, else None."""
        here = (cwd or Path.cwd()).resolve()
        best: Project | None = None
        for p in self.projects.values():
            if p.host:  # its path is on another machine
                continue
            try:
                here.relative_to(p.path)
            except ValueError:
                continue
            if best is None or len(p.path.parts) > len(best.path.parts):
                best = p
        if best is None and len(self.projects) == 1:
            best = next(iter(self.projects.values()))
        return best

    def describe_source(self) -> str:
        return str(self.source) if self.source else "the embedded default config"


def default_runtime() -> str:
    return "tmux" if shutil.which("tmux") else "process"


def find_config(
    explicit: str | os.PathLike[str] | None = None, *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Path | None:
    env = os.environ if env is None else env
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError(f"config file not found: {p} (given with --config)")
        return p
    if env.get("AO_CONFIG"):
        p = Path(env["AO_CONFIG"]).expanduser()
        if not p.is_file():
            raise ConfigError(f"config file not found: {p} (from $AO_CONFIG)")
        return p
    here = (cwd or Path.cwd()).resolve()
    for d in (here, *here.parents):
        cand = d / CONFIG_NAME
        if cand.is_file():
            return cand
    xdg = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    user = Path(xdg) / "agent-orchestrator" / CONFIG_NAME
    if user.is_file():
        return user
    return None


def load_config(
    explicit: str | os.PathLike[str] | None = None, *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Config:
    cwd = (cwd or Path.cwd()).resolve()
    env = os.environ if env is None else env
    path = find_config(explicit, cwd=cwd, env=env)
    if path is None:
        cfg = embedded_default(cwd)
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read config: {e}") from None
        cfg = parse_config(text, path)
    if env.get("AO_TMUX_SOCKET"):  # a private tmux server without editing the config
        cfg = replace(cfg, tmux_socket=env["AO_TMUX_SOCKET"])
    return cfg


def embedded_default(cwd: Path) -> Config:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", cwd.name).strip("-.") or "project"
    if not PROJECT_NAME_RE.fullmatch(name):
        name = "project"
    return Config(projects={name: Project(name=name, path=cwd)}, runtime=default_runtime(), source=None)


# --- validation -------------------------------------------------------------


class _V:
    """Validates a YAML node tree, keeping marks for line-accurate errors."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def err(self, node: Node, key: str, msg: str) -> ConfigError:
        line = node.start_mark.line + 1
        return ConfigError(f"{self.path}:{line}: {key}: {msg}", file=str(self.path), line=line, key=key)

    def mapping(self, node: Node, key: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.err(node, key, f"expected a mapping with keys {', '.join(allowed)}, got {_kind(node)}")
        out: dict[str, Node] = {}
        for k, v in node.value:
            if not isinstance(k, ScalarNode):
                raise self.err(k, key, "keys must be plain strings")
            name = str(k.value)
            full = f"{key}.{name}" if key else name
            if name not in allowed:
                raise self.err(
                    k, full, f"unknown key{_did_you_mean(name, list(allowed))}; allowed here: {', '.join(allowed)}"
                )
            if name in out:
                raise self.err(k, full, "duplicate key")
            out[name] = v
        return out

    def string(self, node: Node, key: str, *, optional: bool = True) -> str | None:
        if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
            if optional:
                return None
            raise self.err(node, key, "expected a string, got nothing")
        if not isinstance(node, ScalarNode) or (
            not node.tag.endswith(":str") and not node.tag.endswith(":int") and not node.tag.endswith(":float")
        ):
            raise self.err(node, key, f"expected a string, got {_kind(node)}")
        return str(node.value)

    @staticmethod
    def _non_negative(node: Node) -> float | None:
        """The scalar's value when it is a number >= 0 (infinity included), else None."""
        if isinstance(node, ScalarNode) and not node.tag.endswith(":bool"):
            try:
                v = float(node.value)
            except ValueError:
                return None
            return v if v >= 0 else None
        return None

    def number(self, node: Node, key: str) -> float:
        v = self._non_negative(node)
        if v is None:
            raise self.err(node, key, "expected a non-negative number of seconds")
        return v

    def seconds(self, node: Node, key: str, what: str) -> float:
        """A finite, non-negative number of seconds (``what`` says what it is for, in the error)."""
        v = self._non_negative(node)
        if v is None or v == float("inf"):
            raise self.err(node, key, f"expected a number of seconds, 0 or more, like 600 ({what}), got {_kind(node)}")
        return v

    def money(self, node: Node, key: str) -> float:
        if isinstance(node, ScalarNode) and not node.tag.endswith(":bool"):
            try:
                v = float(node.value)
            except ValueError:
                pass
            else:
                if v > 0 and v != float("inf"):
                    return v
        raise self.err(node, key, f"expected a positive amount of US dollars like 2.50, got {_kind(node)}")

    def budget(self, node: Node, key: str) -> Budget:
        b = self.mapping(node, key, BUDGET_SCOPES)
        return Budget(**{scope: self.money(b[scope], f"{key}.{scope}") for scope in BUDGET_SCOPES if scope in b})

    def flag(self, node: Node, key: str) -> bool:
        if isinstance(node, ScalarNode) and node.tag.endswith(":bool"):
            return str(node.value).lower() in ("true", "yes", "on")
        raise self.err(node, key, f"expected true or false, got {_kind(node)}")

    def choice(
        self, node: Node, key: str, choices: tuple[str, ...] | Callable[[], tuple[str, ...]], sure: Iterable[str] = ()
    ) -> str:
        """``node``'s string, one of ``choices`` (a callable: asked only for a value not in ``sure``, a subset)."""
        v = self.string(node, key, optional=False)
        assert v is not None
        if v in sure:
            return v
        if callable(choices):
            choices = choices()
        if v not in choices:
            raise self.err(
                node, key, f"expected one of {', '.join(choices)}, got {v!r}{_did_you_mean(v, list(choices))}"
            )
        return v


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        return "nothing" if node.tag.endswith(":null") else f"{node.value!r}"
    return "something else"


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_config(text: str, path: Path) -> Config:
    from .registry import BUILTIN_AGENTS, BUILTIN_RUNTIMES, agent_names, runtime_names

    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    if root is None:
        raise ConfigError(f"{path}: the file is empty; it needs at least a 'projects' list")
    v = _V(path)
    top = v.mapping(root, "", ("plugins", "projects", "runtime", "opencode", "defaults", "budget", "hosts"))
    hosts = _hosts(v, top["hosts"], path) if "hosts" in top else {}
    budget = v.budget(top["budget"], "budget") if "budget" in top else Budget()
    agent, runtime = "opencode", default_runtime()
    if "plugins" in top:
        plugins = v.mapping(top["plugins"], "plugins", ("agent", "runtime"))
        if "agent" in plugins:
            agent = v.choice(plugins["agent"], "plugins.agent", lambda: tuple(agent_names()), BUILTIN_AGENTS)
        if "runtime" in plugins:
            if isinstance(plugins["runtime"], ScalarNode) and plugins["runtime"].value == "ssh":
                raise v.err(plugins["runtime"], "plugins.runtime", "ssh is chosen by a project's host: key, not here")
            runtime = v.choice(plugins["runtime"], "plugins.runtime", local_runtimes, builtin_local_runtimes())
    tmux_socket = None
    if "runtime" in top:
        rt = v.mapping(top["runtime"], "runtime", ("tmuxSocket",))
        if "tmuxSocket" in rt:
            tmux_socket = v.string(rt["tmuxSocket"], "runtime.tmuxSocket")
    opencode_db, idle, grace = None, 300.0, 600.0
    if "opencode" in top:
        oc = v.mapping(top["opencode"], "opencode", ("database", "idleThreshold", "serverGrace"))
        if "database" in oc:
            s = v.string(oc["database"], "opencode.database")
            opencode_db = _expand(s, path) if s else None
        if "idleThreshold" in oc:
            idle = v.number(oc["idleThreshold"], "opencode.idleThreshold")
        if "serverGrace" in oc:
            grace = v.seconds(
                oc["serverGrace"],
                "opencode.serverGrace",
                "how long the shared OpenCode server of live agents stays up once no live session needs it",
            )
    if "defaults" in top:  # accepted for compatibility with Agent Orchestrator; only validated
        v.mapping(top["defaults"], "defaults", ("agent", "runtime"))
    if "projects" not in top:
        raise v.err(
            root,
            "projects",
            "missing; add a list of projects, e.g.\nprojects:\n  - name: my-project\n    path: ~/code/my-project",
        )
    pnode = top["projects"]
    if not isinstance(pnode, SequenceNode):
        raise v.err(pnode, "projects", f"expected a list of projects (- name: ...), got {_kind(pnode)}")
    projects: dict[str, Project] = {}
    for i, item in enumerate(pnode.value):
        key = f"projects[{i}]"
        fields = v.mapping(
            item,
            key,
            ("name", "path", "agentConfig", "runtime", "workspace", "worktreeDir", "baseBranch", "budget", "host"),
        )
        if "name" not in fields:
            raise v.err(item, f"{key}.name", "missing; every project needs a name")
        name = v.string(fields["name"], f"{key}.name", optional=False)
        assert name is not None
        if not PROJECT_NAME_RE.fullmatch(name) or ".." in name:
            raise v.err(
                fields["name"],
                f"{key}.name",
                f"{name!r} is not a valid project name: use letters, digits, '.', '_' and '-', "
                "starting with a letter or digit (at most 64)",
            )
        if name in projects:
            raise v.err(fields["name"], f"{key}.name", f"project {name!r} is defined twice")
        if "path" not in fields:
            raise v.err(item, f"{key}.path", f"missing; project {name!r} needs the path of its repository")
        p = v.string(fields["path"], f"{key}.path", optional=False)
        assert p is not None
        ac = AgentConfig()
        if "agentConfig" in fields:
            a = v.mapping(fields["agentConfig"], f"{key}.agentConfig", ("model", "prompt", "mode", "keepAlive"))
            ac = AgentConfig(
                model=v.string(a["model"], f"{key}.agentConfig.model") if "model" in a else None,
                prompt=v.string(a["prompt"], f"{key}.agentConfig.prompt") if "prompt" in a else None,
                mode=v.choice(a["mode"], f"{key}.agentConfig.mode", ("run", "live")) if "mode" in a else "run",
                keep_alive=v.flag(a["keepAlive"], f"{key}.agentConfig.keepAlive") if "keepAlive" in a else False,
            )
        if "runtime" in fields and "host" not in fields and getattr(fields["runtime"], "value", None) == "ssh":
            raise v.err(fields["runtime"], f"{key}.runtime", "the ssh runtime needs host: <a name from hosts:>")
        choices = (lambda: tuple(runtime_names())) if "host" in fields else local_runtimes
        sure = BUILTIN_RUNTIMES if "host" in fields else builtin_local_runtimes()
        prt = v.choice(fields["runtime"], f"{key}.runtime", choices, sure) if "runtime" in fields else None
        ws = v.choice(fields["workspace"], f"{key}.workspace", WORKSPACE_MODES) if "workspace" in fields else "none"
        wdir = None
        if "worktreeDir" in fields:
            s = v.string(fields["worktreeDir"], f"{key}.worktreeDir")
            if s and "host" in fields and not s.startswith("/"):
                raise v.err(fields["worktreeDir"], f"{key}.worktreeDir", "on a host: give an absolute path there")
            wdir = (Path(os.path.normpath(s)) if "host" in fields else _expand(s, path)) if s else None
        base = v.string(fields["baseBranch"], f"{key}.baseBranch") if "baseBranch" in fields else None
        host = None
        if "host" in fields:
            host = v.string(fields["host"], f"{key}.host", optional=False)
            assert host is not None
            if host not in hosts:
                raise v.err(
                    fields["host"],
                    f"{key}.host",
                    f"no host named {host!r}{_did_you_mean(host, list(hosts))}; "
                    f"hosts: {', '.join(sorted(hosts)) or 'none (add a hosts: list)'}",
                )
            _check_remote_project(v, fields, key, name, host, p, ac, prt)
        projects[name] = Project(
            name=name,
            path=Path(os.path.normpath(p)) if host else _expand(p, path),
            agent_config=ac,
            runtime=prt,
            workspace=ws,
            worktree_dir=wdir,
            base_branch=base,
            budget=v.budget(fields["budget"], f"{key}.budget") if "budget" in fields else Budget(),
            host=host,
        )
    if not projects:
        raise v.err(pnode, "projects", "the list is empty; add at least one project")
    return Config(
        projects=projects,
        agent=agent,
        runtime=runtime,
        tmux_socket=tmux_socket,
        opencode_db=opencode_db,
        idle_threshold=idle,
        server_grace=grace,
        source=path.resolve(),
        budget=budget,
        hosts=hosts,
    )


def local_runtimes() -> tuple[str, ...]:
    """The runtimes a config may name for this machine (ssh is chosen by a project's host: key)."""
    from .registry import runtime_names

    return tuple(n for n in runtime_names() if n != "ssh")


def builtin_local_runtimes() -> tuple[str, ...]:
    """The built-in ones of :func:`local_runtimes` (valid without scanning for third-party plugins)."""
    from .registry import BUILTIN_RUNTIMES

    return tuple(n for n in BUILTIN_RUNTIMES if n != "ssh")


def _hosts(v: _V, node: Node, path: Path) -> dict[str, Host]:
    if not isinstance(node, SequenceNode):
        raise v.err(node, "hosts", f"expected a list of hosts (- name: ..., ssh: user@machine), got {_kind(node)}")
    hosts: dict[str, Host] = {}
    for i, item in enumerate(node.value):
        key = f"hosts[{i}]"
        f = v.mapping(item, key, ("name", "ssh", "sshConfig", "opencode", "stateDir"))
        for required in ("name", "ssh"):
            if required not in f:
                raise v.err(item, f"{key}.{required}", "missing; a host needs a name and ssh: user@machine")
        name = v.string(f["name"], f"{key}.name", optional=False)
        assert name is not None
        if not HOST_NAME_RE.fullmatch(name):
            raise v.err(f["name"], f"{key}.name", f"{name!r} is not a valid host name: use letters, digits, . _ -")
        if name in hosts:
            raise v.err(f["name"], f"{key}.name", f"host {name!r} is defined twice")
        dest = v.string(f["ssh"], f"{key}.ssh", optional=False)
        assert dest is not None
        if not SSH_DEST_RE.fullmatch(dest) or dest.startswith("-"):
            raise v.err(
                f["ssh"], f"{key}.ssh", f"{dest!r} is not an ssh destination: expected user@machine, an alias of your "
                "~/.ssh/config, or ssh://user@machine:port (options go in your ~/.ssh/config or sshConfig)",
            )  # fmt: skip
        cfg = None
        if "sshConfig" in f:
            s = v.string(f["sshConfig"], f"{key}.sshConfig")
            cfg = _expand(s, path) if s else None
        oc = v.string(f["opencode"], f"{key}.opencode", optional=False) if "opencode" in f else "opencode"
        assert oc is not None
        if not oc or oc.startswith("-") or any(c in oc for c in "\n\r\x00"):
            raise v.err(f["opencode"], f"{key}.opencode", "expected opencode's name or path on that host")
        sd = v.string(f["stateDir"], f"{key}.stateDir", optional=False) if "stateDir" in f else None
        if sd is not None and (not sd or any(c in sd for c in "\n\r\x00")):
            raise v.err(f["stateDir"], f"{key}.stateDir", "expected a folder on that host")
        state_dir = DEFAULT_REMOTE_STATE_DIR if sd is None else sd.removeprefix("~/")
        hosts[name] = Host(name=name, ssh=dest, ssh_config=cfg, opencode=oc, state_dir=state_dir)
    return hosts


def _check_remote_project(
    v: _V, fields: dict[str, Node], key: str, name: str, host: str, p: str, ac: AgentConfig, prt: str | None
) -> None:
    """What a project on another machine cannot do (yet), said at load time rather than at spawn."""
    if not p.startswith("/"):
        raise v.err(fields["path"], f"{key}.path", f"project {name!r} is on host {host}: give its absolute path there")
    if prt is not None and prt not in ("ssh", "live"):
        raise v.err(fields["runtime"], f"{key}.runtime", f"project {name!r} is on host {host}: its runtime is ssh")


def _expand(value: str, config_path: Path) -> Path:
    """``~`` and ``$VARS`` expanded; relative paths are relative to the config file's folder."""
    p = Path(os.path.expandvars(os.path.expanduser(value)))
    if not p.is_absolute():
        p = config_path.resolve().parent / p
    return Path(os.path.normpath(p))
