"""Real remote hosts for the SSH tests: a network namespace per host, reached over a veth link, running its own sshd.

Every host is this machine's file system seen through a separate network: ``ssh -F <ssh_config> h1`` logs in as
root to an sshd listening only on the host's address inside its namespace. The sshd gives every session the host's
own ``HOME``, ``XDG_*`` and ``TMUX_TMPDIR`` (sshd_config ``SetEnv``), so OpenCode run on the host keeps its data apart
from the test's local OpenCode; the working directory of a session is still root's home (/root), as sshd chdirs to
the passwd home, so commands that care must ``cd`` themselves. Each host has its own fake model, bound on the host's
gateway address (the root side of its link), and its own ``opencode.json`` pointing at it.

Addresses: host i of a collection has the /30 ``10.<X>.<i>.0``: gateway ``.1`` (root side), host ``.2``; ``X`` is
picked at random in 100-250 among the /16s no address or route of this machine uses (under a lock file, so parallel
runs never pick the same). Names: ``ao<pid>n<k>`` (namespace), ``ao<pid>v<k>`` / ``ao<pid>p<k>`` (root / host side of
the veth), ``ao<pid>s<k>`` / ``ao<pid>t<k>`` (the collection's sink link, below), all at most 15 characters.

Cutting a link (``Host.link_down``) sets the root side of the veth down. The kernel then drops the connected route,
and packets for the host would follow the default route out of the machine (in this sandbox, something out there
even accepts the TCP connection); so every host subnet also has a standby route (metric 4000) into a "sink" veth
whose peer is down and which drops everything silently: with the link down, connecting times out like a real network
cut (``mode="drop"``), or, with ``mode="reject"``, an ``unreachable`` route fails at once with "No route to host".

Cleanup (``Hosts.cleanup``, also on a failed setup) stops, by PID, the hosts' tmux servers (``kill-server`` on their
sockets), every process inside each namespace (``ip netns pids``), the sshds (PID file / Popen) and every process whose
command line or environment mentions the collection's root dir; then deletes the links and namespaces. Namespaces
left by a killed earlier run (``ao<pid>n<k>`` with a dead ``pid``) are removed the same way when a collection starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import itertools
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NoReturn

import psutil
import yaml

from .bed import processes_under, terminate_all, write_opencode_config
from .fake_model import FakeModelServer

SSHD = "/usr/sbin/sshd"
SINK_METRIC = 4000  # the standby route into the sink link, used only while the host's own link is down
REJECT_METRIC = 3000  # the unreachable route of link_down(mode="reject")
NAME = re.compile(r"^ao(\d+)[nvpst](\d+)$")
_counter = itertools.count(1)
ModelFactory = Callable[[str, Path], FakeModelServer]
"""Makes a host's fake model: (address to bind, request log path) -> a started-or-not FakeModelServer."""


