#!/usr/bin/env bash
# Reference servers: PostgreSQL and MariaDB (MySQL protocol) for the Gold tier, on
# 127.0.0.1 only, with TLS, as `test`/`test` on database `helios`; and the Silver-tier
# emulators fakesnow (Snowflake, :8443), minilake (Databricks SQL, :8444) and NeedleDB
# (Pinecone, :8445), plain HTTP on 127.0.0.1 only. Ports come from the default targets
# in specs/matrix.yaml.
#
#   scripts/services.sh [up|down|status]      (default: up; `just services`)
#
# - Runs as root on a bare Debian 12 machine: no systemd, no docker. Missing packages are
#   installed with apt-get (postgresql, mariadb-server, openssl, curl, python3-venv).
# - Every bit of state (data directories, sockets, logs, pid files, the TLS certificate)
#   lives under the git-ignored .services/ of the repository (or $HELIOS_SERVICES_DIR).
#   The Debian default cluster/instance in /etc and /var/lib is neither used nor needed.
# - The emulators are Python packages, pinned in scripts/requirements-emulators.txt and
#   installed into the project's git-ignored .venv (created when missing); `pip install`
#   runs again only when that file changes (its hash is kept in .venv). docs/emulators.md
#   describes how they answer.
# - Idempotent: `up` with everything already running only checks the configuration and
#   that each server answers (the databases over TCP with TLS as test/test, the emulators
#   over HTTP).
# - `down` stops every server cleanly. `status` prints whether each one answers (exit 0
#   when all do, 1 otherwise).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
STATE="${HELIOS_SERVICES_DIR:-$ROOT/.services}"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

HOST=127.0.0.1
DB=helios
USER_NAME="test"
USER_PASS="test"
WAIT_SECS=30

# The port of a protocol's default target in specs/matrix.yaml, so the servers listen
# where the registry says; the fallback applies only when the registry names none.
registry_port() {
  local port
  port="$(awk -v head="  $1:" '
    $0 == head { inside = 1; next }
    inside && /^  [^ ]/ { exit }
    inside && /target:/ {
      if (match($0, /[0-9]:[0-9]+/)) print substr($0, RSTART + 2, RLENGTH - 2)
      exit
    }' "$ROOT/specs/matrix.yaml" 2>/dev/null || true)"
  printf '%s\n' "${port:-$2}"
}

PG_PORT="$(registry_port postgresql 5432)"
MY_PORT="$(registry_port mysql 3306)"

TLS="$STATE/tls"
PG_DIR="$STATE/postgres"
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG="$PG_DIR/server.log"
MY_DIR="$STATE/mariadb"
MY_DATA="$MY_DIR/data"
MY_RUN="$MY_DIR/run"
MY_SOCK="$MY_RUN/mysqld.sock"
MY_PID="$MY_RUN/mariadbd.pid"
MY_LOG="$MY_DIR/server.log"

PG_TARGET="postgres://$USER_NAME:****@$HOST:$PG_PORT/$DB?sslmode=require"
MY_TARGET="mysql://$USER_NAME:****@$HOST:$MY_PORT/$DB?ssl-mode=required"

# The Silver-tier emulators (see the emulator section below).
VENV="$ROOT/.venv"
EMU_REQS="$ROOT/scripts/requirements-emulators.txt"
EMU_STAMP="$VENV/.helios-emulators.sha256"
EMU_WAIT_SECS=60
EMULATORS=(fakesnow minilake needledb)
SF_PORT="$(registry_port snowflake 8443)"
DBX_PORT="$(registry_port databricks 8444)"
PC_PORT="$(registry_port pinecone 8445)"

log() { printf 'services: %s\n' "$*"; }
die() {
  printf 'services: error: %s\n' "$*" >&2
  exit 1
}
# Print the last 30 lines of a log file to stderr.
log_tail() {
  if [ -s "$1" ]; then
    printf -- '---- last 30 lines of %s\n' "$1" >&2
    tail -n 30 "$1" >&2
    printf -- '----\n' >&2
  else
    printf 'services: (%s is empty or missing)\n' "$1" >&2
  fi
}

