"""The state dir is private: the folder 0700, nothing in it readable or writable by group or others.

Prompts, logs and the store can hold secrets (a pasted token in a prompt); a umask of 022 must not
make them world-readable. Agents are the STAND-IN executable.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from tests.support.bed import Bed

from .conftest import assert_nothing_left


def test_state_dir_is_private_under_a_permissive_umask(standin_bed: Bed) -> None:
    bed = standin_bed
    state = bed.state_dir
    state.rmdir()  # let ao create it
    code = "import os, sys; os.umask(0o022); from ao_server.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, "spawn", "my-project", "private [[sleep:0]]"],
                         env=bed.env, cwd=bed.project, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    bed.wait_exited("agent-1")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    loose = []
    for dirpath, dirnames, filenames in os.walk(state):
        for name in dirnames + filenames:
            mode = stat.S_IMODE(os.lstat(os.path.join(dirpath, name)).st_mode)
            if mode & 0o077:
                loose.append(f"{os.path.relpath(os.path.join(dirpath, name), state)} {mode:o}")
    assert not loose, f"readable or writable by others: {loose}"
    assert_nothing_left(bed)
