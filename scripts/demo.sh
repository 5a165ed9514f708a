#!/usr/bin/env bash
# The main job on the embedded default config: the current folder (.demo/my-project) is the project.
# A real OpenCode agent talks to the fake model on 127.0.0.1; everything lives under .demo/ and a private
# tmux socket, so your own OpenCode data and tmux server are untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${VENV:-.venv}"
DEMO="$ROOT/.demo"
rm -rf "$DEMO"
mkdir -p "$DEMO"/{data,config/opencode,state,cache,my-project}
export XDG_DATA_HOME="$DEMO/data" XDG_CONFIG_HOME="$DEMO/config" XDG_STATE_HOME="$DEMO/state"
export XDG_CACHE_HOME="$DEMO/cache" AO_STATE_DIR="$DEMO/state/agent-orchestrator" AO_TMUX_SOCKET=ao-demo
export AO_OPENCODE_BIN="$(bash scripts/install-opencode.sh)"
PATH="$ROOT/$VENV/bin:$PATH"

"$VENV/bin/python" tests/support/fake_model.py --port-file "$DEMO/port" --log "$DEMO/model-requests.jsonl" \
  2>"$DEMO/fake-model.log" &
MODEL_PID=$!
cleanup() {
  kill "$MODEL_PID" 2>/dev/null || true
  tmux -L ao-demo kill-server 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do [ -s "$DEMO/port" ] && break; sleep 0.1; done
"$VENV/bin/python" -c "import json,sys; sys.path.insert(0,'tests/support'); import fake_model;
json.dump(fake_model.opencode_config('http://127.0.0.1:$(cat "$DEMO/port")/v1'),
          open('$DEMO/config/opencode/opencode.json','w'), indent=2)"

cd "$DEMO/my-project"
echo "\$ ao spawn \"Add unit tests for the auth module [[slow:4]]\""
SID=$(ao spawn "Add unit tests for the auth module [[slow:4]]")
echo "$SID"
echo "\$ ao attach $SID"
ao attach "$SID"
for _ in $(seq 120); do
  state=$(ao status "$SID")
  echo "\$ ao status $SID   ->   $state"
  [ "$state" = exited ] && break
  sleep 1
done
echo "\$ ao status"
ao status
echo "\$ ao logs $SID -n 8"
ao logs "$SID" -n 8
