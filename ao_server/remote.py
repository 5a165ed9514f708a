"""Commands on remote hosts over the user's own OpenSSH, sharing one connection per host.

Every call is ``ssh [-F sshConfig] -o ControlMaster=auto -o ControlPath=<state>/ssh/%C
-o ControlPersist=... -o BatchMode=yes -- <destination> <command>``: the first call to
a host opens a master connection that later calls (of this process and of any other
``ao`` using the same state dir) reuse, so a status tick costs one short-lived ``ssh``
process per host and one round trip. ao never sees a password: authentication is the
user's keys, agent and ``~/.ssh/config``; host-key checking is left as the user set it
(BatchMode only stops ssh from asking).

The command ssh sends is parsed by the remote user's shell, so it is built here and
only here: a constant ``sh -c`` script and its arguments, each quoted with
:func:`shlex.quote`. The one unquoted part is ``"$HOME"``, the prefix of a state
dir given relative to the remote home. Data (prompts, scripts, query parameters)
travels on stdin, never in the command line.

Reachability is remembered per host in ``<state>/hosts/<name>.json`` so that every
``ao`` process reports the same ``unreachable since``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .config import Host
from .errors import AoError, HostUnreachable
from .formats import iso

CONNECT_TIMEOUT = 5  # seconds for ssh to connect (ConnectTimeout)
RETRY_AFTER = 10.0  # seconds a status poll leaves an unreachable host alone before trying it again
CALL_TIMEOUT = 30.0  # seconds for one remote command, connection included
POLL_TIMEOUT = 10.0  # seconds for a status look-up (a poll), connection included: a hung host never stalls status
PERSIST = "120"  # seconds a master connection stays after its last use


@dataclass(frozen=True)
class Raw:
    """A word of a remote command that is already shell syntax (``"$HOME"/'x'``): not quoted again."""

    text: str


@dataclass(frozen=True)
class Result:
    rc: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", errors="replace")


def ssh_bin() -> str:
    found = shutil.which("ssh")
    if not found:
        raise AoError("ssh is not installed here; install OpenSSH's client (e.g. `apt-get install openssh-client`)")
    return os.path.abspath(found)


def remote_path(path: str) -> Raw:
    """A folder on the remote host as a shell word: absolute as is, else under the remote user's home."""
    if path.startswith("/"):
        return Raw(shlex.quote(path))
    return Raw('"$HOME"/' + shlex.quote(path))


def command_line(script: str, args: list[str | Raw]) -> str:
    """``sh -c <script> ao <args...>``, every word quoted for a POSIX shell (``Raw`` words as they are)."""
    words = [a.text if isinstance(a, Raw) else shlex.quote(a) for a in args]
    return " ".join(["sh", "-c", shlex.quote(script), "ao", *words])


