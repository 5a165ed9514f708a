"""The config of a multi-root editor workspace: every folder's projects in one :class:`Config`.

An editor window may hold several folders (VS Code's multi-root workspaces send
them all in ``initialize``). Each folder finds its ``agent-orchestrator.yaml`` the
usual way (upward from the folder, ``$AO_CONFIG``, the user config, else the
folder itself as the only project), and the projects of all of them are offered.

The first folder's config is the base: its ``plugins``, ``runtime`` and
``opencode`` settings apply to every project. A config found from several folders
counts once; a project name already taken by an earlier folder is skipped (and
logged). An explicit ``configPath`` means exactly that file, whatever the folders.
A broken config in any folder is reported like a broken first one (ConfigError).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .config import Config, Project, load_config

log = logging.getLogger(__name__)


def load_workspace_config(explicit: str | None, roots: Sequence[Path]) -> Config:
    """One config for the window: ``explicit``, else the merge of every root's config (first root first)."""
    if explicit or len(roots) <= 1:
        return load_config(explicit, cwd=roots[0] if roots else None)
    base: Config | None = None
    seen: set[str] = set()
    projects: dict[str, Project] = {}
    for root in roots:
        cfg = load_config(None, cwd=root)
        key = str(cfg.source) if cfg.source else f"default:{root.resolve()}"
        if key in seen:
            continue
        seen.add(key)
        if base is None:
            base = cfg
        for name, proj in cfg.projects.items():
            if name in projects:
                if projects[name].path != proj.path:
                    log.warning(
                        "project %s of %s is skipped: the name is taken by %s",
                        name,
                        cfg.describe_source(),
                        projects[name].path,
                    )
                continue
            projects[name] = proj
    assert base is not None
    return replace(base, projects=projects)