# shellcheck disable=SC2012 # the newest of /usr/lib/postgresql/<major>/bin
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true; }
PGBIN="$(pg_bindir)"

# ---------------------------------------------------------------------------- packages

missing_tools() {
  local missing=()
  local t
  if [ -z "$PGBIN" ]; then
    missing+=(postgresql)
  else
    for t in initdb pg_ctl pg_isready postgres psql; do
      [ -x "$PGBIN/$t" ] || missing+=("$PGBIN/$t")
    done
  fi
  for t in mariadbd mariadb-install-db mariadb mariadb-admin; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # The emulators' venv is created with the python3 on PATH; Debian's needs python3-venv.
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  getent passwd postgres >/dev/null || missing+=("user postgres")
  getent passwd mysql >/dev/null || missing+=("user mysql")
  printf '%s\n' "${missing[@]}"
}

# The packages' maintainer scripts may start Debian's default PostgreSQL cluster and
# MariaDB instance on 5432/3306; stop them so that ours can have the ports.
stop_distro_defaults() {
  if command -v pg_lsclusters >/dev/null 2>&1; then
    local ver name _port status _rest
    while read -r ver name _port status _rest; do
      if [[ "$status" == online* ]]; then
        log "stopping Debian's default PostgreSQL cluster $ver/$name"
        pg_ctlcluster "$ver" "$name" stop || true
      fi
    done < <(pg_lsclusters -h 2>/dev/null || true)
  fi
  local pid=""
  [ -r /run/mysqld/mysqld.pid ] && pid="$(cat /run/mysqld/mysqld.pid 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "stopping Debian's default MariaDB instance (pid $pid)"
    mariadb-admin --no-defaults --socket=/run/mysqld/mysqld.sock -uroot shutdown 2>/dev/null ||
      kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < WAIT_SECS * 5; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
  fi
}

ensure_packages() {
  local missing
  missing="$(missing_tools)"
  [ -z "$missing" ] && return 0
  log "missing: $(echo "$missing" | paste -sd, -); installing postgresql mariadb-server openssl curl python3-venv"
  [ "$(id -u)" -eq 0 ] || die "installing packages needs root"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql mariadb-server openssl curl python3-venv
  stop_distro_defaults
  PGBIN="$(pg_bindir)"
  missing="$(missing_tools)"
  [ -z "$missing" ] || die "still missing after apt-get install: $(echo "$missing" | paste -sd, -)"
}

# ------------------------------------------------------------------------------ common

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# The servers run as their own OS users, which must be able to reach the state
# directory. A checkout under a directory closed to others (e.g. /root, mode 0700) gets
# search-only permission (o+x) on the blocking ancestors.
ensure_reachable() {
  local user="$1" d
  runuser -u "$user" -- test -x "$STATE" && return 0
  d="$STATE"
  local ancestors=()
  while [ "$d" != "/" ] && [ -n "$d" ]; do
    ancestors=("$d" "${ancestors[@]}")
    d="$(dirname "$d")"
  done
  for d in "${ancestors[@]}"; do
    if ! runuser -u "$user" -- test -x "$d"; then
      log "granting search permission (o+x) on $d so that the $user user can reach $STATE"
      chmod o+x "$d"
    fi
  done
  runuser -u "$user" -- test -x "$STATE" || die "the $user user cannot reach $STATE"
}

ensure_state() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (the servers run as the postgres and mysql users via runuser)"
  install -d -m 755 "$STATE"
  # Unix socket paths are limited to 107 bytes.
  local pg_sock="$PG_RUN/.s.PGSQL.$PG_PORT"
  [ "${#pg_sock}" -le 107 ] || die "socket path too long ($pg_sock); set HELIOS_SERVICES_DIR to a shorter directory"
  [ "${#MY_SOCK}" -le 107 ] || die "socket path too long ($MY_SOCK); set HELIOS_SERVICES_DIR to a shorter directory"
  ensure_reachable postgres
  ensure_reachable mysql
}

