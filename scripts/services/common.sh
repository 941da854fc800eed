# Sourced by scripts/services.sh; see there.
# shellcheck shell=bash

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

TLS="$STATE/tls"

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
  command -v pgbouncer >/dev/null 2>&1 || missing+=(pgbouncer)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v nginx >/dev/null 2>&1 || missing+=(nginx)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # The emulators' venv is created with the python3 on PATH; Debian's needs python3-venv.
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  # Derby (derby.sh): Debian's jars, run by Debian's Java.
  command -v java >/dev/null 2>&1 || missing+=(java)
  for t in derby derbynet derbytools derbyclient; do
    [ -r "/usr/share/java/$t.jar" ] || missing+=("/usr/share/java/$t.jar")
  done
  # SQL Server's clients (iridium.sh probes with tsql; the driver matrix's pyodbc loads
  # FreeTDS's ODBC driver through unixODBC).
  command -v tsql >/dev/null 2>&1 || missing+=(tsql)
  command -v odbcinst >/dev/null 2>&1 || missing+=(odbcinst)
  compgen -G '/usr/lib/*/odbc/libtdsodbc.so' >/dev/null || missing+=(libtdsodbc.so)
  # iridium.sh applies the project's patches to the emulator's source.
  command -v patch >/dev/null 2>&1 || missing+=(patch)
  getent passwd postgres >/dev/null || missing+=("user postgres")
  getent passwd mysql >/dev/null || missing+=("user mysql")
  printf '%s\n' "${missing[@]}"
}

# The packages' maintainer scripts may start Debian's default PostgreSQL cluster, MariaDB
# instance and PgBouncer on 5432/3306/6432; stop them so that ours can have the ports.
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
  # Debian's own PgBouncer, if its package started it, listens on our 6432.
  [ -r /run/postgresql/pgbouncer.pid ] && pid="$(cat /run/postgresql/pgbouncer.pid 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "stopping Debian's default PgBouncer (pid $pid)"
    kill -INT "$pid" 2>/dev/null || true
  fi
  pid=""
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
  local packages=(postgresql mariadb-server pgbouncer openssl nginx curl python3-venv
    default-jre-headless libderby-java libderbyclient-java derby-tools
    freetds-bin tdsodbc unixodbc patch)
  log "missing: $(echo "$missing" | paste -sd, -); installing ${packages[*]}"
  [ "$(id -u)" -eq 0 ] || die "installing packages needs root"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
  stop_distro_defaults
  PGBIN="$(pg_bindir)"
  missing="$(missing_tools)"
  [ -z "$missing" ] || die "still missing after apt-get install: $(echo "$missing" | paste -sd, -)"
}

# ------------------------------------------------------------------------------ common

# ----------------------------------------------------------------- detached servers
#
# A server of ours that no package manages (the emulators, HeliosDB) runs detached, in its
# own session via setsid, from a directory of its own under .services/ holding its pid
# file and log. The pid file is written by the process itself just before it becomes the
# server (`bash -c 'echo $$ >pid; exec …'`), so it holds the server's pid whether or not
# setsid had to fork; that pid also leads the server's process group, which stop_group
# signals.

# Starts the command $2… detached in directory $1, its output appended to $1/server.log.
start_detached() {
  local dir="$1"
  shift
  rm -f "$dir/server.pid"
  printf -- '---- %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$dir/server.log"
  # shellcheck disable=SC2016 # $$ and $0 are for the inner bash
  (cd "$dir" && exec setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$dir/server.pid" "$@" \
    </dev/null >>"$dir/server.log" 2>&1) &
}

# The pid in pid file $1 when that process runs and its command line holds $2 (checked
# against /proc, so that a recycled pid is not taken for our server; a zombie is gone).
pidfile_pid() {
  local pid
  [ -r "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
  printf '%s\n' "$pid"
}

# Stops server $1 (its name, for messages) whose process group pid $2 leads: TERM, and
# KILL when it is still there after WAIT_SECS.
stop_group() {
  local name="$1" pid="$2" i
  log "$name: stopping (pid $pid)"
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
  return 0
}

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
