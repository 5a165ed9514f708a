"""Remote hosts, the parts that are pure: the config's hosts:, the quoting of remote commands, the launch
script, the parsing of a snapshot's answer and of the database reader's."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from ao_server.config import Host, parse_config
from ao_server.errors import ConfigError
from ao_server.model import LaunchSpec
from ao_server.remote import Raw, command_line, remote_path
from ao_server.runtimes.ssh import _parse_snapshot, _tar, remote_script

EVIL = [
    "a b",
    "it's",
    'say "hi"',
    "$(touch /tmp/ao-pwned)",
    "`touch /tmp/ao-pwned`",
    "x; touch /tmp/ao-pwned",
    "line1\nline2",
    "#(touch /tmp/ao-pwned) #{pane_pid}",
    "-oProxyCommand=touch /tmp/ao-pwned",
    "\\ back\\slash *?[a]",
    "",
]


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "agent-orchestrator.yaml"
    path.write_text(text)
    return parse_config(text, path)


def test_hosts_and_a_project_on_one(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "hosts:\n"
        "  - name: build1\n    ssh: dev@build1.example\n    opencode: /opt/oc/bin/opencode\n"
        "    stateDir: ~/ao\n    sshConfig: ./ssh_config\n"
        "  - name: gpu\n    ssh: ssh://me@gpu:2222\n"
        "projects:\n  - name: far\n    path: /srv/app\n    host: build1\n  - name: here\n    path: .\n",
    )
    b = cfg.hosts["build1"]
    assert b == Host("build1", "dev@build1.example", tmp_path / "ssh_config", "/opt/oc/bin/opencode", "ao")
    assert cfg.hosts["gpu"].state_dir == ".local/state/ao-server" and cfg.hosts["gpu"].opencode == "opencode"
    far = cfg.projects["far"]
    assert far.host == "build1" and far.path == Path("/srv/app")  # not made relative to the config's folder
    assert cfg.host_of(far) is b and cfg.host_of(cfg.projects["here"]) is None
    # A remote project is never the default for a local folder that happens to have the same path.
    assert cfg.default_project(Path("/srv/app")) is None


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("hosts:\n  - name: b\n    ssh: -oProxyCommand=x\n", ["hosts[0].ssh", "not an ssh destination"]),
        ("hosts:\n  - name: b\n    ssh: 'a b'\n", ["hosts[0].ssh"]),
        ('hosts:\n  - name: b\n    ssh: "x$(id)"\n', ["hosts[0].ssh"]),
        ("hosts:\n  - name: b\n", ["hosts[0].ssh", "missing"]),
        ("hosts:\n  - name: b\n    ssh: b\n  - name: b\n    ssh: c\n", ["defined twice"]),
        ("hosts:\n  - name: b\n    ssh: b\n    port: 22\n", ["unknown key", "hosts[0].port"]),
        ("hosts:\n  - name: b\n    ssh: b\n    opencode: --help\n", ["hosts[0].opencode"]),
        ("hosts: {b: 1}\n", ["expected a list of hosts"]),
    ],
)
def test_host_errors(tmp_path: Path, text: str, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text + "projects:\n  - name: p\n    path: /x\n")
    for n in needles:
        assert n in str(e.value)


@pytest.mark.parametrize(
    ("project", "needles"),
    [
        ("    host: nope\n", ["no host named 'nope'", "hosts: b"]),
        ("    host: bb\n", ["did you mean 'b'"]),
        ("    host: b\n    workspace: worktree\n    worktreeDir: rel/wt\n", ["worktreeDir", "absolute path there"]),
        ("    host: b\n    runtime: tmux\n", ["its runtime is ssh"]),
        ("    runtime: ssh\n", ["needs host:"]),
    ],
)
def test_remote_project_errors(tmp_path: Path, project: str, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, "hosts:\n  - name: b\n    ssh: b\nprojects:\n  - name: p\n    path: /x\n" + project)
    for n in needles:
        assert n in str(e.value)


def test_a_remote_project_needs_an_absolute_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give its absolute path there"):
        load(tmp_path, "hosts:\n  - name: b\n    ssh: b\nprojects:\n  - name: p\n    path: rel/x\n    host: b\n")


def test_every_word_reaches_the_remote_shell_unchanged(tmp_path: Path) -> None:
    """What ssh sends is parsed by a shell there: run it through sh here and look at what arrives."""
    show = 'for a in "$@"; do printf "%s\\0" "$a"; done'
    line = command_line(show, EVIL)
    out = subprocess.run(["sh", "-c", line], capture_output=True, check=True, cwd=tmp_path).stdout
    assert out.split(b"\0")[:-1] == [w.encode() for w in EVIL]
    assert not Path("/tmp/ao-pwned").exists()


def test_a_state_dir_under_the_remote_home(tmp_path: Path) -> None:
    show = 'printf "%s" "$1"'
    home = {"HOME": str(tmp_path / "h o$(me)"), "PATH": "/usr/bin:/bin"}
    for given, want in [(".local/state/ao server", f"{home['HOME']}/.local/state/ao server"), ("/abs/x'y", "/abs/x'y")]:
        line = command_line(show, [remote_path(given)])
        out = subprocess.run(["sh", "-c", line], capture_output=True, check=True, env=home).stdout.decode()
        assert out == want
    assert remote_path("/a").text == "/a" and isinstance(remote_path("x"), Raw)


def test_the_remote_launch_script_runs_its_agent_from_its_own_folder(tmp_path: Path) -> None:
    """The script finds its files beside itself, feeds the prompt on stdin, records PID and exit code."""
    folder = tmp_path / "sessions" / "agent-3"
    folder.mkdir(parents=True)
    work = tmp_path / "work dir $(x)"
    work.mkdir()
    spec = LaunchSpec(
        argv=["sh", "-c", 'cat > got.txt; echo "$AO_SESSION_ID" > env.txt; exit 3'],
        env={"AO_SESSION_ID": "agent-3"},
        cwd=work,
        stdin_file=Path("/nowhere/prompt-2.txt"),  # only its run number matters there
    )
    (folder / "run-2.sh").write_text(remote_script(spec, 2, "far/agent-3"))
    (folder / "env.sh").write_text("export AO_SESSION_ID=agent-3\n")
    (folder / "prompt-2.txt").write_text("the task; $(not run)\n")
    rc = subprocess.run(["/bin/sh", str(folder / "run-2.sh")], capture_output=True, cwd="/").returncode
    assert rc == 3
    assert (work / "got.txt").read_text() == "the task; $(not run)\n"
    assert (work / "env.txt").read_text() == "agent-3\n"
    assert (folder / "exit_code").read_text() == "3\n"
    assert (folder / "pid").read_text().strip().isdigit()


def test_the_upload_is_a_tar_of_private_files() -> None:
    data = _tar({"run-1.sh": (b"#!/bin/sh\n", 0o700), "prompt-1.txt": (b"hi", 0o600)})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {m.name: m.mode for m in tar.getmembers()} == {"run-1.sh": 0o700, "prompt-1.txt": 0o600}


def test_parse_a_snapshot() -> None:
    text = (
        "@panes\nao-agent-1\t0\nao-agent-2\t1\n@rc 0\n"
        "@s\tagent-1\t\t1\n@s\tagent-2\t0\t0\n@s\tagent-3\t\t0\n@intro\n" + json.dumps({"infos": {}}) + "\n"
    )
    panes, error, files, intro = _parse_snapshot(text)
    assert panes == {"ao-agent-1": False, "ao-agent-2": True} and error is None
    assert files == {"agent-1": (None, True), "agent-2": (0, False), "agent-3": (None, False)}
    assert json.loads(intro) == {"infos": {}}
    # No tmux server there: evidence that the panes are gone.
    panes, error, _, _ = _parse_snapshot("@panes\nno server running on /x/tmux.sock\n@rc 1\n@intro\n")
    assert panes == {} and error is None
    # Any other tmux failure is not evidence.
    _, error, _, _ = _parse_snapshot("@panes\nopen terminal failed: not a terminal\n@rc 1\n@intro\n")
    assert error is not None and "tmux failed" in error


def test_the_remote_launch_script_gives_the_agent_the_umask_it_is_passed(tmp_path: Path) -> None:
    """The host's tmux server runs its panes with umask 077 (ao's files are private): the agent gets back the
    login's umask, which START passes to the script; ao's own files stay private."""
    folder = tmp_path / "sessions" / "agent-3"
    folder.mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    spec = LaunchSpec(argv=["sh", "-c", "echo hi > made.txt"], env={}, cwd=work, stdin_file=None)
    (folder / "run-1.sh").write_text(remote_script(spec, 1, "far/agent-3"))
    (folder / "env.sh").write_text("\n")
    for given, made in (("0022", 0o644), ("0027", 0o640), ("$(touch PWNED)", 0o600)):
        (work / "made.txt").unlink(missing_ok=True)
        script = 'umask 077; exec /bin/sh "$0" "$1"'
        subprocess.run(["/bin/sh", "-c", script, str(folder / "run-1.sh"), given], check=True, cwd=tmp_path)
        assert (work / "made.txt").stat().st_mode & 0o777 == made, given
        for name in ("exit_code", "pid"):
            assert (folder / name).stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.rglob("PWNED"))


def test_the_control_sockets_folder_leaves_room_for_sshs_temporary_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """ssh binds <folder>/<40 hex>.<16 random> first: a folder of at most 49 bytes is used, a longer one is moved."""
    import os
    import tempfile

    from ao_server.remote import MAX_CONTROL_DIR, control_dir

    assert MAX_CONTROL_DIR == 107 - 1 - 40 - 17
    base = Path(tempfile.mkdtemp(prefix="ao-cd-", dir="/tmp"))
    moved: list[Path] = []
    try:
        for length in (MAX_CONTROL_DIR, MAX_CONTROL_DIR + 1):
            state = base / ("s" * (length - len("/ssh") - len(str(base)) - 1))
            d = control_dir(state)
            moved += [d] if d != state / "ssh" else []
            assert (d == state / "ssh") == (length <= MAX_CONTROL_DIR)
            assert len(os.fsencode(f"{d}/{'0' * 40}.{'x' * 16}")) <= 107
        # A $TMPDIR too long for the fallback: /tmp.
        monkeypatch.setattr(tempfile, "tempdir", str(base / ("t" * 60)))
        d = control_dir(base / ("s" * 80))
        moved.append(d)
        assert d.parent == Path("/tmp") and oct(d.stat().st_mode & 0o777) == "0o700"
    finally:
        import shutil

        for d in [base, *moved]:
            shutil.rmtree(d, ignore_errors=True)
