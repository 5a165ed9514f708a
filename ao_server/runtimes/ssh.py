"""The ``ssh`` runtime: agents on a remote host, in tmux there, driven over the user's own OpenSSH.

A project with ``host: <name>`` runs its agents with this runtime. On the host
everything of ao's lives under the host's ``stateDir`` (default
``~/.local/state/ao-server``): a private tmux server on ``<stateDir>/tmux.sock``,
and per session ``sessions/agent-<n>/`` with the prompt, the launch script, its
environment file, the PID and the exit code, the same files as a local session's
folder (:mod:`ao_server.sessiondir`). A copy of the script and prompt stays in the
local session folder.

Costs: a spawn, kill, resume or logs is one ssh command. ``snapshot`` of every
session of a host is ONE ssh command per host (run in parallel across hosts): it
lists the host's panes, reads each session's exit-code and PID files and runs the
database reader of :mod:`ao_server.agents.opencode_remote`; its introspection is
kept for the orchestrator (:meth:`SshRuntime.introspection`), so the agent's facts
cost no second round trip.

Safety: every remote command is a constant ``sh -c`` script (below) with quoted
arguments (:mod:`ao_server.remote`); the prompt, the script and the environment
travel on stdin as a tar archive. tmux gets the script as an argument vector
(``/bin/sh <script>``), never as a string to parse, and exact targets (``=ao-agent-7``).
A host that cannot be reached gives ``alive=None`` with ``unreachable since``: never
evidence of an exit.
"""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..config import Config, Host
from ..errors import AoError, HostUnreachable, SpawnFailed, StateError, WorkspaceError
from ..model import AttachInfo, Introspection, LaunchSpec, Liveness, SessionRecord
from ..plugins import Agent
from ..remote import Raw, SshHost
from ..workspace import GIT_TIMEOUT, Git
from .common import clip, env_file_text, write_private
from .tmux import _NO_SERVER, SESSION_PREFIX, agent_text

# Run on the host. $1 state dir, $2 session (agent-<n>), $3 run, $4 workdir, $5 opencode, $6 start|restart.
# ao's files there are private (umask 077, so is the tmux server it may start); the script gets the login's
# umask as its argument and gives it back to the agent (a tmux server's panes all have the umask of whoever
# started the server).
START = r"""
st=$1; n=$2; run=$3; wd=$4; oc=$5; mode=$6
d="$st/sessions/$n"; sock="$st/tmux.sock"; t="ao-$n"
um=$(umask)
umask 077
[ -d "$wd" ] || { echo "ao: there is no folder $wd on this host" >&2; exit 3; }
command -v tmux >/dev/null 2>&1 || { echo "ao: tmux is not installed on this host" >&2; exit 4; }
command -v "$oc" >/dev/null 2>&1 || {
  echo "ao: $oc is not installed on this host (or not on its PATH); set hosts[].opencode to its path" >&2; exit 5; }
mkdir -p "$d" && tar -x -o -f - -C "$d" || { echo "ao: cannot write $d on this host" >&2; exit 6; }
rm -f "$d/exit_code" "$d/exit_code.tmp" "$d/pid"
db="${XDG_DATA_HOME:-$HOME/.local/share}/opencode/opencode.db"
if [ ! -e "$db" ] && command -v flock >/dev/null 2>&1; then
  flock -w 20 "$st/opencode-init.lock" sh -c '[ -e "$1" ] || "$2" session list --format json' sh "$db" "$oc" \
    </dev/null >/dev/null 2>&1
fi
cd "$wd" || exit 3
if tmux -S "$sock" has-session -t "=$t" 2>/dev/null; then
  if [ "$mode" = start ]; then
    echo "ao: a tmux session named $t already exists on this host's ao tmux server ($sock);" \
      "does another state dir use this host's stateDir?" >&2
    exit 7
  fi
  exec tmux -S "$sock" respawn-pane -k -t "=$t:" /bin/sh "$d/run-$run.sh" "$um"
fi
exec tmux -S "$sock" new-session -d -s "$t" -x 200 -y 50 /bin/sh "$d/run-$run.sh" "$um" \
  \; set-option -w -t "=$t:" remain-on-exit on
"""

