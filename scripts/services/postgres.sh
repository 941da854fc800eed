# Sourced by scripts/services.sh; see there.
# shellcheck shell=bash

PG_PORT="$(registry_port postgresql 5432)"
PG_DIR="$STATE/postgres"
PG_DATA="$PG_DIR/data"
PG_RUN="$PG_DIR/run"
PG_LOG="$PG_DIR/server.log"
PG_TARGET="postgres://$USER_NAME:****@$HOST:$PG_PORT/$DB?sslmode=require"

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
