# Sourced by scripts/services.sh; see there.
# shellcheck shell=bash
#
# PgBouncer in transaction-pooling mode in front of our PostgreSQL, the middleware most
# PostgreSQL deployments run: consecutive transactions of one client may run on different
# server connections, and unknown start-up parameters are refused. The live tests run the
# PostgreSQL suites through it to show the executor relies on neither named statements nor
# start-up settings of its own. TLS on both sides, test/test, two server connections.

BOUNCER_PORT=6432
BOUNCER_DIR="$STATE/pgbouncer"
BOUNCER_TARGET="postgres://$USER_NAME:****@$HOST:$BOUNCER_PORT/$DB?sslmode=require&pooler=transaction"

as_bouncer() { runuser -u postgres -- "$@"; }

bouncer_pid() {
  local pid
  pid="$(cat "$BOUNCER_DIR/pgbouncer.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

# One TCP+TLS login through the pooler; prints `t` when the session reaches the server.
bouncer_probe() {
  PGPASSWORD="$USER_PASS" PGCONNECT_TIMEOUT=3 "$PGBIN/psql" -X -At \
    "host=$HOST port=$BOUNCER_PORT dbname=$DB user=$USER_NAME sslmode=require" \
    -c 'SELECT true' 2>/dev/null
}

bouncer_prepare() {
  install -d -m 755 -o postgres -g postgres "$BOUNCER_DIR"
  install -m 600 -o postgres -g postgres /dev/stdin "$BOUNCER_DIR/userlist.txt" \
    <<<"\"$USER_NAME\" \"$USER_PASS\""
  # No ignore_startup_parameters: a client that sends a start-up setting of its own
  # (extra_float_digits, say) is refused, as PgBouncer's default refuses it.
  install -m 600 -o postgres -g postgres /dev/stdin "$BOUNCER_DIR/pgbouncer.ini" <<EOF_INI
; Written by scripts/services.sh; edits are overwritten.
[databases]
$DB = host=$HOST port=$PG_PORT dbname=$DB
; A driver's own suite (run --conformance) holds several connections, some in open
; transactions, at once: with the 2 server connections above, the next would wait out
; query_wait_timeout. PgBouncer's own default pool size.
${DB}_conformance = host=$HOST port=$PG_PORT dbname=${DB}_conformance pool_size=20

[pgbouncer]
listen_addr = $HOST
listen_port = $BOUNCER_PORT
unix_socket_dir =
pidfile = $BOUNCER_DIR/pgbouncer.pid
logfile = $BOUNCER_DIR/server.log
auth_type = scram-sha-256
auth_file = $BOUNCER_DIR/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
client_tls_sslmode = require
client_tls_cert_file = $TLS/postgres/server.crt
client_tls_key_file = $TLS/postgres/server.key
server_tls_sslmode = require
EOF_INI
}

bouncer_up() {
  bouncer_prepare
  local pid
  if pid="$(bouncer_pid)"; then
    # Re-read the configuration in place (SIGHUP), then check it still answers.
    kill -HUP "$pid" 2>/dev/null || true
  else
    port_open "$BOUNCER_PORT" && die "port $BOUNCER_PORT on $HOST is taken by another server (not our pgbouncer)"
    log "pgbouncer: starting on $HOST:$BOUNCER_PORT (transaction pooling in front of :$PG_PORT)"
    as_bouncer pgbouncer -d "$BOUNCER_DIR/pgbouncer.ini" >>"$BOUNCER_DIR/start.log" 2>&1 || {
      log_tail "$BOUNCER_DIR/start.log"
      log_tail "$BOUNCER_DIR/server.log"
      die "pgbouncer did not start"
    }
  fi
  local deadline=$((SECONDS + WAIT_SECS))
  until [ "$(bouncer_probe)" == "t" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log_tail "$BOUNCER_DIR/server.log"
      die "pgbouncer does not answer on $HOST:$BOUNCER_PORT after ${WAIT_SECS}s"
    fi
    sleep 0.2
  done
}

bouncer_down() {
  local pid i
  if ! pid="$(bouncer_pid)"; then
    log "pgbouncer: not running"
    return 0
  fi
  log "pgbouncer: stopping (pid $pid)"
  kill -INT "$pid" 2>/dev/null || true
  for ((i = 0; i < WAIT_SECS * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}