# $1 state dir, $2 1 when stdin holds the database reader's input, $3 its bootstrap, $4 the reader's hash,
# $5... sessions.
SNAPSHOT = r"""
st=$1; intro=$2; boot=$3; reader=$4; shift 4
umask 077
echo @panes
tmux -S "$st/tmux.sock" list-panes -a -F '#{session_name}	#{pane_dead}' 2>&1
echo "@rc $?"
if [ "$intro" = 1 ] && command -v python3 >/dev/null 2>&1; then
  echo @intro
  exec python3 -c "$boot" "$st/reader-$reader" "$st"
fi
for n in "$@"; do
  d="$st/sessions/$n"; code=; alive=0
  [ -r "$d/exit_code" ] && code=$(cat "$d/exit_code" 2>/dev/null)
  pid=$(cat "$d/pid" 2>/dev/null)
  case "$pid" in
    ''|*[!0-9]*) ;;
    *) if [ -r "/proc/$pid/cmdline" ] && tr '\0' '\n' < "/proc/$pid/cmdline" | grep -qF -- "$d/"; then alive=1; fi ;;
  esac
  printf '@s\t%s\t%s\t%s\n' "$n" "$code" "$alive"
done
echo @intro
[ "$intro" = 1 ] && echo '{"error": "python3 is not installed there (it reads the OpenCode database)"}'
exit 0
"""

# $1 state dir, $2 session. Saves the pane's text, stops the agent's process group, closes the tmux session.
KILL = r"""
st=$1; n=$2; d="$st/sessions/$n"; sock="$st/tmux.sock"; t="ao-$n"
umask 077
pp=$(tmux -S "$sock" list-panes -t "=$t:" -F '#{pane_pid} #{pane_dead}' 2>/dev/null | head -n 1)
[ -n "$pp" ] && [ -d "$d" ] && tmux -S "$sock" capture-pane -p -J -S - -t "=$t:" > "$d/scrollback.txt" 2>/dev/null
pid=; [ -n "$pp" ] && [ "${pp#* }" = 0 ] && pid=${pp%% *}
if [ -z "$pid" ]; then
  p=$(cat "$d/pid" 2>/dev/null)
  case "$p" in
    ''|*[!0-9]*) ;;
    *) if [ -r "/proc/$p/cmdline" ] && tr '\0' '\n' < "/proc/$p/cmdline" | grep -qF -- "$d/"; then pid=$p; fi ;;
  esac
fi
if [ -n "$pid" ]; then
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  i=0
  while [ $i -lt 30 ] && kill -0 -- "-$pid" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
  kill -KILL -- "-$pid" 2>/dev/null
fi
[ -n "$pp" ] && tmux -S "$sock" kill-session -t "=$t" 2>/dev/null
exit 0
"""

# $1 state dir, $2 session: the pane's text, else the text saved when it was closed.
LOGS = r"""
st=$1; n=$2; t="ao-$n"
if tmux -S "$st/tmux.sock" capture-pane -p -J -S - -t "=$t:" 2>/dev/null; then exit 0; fi
echo @saved
cat "$st/sessions/$n/scrollback.txt" 2>/dev/null
exit 0
"""

# Say what the host has: the facts behind `ao hosts` and `ao doctor`. The state dir (and any parent it makes)
# is private.
PROBE = r"""
st=$1; oc=$2; shift 2
umask 077
echo "home=$HOME"
echo "uname=$(uname -srm 2>/dev/null)"
echo "tmux=$(tmux -V 2>/dev/null)"
if command -v "$oc" >/dev/null 2>&1; then echo "opencode=$("$oc" --version 2>/dev/null | head -n 1)"
else echo "opencode="; fi
echo "python3=$(python3 --version 2>/dev/null)"
echo "tar=$(command -v tar)"
mkdir -p "$st" 2>/dev/null && [ -w "$st" ] && echo "statedir=ok" || echo "statedir="
for p in "$@"; do if [ -d "$p" ]; then echo "path=1	$p"; else echo "path=0	$p"; fi; done
"""

