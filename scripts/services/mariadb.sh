# Sourced by scripts/services.sh; see there.
# shellcheck shell=bash

MY_PORT="$(registry_port mysql 3306)"
MY_DIR="$STATE/mariadb"
MY_DATA="$MY_DIR/data"
MY_RUN="$MY_DIR/run"
MY_SOCK="$MY_RUN/mysqld.sock"
MY_PID="$MY_RUN/mariadbd.pid"
MY_LOG="$MY_DIR/server.log"
MY_TARGET="mysql://$USER_NAME:****@$HOST:$MY_PORT/$DB?ssl-mode=required"

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
  # helios_w<k>: the workers' databases (run --jobs); helios_conformance and test_schema:
  # a driver's own suite's database and the second schema SQLAlchemy's suite expects.
  local sql="CREATE DATABASE IF NOT EXISTS $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;" h
  for h in 127.0.0.1 localhost ::1; do
    sql+="
CREATE USER IF NOT EXISTS '$USER_NAME'@'$h' IDENTIFIED BY '$USER_PASS';
ALTER USER '$USER_NAME'@'$h' IDENTIFIED BY '$USER_PASS';
GRANT ALL PRIVILEGES ON $DB.* TO '$USER_NAME'@'$h';
GRANT ALL PRIVILEGES ON \`${DB}\\_w%\`.* TO '$USER_NAME'@'$h';
GRANT ALL PRIVILEGES ON \`${DB}\\_conformance\`.* TO '$USER_NAME'@'$h';
GRANT ALL PRIVILEGES ON test_schema.* TO '$USER_NAME'@'$h';"
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
