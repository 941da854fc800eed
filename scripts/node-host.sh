#!/usr/bin/env bash
# The Node.js driver host for node-postgres (drivers/node/, docs/driver-host.md).
#
#   scripts/node-host.sh install   npm ci in drivers/node, only when needed
#   scripts/node-host.sh check     syntax check and the host's tests (node --test), the
#                                  driver host transcripts' replay among them
#
# - `install` is cheap to call every time: it runs `npm ci` only when node_modules is
#   missing or package-lock.json changed since the last install. The lock file's hash is
#   kept in a stamp file inside node_modules, so deleting node_modules also forgets it.
# - `check` runs against the reference PostgreSQL (scripts/services.sh up) when it listens
#   on 127.0.0.1:5432; the tests that need it are skipped, saying so, when it does not.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
NODE_DIR="$ROOT/drivers/node"
STAMP="$NODE_DIR/node_modules/.helios-lock.sha256"

lock_hash() {
  sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1
}

cmd_install() {
  if [[ -d "$NODE_DIR/node_modules" && -f "$STAMP" && "$(cat "$STAMP")" == "$(lock_hash)" ]]; then
    echo "node-host: node_modules matches package-lock.json"
    return
  fi
  echo "node-host: npm ci in drivers/node"
  # `npm ci` installs exactly the lock file (and fails if package.json disagrees with it).
  # --ignore-scripts: pg needs no install scripts, so none from the registry ever run.
  (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund)
  lock_hash >"$STAMP"
}

cmd_check() {
  if [[ ! -d "$NODE_DIR/node_modules/pg" ]]; then
    echo "node-host: drivers/node/node_modules is missing: run scripts/node-host.sh install" >&2
    exit 1
  fi
  cd "$ROOT"
  local file
  for file in drivers/node/host.mjs drivers/node/test/*.mjs; do
    node --check "$file"
  done
  # node --test exits non-zero when any test fails; set -e passes that on.
  node --test drivers/node/test/
}

case "${1:-}" in
  install) cmd_install ;;
  check) cmd_check ;;
  *)
    echo "usage: scripts/node-host.sh [install|check]" >&2
    exit 2
    ;;
esac
