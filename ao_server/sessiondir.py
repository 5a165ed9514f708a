"""A session's folder, ``sessions/agent-<n>/``: the one place that knows its files' names.

| file | written by | what |
| --- | --- | --- |
| ``prompt-<run>.txt`` | the orchestrator | the prompt of run ``<run>`` (1 = spawn, 2.. = resumes), fed on stdin |
| ``run-<run>.sh`` | :func:`ao_server.runtimes.common.write_script` | the launch script of that run |
| ``env.sh`` | the same | the agent's environment (0600) |
| ``pid`` | the launch script | its own PID, before the agent starts |
| ``exit_code`` | the launch script | the agent's exit code, when it exits |
| ``killed`` | ``ao kill`` | this run was killed (so whoever sees the end records a kill) |
| ``output.log`` | the process runtime | the agent's output |
| ``scrollback.txt`` | the tmux runtime | the pane's text, saved when the pane is closed |

Everything in it is private (0600, the folder 0700).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SessionDir:
    path: Path

    def prompt(self, run: int) -> Path:
        return self.path / f"prompt-{run}.txt"

    def script(self, run: int) -> Path:
        return self.path / f"run-{run}.sh"

    @property
    def env_file(self) -> Path:
        return self.path / "env.sh"

    @property
    def pid_file(self) -> Path:
        return self.path / "pid"

    @property
    def exit_file(self) -> Path:
        return self.path / "exit_code"

    @property
    def killed_marker(self) -> Path:
        return self.path / "killed"

    @property
    def output_log(self) -> Path:
        return self.path / "output.log"

    @property
    def scrollback(self) -> Path:
        return self.path / "scrollback.txt"

    def exists(self) -> bool:
        return self.path.is_dir()

    def exit_code(self) -> int | None:
        """The agent's exit code once the launch script recorded it, else None."""
        try:
            return int(self.exit_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def killed(self) -> bool:
        return self.killed_marker.exists()

    def mark_killed(self, reason: str = "") -> None:
        try:
            self.killed_marker.write_text(reason)
        except OSError:
            pass

    def killed_reason(self) -> str:
        try:
            return self.killed_marker.read_text()
        except OSError:
            return ""

    def clear_run(self) -> None:
        """Forget the last run's exit code, PID and kill before another run starts."""
        for path in (self.exit_file, self.exit_file.with_name("exit_code.tmp"), self.pid_file, self.killed_marker):
            path.unlink(missing_ok=True)