class SshHost:
    """One configured host, reached from the state dir ``state_dir`` (whose ``ssh/`` holds the control sockets)."""

    def __init__(self, host: Host, state_dir: Path) -> None:
        self.host = host
        self.local_state = state_dir
        self.state = remote_path(host.state_dir)

    # --- the connection -------------------------------------------------------------

    def _control_dir(self) -> Path:
        return control_dir(self.local_state)

    def ssh_argv(self, *, shared: bool = True, tty: bool = False) -> list[str]:
        """``ssh`` and its options up to (not including) the destination."""
        argv = [ssh_bin()]
        if self.host.ssh_config is not None:
            argv += ["-F", str(self.host.ssh_config)]
        if shared:
            argv += [
                "-o", "ControlMaster=auto",
                "-o", f"ControlPath={self._control_dir()}/{CONTROL_NAME}",
                "-o", f"ControlPersist={PERSIST}",
            ]  # fmt: skip
        argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
        # A master whose link died notices within ~6 s (only the master's own setting counts; commands sent
        # through it wait for it), and the next command opens a new connection.
        argv += ["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3"]
        argv += ["-t"] if tty else ["-T"]
        return argv

    def interactive(self, command: str) -> list[str]:
        """``ssh -t`` running ``command`` (shell text) on the host, for a terminal: its own connection, and
        nothing that keeps ssh from asking (a passphrase, a new host key)."""
        config = ["-F", str(self.host.ssh_config)] if self.host.ssh_config is not None else []
        return [ssh_bin(), *config, "-t", "--", self.host.ssh, command]

    def run(
        self,
        script: str,
        args: list[str | Raw],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        poll: bool = False,
    ) -> Result:
        """Run ``sh -c script`` with ``args`` on the host; raise :class:`HostUnreachable` when ssh itself fails.

        The remote command's own exit status is ``Result.rc`` (255 is ssh's: unreachable). With ``poll``
        (a status tick), a host found unreachable less than :data:`RETRY_AFTER` seconds ago is not tried
        again: a down host would cost every tick a connection timeout; and the call gets
        :data:`POLL_TIMEOUT` seconds (others :data:`CALL_TIMEOUT`, unless ``timeout`` says).
        """
        if timeout is None:
            timeout = POLL_TIMEOUT if poll else CALL_TIMEOUT
        if poll:
            state = self.reachability()
            tried = state.get("lastTry")
            if (
                state.get("unreachableSince")
                and isinstance(tried, int | float)
                and 0 <= time.time() - tried < RETRY_AFTER
            ):
                raise self.unreachable(str(state.get("error") or "no answer"))
        argv = [*self.ssh_argv(), "--", self.host.ssh, command_line(script, args)]
        try:
            proc = subprocess.run(
                argv,
                input=stdin if stdin is not None else b"",
                capture_output=True,
                timeout=timeout,
                start_new_session=True,  # a Ctrl-C of ao's terminal never reaches the master connection
            )
        except subprocess.TimeoutExpired:
            why = f"no answer within {timeout:g} s: the host, its sshd or a command there is hung or very slow"
            self._mark_unreachable(why)
            raise self.unreachable(why) from None
        except OSError as e:
            raise HostUnreachable(f"host {self.host.name}: could not run ssh: {e}", host=self.host.name) from None
        err = proc.stderr.decode("utf-8", errors="replace").strip()
        if proc.returncode == 255:
            why = _ssh_error(err)
            self._mark_unreachable(why)
            raise self.unreachable(why)
        self._mark_reachable()
        return Result(proc.returncode, proc.stdout, err)

    # --- what every ao process knows about the host -------------------------------------

    def _state_file(self) -> Path:
        return self.local_state / "hosts" / f"{self.host.name}.json"

    def reachability(self) -> dict[str, object]:
        try:
            data = json.loads(self._state_file().read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def unreachable_since(self) -> float | None:
        since = self.reachability().get("unreachableSince")
        return float(since) if isinstance(since, int | float) else None

    def unreachable(self, why: str) -> HostUnreachable:
        """The error to raise, with ``data`` an editor can use: ``{host, since}`` (``since``: ISO 8601 UTC)."""
        since = self.unreachable_since()
        when = iso(since) if since else None
        return HostUnreachable(self.unreachable_message(why), host=self.host.name, since=when)

    def unreachable_message(self, why: str) -> str:
        since = self.unreachable_since()
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "now"
        return f"host {self.host.name} ({self.host.ssh}) unreachable since {when}: {why}"

    def _write_state(self, data: dict[str, object]) -> None:
        from .runtimes.common import write_private

        path = self._state_file()
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_private(path, json.dumps(data))
        except OSError:
            pass

    def _mark_unreachable(self, why: str) -> None:
        old = self.reachability()
        since = old.get("unreachableSince") or time.time()
        self._write_state({"unreachableSince": since, "error": why, "lastTry": time.time()})

    def _mark_reachable(self) -> None:
        if self.reachability().get("unreachableSince"):
            self._write_state({"lastSeen": time.time()})


# The name of a master connection's socket in the control folder: ssh expands %C to the connection's hash, 40 hex
# characters (SHA-1 of the local host, remote host, port, user and ProxyJump).
CONTROL_NAME = "%C"
_CONTROL_NAME_BYTES = 40
# A unix socket's path (sun_path) holds at most 107 bytes and a NUL. OpenSSH first binds a new master's socket at
# "<ControlPath>." plus 16 random characters and renames it into place after, so that longer name must fit.
_SUN_PATH_MAX = 107
_MASTER_TEMP_SUFFIX = 1 + 16
MAX_CONTROL_DIR = _SUN_PATH_MAX - len("/") - _CONTROL_NAME_BYTES - _MASTER_TEMP_SUFFIX  # 49 bytes


def _fits(d: Path) -> bool:
    return len(os.fsencode(str(d))) <= MAX_CONTROL_DIR


def control_dir(state_dir: Path) -> Path:
    """Where the master connections' sockets of a state dir live: ``<state>/ssh``, or, when that path is too
    long for a socket (more than :data:`MAX_CONTROL_DIR` bytes), ``<tmp>/ao-ssh-<uid>-<hash of the state dir>``
    in ``$TMPDIR`` or else ``/tmp`` (checked: ours, 0700, not a link)."""
    d = state_dir / "ssh"
    if not _fits(d):
        tag = hashlib.sha256(os.fsencode(str(state_dir.resolve()))).hexdigest()[:16]
        name = f"ao-ssh-{os.getuid()}-{tag}"
        fits = [Path(t) / name for t in dict.fromkeys([tempfile.gettempdir(), "/tmp"]) if _fits(Path(t) / name)]
        if not fits:
            raise AoError(
                f"the folder of ssh's shared connections {d} is too long for a unix socket "
                f"({len(os.fsencode(str(d)))} bytes, at most {MAX_CONTROL_DIR}), and so is {Path('/tmp') / name}; "
                "set AO_STATE_DIR to a shorter path"
            )
        d = fits[0]
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(d)
    except OSError as e:
        raise AoError(f"cannot make the folder of ssh's shared connections {d}: {e}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise AoError(f"{d} (ssh's shared connections) is not a private folder of yours; remove it and retry")
    return d


def stop_masters(state_dir: Path) -> int:
    """Close the shared connections of a state dir (``ssh -O exit``); how many there were."""
    d = control_dir(state_dir)
    n = 0
    for sock in d.iterdir():
        if not stat.S_ISSOCK(os.lstat(sock).st_mode) or sock.name.startswith("fwd-"):  # fwd-*: a live forward's
            continue
        n += 1
        subprocess.run(
            [ssh_bin(), "-o", f"ControlPath={sock}", "-O", "exit", "ao-master"],
            capture_output=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    return n


def _ssh_error(err: str) -> str:
    """ssh's own complaint (its last lines), with a hint for the common ones."""
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("Warning: Permanently added")]
    said = " ".join(lines[-2:]) if lines else "ssh failed (exit 255)"
    low = said.lower()
    if "host key verification failed" in low or "remote host identification has changed" in low:
        said += " (check the host's key in your known_hosts; ao never turns host-key checking off)"
    elif "during banner exchange" in low:
        said += " (the host's sshd took the connection but does not answer: the host or its sshd is hung or overloaded)"
    elif "permission denied" in low:
        said += " (ao uses your ssh keys and agent, never a password: check `ssh <host> true` works without asking)"
    return said[:400]
