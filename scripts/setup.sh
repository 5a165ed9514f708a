#!/usr/bin/env bash
# Install what ao-server's demo and tests need, when it is missing; safe to run again.
#  - tmux (apt-get, when root and absent)   - a virtualenv in .venv with ao-server and its test deps
#  - the pinned OpenCode (npm, into the cache dir; see scripts/install-opencode.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if [ ! -f /tmp/.ao-apt-updated ]; then apt-get update -qq >/dev/null && touch /tmp/.ao-apt-updated; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "setup: please install: $*" >&2; return 1
  fi
}

command -v tmux >/dev/null || { echo "setup: installing tmux" >&2; apt_install tmux; }
command -v npm >/dev/null || { echo "setup: installing nodejs/npm" >&2; apt_install nodejs npm; }
command -v git >/dev/null || { echo "setup: installing git" >&2; apt_install git; }
# Emacs runs the editors/jsonrpc snippet's test; optional off CI (the test skips without it).
if ! command -v emacs >/dev/null && [ "${CI:-}" = true ]; then echo "setup: installing emacs-nox" >&2; apt_install emacs-nox; fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.ao-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  if ! "$VENV/bin/python" -m pip install -q -e ".[dev]" >"$VENV/pip-install.log" 2>&1; then
    cat "$VENV/pip-install.log" >&2; echo "setup: pip install failed (log: $VENV/pip-install.log)" >&2; exit 1
  fi
  touch "$stamp"
fi
bash scripts/install-opencode.sh >/dev/null
bash scripts/install-neovim.sh >/dev/null
