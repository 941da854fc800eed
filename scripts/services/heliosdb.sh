# Sourced by scripts/services.sh; see there.
# shellcheck shell=bash

# HeliosDB Nano, the system under test: one binary that serves the PostgreSQL wire, the
# MySQL wire and a REST API. Pinned to one version, built once with `cargo install` into a
# cache outside the checkout (a fresh clone on the same machine, CI's included, reuses it;
# a cold build takes about 25 minutes on 2 cores), and run in memory on 127.0.0.1 only, on
# ports of its own.
#
# Two listener sets, because the server cannot serve the seed's deployment from one:
# its MySQL listener is trust-only and refuses to start while the PostgreSQL wire has a
# password (its README, "MySQL and Unix-socket authentication"), so
#   - `secure`: PostgreSQL with TLS and SCRAM-SHA-256 (the seed's sslmode=require and
#     password), and its HTTP API behind the same credential;
#   - `open`: PostgreSQL and MySQL (MySQL with TLS offered) in trust mode, and its HTTP API.
# docs/emulators.md and the README's HeliosDB section say the same.

HDB_VERSION=4.41.1
HDB_CACHE="${HELIOS_MATRIX_CACHE:-${HOME:-/root}/.cache/helios-matrix}"
HDB_ROOT="$HDB_CACHE/heliosdb-nano-$HDB_VERSION"
HDB_BIN="$HDB_ROOT/bin/heliosdb-nano"
HDB_USER=postgres
HDB_PASS=test
HDB_SETS=(secure open)
HDB_WAIT_SECS=60

hdb_dir() { printf '%s/heliosdb-%s\n' "$STATE" "$1"; }

# name → "pg_port mysql_port http_port" (mysql 0: none)
hdb_ports() {
  case "$1" in
    secure) echo "5442 0 8092" ;;
    open) echo "5443 3316 8093" ;;
  esac
}

hdb_pg_port() { hdb_ports "$1" | cut -d' ' -f1; }
hdb_my_port() { hdb_ports "$1" | cut -d' ' -f2; }
hdb_http_port() { hdb_ports "$1" | cut -d' ' -f3; }

# Builds the pinned binary when it is not there yet (never otherwise).
ensure_heliosdb_installed() {
  if [ -x "$HDB_BIN" ] && "$HDB_BIN" --version 2>/dev/null | grep -q "$HDB_VERSION"; then
    return 0
  fi
  # RocksDB's bindings are generated with libclang.
  if ! command -v clang >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "installing clang and libclang-dev needs root"
    log "heliosdb: installing clang and libclang-dev (RocksDB's build needs them)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y clang libclang-dev
  fi
  log "heliosdb: building heliosdb-nano $HDB_VERSION into $HDB_ROOT (once; ~25 min cold on 2 cores)"
  install -d "$HDB_CACHE"
  cargo install --locked heliosdb-nano --version "$HDB_VERSION" \
    --root "$HDB_ROOT" --target-dir "$HDB_CACHE/heliosdb-nano-build" ||
    die "cargo install heliosdb-nano $HDB_VERSION failed"
  # The build tree is only needed to resume an interrupted build.
  rm -rf "$HDB_CACHE/heliosdb-nano-build"
}

# The pid of listener set $1 when it runs.
hdb_pid() { pidfile_pid "$(hdb_dir "$1")/server.pid" heliosdb-nano; }

# Sets HDB_CMD to the command line of listener set $1.
hdb_command() {
  local dir pg my http
  dir="$(hdb_dir "$1")"
  pg="$(hdb_pg_port "$1")"
  my="$(hdb_my_port "$1")"
  http="$(hdb_http_port "$1")"
  HDB_CMD=("$HDB_BIN" start --memory --listen "$HOST" --port "$pg"
    --http-listen "$HOST" --http-port "$http"
    --tls-cert "$TLS/server.crt" --tls-key "$TLS/server.key")
  case "$1" in
    secure)
      HDB_CMD+=(--auth scram-sha-256 --password-file "$dir/password")
      ;;
    open)
      HDB_CMD+=(--auth trust --mysql --mysql-listen "$HOST:$my"
        --mysql-tls-cert "$TLS/server.crt" --mysql-tls-key "$TLS/server.key")
      ;;
  esac
}

# Answers when every port of set $1 accepts connections and the HTTP API says ok.
hdb_probe() {
  local port
  for port in $(hdb_ports "$1"); do
    [ "$port" == 0 ] && continue
    port_open "$port" || return 1
  done
  curl -sS -m 3 "http://$HOST:$(hdb_http_port "$1")/health" 2>/dev/null | grep -q '"ok"'
}

hdb_up_one() {
  local name="$1" dir pid i
  dir="$(hdb_dir "$name")"
  if pid="$(hdb_pid "$name")" && hdb_probe "$name"; then
    return 0
  fi
  install -d -m 700 "$dir"
  printf '%s\n' "$HDB_PASS" >"$dir/password"
  chmod 600 "$dir/password"
  hdb_command "$name"
  local port
  for port in $(hdb_ports "$name"); do
    [ "$port" == 0 ] && continue
    ! port_open "$port" || die "heliosdb ($name): port $port is taken by another process"
  done
  log "heliosdb: starting the $name listeners (postgresql :$(hdb_pg_port "$name"), mysql :$(hdb_my_port "$name"), http :$(hdb_http_port "$name"))"
  start_detached "$dir" "${HDB_CMD[@]}"
  for ((i = 0; i < HDB_WAIT_SECS * 5; i++)); do
    hdb_probe "$name" && return 0
    sleep 0.2
  done
  log_tail "$dir/server.log"
  die "heliosdb ($name) did not answer within ${HDB_WAIT_SECS}s"
}

heliosdb_up() {
  ensure_heliosdb_installed
  local name
  for name in "${HDB_SETS[@]}"; do
    hdb_up_one "$name"
  done
}

heliosdb_down() {
  local name pid
  for name in "${HDB_SETS[@]}"; do
    if pid="$(hdb_pid "$name")"; then
      stop_group "heliosdb ($name)" "$pid"
    fi
  done
}

heliosdb_status() {
  local name rc=0
  for name in "${HDB_SETS[@]}"; do
    if hdb_probe "$name"; then
      printf 'heliosdb:   up    %s (postgresql :%s, mysql :%s, http :%s)\n' "$name" \
        "$(hdb_pg_port "$name")" "$(hdb_my_port "$name")" "$(hdb_http_port "$name")"
    else
      printf 'heliosdb:   down  %s\n' "$name"
      rc=1
    fi
  done
  return $rc
}