class HostsUnavailable(Exception):
    """This machine cannot make test hosts (not root, no ``ip``/sshd, namespaces or veths refused)."""


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the test (off CI) or fail it (``CI=true``: CI must never silently skip the SSH tests)."""
    import pytest

    if in_ci():
        pytest.fail(f"CI=true and the SSH test hosts cannot be made: {reason}", pytrace=False)
    pytest.skip(f"SSH test hosts cannot be made: {reason}")


def preflight() -> str | None:
    """Why test hosts cannot be made here (None when they probably can; ``ip netns add`` may still refuse)."""
    if os.geteuid() != 0:
        return "not root (network namespaces need root)"
    for tool, package in (
        ("ip", "iproute2"),
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("tmux", "tmux"),
    ):
        if not shutil.which(tool):
            return f"no {tool} (apt-get install {package})"
    if not os.access(SSHD, os.X_OK):
        return f"no {SSHD} (apt-get install openssh-server)"
    return None


def run(*argv: str, check: bool = True, timeout: float = 30, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def netns_pids(ns: str) -> list[int]:
    out = run("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in out.stdout.split() if p.isdigit()]


def _procs(pids: Sequence[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


def _link_exists(name: str) -> bool:
    return run("ip", "link", "show", "dev", name, check=False).returncode == 0


@contextlib.contextmanager
def _address_lock() -> Iterator[None]:
    """Held while a collection picks its /16 and puts its addresses on, so parallel runs never pick the same."""
    with open(Path(tempfile.gettempdir()) / "ao-test-hosts.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _free_second_octet() -> int:
    """A random X in 100-250 such that no address or route of this machine is in 10.X.0.0/16."""
    used: list[ipaddress.IPv4Network] = []
    for line in run("ip", "-o", "-4", "addr").stdout.splitlines():
        m = re.search(r"\binet (\S+)", line)
        if m:
            used.append(ipaddress.IPv4Interface(m.group(1)).network)
    for line in run("ip", "-4", "route", "show", "table", "all").stdout.splitlines():
        words = line.split()
        for word in words[:2]:  # "10.1.2.0/24 dev ..." or "unreachable 10.1.2.0/24 ..."
            with contextlib.suppress(ValueError):
                used.append(ipaddress.IPv4Network(word, strict=False))
    candidates = [
        x
        for x in range(100, 251)
        if not any(n.overlaps(ipaddress.IPv4Network(f"10.{x}.0.0/16")) and n.prefixlen > 0 for n in used)
    ]
    if not candidates:
        raise HostsUnavailable("no free 10.X.0.0/16 (X in 100-250) for the test hosts")
    return random.choice(candidates)


def sweep_stale() -> None:
    """Remove namespaces, links and routes an earlier, killed run left (named ``ao<pid>…`` with a dead pid)."""
    me = os.getpid()
    names = [line.split()[0] for line in run("ip", "netns", "list", check=False).stdout.splitlines() if line.strip()]
    for ns in names:
        m = NAME.match(ns)
        if not m or int(m.group(1)) == me or psutil.pid_exists(int(m.group(1))):
            continue
        terminate_all(_procs(netns_pids(ns)), timeout=3)
        run("ip", "netns", "del", ns, check=False)
    for line in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":", 2)
        link = parts[1].strip().split("@")[0] if len(parts) > 2 else ""
        m = NAME.match(link)
        if m and int(m.group(1)) != me and not psutil.pid_exists(int(m.group(1))):
            run("ip", "link", "del", link, check=False)
    # a link_down(mode="reject") route of a killed run: a live run has its sink routes in the same 10.X/16
    with _address_lock():
        routes = run("ip", "-4", "route", "show", "table", "main", check=False).stdout.splitlines()
        for line in routes:
            m = re.match(rf"unreachable (10\.(\d+)\.\d+\.0/30) metric {REJECT_METRIC}\b", line)
            if m and not any(f" 10.{m.group(2)}." in f" {r}" for r in routes if not r.startswith("unreachable")):
                run("ip", "route", "del", "unreachable", m.group(1), "metric", str(REJECT_METRIC), check=False)


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENCODE", "AO_", "XDG_", "TMUX", "SSH_"))}


@dataclass
class Host:
    """One test host. ``ssh -F <ssh_config> <name>`` reaches it; ``exec`` runs a command in its namespace directly."""

    name: str  # its alias in ssh_config: h1, h2, ...
    ns: str  # its network namespace
    addr: str  # its address (the sshd listens on addr:22 only)
    gateway: str  # the root side's address: the machine as the host sees it; its fake model listens there
    root: Path  # its private dir
    state_dir: Path  # what ao should use as the host's stateDir (root/state); the tmux socket goes here
    env: dict[str, str]  # what its sshd gives every session (SetEnv): HOME, XDG_*_HOME, TMUX_TMPDIR
    model: FakeModelServer  # its own fake model, on gateway:<model.port>
    veth: str  # root side of its link
    peer: str  # its side of the link (inside ns)
    ssh_config: Path  # the collection's ssh_config
    sshd_config: Path
    sshd_log: Path  # sshd's stderr (-D -e)
    pid_file: Path
    sshd: subprocess.Popen[bytes] | None = None
    subnet: str = ""

    @property
    def tmux_socket(self) -> Path:
        """Where ao puts the host's tmux server socket: ``<state_dir>/tmux.sock``."""
        return self.state_dir / "tmux.sock"

    @property
    def opencode_db(self) -> Path:
        return Path(self.env["XDG_DATA_HOME"]) / "opencode" / "opencode.db"

    @property
    def opencode_config(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json"

    @property
    def sshd_pid(self) -> int | None:
        """Its sshd's PID: from its PID file, or (before sshd wrote it) the one it was started with; it stays
        readable after cleanup, for checking the process is gone."""
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return self.sshd.pid if self.sshd else None

    def exec(
        self,
        *argv: str,
        check: bool = False,
        timeout: float = 30,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the host's namespace (``ip netns exec``), with the host's env as its sshd gives it."""
        proc = subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            env=env or {**_base_env(), **self.env},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"[{self.name}] {' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def ssh(
        self,
        *command: str,
        options: Sequence[str] = (),
        check: bool = False,
        timeout: float = 30,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``ssh -F <ssh_config> [options] <name> -- <command>`` from this machine (the way ao reaches the host)."""
        proc = subprocess.run(
            ["ssh", "-F", str(self.ssh_config), *options, self.name, "--", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            env=_base_env(),
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ssh {self.name} {' '.join(command)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``tmux -S <state_dir>/tmux.sock <args>``, run inside the host's namespace."""
        return self.exec("tmux", "-S", str(self.tmux_socket), *args, timeout=15)

    def requests_with(self, marker: str) -> list[dict[str, Any]]:
        """The requests this host's fake model got whose first user message contains ``marker``."""
        return self.model.requests_with(marker)

    def link_down(self, mode: Literal["drop", "reject"] = "drop") -> None:
        """Cut the host's link (its root-side veth goes down). ``drop``: packets to it vanish, so a new connection
        times out (ssh: after ConnectTimeout, 5 s); ``reject``: connecting fails at once ("No route to host").
        Established connections (an ssh ControlMaster) just stall in both modes; nothing tells them."""
        if mode == "reject":
            run("ip", "route", "replace", "unreachable", self.subnet, "metric", str(REJECT_METRIC))
        run("ip", "link", "set", self.veth, "down")

    def link_up(self, timeout: float = 10) -> None:
        """Restore the link; returns once both ends are up and the host's route is back (its address is kept)."""
        run("ip", "route", "del", "unreachable", self.subnet, "metric", str(REJECT_METRIC), check=False)
        run("ip", "link", "set", self.veth, "up")
        deadline = time.monotonic() + timeout
        while True:
            ours = run("ip", "-o", "link", "show", "dev", self.veth).stdout
            theirs = run("ip", "-n", self.ns, "-o", "link", "show", "dev", self.peer).stdout
            route = run("ip", "-4", "route", "show", self.subnet, "dev", self.veth).stdout
            if "LOWER_UP" in ours and "LOWER_UP" in theirs and route.strip() and "linkdown" not in route:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}'s link did not come back: {ours!r} {theirs!r} {route!r}")
            time.sleep(0.05)

    def sshd_log_text(self) -> str:
        try:
            return self.sshd_log.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Hosts:
    """A collection of test hosts sharing one client key, known_hosts and ssh_config; a context manager that cleans
    up on exit (``cleanup`` may be called more than once)."""

    root: Path
    opencode: str
    ssh_config: Path
    known_hosts: Path
    client_key: Path
    hosts: list[Host] = field(default_factory=list)
    sink: str = ""
    _sink_peer: str = ""
    _namespaces: list[str] = field(default_factory=list)
    _links: list[str] = field(default_factory=list)
    _cleaned: bool = False

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, key: int | str) -> Host:
        """By index (0-based) or by name ("h1")."""
        if isinstance(key, int):
            return self.hosts[key]
        for h in self.hosts:
            if h.name == key:
                return h
        raise KeyError(key)

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.cleanup()

    def host_entries(self, names: Sequence[str] | None = None, *, opencode: str | None = None) -> list[dict[str, str]]:
        return [
            {
                "name": h.name,
                "ssh": h.name,
                "sshConfig": str(self.ssh_config),
                "stateDir": str(h.state_dir),
                "opencode": opencode or self.opencode,
            }
            for h in self.hosts
            if names is None or h.name in names
        ]

    def config_yaml(self, names: Sequence[str] | None = None, *, opencode: str | None = None) -> str:
        """The ``hosts:`` section of agent-orchestrator.yaml (all hosts, or those named), ending in a newline:
        ``hosts: [{name: h1, ssh: h1, sshConfig: <ssh_config>, stateDir: <state_dir>, opencode: <binary>}, ...]``."""
        return yaml.safe_dump(
            {"hosts": self.host_entries(names, opencode=opencode)}, sort_keys=False, default_flow_style=False
        )

    def cleanup(self) -> None:
        """Stop everything the hosts and the test started on them, then delete links and namespaces. Every step
        runs even when an earlier one failed; the first failure is raised at the end."""
        if self._cleaned:
            return
        self._cleaned = True
        errors: list[BaseException] = []

        def step(fn: Callable[[], object]) -> None:
            try:
                fn()
            except Exception as e:
                errors.append(e)

        for h in self.hosts:
            if h.tmux_socket.exists():
                step(functools.partial(h.tmux, "kill-server"))
        step(self._stop_processes)
        for h in self.hosts:
            if h.sshd:
                step(functools.partial(h.sshd.wait, timeout=5))  # reap it
            step(h.model.shutdown)
            step(h.model.server_close)
            run("ip", "route", "del", "unreachable", h.subnet, "metric", str(REJECT_METRIC), check=False)
        for link in self._links:
            if _link_exists(link):
                run("ip", "link", "del", link, check=False)
        for ns in self._namespaces:
            run("ip", "netns", "del", ns, check=False)
        left = [ns for ns in self._namespaces if Path("/run/netns", ns).exists()]
        if left:
            errors.append(RuntimeError(f"test host namespaces still there after cleanup: {left}"))
        if errors:
            raise errors[0]

    def _stop_processes(self) -> None:
        """SIGTERM, then SIGKILL: everything in the hosts' namespaces, their sshds, anything naming our dir."""
        pids: set[int] = set()
        for ns in self._namespaces:
            pids.update(netns_pids(ns))
        for h in self.hosts:
            pid = h.sshd_pid
            if pid:
                with contextlib.suppress(psutil.Error):  # the PID file's PID, if it is still our sshd
                    if str(h.sshd_config) in psutil.Process(pid).cmdline():
                        pids.add(pid)
        procs = {p.pid: p for p in _procs(sorted(pids))}
        for p in processes_under(self.root):
            procs.setdefault(p.pid, p)
        terminate_all(list(procs.values()))


def _sshd_config(h: Host, host_key: Path, authorized_keys: Path) -> str:
    setenv = " ".join(f'"{k}={v}"' for k, v in h.env.items())
    return "\n".join(
        [
            f"ListenAddress {h.addr}:22",
            f"HostKey {host_key}",
            f"PidFile {h.pid_file}",
            f"AuthorizedKeysFile {authorized_keys}",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "AllowTcpForwarding yes",
            "AllowStreamLocalForwarding yes",
            "StreamLocalBindUnlink yes",
            "X11Forwarding no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            # many ssh clients at once (parallel tests, ControlMaster channels) must not be dropped or refused
            "MaxStartups 200",
            "MaxSessions 200",
            "Subsystem sftp internal-sftp",  # scp speaks SFTP since OpenSSH 9.0
            f"SetEnv {setenv}",
            "",
        ]
    )


def _ssh_config(hosts: Sequence[Host], client_key: Path, known_hosts: Path) -> str:
    blocks = []
    for h in hosts:
        blocks.append(
            "\n".join(
                [
                    f"Host {h.name}",
                    f"  HostName {h.addr}",
                    "  User root",
                    f"  IdentityFile {client_key}",
                    "  IdentitiesOnly yes",
                    f"  UserKnownHostsFile {known_hosts}",
                    "  GlobalKnownHostsFile /dev/null",
                    "  StrictHostKeyChecking yes",
                    "  BatchMode yes",
                    "  ConnectTimeout 5",
                    "",
                ]
            )
        )
    return "\n".join(blocks)


def _wait_accepting(h: Host, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if h.sshd and h.sshd.poll() is not None:
            raise RuntimeError(f"{h.name}'s sshd exited ({h.sshd.returncode}); its stderr:\n{h.sshd_log_text()}")
        proc = h.ssh("true", timeout=10)
        if proc.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{h.name}'s sshd does not accept `ssh -F {h.ssh_config} {h.name} true` after "
                f"{timeout}s: {proc.stderr.strip()}\nsshd's stderr:\n{h.sshd_log_text()}"
            )
        time.sleep(0.05)


def make_hosts(
    root: Path,
    n: int,
    *,
    opencode: str,
    model_factory: ModelFactory | None = None,
    input_price: float = 1.0,
    output_price: float = 2.0,
) -> Hosts:
    """Make ``n`` running test hosts (h1..hn) under ``root``; raises HostsUnavailable when this machine cannot.

    Use as ``with make_hosts(...) as hosts:`` or call ``hosts.cleanup()``; a failure half-way cleans up itself.
    """
    reason = preflight()
    if reason:
        raise HostsUnavailable(reason)
    if not 1 <= n <= 250:
        raise ValueError(f"1 to 250 hosts, not {n}")
    sweep_stale()
    root.mkdir(parents=True, exist_ok=True)
    hosts = Hosts(
        root=root,
        opencode=opencode,
        ssh_config=root / "ssh_config",
        known_hosts=root / "known_hosts",
        client_key=root / "client_key",
    )
    try:
        _build(hosts, n, model_factory or _default_model, input_price, output_price)
    except BaseException:
        hosts.cleanup()
        raise
    return hosts


def _default_model(host: str, log: Path) -> FakeModelServer:
    return FakeModelServer(0, log, host)


def _build(hosts: Hosts, n: int, model_factory: ModelFactory, input_price: float, output_price: float) -> None:
    root, pid = hosts.root, os.getpid()
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ao-test-client", "-f", str(hosts.client_key))
    authorized_keys = root / "authorized_keys"
    authorized_keys.write_text(Path(f"{hosts.client_key}.pub").read_text())
    # sshd needs its privilege separation dir; the Debian package only makes it when its service starts
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def net(*argv: str) -> None:  # a refusal here is the machine's, not a bug of ours
        proc = run(*argv, check=False)
        if proc.returncode != 0:
            raise HostsUnavailable(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")

    k = next(_counter)
    hosts.sink, hosts._sink_peer = f"ao{pid}s{k}", f"ao{pid}t{k}"
    hosts._links.append(hosts.sink)
    net("ip", "link", "add", hosts.sink, "type", "veth", "peer", "name", hosts._sink_peer)
    run("ip", "link", "set", hosts.sink, "arp", "off", "up")  # its peer stays down: whatever goes in is dropped
    with _address_lock():
        x = _free_second_octet()
        for i in range(1, n + 1):
            k = next(_counter)
            name, ns, veth, peer = f"h{i}", f"ao{pid}n{k}", f"ao{pid}v{k}", f"ao{pid}p{k}"
            subnet, gateway, addr = f"10.{x}.{i}.0/30", f"10.{x}.{i}.1", f"10.{x}.{i}.2"
            net("ip", "netns", "add", ns)
            hosts._namespaces.append(ns)
            net("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
            hosts._links.append(veth)
            net("ip", "link", "set", peer, "netns", ns)
            run("ip", "addr", "add", f"{gateway}/30", "dev", veth)
            run("ip", "link", "set", veth, "up")
            run("ip", "route", "add", subnet, "dev", hosts.sink, "metric", str(SINK_METRIC))
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", peer)
            run("ip", "-n", ns, "link", "set", peer, "up")
            hroot = root / name
            env = {
                var: str(hroot / d)
                for var, d in (
                    ("HOME", "home"),
                    ("XDG_DATA_HOME", "data"),
                    ("XDG_CONFIG_HOME", "config"),
                    ("XDG_STATE_HOME", "xdg-state"),
                    ("XDG_CACHE_HOME", "cache"),
                    ("TMUX_TMPDIR", "tmux"),
                )
            }
            for d in [*env.values(), str(hroot / "state")]:
                Path(d).mkdir(parents=True, exist_ok=True)
            model = model_factory(gateway, hroot / "model-requests.jsonl")
            model.start_background()  # before anything can fail: cleanup's shutdown() waits for its loop
            h = Host(
                name=name,
                ns=ns,
                addr=addr,
                gateway=gateway,
                root=hroot,
                state_dir=hroot / "state",
                env=env,
                model=model,
                veth=veth,
                peer=peer,
                ssh_config=hosts.ssh_config,
                sshd_config=hroot / "sshd_config",
                sshd_log=hroot / "sshd.log",
                pid_file=hroot / "sshd.pid",
                subnet=subnet,
            )
            hosts.hosts.append(h)
            write_opencode_config(
                Path(env["XDG_CONFIG_HOME"]), model.base_url, input_price=input_price, output_price=output_price
            )
    known = []
    for h in hosts.hosts:
        host_key = h.root / "ssh_host_ed25519_key"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"ao-test-{h.name}", "-f", str(host_key))
        keytype, key = Path(f"{host_key}.pub").read_text().split()[:2]
        known.append(f"{h.name},{h.addr} {keytype} {key}")
        h.sshd_config.write_text(_sshd_config(h, host_key, authorized_keys))
        test = run(SSHD, "-t", "-f", str(h.sshd_config), check=False)
        if test.returncode != 0:
            raise RuntimeError(f"{h.name}'s sshd_config is refused: {test.stderr.strip()}")
        with h.sshd_log.open("wb") as log:
            h.sshd = subprocess.Popen(
                ["ip", "netns", "exec", h.ns, SSHD, "-D", "-e", "-f", str(h.sshd_config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=_base_env(),
            )
    hosts.known_hosts.write_text("\n".join(known) + "\n")
    hosts.ssh_config.write_text(_ssh_config(hosts.hosts, hosts.client_key, hosts.known_hosts))
    for h in hosts.hosts:
        _wait_accepting(h)


def hosts_fixture(tmp: Path, opencode: str) -> Iterator[Callable[..., Hosts]]:
    """The ``test_hosts`` fixture's body: yields ``make(n)``; each call makes a new collection (under ``tmp/hosts``,
    then ``tmp/hosts-2``, ...); all are cleaned up after the test. Skips (fails under CI=true) when hosts cannot be
    made."""
    reason = preflight()
    if reason:
        unavailable(reason)
    made: list[Hosts] = []

    def make(n: int = 2, **kw: Any) -> Hosts:
        root = tmp / ("hosts" if not made else f"hosts-{len(made) + 1}")
        try:
            hosts = make_hosts(root, n, opencode=opencode, **kw)
        except HostsUnavailable as e:
            unavailable(str(e))
        made.append(hosts)
        return hosts

    try:
        yield make
    finally:
        errors = []
        for hosts in reversed(made):
            try:
                hosts.cleanup()
            except Exception as e:  # clean up the others anyway
                errors.append(e)
        if errors:
            raise errors[0]
