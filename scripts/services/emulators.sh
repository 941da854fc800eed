# Sourced by scripts/services.sh; see there.
# shellcheck shell=bash

VENV="$ROOT/.venv"
EMU_REQS="$ROOT/scripts/requirements-emulators.txt"
EMU_STAMP="$VENV/.helios-emulators.sha256"
EMU_WAIT_SECS=60
EMULATORS=(fakesnow minilake needledb)
# Their own ports, plain HTTP, for debugging; the registry's targets are the HTTPS
# gateway in front of them (gateway.sh).
SF_PORT=8446
DBX_PORT=8444
PC_PORT=8445

# --------------------------------------------------------------------------- emulators
#
# Each emulator runs detached (start_detached in common.sh) from the project's .venv, with
# its pid file, log and data under .services/<name>/.

emu_dir() { printf '%s/%s\n' "$STATE" "$1"; }

emu_port() {
  case "$1" in
    fakesnow) echo "$SF_PORT" ;;
    minilake) echo "$DBX_PORT" ;;
    needledb) echo "$PC_PORT" ;;
  esac
}

# The protocol each emulator serves (the registry's name for it, in specs/matrix.yaml).
emu_protocol() {
  case "$1" in
    fakesnow) echo snowflake ;;
    minilake) echo databricks ;;
    needledb) echo pinecone ;;
  esac
}

emu_target() { printf 'http://%s:%s\n' "$HOST" "$(emu_port "$1")"; }

# Sets EMU_CMD to the command line that runs emulator $1 in the foreground.
emu_command() {
  local dir
  dir="$(emu_dir "$1")"
  case "$1" in
    fakesnow)
      # In-memory DuckDB shared by every session; gone when the server stops.
      EMU_CMD=("$VENV/bin/fakesnow" -s -p "$SF_PORT" --host "$HOST")
      ;;
    minilake)
      # The SQL services only; tables persist in data/unity_catalog.duckdb, warehouses
      # do not (the executor creates or finds its own). An empty extension directory
      # keeps DuckDB from trying to download its `delta` extension (no internet here).
      EMU_CMD=(env
        MINILAKE_DATA_DIR="$dir/data"
        MINILAKE_DUCKDB_EXTENSION_DIR="$dir/duckdb-extensions"
        MINILAKE_SERVICES=sql_statements,sql_warehouses,unity_catalog
        MINILAKE_NOTEBOOK=0
        "$VENV/bin/minilake" --host "$HOST" --port "$DBX_PORT")
      ;;
    needledb)
      # --no-auth: no Api-Key needed (NeedleDB allows it on loopback only).
      EMU_CMD=("$VENV/bin/needledb" serve --no-auth --host "$HOST" --port "$PC_PORT" --data "$dir/data")
      ;;
  esac
}

# One HTTP request that only the right emulator answers as expected; prints the answer.
emu_probe() {
  local base
  base="$(emu_target "$1")"
  case "$1" in
    # abort-request answers {"success": true} and has no side effect (a login would
    # open a session).
    fakesnow) curl -sS -m 3 -X POST "$base/queries/v1/abort-request" 2>&1 ;;
    minilake) curl -sS -m 3 "$base/api/2.0/sql/warehouses" 2>&1 ;;
    # /indexes and not /health: it also checks that requests need no Api-Key.
    needledb) curl -sS -m 3 "$base/indexes" 2>&1 ;;
  esac
}

emu_probe_ok() {
  case "$1" in
    fakesnow) [[ "$2" == *'"success":true'* ]] ;;
    minilake) [[ "$2" == *'"warehouses":'* ]] ;;
    needledb) [[ "$2" == *'"indexes":'* ]] ;;
  esac
}

# The pid of emulator $1 when it is running (from its pid file, checked against
# /proc so that a recycled pid is not taken for it).
emu_pid() { pidfile_pid "$(emu_dir "$1")/server.pid" "$1"; }

