"""The VS Code extension (vscode-extension/) end to end.

Two levels, both against the real ao-server, real tmux and the real OpenCode with the fake model:

* ``test_extension_typechecks_and_lints``: ``npm run typecheck`` (strict tsc) and ``npm run lint`` (ESLint).
* ``test_extension_client_logic``: the extension's own code (commands, Sessions tree, status bar, exit
  notifications, server start/restart) runs in Node under ``npm test`` with a one-file double of the
  ``vscode`` module; the language client, vscode-jsonrpc and the server process are real. This test
  gives those node tests the bed's isolated world through their environment.
* ``test_real_vscode_host``: the packaged ``.vsix`` (with this repository's wheel in it) installed into a
  real VS Code workbench (code-server 4.100.3, from scripts/install-vscode-host.sh) whose PATH has no
  ``ao-server`` and no ``ao.server.command`` setting, driven by Playwright in Debian's headless Chromium:
  the extension offers "Install ao-server", the click makes a private virtualenv from the bundled wheel
  (dependencies from PyPI) and starts it; then AO: Spawn Agent from the palette (one project: no project
  pick), the Sessions view, the exit notification, AO: Show Hosts (a host that refuses ssh), AO: Attach to
  Session opening a terminal. Screenshots
  go to test-artifacts/. Skipped when its tools cannot be installed, except under CI=true, where that is
  a failure.
* ``test_real_vscode_host_review`` and ``test_real_vscode_host_live``: reviewing an agent's work, and answering a
  live agent's permission request, in the same real workbench.

``npm ci`` runs once per checkout (a stamp in node_modules remembers the lock file it installed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ao_server.runtimes.live import OpenCodeServer
from tests.support.bed import ROOT, Bed, terminate_all, wait_for

EXT = ROOT / "vscode-extension"
ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI") == "true"

pytestmark = pytest.mark.e2e


def _tail(text: str, n: int = 6000) -> str:
    return text if len(text) <= n else "...\n" + text[-n:]


def _unavailable(why: str) -> None:
    """A missing tool: skip on a laptop, fail in CI."""
    if IN_CI:
        pytest.fail(f"CI=true and the VS Code tests cannot run: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """vscode-extension/node_modules from ``npm ci``, reused while package-lock.json is unchanged."""
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        _unavailable("node and npm are not installed (scripts/setup.sh installs them)")
    lock = EXT / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = EXT / "node_modules" / ".ao-npm-ci"
    if not (stamp.exists() and stamp.read_text().strip() == digest):
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=EXT,
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError(f"npm ci failed ({proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}")
        stamp.write_text(digest + "\n")
    return EXT / "node_modules"


def _npm(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npm", *args], cwd=EXT, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def test_extension_typechecks_and_lints(node_modules: Path) -> None:
    """``tsc --noEmit`` in strict mode and ESLint with typescript-eslint's type-checked rules, both clean."""
    for script in ("typecheck", "lint"):
        proc = _npm("run", script, timeout=300)
        assert proc.returncode == 0, f"npm run {script} failed:\n{_tail(proc.stdout + proc.stderr)}"


def test_extension_client_logic(bed: Bed, node_modules: Path) -> None:
    env = dict(bed.env)
    env.update({
        "AO_TEST_SERVER_COMMAND": json.dumps([sys.executable, "-m", "ao_server"]),
        "AO_TEST_WORKSPACE": str(bed.project),
        "AO_TEST_PYTHON": sys.executable,
        "npm_config_cache": str(bed.root / "npm-cache"),  # npm writes logs under HOME otherwise
        "npm_config_update_notifier": "false",
    })
    started = time.monotonic()
    try:
        proc = _npm("test", env=env, timeout=420)
    finally:
        # live.test.ts has its own state dir, so its own OpenCode server; it stops it, and this makes sure.
        for info in bed.root.rglob("opencode-server.json"):
            OpenCodeServer(info.parent, bed.env).stop()
    took = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"npm test failed ({proc.returncode}) after {took:.0f}s:\n{_tail(out, 20000)}"
    summary = {k: int(v) for k, v in (line.split()[1:3] for line in out.splitlines()
                                        if line.startswith("ℹ ") and len(line.split()) == 3
                                        and line.split()[2].isdigit())}
    assert summary.get("fail") == 0 and summary.get("tests", 0) >= 20, summary
    assert summary.get("skipped") == 0, f"node tests were skipped under pytest:\n{_tail(out)}"
    print(f"npm test: {summary} in {took:.0f}s")