# A self-signed certificate for 127.0.0.1/localhost (10 years), generated once, plus one
# copy per server owned by its OS user (PostgreSQL refuses a key that is not 0600 and
# owned by the server's user, or group-readable by root).
ensure_tls() {
  install -d -m 755 "$TLS"
  if [ ! -s "$TLS/server.crt" ] || [ ! -s "$TLS/server.key" ]; then
    log "generating a self-signed TLS certificate in $TLS"
    local cfg="$TLS/openssl.cnf"
    cat >"$cfg" <<'EOF'
[req]
distinguished_name = dn
x509_extensions = leaf
prompt = no
[dn]
CN = 127.0.0.1
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
EOF
    (
      umask 077
      openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -config "$cfg" \
        -keyout "$TLS/server.key.tmp" -out "$TLS/server.crt.tmp" 2>"$TLS/openssl.log"
    ) || {
      cat "$TLS/openssl.log" >&2
      die "openssl could not generate the certificate"
    }
    chmod 600 "$TLS/server.key.tmp"
    chmod 644 "$TLS/server.crt.tmp"
    mv -f "$TLS/server.key.tmp" "$TLS/server.key"
    mv -f "$TLS/server.crt.tmp" "$TLS/server.crt"
  fi
  local user dir
  for user in postgres mysql; do
    dir="$TLS/$user"
    install -d -m 700 -o "$user" -g "$(id -gn "$user")" "$dir"
    install -m 644 -o "$user" -g "$(id -gn "$user")" "$TLS/server.crt" "$dir/server.crt"
    install -m 600 -o "$user" -g "$(id -gn "$user")" "$TLS/server.key" "$dir/server.key"
  done
}

# ---------------------------------------------------------------------------- postgres

as_postgres() { runuser -u postgres -- "$@"; }

pg_running() { as_postgres "$PGBIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; }

# psql as the superuser over the unix socket, SQL on stdin.
pg_admin_psql() {
  as_postgres "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -U postgres -d postgres
}

# One TCP+TLS login as test/test; prints `t` when the session is encrypted.
pg_probe() {
  PGPASSWORD="$USER_PASS" PGCONNECT_TIMEOUT=3 "$PGBIN/psql" -X -A -t -q \
    "host=$HOST port=$PG_PORT dbname=$DB user=$USER_NAME sslmode=require" \
    -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>&1
}

# Writes $2 to $1 (owned by postgres, 0600) when it differs, and then sets
# PG_CONF_CHANGED=1.
PG_CONF_CHANGED=0
pg_write_conf() {
  local file="$1" content="$2"
  if [ -f "$file" ] && [ "$(cat "$file")" == "$content" ]; then
    return 0
  fi
  printf '%s\n' "$content" >"$file.tmp"
  chown postgres:postgres "$file.tmp"
  chmod 600 "$file.tmp"
  mv -f "$file.tmp" "$file"
  PG_CONF_CHANGED=1
}

# Quote a value for postgresql.conf.
pg_quote() { printf "'%s'" "${1//\'/\'\'}"; }

pg_prepare() {
  install -d -m 755 -o postgres -g postgres "$PG_DIR"
  # The socket directory is closed to everyone but postgres (and root): local
  # connections as the superuser are trusted.
  install -d -m 700 -o postgres -g postgres "$PG_RUN"
  [ -e "$PG_LOG" ] || install -m 640 -o postgres -g postgres /dev/null "$PG_LOG"
  if [ ! -f "$PG_DIR/.initialized" ]; then
    log "initdb $PG_DATA"
    rm -rf "$PG_DATA"
    install -d -m 700 -o postgres -g postgres "$PG_DATA"
    if ! as_postgres "$PGBIN/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1; then
      log_tail "$PG_DIR/initdb.log"
      die "initdb failed"
    fi
    printf "\n# helios-matrix settings (scripts/services.sh rewrites helios.conf)\ninclude = 'helios.conf'\n" \
      >>"$PG_DATA/postgresql.conf"
    touch "$PG_DIR/.initialized"
  fi
  local data_ver bin_ver
  data_ver="$(cat "$PG_DATA/PG_VERSION")"
  bin_ver="$(basename "$(dirname "$PGBIN")")"
  [ "$data_ver" == "$bin_ver" ] ||
    die "$PG_DATA is a PostgreSQL $data_ver cluster but the binaries are $bin_ver; remove $PG_DIR to re-create it"

  pg_write_conf "$PG_DATA/helios.conf" "# Written by scripts/services.sh; edits are overwritten.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = $(pg_quote "$PG_RUN")
ssl = on
ssl_cert_file = $(pg_quote "$TLS/postgres/server.crt")
ssl_key_file = $(pg_quote "$TLS/postgres/server.key")
password_encryption = 'scram-sha-256'"
  pg_write_conf "$PG_DATA/pg_hba.conf" "# Written by scripts/services.sh; edits are overwritten.
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 trust
host    all       all       127.0.0.1/32   scram-sha-256
host    all       all       ::1/128        scram-sha-256"
}

pg_ready() { as_postgres "$PGBIN/pg_isready" -q -h "$PG_RUN" -p "$PG_PORT" -d postgres -U postgres; }

pg_up() {
  pg_prepare
  # A server that runs but does not answer yet (starting up, shutting down, or a killed
  # postmaster whose children are still exiting) is waited for.
  local deadline=$((SECONDS + WAIT_SECS))
  while pg_running && ! pg_ready; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log_tail "$PG_LOG"
      die "postgresql runs but does not answer on $PG_RUN after ${WAIT_SECS}s"
    fi
    sleep 0.2
  done
  if pg_running; then
    if [ "$PG_CONF_CHANGED" -eq 1 ]; then
      log "postgresql: configuration changed, reloading"
      as_postgres "$PGBIN/pg_ctl" reload -D "$PG_DATA" -s
    fi
  else
    if port_open "$PG_PORT"; then
      die "port $PG_PORT on $HOST is taken by another server (Debian's cluster? try: pg_ctlcluster 15 main stop)"
    fi
    log "postgresql: starting ($PG_DATA)"
    # setsid: the postmaster gets a session of its own and outlives the calling shell.
    if ! setsid -w runuser -u postgres -- "$PGBIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" \
      -w -t "$WAIT_SECS" -s; then
      log_tail "$PG_LOG"
      die "postgresql did not start"
    fi
  fi
  if ! pg_admin_psql <<SQL; then
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_NAME') THEN
    CREATE ROLE $USER_NAME LOGIN CREATEDB PASSWORD '$USER_PASS';
  ELSE
    ALTER ROLE $USER_NAME LOGIN CREATEDB PASSWORD '$USER_PASS';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $DB OWNER $USER_NAME ENCODING ''UTF8'' TEMPLATE template0'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB') \gexec
ALTER DATABASE $DB OWNER TO $USER_NAME;
SQL
    log_tail "$PG_LOG"
    die "could not create the $USER_NAME role / $DB database"
  fi
  pg_wait_tcp
}

