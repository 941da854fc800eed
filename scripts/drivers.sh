#!/usr/bin/env bash
# The Python driver host (drivers/python, docs/driver-host.md): its virtual environment
# and its checks.
#
#   scripts/drivers.sh [install|check]        (default: install)
#
# - install: creates the git-ignored .venv-drivers/ at the repository root when missing
#   (python3 -m venv; python3-venv is installed with apt-get when Debian's python3 lacks
#   it), installs drivers/requirements.txt into it when that file changed since the last
#   install (its hash is kept in the venv), and installs drivers/python into it as an
#   editable package (so `.venv-drivers/bin/python -m helios_driver_host DRIVER` runs the
#   work tree's code). pyodbc needs two system packages, installed with apt-get when
#   missing: unixODBC's driver manager (its wheel links libodbc.so.2; `unixodbc`) and
#   FreeTDS's ODBC driver (`tdsodbc`, which registers itself as `FreeTDS` in
#   /etc/odbcinst.ini; the host also finds its libtdsodbc.so by path). Quiet on success;
#   the tail of pip's log on failure. Nothing is downloaded but the pinned packages, from
#   PyPI through pip, and those two from Debian.
# - check: with the venv's tools, `ruff format --check`, `ruff check` and `mypy` (strict,
#   configured in drivers/python/pyproject.toml) over drivers/python and
#   tests/sqlserver/cross_check.py (the tds executor's cross-check client), then
#   `pytest drivers/python/tests`. The live tests need the servers of
#   `scripts/services.sh up`; each is skipped, with the reason, when its port is closed.
#   Runs `install` first. Exits non-zero on any failure, "no tests ran" included.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="$ROOT/.venv-drivers"
REQS="$ROOT/drivers/requirements.txt"
PKG="$ROOT/drivers/python"
REQS_STAMP="$VENV/.helios-requirements.sha256"
PKG_STAMP="$VENV/.helios-driver-host.sha256"
PIP_LOG="$VENV/pip.log"
# Python outside the package, checked with its settings: the pymssql side of the tds
# executor's cross-check (tests/live.rs).
SCRIPTS=("$ROOT/tests/sqlserver/cross_check.py")

log() { printf 'drivers: %s\n' "$*"; }
die() {
  printf 'drivers: error: %s\n' "$*" >&2
  exit 1
}

# Runs pip in the venv with its output in $PIP_LOG; on failure shows the log's tail.
venv_pip() {
  if ! "$VENV/bin/python" -m pip --disable-pip-version-check --no-input "$@" >"$PIP_LOG" 2>&1; then
    printf -- '---- last 30 lines of %s\n' "$PIP_LOG" >&2
    tail -n 30 "$PIP_LOG" >&2
    printf -- '----\n' >&2
    die "pip $1 failed"
  fi
}

ensure_venv() {
  [ -x "$VENV/bin/python" ] && return 0
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    # Debian splits venv/ensurepip into python3-venv.
    [ "$(id -u)" -eq 0 ] || die "python3 cannot create a venv (python3-venv is missing) and installing it needs root"
    log "installing python3-venv"
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >/dev/null
  fi
  python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
}

# pyodbc's system side: unixODBC's driver manager, which its wheel links, and FreeTDS's
# ODBC driver, which the pyodbc host loads (drivers/python/.../pyodbc_driver.py).
ensure_odbc() {
  local missing=()
  compgen -G '/usr/lib/*/libodbc.so.2' >/dev/null || compgen -G '/usr/lib64/libodbc.so.2' >/dev/null ||
    missing+=(unixodbc)
  compgen -G '/usr/lib/*/odbc/libtdsodbc.so' >/dev/null || compgen -G '/usr/lib64/libtdsodbc.so' >/dev/null ||
    missing+=(tdsodbc)
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "pyodbc needs ${missing[*]} (apt-get install ${missing[*]}), and installing it needs root"
  command -v apt-get >/dev/null 2>&1 || die "pyodbc needs unixODBC and FreeTDS's ODBC driver (${missing[*]}); install them"
  log "installing ${missing[*]} (pyodbc's ODBC driver manager and FreeTDS's ODBC driver)"
  apt-get update >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y unixodbc tdsodbc >/dev/null
}

cmd_install() {
  ensure_venv
  ensure_odbc
  "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
    die "$VENV has no working Python >= 3.11; remove $VENV and run again"
  local want have
  want="$(sha256sum "$REQS" | cut -d' ' -f1)"
  have="$(cat "$REQS_STAMP" 2>/dev/null || true)"
  if [ "$want" != "$have" ]; then
    venv_pip install --quiet -r "$REQS"
    printf '%s\n' "$want" >"$REQS_STAMP"
    rm -f "$PKG_STAMP"
  fi
  # The editable install records the package's absolute path: redo it when the checkout
  # moved or the package's metadata changed, or when the package does not import.
  want="$( (printf '%s\n' "$PKG" && cat "$PKG/pyproject.toml") | sha256sum | cut -d' ' -f1)"
  have="$(cat "$PKG_STAMP" 2>/dev/null || true)"
  if [ "$want" != "$have" ] || ! (cd / && "$VENV/bin/python" -c 'import helios_driver_host') >/dev/null 2>&1; then
    # setuptools is pinned in requirements.txt: build with it rather than fetch another.
    venv_pip install --quiet --no-deps --no-build-isolation -e "$PKG"
    printf '%s\n' "$want" >"$PKG_STAMP"
  fi
}

cmd_check() {
  cmd_install
  cd "$ROOT"
  local bin="$VENV/bin" rc=0
  log "ruff format --check"
  "$bin/ruff" format --check --quiet "$PKG" || rc=1
  "$bin/ruff" format --check --quiet --config "$PKG/pyproject.toml" "${SCRIPTS[@]}" || rc=1
  log "ruff check"
  "$bin/ruff" check --quiet "$PKG" || rc=1
  "$bin/ruff" check --quiet --config "$PKG/pyproject.toml" "${SCRIPTS[@]}" || rc=1
  log "mypy (strict)"
  (cd "$PKG" && "$bin/mypy") || rc=1
  "$bin/mypy" --strict --python-version 3.11 --no-error-summary "${SCRIPTS[@]}" || rc=1
  log "pytest"
  local status=0
  "$bin/python" -m pytest "$PKG/tests" || status=$?
  if [ "$status" -eq 5 ]; then
    # pytest's 5: no tests were collected. A check that ran nothing has failed.
    printf 'drivers: error: pytest collected no tests\n' >&2
  fi
  if [ "$status" -ne 0 ]; then
    rc=1
  fi
  if [ "$rc" -ne 0 ]; then
    die "check failed"
  fi
  log "all checks passed"
}

case "${1:-install}" in
  install) cmd_install ;;
  check) cmd_check ;;
  *) die "usage: scripts/drivers.sh [install|check]" ;;
esac
