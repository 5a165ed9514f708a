"""Multi-root workspaces (ao_server.folders) and the ao/models params: pure logic, real files, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from ao_server import protocol as p
from ao_server.folders import load_workspace_config
from ao_server.model import ModelsParams


def _config(folder: Path, *names: str) -> None:
    lines = ["projects:"]
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
        lines += [f"  - name: {name}", f"    path: {name}"]
    (folder / "agent-orchestrator.yaml").write_text("\n".join(lines) + "\n")


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AO_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def test_every_folder_offers_its_projects_first_folder_first(tmp_path: Path) -> None:
    a, b, plain = tmp_path / "a", tmp_path / "b", tmp_path / "plain"
    for d in (a, b, plain):
        d.mkdir()
    _config(a, "api", "web")
    _config(b, "docs", "web")  # "web" is taken by a: skipped
    cfg = load_workspace_config(None, [a, b, plain, a / "api"])  # a/api finds a's config again: counted once
    assert list(cfg.projects) == ["api", "web", "docs", "plain"]
    assert cfg.projects["web"].path == (a / "web").resolve()
    assert cfg.projects["plain"].path == plain.resolve()  # no config: the folder is a project
    assert cfg.source == a / "agent-orchestrator.yaml"


def test_explicit_config_and_single_folder_are_unchanged(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    _config(a, "api")
    _config(b, "docs")
    assert list(load_workspace_config(str(b / "agent-orchestrator.yaml"), [a, b]).projects) == ["docs"]
    assert list(load_workspace_config(None, [a]).projects) == ["api"]


def test_models_params() -> None:
    assert p.parse_params(p.MODELS, {}) == ModelsParams()
    assert p.parse_params(p.MODELS, {"project": "x", "refresh": True}).refresh is True
    with pytest.raises(p.ParamsError, match="refresh must be true or false, got a string"):
        p.parse_params(p.MODELS, {"refresh": "yes"})
    assert p.MODELS in p.METHODS
