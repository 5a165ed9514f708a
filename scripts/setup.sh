#!/usr/bin/env bash
# Install what ao-server's demo and tests need, when it is missing; safe to run again.
#  - tmux (apt-get, when root and absent)   - a virtualenv in .venv with ao-server and its test deps
#  - under CI=true also emacs-nox, iproute2, openssh-client and openssh-server (not started) for the SSH tests
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
# The SSH tests' hosts (tests/support/hosts.py): network namespaces (iproute2), the ssh client and an sshd per host
# that the tests start themselves; optional off CI (those tests skip without them). The package must not leave a
# system sshd running on port 22: while it installs, a policy-rc.d (unless the machine has its own) refuses to start it.
if [ "${CI:-}" = true ]; then
  command -v ip >/dev/null || { echo "setup: installing iproute2" >&2; apt_install iproute2; }
  { command -v ssh && command -v ssh-keygen; } >/dev/null || { echo "setup: installing openssh-client" >&2; apt_install openssh-client; }
  if [ ! -x /usr/sbin/sshd ]; then
    echo "setup: installing openssh-server (its service is not started)" >&2
    policy=/usr/sbin/policy-rc.d
    if [ "$(id -u)" = 0 ] && [ ! -e "$policy" ]; then
      trap 'rm -f "$policy"' EXIT
      printf '#!/bin/sh\n# ao-server setup: no service starts while openssh-server installs\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      apt_install openssh-server
      rm -f "$policy"; trap - EXIT
    else
      apt_install openssh-server
    fi
  fi
fi

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
