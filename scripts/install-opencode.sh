#!/usr/bin/env bash
# Install the pinned OpenCode (opencode-ai from the npm registry) into a cache dir, once.
# Prints the absolute path of the opencode binary. Reuses a previous install of the same version.
#   AO_OPENCODE_VERSION (default 1.18.33), AO_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/ao-server)
set -euo pipefail
version="${AO_OPENCODE_VERSION:-1.18.33}"
cache="${AO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ao-server}"
prefix="$cache/opencode-$version"
bin="$prefix/node_modules/.bin/opencode"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "$version"; then
  echo "$bin"; exit 0
fi
command -v npm >/dev/null || { echo "install-opencode: npm is required (apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "opencode-ai@$version" >&2
"$bin" --version >/dev/null || { echo "install-opencode: $bin does not run" >&2; exit 1; }
echo "$bin"
