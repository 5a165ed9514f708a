"""editors/jsonrpc/ao_client.py, the standard-library client, run for real against the real server.

It starts ``python -m ao_server`` itself, spawns one real OpenCode session
(fake model, tmux), waits for the exit notification and prints the outcome.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.bed import ROOT, Bed

pytestmark = pytest.mark.e2e

CLIENT = ROOT / "editors" / "jsonrpc" / "ao_client.py"


def test_stdlib_client_spawns_waits_for_exit_and_prints_the_outcome(bed: Bed) -> None:
    marker = uuid.uuid4().hex[:8]
    server = shlex.join([sys.executable, "-m", "ao_server"])
    proc = subprocess.run(
        [
            sys.executable,
            str(CLIENT),
            "--server",
            server,
            "--project",
            "my-project",
            "--poll-interval",
            "0.3",
            "--timeout",
            "120",
            f"Say hello ({marker})",
        ],
        cwd=bed.project,
        env=bed.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("spawned my-project/agent-") and lines[0].endswith("(running)")
    sid = lines[0].split()[1]
    assert lines[1] == f"{sid} exited with code 0: success"
    printed = json.loads("\n".join(lines[2:]))
    assert printed["sessionId"] == sid and printed["outcome"]["result"] == "success"
    assert bed.requests_with(marker), "the prompt reached the model"
    assert bed.status_of(sid)["status"] == "exited"


def test_stdlib_client_reports_a_server_error(bed: Bed) -> None:
    server = shlex.join([sys.executable, "-m", "ao_server"])
    proc = subprocess.run(
        [sys.executable, str(CLIENT), "--server", server, "--project", "nope", "Say hello"],
        cwd=bed.project,
        env=bed.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown project 'nope'" in proc.stderr and "code -32003" in proc.stderr


EMACS_SCRIPT = r"""
(load (expand-file-name "editors/jsonrpc/emacs-eglot.el" (getenv "AO_REPO")))
(setq ao-server-command (list (getenv "AO_PYTHON") "-m" "ao_server"))
(setq ao-poll-interval 0.3)
(defvar seen nil)
(add-hook 'ao-status-changed-functions (lambda (p) (push p seen)))
(ao-start (getenv "AO_PROJECT"))
(let* ((id (plist-get (ao-spawn "hello from emacs [[sleep:1]]") :sessionId))
       (deadline (+ (float-time) 60)))
  (while (and (< (float-time) deadline)
              (not (cl-find-if (lambda (p) (and (equal (plist-get p :sessionId) id)
                                                (equal (plist-get p :status) "exited"))) seen)))
    (accept-process-output nil 0.1))
  (princ (format "EXITED %s %s\n" id (plist-get (plist-get (car seen) :outcome) :result)))
  (princ (format "STATUS %s\n" (plist-get (car (ao-status)) :status)))
  (princ (format "ATTACH %s\n" (car (append (plist-get (ao-request :ao/attach (list :sessionId id)) :argv) nil))))
  (princ (format "COMMAND %d\n" (length (plist-get (jsonrpc-request ao--connection :workspace/executeCommand
                                                     (list :command "ao/status" :arguments (vector (make-hash-table))))
                                                   :sessions))))
  (condition-case err (ao-request :ao/status (list :sessionId "agent-99"))
    (jsonrpc-error (princ (format "ERROR %s\n" (alist-get 'jsonrpc-error-code (cdr err)))))))
(ao-stop)
(princ "STOPPED\n")
"""


@pytest.mark.skipif(
    shutil.which("emacs") is None and os.environ.get("CI") != "true",
    reason="emacs is not installed (apt-get install emacs-nox); CI installs it and never skips",
)
def test_emacs_jsonrpc_snippet_drives_the_server(bed: Bed, tmp_path: Path) -> None:
    """editors/jsonrpc/emacs-eglot.el's jsonrpc.el part, in a real Emacs in batch mode (stand-in agent)."""
    bed.write_config(runtime="process")
    script = tmp_path / "drive.el"
    script.write_text(EMACS_SCRIPT)
    env = {
        **bed.env,
        "AO_OPENCODE_BIN": str(ROOT / "tests" / "support" / "standin" / "opencode"),
        "AO_REPO": str(ROOT),
        "AO_PYTHON": sys.executable,
        "AO_PROJECT": str(bed.project),
    }
    proc = subprocess.run(
        ["emacs", "--batch", "-Q", "-l", str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "EXITED my-project/agent-1 success" in out, out
    assert "STATUS exited" in out and "ATTACH tail" in out and "COMMAND 1" in out
    assert "ERROR -32004" in out and "STOPPED" in out