# Creates .venv when missing and installs scripts/requirements-emulators.txt into it
# when that file changed since the last install (or an emulator is missing).
ensure_emulators_installed() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating the Python venv $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
  fi
  "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
    die "$VENV has no working Python >= 3.11 (the emulators need it); remove $VENV and run again"
  local want have name
  want="$(sha256sum "$EMU_REQS" | cut -d' ' -f1)"
  have="$(cat "$EMU_STAMP" 2>/dev/null || true)"
  if [ "$want" == "$have" ]; then
    for name in "${EMULATORS[@]}"; do
      [ -x "$VENV/bin/$name" ] || have=""
    done
  fi
  [ "$want" == "$have" ] && return 0
  log "installing the emulators into $VENV (pip install -r scripts/requirements-emulators.txt)"
  install -d -m 755 "$STATE"
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    -r "$EMU_REQS" >"$STATE/pip-emulators.log" 2>&1; then
    log_tail "$STATE/pip-emulators.log"
    die "pip could not install scripts/requirements-emulators.txt"
  fi
  for name in "${EMULATORS[@]}"; do
    [ -x "$VENV/bin/$name" ] || die "pip installed the requirements but $VENV/bin/$name is missing"
  done
  printf '%s\n' "$want" >"$EMU_STAMP"
}

# Waits (bounded) until emulator $1 answers its probe; $2 is its pid.
emu_wait() {
  local name="$1" pid="$2" dir out deadline=$((SECONDS + EMU_WAIT_SECS))
  dir="$(emu_dir "$name")"
  while :; do
    out="$(emu_probe "$name" || true)"
    emu_probe_ok "$name" "$out" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail "$dir/server.log"
      die "$name exited during startup"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf 'services: last answer: %s\n' "$out" >&2
      log_tail "$dir/server.log"
      die "$name does not answer on $(emu_target "$name") after ${EMU_WAIT_SECS}s"
    fi
    sleep 0.3
  done
}

emu_up() {
  local name="$1" dir pid port i
  dir="$(emu_dir "$name")"
  port="$(emu_port "$name")"
  install -d -m 755 "$dir"
  if pid="$(emu_pid "$name")"; then
    emu_wait "$name" "$pid"
    return 0
  fi
  if port_open "$port"; then
    # An emulator keeps no configuration of ours, so one started from another checkout
    # (a developer's, while CI runs in a fresh clone) serves as well as our own.
    local out
    out="$(emu_probe "$name" || true)"
    if emu_probe_ok "$name" "$out"; then
      log "$name: $(emu_target "$name") already answers as $name, started outside $STATE; using it"
      return 0
    fi
    die "port $port on $HOST is taken by another server (not $name)"
  fi
  [ "$name" == minilake ] && install -d -m 755 "$dir/data" "$dir/duckdb-extensions"
  [ "$name" == needledb ] && install -d -m 755 "$dir/data"
  emu_command "$name"
  log "$name: starting on $(emu_target "$name")"
  start_detached "$dir" "${EMU_CMD[@]}"
  for ((i = 0; i < 50; i++)); do
    [ -s "$dir/server.pid" ] && break
    sleep 0.1
  done
  pid="$(cat "$dir/server.pid" 2>/dev/null || true)"
  if ! [[ "$pid" =~ ^[0-9]+$ ]]; then
    log_tail "$dir/server.log"
    die "$name did not start (no pid in $dir/server.pid)"
  fi
  emu_wait "$name" "$pid"
}

emu_down() {
  local name="$1" pid
  if ! pid="$(emu_pid "$name")"; then
    log "$name: not running"
    return 0
  fi
  stop_group "$name" "$pid"
  rm -f "$(emu_dir "$name")/server.pid"
}

emulators_up() {
  local name
  ensure_emulators_installed
  for name in "${EMULATORS[@]}"; do
    emu_up "$name"
  done
}