# --- the real VS Code host ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def vscode_host() -> Path:
    """code-server + playwright-core, installed (once, cached) by scripts/install-vscode-host.sh."""
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "install-vscode-host.sh")], capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        _unavailable(f"scripts/install-vscode-host.sh failed ({proc.returncode}):\n{_tail(proc.stderr, 3000)}")
    host = Path(proc.stdout.strip().splitlines()[-1])
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        _unavailable("Debian's chromium is not installed")
    return host


@pytest.fixture(scope="session")
def vsix(node_modules: Path) -> Path:
    """The packaged extension (``npm run package``: this repository's wheel, esbuild production bundle, vsce)."""
    proc = _npm("run", "package", timeout=600, env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, f"npm run package failed:\n{_tail(proc.stdout + proc.stderr)}"
    path = EXT / "ao-vscode.vsix"
    assert path.exists(), proc.stdout
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill_tree(pid: int) -> None:
    """End a process and everything it started, by PID."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    terminate_all(procs, timeout=8)


class CodeServer:
    """code-server on 127.0.0.1 with the bed's HOME and XDG dirs, the .vsix installed, the bed's project open."""

    def __init__(self, host: Path, bed: Bed, vsix: Path, settings: dict[str, Any] | None = None) -> None:
        self.entry = host / "node_modules" / "code-server" / "out" / "node" / "entry.js"
        self.dir = bed.root / "vscode"
        self.user_data = self.dir / "user-data"
        self.extensions = self.dir / "extensions"
        (self.user_data / "User").mkdir(parents=True)
        self.extensions.mkdir(parents=True)
        # A machine where ao-server was never installed: not on PATH, not importable, no setting.
        self.env = dict(bed.env)
        self.env.pop("VSCODE_IPC_HOOK_CLI", None)
        self.env.pop("PYTHONPATH", None)
        self.env["PATH"] = os.pathsep.join(
            d for d in self.env.get("PATH", "").split(os.pathsep)
            if d and not os.access(os.path.join(d, "ao-server"), os.X_OK))
        self.venv = self.user_data / "User" / "globalStorage" / "ao-server.ao-vscode" / "ao-server-venv"
        settings = {
            "ao.pollInterval": 0.5,
            "workbench.startupEditor": "none",
            "workbench.tips.enabled": False,
            "workbench.enableExperiments": False,
            "workbench.secondarySideBar.defaultVisibility": "hidden",
            "chat.commandCenter.enabled": False,
            "chat.disableAIFeatures": True,
            "security.workspace.trust.enabled": False,
            "telemetry.telemetryLevel": "off",
            "update.mode": "none",
            "extensions.autoCheckUpdates": False,
            "extensions.autoUpdate": False,
            "extensions.ignoreRecommendations": True,
            "terminal.integrated.gpuAcceleration": "off",
            "terminal.integrated.defaultProfile.linux": "sh",
            "window.restoreWindows": "none",
            **(settings or {}),
        }
        (self.user_data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
        install = subprocess.run(["node", str(self.entry), "--user-data-dir", str(self.user_data), "--extensions-dir",
                                  str(self.extensions), "--install-extension", str(vsix)],
                                 capture_output=True, text=True, env=self.env, timeout=180, stdin=subprocess.DEVNULL)
        assert install.returncode == 0, f"--install-extension failed:\n{install.stdout}{install.stderr}"
        installed = [p.name for p in self.extensions.iterdir()]
        assert any(n.startswith("ao-server.ao-vscode-") for n in installed), installed
        self.port = _free_port()
        self.log_path = self.dir / "code-server.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["node", str(self.entry), "--auth", "none", "--bind-addr", f"127.0.0.1:{self.port}", "--disable-telemetry",
             "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override",
             "--user-data-dir", str(self.user_data), "--extensions-dir", str(self.extensions), str(bed.project)],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=bed.project)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(self._healthy, timeout=60, interval=0.5, what=f"code-server on {self.url} ({self._log_tail()})")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"code-server exited ({self.proc.returncode}):\n{self._log_tail()}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), 3000)
        except OSError:
            return ""

    def extension_host_logs(self) -> str:
        """The extension host's log and the AO output channel, for failures."""
        parts = []
        for p in sorted((self.user_data / "logs").rglob("*.log")):
            if "exthost" in p.name or "AO" in p.name or "ao" in p.parent.name:
                parts.append(f"--- {p.relative_to(self.user_data)}\n{_tail(p.read_text(errors='replace'), 3000)}")
        return "\n".join(parts)

    def stop(self) -> None:
        _kill_tree(self.proc.pid)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


@pytest.fixture
def code_server(vscode_host: Path, bed: Bed, vsix: Path) -> Iterator[CodeServer]:
    cs = CodeServer(vscode_host, bed, vsix)
    try:
        yield cs
    finally:
        cs.stop()


def _drive(script: str, bed: Bed, code_server: CodeServer, vscode_host: Path,
           extra_env: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
    """Runs a Playwright driver of test-host/ against the code-server; its RESULT line and how long it took."""
    ARTIFACTS.mkdir(exist_ok=True)
    driver = EXT / "test-host" / script
    env = dict(bed.env)
    env.update({
        "AO_HOST_DIR": str(vscode_host),
        "AO_HOST_URL": code_server.url,
        "AO_HOST_WORKSPACE": str(bed.project),
        "AO_HOST_ARTIFACTS": str(ARTIFACTS),
        "AO_HOST_TMUX_SOCKET": bed.tmux_socket,
        "AO_HOST_CHROMIUM": shutil.which("chromium") or "/usr/bin/chromium",
        **(extra_env or {}),
    })
    started = time.monotonic()
    proc = subprocess.Popen(["node", str(driver)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=480)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)  # the driver and its Chromium
        out, err = proc.communicate()
        raise AssertionError(f"the Playwright driver {script} timed out:\n{_tail(out)}\n{_tail(err)}\n"
                             f"{code_server.extension_host_logs()}") from None
    finally:
        _kill_tree(proc.pid)
    took = time.monotonic() - started
    report: dict[str, Any] = {}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            report = json.loads(line[len("RESULT "):])
    assert proc.returncode == 0 and report.get("ok"), (
        f"the real-host scenario {script} failed after {took:.0f}s (screenshots in {ARTIFACTS}):\n{_tail(out)}\n"
        f"{_tail(err)}\n{code_server.extension_host_logs()}")
    return report, took


# Python files a repository could hold to be run in place of the real modules by a Python started in its folder
# (`python -m` and `python -c` put the current folder first on sys.path): the server's and the installer's.
SHADOWS = ("yaml.py", "ao_server/__init__.py", "ao_server/__main__.py", "venv.py", "pip/__init__.py", "pip/__main__.py")


def _plant_shadows(folder: Path) -> Path:
    """Writes SHADOWS into ``folder``, each writing a marker into the folder this returns when Python runs it."""
    ran = folder.parent / "shadows-ran"
    ran.mkdir()
    for name in SHADOWS:
        path = folder / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"open({str(ran / name.replace('/', '_'))!r}, 'w').write('ran from the workspace')\n")
    return ran


def test_real_vscode_host(bed: Bed, code_server: CodeServer, vscode_host: Path) -> None:
    # A remote host that refuses ssh (nothing listens on port 1), for AO: Show Hosts; the server reads the
    # config once the drive installs and starts it.
    cfg = bed.project / "agent-orchestrator.yaml"
    cfg.write_text(cfg.read_text() + 'hosts:\n  - name: nowhere\n    ssh: "ssh://root@127.0.0.1:1"\n')
    # The workspace holds an ao_server/ package, a yaml.py, a venv.py and a pip/: neither the search for a
    # server nor the install may run them (the extension host runs in the workspace folder, as `code .` does).
    ran = _plant_shadows(bed.project)
    report, took = _drive("drive.mjs", bed, code_server, vscode_host)
    assert sorted(p.name for p in ran.iterdir()) == [], "Python ran the workspace's files"

    # The server that ran is the one "Install ao-server" put in the extension's storage, from the bundled wheel.
    assert report["installOffer"].startswith("AO: ao-server is not installed (`ao-server` is not on PATH; "), report
    assert report["installed"] == "AO: ao-server 0.1.0 is installed and running.", report
    assert (code_server.venv / "bin" / "ao-server").exists() and (code_server.venv / ".ao-installed").exists()
    assert (code_server.venv / ".ao-installed").read_text().startswith("ao_server-0.1.0-")
    servers = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
               if any(str(code_server.venv / "bin" / "ao-server") in a for a in p.info["cmdline"] or [])]
    assert servers, "no ao-server from the private virtualenv is running"

    # What the workbench showed matches the world: the agent ran and exited in the bed's tmux.
    sid = "my-project/agent-1"
    assert report["spawned"] == sid
    status = bed.ao_json("status", sid, cwd=bed.root)  # not from the workspace: its ao_server/ would run
    assert status["status"] == "exited" and status["exitCode"] == 0, status
    assert "[[slow:3]]" in (status["prompt"] or "")
    assert report["notification"] == f"{sid} finished"
    assert report["hostsTitle"] == "AO: 1 host, 1 unreachable", report
    assert "nowhere" in report["hostsRow"] and "unreachable since" in report["hostsRow"], report
    assert "Connection refused" in report["hostsRow"], report
    assert report["terminal"] == f"AO: {sid}"
    assert report["tmuxClients"] >= 1, report  # the terminal really ran `tmux attach`
    for name in ("vscode-install-offer.png", "vscode-sessions-view.png", "vscode-exit-notification.png",
                 "vscode-hosts.png", "vscode-attach-terminal.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name
    print(f"real VS Code host scenario: {took:.0f}s; {json.dumps(report)}")


# --- reviewing an agent's work in the real VS Code host ---------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()


def test_real_vscode_host_review(bed: Bed, vscode_host: Path, vsix: Path) -> None:
    """A worktree session's work reviewed and accepted in the real workbench, checked with git.

    The project is a git repository with ``workspace: worktree``; the agent (spawned with the ``ao`` CLI while
    the window is open) writes notes.txt and exits. The exit notification's Review Changes picks the file and
    opens VS Code's diff editor; the Sessions view expands the session to notes.txt with its line counts, whose
    click opens the diff again; the session's context menu Accept (Merge) asks, naming main, and merges.
    The server is this checkout's (``ao.server.command``): installing it is test_real_vscode_host's part.
    """
    _git(bed.project, "init", "-q", "-b", "main")
    _git(bed.project, "config", "user.email", "t@example.com")
    _git(bed.project, "config", "user.name", "Test")
    (bed.project / "README").write_text("hello\n")
    (bed.project / ".gitignore").write_text("agent-orchestrator.yaml\n.vscode/\n")
    _git(bed.project, "add", "README", ".gitignore")
    _git(bed.project, "commit", "-q", "-m", "init")
    initial = _git(bed.project, "rev-parse", "main")
    bed.write_config(runtime="process")
    cfg = bed.project / "agent-orchestrator.yaml"
    cfg.write_text(cfg.read_text() + "    workspace: worktree\n")

    settings = {"ao.server.command": [sys.executable, "-m", "ao_server"], "git.openRepositoryInParentFolders": "never"}
    cs = CodeServer(vscode_host, bed, vsix, settings=settings)
    try:
        report, took = _drive("review.mjs", bed, cs, vscode_host, {"AO_HOST_PYTHON": sys.executable})
    finally:
        cs.stop()

    sid = "my-project/agent-1"
    assert report["notification"] == f"{sid} finished"
    assert report["notificationButtons"][0] == "Review Changes", report
    assert report["filePickTitle"].startswith(f"Changes of {sid} against main: 1 files, +1 −0"), report
    assert report["diffTab"].startswith("agent-1: notes.txt (base ↔ agent)"), report
    assert report["diffTabFromTree"].startswith("agent-1: notes.txt (base ↔ agent)"), report
    assert report["fileRow"] == "notes.txt +1 −0 · added", report
    assert report["confirm"] == f"Merge {sid} into main?", report
    assert report["merged"].startswith(f"merged {sid} into main"), report

    # What the workbench said happened, happened: main moved to the agent's work.
    status = bed.status_of(sid)
    assert status["status"] == "exited" and status["exitCode"] == 0, status
    head = _git(bed.project, "rev-parse", "main")
    assert head != initial
    assert status["workspace"]["merged"], status["workspace"]
    assert _git(bed.project, "show", "main:notes.txt") == "hello from the agent"
    assert (bed.project / "notes.txt").read_text() == "hello from the agent"  # the checkout is main
    for name in ("vscode-review-diff.png", "vscode-review-tree.png", "vscode-review-merged.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name
    print(f"real VS Code host review scenario: {took:.0f}s; {json.dumps(report, ensure_ascii=False)}")


# --- a live agent's permission request in the real VS Code host -------------------------------------------------


def test_real_vscode_host_live(bed: Bed, vscode_host: Path, vsix: Path) -> None:
    """A live agent asks to run a command; the workbench's notification answers it, checked on disk.

    OpenCode's config says ``permission: {bash: ask}``; the agent (spawned with ``ao spawn --live`` while the window
    is open) wants to run ``echo hi > ran.txt``. The notification names the command with Allow once / Always /
    Reject and the Sessions view says the session waits; Allow once (ao/respond) lets it run and the agent finishes.
    """
    cfg = bed.root / "config" / "opencode" / "opencode.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "permission": {"bash": "ask"}}, indent=2))
    bed.write_config(runtime="process")

    settings = {"ao.server.command": [sys.executable, "-m", "ao_server"]}
    cs = CodeServer(vscode_host, bed, vsix, settings=settings)
    try:
        report, took = _drive("live.mjs", bed, cs, vscode_host, {"AO_HOST_PYTHON": sys.executable})
    finally:
        cs.stop()

    sid = "my-project/agent-1"
    asks = f"{sid} wants to run `echo hi > ran.txt` (Always also allows `echo *` from now on.)"
    assert report["notification"] == asks, report
    assert report["buttons"] == ["Allow once", "Always", "Reject"], report
    assert report["sessionRow"].startswith("waiting for you"), report
    assert report["finished"] == f"{sid} finished", report
    assert report["sessionRowAfter"].startswith("finished"), report

    # What the workbench said happened, happened: the command ran once allowed, and the agent finished.
    assert (bed.project / "ran.txt").read_text() == "hi\n"
    status = bed.status_of(sid)
    assert status["runtime"] == "live" and status["status"] == "exited" and status["exitCode"] == 0, status
    assert status["outcome"]["result"] == "success" and status["pending"] == [], status
    for name in ("vscode-live-permission.png", "vscode-live-finished.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name
    print(f"real VS Code host live scenario: {took:.0f}s; {json.dumps(report, ensure_ascii=False)}")


# --- a hostile repository opened in the real VS Code host -------------------------------------------------------

def test_real_vscode_host_hostile_workspace(bed: Bed, vscode_host: Path, vsix: Path) -> None:
    """A repository cannot choose what AO runs, nor be imported by it.

    The workspace holds a ``yaml.py`` (and the rest of SHADOWS) that writes a marker when Python imports it, and
    a ``.vscode/settings.json`` whose ``ao.server.command`` is a program of its own (it writes another marker).
    The user's settings name the real server, ``python -m ao_server`` (which puts its current folder first on
    ``sys.path``). The workbench starts that one, in the extension's storage folder; no marker is written; an
    agent spawned from the palette runs in the workspace's project (its folder comes from ``initialize``, not
    from where the server runs).
    """
    ran = _plant_shadows(bed.project)
    hostile = bed.root / "hostile-command.marker"
    (bed.project / ".vscode").mkdir()
    (bed.project / ".vscode" / "settings.json").write_text(
        json.dumps({"ao.server.command": ["/bin/sh", "-c", 'echo ran > "$0"; exit 3', str(hostile)]})
    )
    bed.write_config(runtime="process")

    real = [sys.executable, "-m", "ao_server"]
    cs = CodeServer(vscode_host, bed, vsix, settings={"ao.server.command": real})
    try:
        report, took = _drive("hostile.mjs", bed, cs, vscode_host, {"AO_HOST_SERVER_PID": str(cs.proc.pid)})
    finally:
        cs.stop()

    assert not hostile.exists(), "the workspace's ao.server.command ran"
    assert sorted(p.name for p in ran.iterdir()) == [], "the server ran the workspace's files"
    assert report["statusBar"].startswith("AO: "), report
    assert report["finished"] == "my-project/agent-1 finished", report
    # The user's command is what runs, and not in the workspace: in the extension's own storage folder.
    # (Read by the drive while the window was open: code-server ends the extension host when it closes.)
    storage = cs.user_data / "User" / "globalStorage" / "ao-server.ao-vscode"
    servers = [p for p in report["processes"] if p["argv"] == real]
    assert [p["cwd"] for p in servers] == [str(storage)], (report["processes"], cs.extension_host_logs())
    status = bed.ao_json("status", "my-project/agent-1", cwd=bed.root)  # not in the workspace: its ao_server/
    assert status["status"] == "exited" and status["exitCode"] == 0, status
    assert Path(status["workdir"]) == bed.project, status
    print(f"real VS Code host hostile-workspace scenario: {took:.0f}s; {json.dumps(report)}")