pg_wait_tcp() {
  local deadline=$((SECONDS + WAIT_SECS)) out
  while :; do
    out="$(pg_probe || true)"
    [ "$out" == "t" ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf 'services: last answer: %s\n' "$out" >&2
      log_tail "$PG_LOG"
      die "postgresql does not accept TLS logins as $USER_NAME on $HOST:$PG_PORT after ${WAIT_SECS}s"
    fi
    sleep 0.5
  done
}

pg_down() {
  if [ -n "$PGBIN" ] && [ -f "$PG_DATA/PG_VERSION" ] && pg_running; then
    log "postgresql: stopping"
    as_postgres "$PGBIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t "$WAIT_SECS" -s ||
      die "postgresql did not stop"
  else
    log "postgresql: not running"
  fi
}

# ----------------------------------------------------------------------------- mariadb

my_admin() { mariadb-admin --no-defaults --socket="$MY_SOCK" -uroot --connect-timeout=3 "$@"; }
my_sql() { mariadb --no-defaults --socket="$MY_SOCK" -uroot --batch --skip-column-names "$@"; }

# The pid of our mariadbd when it is running.
my_pid() {
  local pid
  [ -r "$MY_PID" ] || return 1
  pid="$(cat "$MY_PID" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == mariadbd* ]] || return 1
  # not a zombie waiting to be reaped
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
  printf '%s\n' "$pid"
}

# One TCP+TLS login as test/test; prints the session's TLS cipher.
my_probe() {
  MYSQL_PWD="$USER_PASS" mariadb --no-defaults -h "$HOST" -P "$MY_PORT" -u "$USER_NAME" --ssl \
    --connect-timeout=3 --batch --skip-column-names "$DB" \
    -e "SHOW SESSION STATUS LIKE 'Ssl_cipher'" 2>&1 | awk -F'\t' 'NF == 2 { print $2; next } { print }'
}

my_prepare() {
  install -d -m 755 -o mysql -g mysql "$MY_DIR" "$MY_RUN"
  [ -e "$MY_LOG" ] || install -m 640 -o mysql -g mysql /dev/null "$MY_LOG"
  if [ ! -f "$MY_DIR/.initialized" ]; then
    log "mariadb-install-db $MY_DATA"
    rm -rf "$MY_DATA"
    install -d -m 750 -o mysql -g mysql "$MY_DATA"
    if ! mariadb-install-db --no-defaults --user=mysql --datadir="$MY_DATA" --skip-test-db \
      --auth-root-authentication-method=socket --skip-name-resolve \
      >"$MY_DIR/install-db.log" 2>&1; then
      log_tail "$MY_DIR/install-db.log"
      die "mariadb-install-db failed"
    fi
    touch "$MY_DIR/.initialized"
  fi
}

my_up() {
  my_prepare
  # A server that runs but does not answer (starting up or shutting down) is waited for.
  local deadline=$((SECONDS + WAIT_SECS))
  while my_pid >/dev/null && ! my_admin ping >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log_tail "$MY_LOG"
      die "mariadbd runs but does not answer on $MY_SOCK after ${WAIT_SECS}s"
    fi
    sleep 0.2
  done
  if ! my_pid >/dev/null; then
    if port_open "$MY_PORT"; then
      die "port $MY_PORT on $HOST is taken by another server (Debian's mariadb? stop it first)"
    fi
    log "mariadb: starting ($MY_DATA)"
    setsid nohup mariadbd --no-defaults \
      --user=mysql \
      --datadir="$MY_DATA" \
      --socket="$MY_SOCK" \
      --pid-file="$MY_PID" \
      --log-error="$MY_LOG" \
      --port="$MY_PORT" \
      --bind-address="$HOST" \
      --ssl-cert="$TLS/mysql/server.crt" \
      --ssl-key="$TLS/mysql/server.key" \
      --character-set-server=utf8mb4 \
      --collation-server=utf8mb4_general_ci \
      --skip-name-resolve \
      </dev/null >>"$MY_DIR/stdout.log" 2>&1 &
    local pid=$!
    deadline=$((SECONDS + WAIT_SECS))
    until my_admin ping >/dev/null 2>&1; do
      if ! kill -0 "$pid" 2>/dev/null; then
        log_tail "$MY_LOG"
        die "mariadbd exited during startup"
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        log_tail "$MY_LOG"
        die "mariadbd does not answer on $MY_SOCK after ${WAIT_SECS}s"
      fi
      sleep 0.2
    done
  fi
  local sql="CREATE DATABASE IF NOT EXISTS $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;" h
  for h in 127.0.0.1 localhost ::1; do
    sql+="
CREATE USER IF NOT EXISTS '$USER_NAME'@'$h' IDENTIFIED BY '$USER_PASS';
ALTER USER '$USER_NAME'@'$h' IDENTIFIED BY '$USER_PASS';
GRANT ALL PRIVILEGES ON $DB.* TO '$USER_NAME'@'$h';"
  done
  my_sql -e "$sql" || {
    log_tail "$MY_LOG"
    die "could not create the $DB database / $USER_NAME users"
  }
  my_wait_tcp
}

my_wait_tcp() {
  local deadline=$((SECONDS + WAIT_SECS)) out
  while :; do
    out="$(my_probe || true)"
    [[ "$out" =~ ^[A-Za-z0-9_-]+$ ]] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf 'services: last answer: %s\n' "$out" >&2
      log_tail "$MY_LOG"
      die "mariadb does not accept TLS logins as $USER_NAME on $HOST:$MY_PORT after ${WAIT_SECS}s"
    fi
    sleep 0.5
  done
}

my_down() {
  local pid i
  if ! pid="$(my_pid)"; then
    log "mariadb: not running"
    return 0
  fi
  log "mariadb: stopping (pid $pid)"
  my_admin shutdown 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < WAIT_SECS * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log_tail "$MY_LOG"
  die "mariadbd (pid $pid) did not stop"
}

# --------------------------------------------------------------------------- emulators
#
# Each emulator runs detached (its own session, via setsid) from the project's .venv, with
# its pid file, log and data under .services/<name>/. The pid file is written by the
# process itself just before it becomes the server (`bash -c 'echo $$ >pid; exec …'`), so
# it holds the server's pid whether or not setsid had to fork; that pid also leads the
# server's process group, which `down` signals.

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
emu_pid() {
  local pidfile pid
  pidfile="$(emu_dir "$1")/server.pid"
  [ -r "$pidfile" ] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$1" || return 1
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
  printf '%s\n' "$pid"
}

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
  rm -f "$dir/server.pid"
  printf -- '---- %s: %s\n' "$(date -u +%FT%TZ)" "${EMU_CMD[*]}" >>"$dir/server.log"
  # shellcheck disable=SC2016 # $$ and $0 are for the inner bash
  (cd "$dir" && exec setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$dir/server.pid" "${EMU_CMD[@]}" \
    </dev/null >>"$dir/server.log" 2>&1) &
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
  local name="$1" pid i
  if ! pid="$(emu_pid "$name")"; then
    log "$name: not running"
    return 0
  fi
  log "$name: stopping (pid $pid)"
  # The server leads its own process group (setsid): signal the group.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < WAIT_SECS * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still running after ${WAIT_SECS}s, killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
    kill -0 "$pid" 2>/dev/null && die "$name (pid $pid) did not stop"
  fi
  rm -f "$(emu_dir "$name")/server.pid"
}

emulators_up() {
  local name
  ensure_emulators_installed
  for name in "${EMULATORS[@]}"; do
    emu_up "$name"
  done
}

# ------------------------------------------------------------------------------- main

print_targets() {
  local name
  printf 'postgresql: %s\n' "$PG_TARGET"
  printf 'mysql:      %s\n' "$MY_TARGET"
  for name in "${EMULATORS[@]}"; do
    printf '%-11s %s (%s)\n' "$(emu_protocol "$name"):" "$(emu_target "$name")" "$name"
  done
}

cmd_up() {
  ensure_packages
  ensure_state
  ensure_tls
  pg_up
  my_up
  log "both databases answer over TLS"
  emulators_up
  log "the emulators answer over HTTP (state in $STATE)"
  print_targets
}

cmd_down() {
  local name
  pg_down
  if command -v mariadb-admin >/dev/null 2>&1; then my_down; else log "mariadb: not installed"; fi
  for name in "${EMULATORS[@]}"; do
    emu_down "$name"
  done
}

cmd_status() {
  local rc=0 out
  if [ -n "$PGBIN" ] && out="$(pg_probe)" && [ "$out" == "t" ]; then
    printf 'postgresql: up    %s\n' "$PG_TARGET"
  else
    printf 'postgresql: down  %s\n' "$PG_TARGET"
    rc=1
  fi
  if command -v mariadb >/dev/null 2>&1 && out="$(my_probe)" && [[ "$out" =~ ^[A-Za-z0-9_-]+$ ]]; then
    printf 'mysql:      up    %s (%s)\n' "$MY_TARGET" "$out"
  else
    printf 'mysql:      down  %s\n' "$MY_TARGET"
    rc=1
  fi
  local name label pid
  for name in "${EMULATORS[@]}"; do
    label="$(emu_protocol "$name"):"
    if command -v curl >/dev/null 2>&1 && out="$(emu_probe "$name")" && emu_probe_ok "$name" "$out"; then
      pid="$(emu_pid "$name" || echo "not ours")"
      printf '%-11s up    %s (%s, pid %s)\n' "$label" "$(emu_target "$name")" "$name" "$pid"
    else
      printf '%-11s down  %s (%s)\n' "$label" "$(emu_target "$name")" "$name"
      rc=1
    fi
  done
  return $rc
}

case "${1:-up}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  -h | --help | help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" ;;
  *) die "usage: $0 [up|down|status]" ;;
esac
