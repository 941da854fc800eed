# Sourced by scripts/services.sh; see there.
# shellcheck shell=bash
#
# Apache Derby's network server, the DRDA stand-in for DB2 (the registry's `db2`
# protocol): Debian's Derby 10.14 jars run by Debian's Java, on 127.0.0.1 only, plain TCP
# (Derby's own TLS, derby.drda.sslMode, would need a Java keystore; not set up).
#
# Derby's BUILTIN authentication makes every client log in as test/test (a wrong or
# missing password gets SQLState 08004); shutting the server down takes those
# credentials too. The database `helios` is created by `up`, and by any client that
# connects with `;create=true`.
#
# derby.system.home is .services/derby/: derby.properties (rewritten by `up`; the server
# restarts when it changes), the databases (helios/), derby.log (the engine's log) and
# server.log (the server's console). The server runs as root, detached like the emulators
# (emulators.sh): its pid file is written by the process itself just before it becomes
# the JVM.

DERBY_PORT="$(registry_port db2 1527)"
DERBY_DIR="$STATE/derby"
DERBY_LOG="$DERBY_DIR/server.log"
DERBY_WAIT_SECS=60
DERBY_JARS=(derby derbynet derbytools derbyclient)
DERBY_CP="$(printf '/usr/share/java/%s.jar:' "${DERBY_JARS[@]}")"
DERBY_CP="${DERBY_CP%:}"
# ij's classpath: without derby.jar, so that ij boots no embedded engine (which would
# write a derby.log into the current directory).
DERBY_IJ_CP="/usr/share/java/derbytools.jar:/usr/share/java/derbyclient.jar"
DERBY_TARGET="$HOST:$DERBY_PORT"

# ------------------------------------------------------------------------------- derby

# NetworkServerControl as a client of our server (ping, shutdown, ...).
derby_ctl() {
  java -cp "$DERBY_CP" org.apache.derby.drda.NetworkServerControl "$@" -h "$HOST" -p "$DERBY_PORT"
}

derby_ping() { derby_ctl ping >/dev/null 2>&1; }

# The pid of our server when it is running (from its pid file, checked against /proc so
# that a recycled pid, or another checkout's Derby, is not taken for it).
derby_pid() {
  local pid cmdline
  pid="$(cat "$DERBY_DIR/server.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *"-Dderby.system.home=$DERBY_DIR "*NetworkServerControl* ]] || return 1
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
  printf '%s\n' "$pid"
}

# Two logins with ij: a wrong password must be refused (SQLState 08004), test/test must
# get in (creating the database when missing). Prints `ok`, or ij's output when either
# is not so. ij echoes no statements read from stdin, so `login-TEST` is the answer.
derby_probe() {
  local url="jdbc:derby://$HOST:$DERBY_PORT/$DB;create=true;user=$USER_NAME" out
  out="$(timeout 60 java -cp "$DERBY_IJ_CP" org.apache.derby.tools.ij 2>&1 <<EOF
connect '$url;password=not-$USER_PASS' as wrong;
connect '$url;password=$USER_PASS' as probe;
values 'login-' || current_user;
disconnect all;
exit;
EOF
  )" || true
  if [[ "$out" == *"ERROR 08004"* ]] && [[ "$out" == *"login-${USER_NAME^^}"* ]]; then
    echo ok
  else
    printf '%s\n' "$out"
  fi
}

# Writes derby.properties; sets DERBY_CONF_CHANGED=1 when it changed (Derby reads it
# only when it boots).
DERBY_CONF_CHANGED=0
derby_prepare() {
  install -d -m 755 "$DERBY_DIR"
  local file="$DERBY_DIR/derby.properties" content
  content="# Written by scripts/services.sh; edits are overwritten.
derby.connection.requireAuthentication=true
derby.authentication.provider=BUILTIN
derby.user.$USER_NAME=$USER_PASS
# A reader blocked by another session's uncommitted change gives up after 2 s (40XL1)
# rather than 60: the sessions cases expect it there (docs/emulators.md).
derby.locks.waitTimeout=2"
  if [ -f "$file" ] && [ "$(cat "$file")" == "$content" ]; then
    return 0
  fi
  (
    umask 077
    printf '%s\n' "$content" >"$file.tmp"
  )
  mv -f "$file.tmp" "$file"
  DERBY_CONF_CHANGED=1
}

# Waits (bounded) until the server answers `ping`; $1 is its pid.
derby_wait_ping() {
  local pid="$1" deadline=$((SECONDS + DERBY_WAIT_SECS))
  until derby_ping; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail "$DERBY_LOG"
      die "derby exited during startup"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log_tail "$DERBY_LOG"
      die "derby does not answer ping on $HOST:$DERBY_PORT after ${DERBY_WAIT_SECS}s"
    fi
    sleep 0.5
  done
}

derby_start() {
  local pid i
  local cmd=(java "-Dderby.system.home=$DERBY_DIR" -cp "$DERBY_CP"
    org.apache.derby.drda.NetworkServerControl start -h "$HOST" -p "$DERBY_PORT" -noSecurityManager)
  log "derby: starting on $HOST:$DERBY_PORT ($DERBY_DIR)"
  rm -f "$DERBY_DIR/server.pid"
  printf -- '---- %s: %s\n' "$(date -u +%FT%TZ)" "${cmd[*]}" >>"$DERBY_LOG"
  # shellcheck disable=SC2016 # $$ and $0 are for the inner bash
  (cd "$DERBY_DIR" && exec setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$DERBY_DIR/server.pid" "${cmd[@]}" \
    </dev/null >>"$DERBY_LOG" 2>&1) &
  for ((i = 0; i < 50; i++)); do
    [ -s "$DERBY_DIR/server.pid" ] && break
    sleep 0.1
  done
  pid="$(cat "$DERBY_DIR/server.pid" 2>/dev/null || true)"
  if ! [[ "$pid" =~ ^[0-9]+$ ]]; then
    log_tail "$DERBY_LOG"
    die "derby did not start (no pid in $DERBY_DIR/server.pid)"
  fi
  derby_wait_ping "$pid"
}

derby_up() {
  local pid out
  derby_prepare
  if pid="$(derby_pid)"; then
    if [ "$DERBY_CONF_CHANGED" -eq 1 ]; then
      log "derby: configuration changed, restarting"
      derby_down
      derby_start
    else
      derby_wait_ping "$pid"
    fi
  else
    port_open "$DERBY_PORT" && die "port $DERBY_PORT on $HOST is taken by another server (not our derby)"
    derby_start
  fi
  out="$(derby_probe)"
  if [ "$out" != ok ]; then
    printf 'services: ij said:\n%s\n' "$out" >&2
    log_tail "$DERBY_DIR/derby.log"
    die "derby does not take logins as $USER_NAME (and only with the right password) on $HOST:$DERBY_PORT/$DB"
  fi
}

derby_down() {
  local pid i
  if ! pid="$(derby_pid)"; then
    log "derby: not running"
    return 0
  fi
  log "derby: stopping (pid $pid)"
  # With authentication on, `shutdown` without credentials is refused (08004).
  derby_ctl shutdown -user "$USER_NAME" -password "$USER_PASS" >>"$DERBY_LOG" 2>&1 ||
    kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < WAIT_SECS * 5; i++)); do
    derby_pid >/dev/null || break
    sleep 0.2
  done
  if derby_pid >/dev/null; then
    log "derby: still running after ${WAIT_SECS}s, killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
    derby_pid >/dev/null && die "derby (pid $pid) did not stop"
  fi
  rm -f "$DERBY_DIR/server.pid"
}
