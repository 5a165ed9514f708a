#!/usr/bin/env bash
# Install a real VS Code host for the extension's end-to-end test, once: code-server (the VS Code
# workbench served on loopback) and playwright-core from the npm registry, driven in Debian's Chromium.
# Prints the absolute path of the install dir (code-server's entry is
# <dir>/node_modules/code-server/out/node/entry.js, playwright-core is <dir>/node_modules/playwright-core).
# Reuses a previous install of the same versions. As root, apt-get installs the Debian packages it needs.
#   AO_CODE_SERVER_VERSION (default 4.100.3), AO_PLAYWRIGHT_VERSION (default 1.64.1),
#   AO_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/ao-server)
# Steps and the reason for each: ../shared/recipes/vscode-real-host.md (the project's notes).
set -euo pipefail
cs_version="${AO_CODE_SERVER_VERSION:-4.100.3}"
pw_version="${AO_PLAYWRIGHT_VERSION:-1.64.1}"
cache="${AO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ao-server}"
dest="$cache/vscode-host"
stamp="$dest/.installed-$cs_version-$pw_version"
entry="$dest/node_modules/code-server/out/node/entry.js"

say() { echo "install-vscode-host: $*" >&2; }

# --- Debian packages (native module headers, ripgrep, the browser) ---------------------------------
packages=(libkrb5-dev libxkbfile-dev libsecret-1-dev ripgrep chromium)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "apt-get install ${missing[*]}"
    if [ ! -f /tmp/.ao-apt-updated ]; then apt-get update -qq >/dev/null && touch /tmp/.ao-apt-updated; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "please install these Debian packages: ${missing[*]}"; exit 1
  fi
fi

if [ -f "$stamp" ] && [ -f "$entry" ] && [ -d "$dest/node_modules/playwright-core" ]; then
  echo "$dest"; exit 0
fi

command -v npm >/dev/null || { say "npm is required (apt-get install nodejs npm)"; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) === 20 ? 0 : 1)' \
  || say "warning: code-server $cs_version wants Node 20, this is $(node -v)"

# --- @vscode/ripgrep: its postinstall downloads rg unless a cached archive is found -------------------
# It looks for <tmpdir>/vscode-ripgrep-cache-<its version>/ripgrep-<rg version>-<target>.tar.gz first
# (code-server 4.100.3 ships @vscode/ripgrep 1.15.11, which wants rg v13.0.0-10): put Debian's rg there.
case "$(uname -m)" in
  x86_64) rg_target=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) rg_target=aarch64-unknown-linux-musl ;;
  *) say "unsupported machine $(uname -m)"; exit 1 ;;
esac
rg_cache="$(node -e 'console.log(require("os").tmpdir())')/vscode-ripgrep-cache-1.15.11"
archive="$rg_cache/ripgrep-v13.0.0-10-$rg_target.tar.gz"
if [ ! -s "$archive" ]; then
  mkdir -p "$rg_cache"
  tmp="$(mktemp -d)"; cp "$(command -v rg)" "$tmp/rg"
  tar czf "$archive" -C "$tmp" rg
  rm -rf "$tmp"
fi

# --- code-server and playwright-core -------------------------------------------------------------------
say "installing code-server $cs_version and playwright-core $pw_version into $dest (a few minutes)"
rm -rf "$dest"
mkdir -p "$dest"
cd "$dest"
echo '{"private":true}' > package.json
npm install --no-audit --no-fund --loglevel=error --ignore-scripts \
  "code-server@$cs_version" "playwright-core@$pw_version" >&2
npm rebuild --loglevel=error argon2 --build-from-source >&2
(
  cd node_modules/code-server
  npm_config_yes=true npm_config_unsafe_perm=true \
    npm_config_user_agent="npm/$(npm -v) node/$(node -v) linux x64" sh ./postinstall.sh >&2
)
[ -f "$entry" ] || { say "code-server's entry $entry is missing after the install"; exit 1; }
node "$entry" --version >/dev/null 2>&1 || { say "code-server does not run: node $entry --version"; exit 1; }
touch "$stamp"
echo "$dest"