# $1 state dir, $2 session: closes its kept tmux session and removes its folder (prompt, environment, output).
FORGET = r"""
st=$1; n=$2
case "$n" in agent-|agent-*[!0-9]*) n= ;; agent-*) ;; *) n= ;; esac
[ -n "$n" ] || { echo "ao: not a session's name: $2" >&2; exit 2; }
tmux -S "$st/tmux.sock" kill-session -t "=ao-$n" 2>/dev/null
rm -rf -- "$st/sessions/$n" && [ ! -e "$st/sessions/$n" ] || { echo "ao: cannot remove $st/sessions/$n" >&2; exit 6; }
exit 0
"""

# $1 the folder git runs in, then git's arguments; quiet: never an editor, a pager or a prompt.
GIT = r"""
cd "$1" 2>/dev/null || { echo "ao: there is no folder $1 on this host" >&2; exit 128; }
shift
command -v git >/dev/null 2>&1 || { echo "ao: git is not installed on this host" >&2; exit 127; }
GIT_EDITOR=true GIT_MERGE_AUTOEDIT=no GIT_TERMINAL_PROMPT=0 GIT_PAGER=cat LC_ALL=C exec git "$@"
"""


class RemoteGit(Git):
    """The worktree functions' git on a remote host: one ssh command per git call (over the shared connection)."""

    def __init__(self, conn: SshHost) -> None:
        self.conn = conn
        self.where = f" on host {conn.host.name}"

    def run(self, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = self.conn.run(GIT, [str(cwd), *args], timeout=GIT_TIMEOUT)
        if check and res.rc != 0:
            said = res.err.strip().removeprefix("ao: ") or res.text.strip() or str(res.rc)
            raise WorkspaceError(f"git {' '.join(args)} failed in {cwd}{self.where}: {said}")
        return subprocess.CompletedProcess(["git", *args], res.rc, res.text, res.err)

    def exists(self, path: Path) -> bool:
        return self.conn.run('[ -e "$1" ] || [ -L "$1" ]', [str(path)]).rc == 0

    def is_dir(self, path: Path) -> bool:
        return self.conn.run('[ -d "$1" ]', [str(path)]).rc == 0

    def writable_dir(self, path: Path) -> None:
        probe = 'umask 077; mkdir -p "$1" && t=$(mktemp "$1/.ao-probe-XXXXXX") && rm -f "$t"'
        res = self.conn.run(probe, [str(path)])
        if res.rc != 0:
            raise WorkspaceError(
                f"worktree dir {path}{self.where} is not writable ({res.err.strip() or res.rc}); "
                "fix its permissions or set worktreeDir"
            )


def remote_script(spec: LaunchSpec, run: int, title: str) -> str:
    """The launch script of run ``run`` on the host: it finds its files beside itself, whatever the state dir.

    Unlike a local session's script, the agent's environment is the host's (the ssh
    login's) plus ``env.sh``: this machine's environment means nothing there.
    """
    q = shlex.quote
    cmd = shlex.join(spec.argv)
    cmd += f' < "$ao_d"/prompt-{run}.txt' if spec.stdin_file is not None else " < /dev/null"
    lines = [
        "#!/bin/sh",
        f"# {title}: generated by ao-server; a new script is written for every run.",
        'cd "$(dirname "$0")" || exit 96',
        "ao_d=$(pwd)",
        # the umask of the ssh login that started this run (START passes it): the agent's, as a user's own
        "ao_umask=${1:-}",
        'case "$ao_umask" in [0-7][0-7][0-7]|[0-7][0-7][0-7][0-7]) ;; *) ao_umask=$(umask) ;; esac',
        "umask 077",
        "rm -f exit_code",
        "printf '%s\\n' \"$$\" > pid",
        ". ./env.sh || { echo 'ao: cannot read the environment file' >&2; exit 96; }",
        f"cd {q(str(spec.cwd))} || {{ echo 'ao: cannot enter the workspace' >&2; exit 97; }}",
        'umask "$ao_umask"',
        cmd,
        "ao_rc=$?",
        "umask 077",
        'printf \'%s\\n\' "$ao_rc" > "$ao_d/exit_code.tmp" && mv -f "$ao_d/exit_code.tmp" "$ao_d/exit_code"',
        "printf '\\n[ao] the agent exited with code %s\\n' \"$ao_rc\"",
        'exit "$ao_rc"',
    ]
    return "\n".join(lines) + "\n"


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class SshRuntime:
    name = "ssh"
    terminal = True
    remote = True

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state_dir: Path | None = None
        self._hosts: dict[str, SshHost] = {}
        self._intro: dict[str, Introspection] = {}
        self._reader_sent: set[str] = set()  # hosts that got this process's reader (they keep it)
        self._reader_broken: dict[str, str] = {}  # hosts whose python3 cannot run it: why
        self.intro_warnings: list[str] = []

    def bind(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    # --- hosts -------------------------------------------------------------------------

    def conn(self, host: Host) -> SshHost:
        if host.name not in self._hosts or self._hosts[host.name].host != host:
            if self.state_dir is None:
                raise AoError("the ssh runtime was not given a state dir")
            self._hosts[host.name] = SshHost(host, self.state_dir)
        return self._hosts[host.name]

    def host_of(self, session: SessionRecord) -> SshHost:
        name = str(session.handle.get("host") or "")
        if not name:
            proj = self.config.projects.get(session.project)
            name = proj.host or "" if proj is not None else ""
        host = self.config.hosts.get(name)
        if host is None:
            raise StateError(
                f"{session.display_id} runs on host {name or '?'}, which is not in {self.config.describe_source()} "
                "any more; add it back under hosts: to reach it"
            )
        return self.conn(host)

    @staticmethod
    def _tmux_name(session: SessionRecord) -> str:
        return str(session.handle.get("tmux_session") or SESSION_PREFIX + session.id)

    # --- Runtime protocol -----------------------------------------------------------------

    def check_available(self) -> None:
        from ..remote import ssh_bin

        ssh_bin()

    def plan(self, session: SessionRecord) -> dict[str, object]:
        proj = self.config.projects.get(session.project)
        host = proj.host if proj is not None else None
        return {"host": host or session.handle.get("host"), "tmux_session": SESSION_PREFIX + session.id}

    def write_script(self, session: SessionRecord, run: int, spec: LaunchSpec, title: str) -> Path:
        """This run's script and environment file, kept in the local session folder (and sent by start)."""
        write_private(session.dir.env_file, env_file_text(spec.env, terminal=True))
        path = session.dir.script(run)
        write_private(path, remote_script(spec, run, title), 0o700)
        return path

    def git(self, host: Host) -> RemoteGit:
        return RemoteGit(self.conn(host))

    def worktree_root(self, host: Host, project: str) -> Path:
        """Where a project's worktrees go on its host by default: ``<stateDir>/worktrees/<project>``, absolute."""
        if host.state_dir.startswith("/"):
            return Path(host.state_dir) / "worktrees" / project
        conn = self.conn(host)
        res = conn.run('printf "%s" "$HOME"', [])
        home = res.text.strip()
        if res.rc != 0 or not home.startswith("/"):
            raise WorkspaceError(f"cannot tell the home folder of host {host.name}; set the project's worktreeDir")
        return Path(home) / host.state_dir / "worktrees" / project

    def binary(self, session: SessionRecord) -> str:
        return self.host_of(session).host.opencode

    def _start(self, session: SessionRecord, script: Path, mode: str) -> dict[str, object]:
        conn = self.host_of(session)
        run = int(script.stem.rpartition("-")[2])
        files: dict[str, tuple[bytes, int]] = {
            script.name: (script.read_bytes(), 0o700),
            "env.sh": (session.dir.env_file.read_bytes(), 0o600),
        }
        prompt = session.dir.prompt(run)
        if prompt.exists():
            files[prompt.name] = (prompt.read_bytes(), 0o600)
        args: list[str | Raw] = [conn.state, session.id, str(run), str(session.workdir), conn.host.opencode, mode]
        res = conn.run(START, args, stdin=_tar(files))
        if res.rc != 0:
            said = res.err.strip().splitlines()[-1] if res.err.strip() else f"exit {res.rc}"
            raise SpawnFailed(
                f"could not start {session.display_id} on host {conn.host.name}: {said.removeprefix('ao: ')}"
            )
        return {"host": conn.host.name, "tmux_session": self._tmux_name(session)}

    def start(self, session: SessionRecord, script: Path) -> dict[str, object]:
        return self._start(session, script, "start")

    def restart(self, session: SessionRecord, script: Path) -> dict[str, object]:
        return self._start(session, script, "restart")

    def snapshot(self, sessions: list[SessionRecord], agent: Agent) -> dict[str, Liveness]:
        by_host: dict[str, list[SessionRecord]] = {}
        out: dict[str, Liveness] = {}
        self.intro_warnings = []
        for s in sessions:
            try:
                conn = self.host_of(s)
            except AoError as e:
                out[s.id] = Liveness(alive=None, reason=str(e))
                continue
            by_host.setdefault(conn.host.name, []).append(s)
        if not by_host:
            return out
        with ThreadPoolExecutor(max_workers=min(8, len(by_host))) as pool:
            results = list(pool.map(lambda item: self._snapshot_host(*item), by_host.items()))
        for lives in results:
            out.update(lives)
        return out

    def _snapshot_host(self, name: str, sessions: list[SessionRecord]) -> dict[str, Liveness]:
        from ..agents.opencode_remote import BOOT, Files, ReaderMissing, decode, payload, reader_hash

        conn = self.conn(self.config.hosts[name])
        now = time.time()
        send_reader = name not in self._reader_sent
        reader_broken = self._reader_broken.get(name)  # then the host's shell reads the sessions' files
        try:
            res = conn.run(
                SNAPSHOT,
                [conn.state, "0" if reader_broken else "1", BOOT, reader_hash(), *(s.id for s in sessions)],
                stdin=payload(sessions, int(now * 1000), self.config.idle_threshold, with_reader=send_reader),
                poll=True,
            )
        except HostUnreachable as e:
            since = conn.unreachable_since() or now
            return {s.id: Liveness(alive=None, reason=str(e), unreachable_since=since) for s in sessions}
        panes, tmux_error, shell_files, intro_text = _parse_snapshot(res.text)
        self._reader_sent.add(name)
        files: Files | None = shell_files if reader_broken else None  # None: nobody could read them
        if reader_broken:
            self.intro_warnings.append(reader_broken)
        else:
            try:
                intro, files, unavailable = decode(intro_text, sessions, name)
                self._intro.update(intro)
                if unavailable:
                    self.intro_warnings.append(unavailable)
            except ReaderMissing as e:
                self._reader_sent.discard(name)
                self.intro_warnings.append(str(e))
            except AoError as e:  # a python3 there that cannot run the reader: its shell will read the files
                self._reader_broken[name] = str(e)
                self.intro_warnings.append(str(e))
        out: dict[str, Liveness] = {}
        for s in sessions:
            code, script_alive = files.get(s.id, (None, False)) if files is not None else (None, False)
            dead = panes.get(self._tmux_name(s)) if tmux_error is None else None
            if code is not None:
                out[s.id] = Liveness(alive=False, exit_code=code)
            elif dead is False or script_alive:
                out[s.id] = Liveness(alive=True)
            elif files is None:
                out[s.id] = Liveness(alive=None, reason=f"host {name}: its session files could not be read just now")
            elif tmux_error is not None:
                out[s.id] = Liveness(alive=None, reason=f"host {name}: {tmux_error}")
            else:
                reason = None if panes else f"its tmux server on host {name} is gone (killed, or the host restarted)"
                out[s.id] = Liveness(alive=False, reason=reason)
        return out

    def read_hosts(self, sessions: list[SessionRecord]) -> None:
        """Read the hosts' OpenCode databases for these sessions (live ones: their liveness is the server's)."""
        by_host: dict[str, list[SessionRecord]] = {}
        for s in sessions:
            name = str(s.handle.get("host") or "")
            if name in self.config.hosts:
                by_host.setdefault(name, []).append(s)
        with ThreadPoolExecutor(max_workers=min(8, len(by_host) or 1)) as pool:
            list(pool.map(lambda item: self._snapshot_host(*item), by_host.items()))

    def introspection(self, sessions: list[SessionRecord]) -> dict[str, Introspection]:
        """What the last snapshot read from the hosts' OpenCode databases, for these sessions."""
        return {s.id: self._intro.pop(s.id) for s in sessions if s.id in self._intro}

    def attach_argv(self, session: SessionRecord, command: str) -> list[str]:
        """An interactive ``ssh -t`` running ``command`` (shell text) on the session's host."""
        return self.host_of(session).interactive(command)

    def attach(self, session: SessionRecord) -> AttachInfo:
        conn = self.host_of(session)
        sock = conn.state.text + "/tmux.sock"
        command = f"tmux -S {sock} attach -t {shlex.quote('=' + self._tmux_name(session))}"
        argv = self.attach_argv(session, command)
        return AttachInfo(type="ssh", argv=argv, command=shlex.join(argv))

    def kill(self, session: SessionRecord) -> None:
        conn = self.host_of(session)
        conn.run(KILL, [conn.state, session.id])

    def close(self, session: SessionRecord) -> None:
        self.kill(session)

    def forget(self, session: SessionRecord) -> str | None:
        """Close the session's kept pane and remove its folder on its host (prompt, environment, output).

        None when it is gone; else what is left there and how to remove it (its host did not answer, or is
        not configured any more): the caller says so and forgets the record anyway.
        """
        name = str(session.handle.get("host") or "") or "?"
        folder = f"sessions/{session.id}"
        try:
            conn = self.host_of(session)
        except AoError as e:
            return f"its session folder {folder} under the stateDir of host {name} (prompt, environment, output): {e}"
        host = conn.host
        folder = f"{host.state_dir.rstrip('/')}/{folder}"
        try:
            res = conn.run(FORGET, [conn.state, session.id])
            why = None if res.rc == 0 else res.err.strip().removeprefix("ao: ") or f"exit {res.rc}"
        except AoError as e:
            why = str(e)
        if why is None:
            return None
        config = ["-F", str(host.ssh_config)] if host.ssh_config is not None else []
        command = shlex.join(["ssh", *config, "--", host.ssh, f"rm -rf -- {shlex.quote(folder)}"])
        home = "" if folder.startswith("/") else " (under the home folder)"
        return (
            f"its session folder {folder}{home} on host {name}, with its prompt, environment and output: "
            f"remove it with `{command}` ({why})"
        )

    def logs(self, session: SessionRecord, lines: int | None, max_bytes: int | None = None) -> tuple[str, bool]:
        conn = self.host_of(session)
        res = conn.run(LOGS, [conn.state, session.id])
        text = res.text
        if text.startswith("@saved\n"):
            text = text[len("@saved\n") :]
        return clip(agent_text(text, lines), max_bytes)

    def probe(self, host: Host, paths: list[str]) -> tuple[dict[str, str], list[tuple[str, bool]], float]:
        """What ``host`` has (tmux, opencode, python3...), which of ``paths`` exist there, and the round trip in s."""
        conn = self.conn(host)
        res = conn.run(PROBE, [conn.state, host.opencode, *paths])
        t0 = time.monotonic()  # the round trip of a no-op over the connection the probe opened
        conn.run("exit 0", [])
        rtt = time.monotonic() - t0
        facts: dict[str, str] = {}
        found: list[tuple[str, bool]] = []
        for line in res.text.splitlines():
            key, _, value = line.partition("=")
            if key == "path":
                flag, _, p = value.partition("\t")
                found.append((p, flag == "1"))
            else:
                facts[key] = value.strip()
        return facts, found, rtt


def _parse_snapshot(text: str) -> tuple[dict[str, bool], str | None, dict[str, tuple[int | None, bool]], str]:
    """Panes (tmux session -> dead), tmux's error (None: it answered), per session (exit code, script alive),
    and the database reader's output."""
    panes: dict[str, bool] = {}
    files: dict[str, tuple[int | None, bool]] = {}
    head, _, intro = text.partition("\n@intro\n")
    section = ""
    said: list[str] = []
    rc = 0
    for line in head.splitlines():
        if line == "@panes":
            section = "panes"
        elif line.startswith("@rc "):
            section, rc = "", int(line[4:] or 0)
        elif line.startswith("@s\t"):
            parts = line.split("\t")
            if len(parts) == 4:
                code = int(parts[2]) if parts[2].strip().lstrip("-").isdigit() else None
                files[parts[1]] = (code, parts[3] == "1")
        elif section == "panes":
            name, tab, dead = line.partition("\t")
            if tab:
                panes[name] = dead == "1"
            else:
                said.append(line)
    error = None
    if rc != 0:
        err = " ".join(said).strip()
        if any(s in err for s in _NO_SERVER) and "Permission denied" not in err:
            panes = {}
        else:
            error = f"tmux failed: {err or rc}"
    return panes, error, files, intro
