#!/usr/bin/env bash
# Install what ao-server's demo and tests need, when it is missing; safe to run again.
#  - tmux, nodejs/npm, git (apt-get, when root and absent)   - a virtualenv in .venv with ao-server and its test deps
#  - for the tests that need them, so that `make test` runs all CI runs: emacs-nox, iproute2, openssh-client and
#    openssh-server (its service neither started nor enabled); not as root they are named and those tests skip
#    (under CI=true a missing one is a failure)
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
# What only some tests need, so that `make test` runs everything CI runs: installed when setup can (root with
# apt-get); otherwise named, and those tests skip. Under CI=true they must run: a missing one is a failure.
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
optional_install() {  # <what needs it> <package>...
  local what="$1"; shift
  if can_apt || [ "${CI:-}" = true ]; then
    echo "setup: installing $* ($what)" >&2; apt_install "$@"
  else
    echo "setup: not root, so $what will be skipped; install $* to run them" >&2
  fi
}
command -v emacs >/dev/null || optional_install "the Emacs client's test" emacs-nox
# The SSH tests' hosts (tests/support/hosts.py): network namespaces (iproute2), the ssh client and an sshd per host
# that the tests start themselves.
command -v ip >/dev/null || optional_install "the SSH tests" iproute2
{ command -v ssh && command -v ssh-keygen; } >/dev/null || optional_install "the SSH tests" openssh-client
if [ ! -x /usr/sbin/sshd ]; then
  if can_apt; then
    # The package must leave no system sshd on port 22, now or after a reboot: while it installs, a policy-rc.d
    # (unless the machine has its own) refuses to start it; then its service is disabled (the package enables it).
    echo "setup: installing openssh-server (the SSH tests); its service is neither started nor enabled" >&2
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      trap 'rm -f "$policy"' EXIT
      printf '#!/bin/sh\n# ao-server setup: no service starts while openssh-server installs\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      apt_install openssh-server
      rm -f "$policy"; trap - EXIT
    else
      apt_install openssh-server
    fi
    if command -v systemctl >/dev/null; then systemctl disable --quiet ssh.service ssh.socket >/dev/null 2>&1 || true; fi
    if command -v update-rc.d >/dev/null; then update-rc.d ssh disable >/dev/null 2>&1 || true; fi
  else
    optional_install "the SSH tests" openssh-server
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
