#!/usr/bin/env bash
# Reference servers: PostgreSQL and MariaDB (MySQL protocol) for the Gold tier, on
# 127.0.0.1 only, with TLS, as `test`/`test` on database `helios`; PgBouncer in
# transaction-pooling mode in front of PostgreSQL (:6432, for the live tests); the
# Silver-tier emulators fakesnow (Snowflake, :8446), minilake (Databricks SQL, :8444) and
# NeedleDB (Pinecone, :8445), plain HTTP on 127.0.0.1 only; and in front of those three an
# nginx HTTPS gateway on :8443 routing by path, which the registry's Silver targets name
# (the seed serves the three APIs on one TLS port); and Apache Derby's network server
# (:1527, plain TCP), the DRDA stand-in for DB2, as `test`/`test` on database `helios`;
# and iridium_server (:1433, plain TCP), a TDS 7.4 emulator standing in for SQL Server,
# as `sa`, built from the pinned crate with the project's patch (scripts/services/iridium/).
# The Gold and gateway ports come from the default targets in specs/matrix.yaml (Derby's
# too, once the db2 protocol names one). One file per service under scripts/services/.
#
#   scripts/services.sh [up|down|status]      (default: up; `just services`)
#
# - Runs as root on a bare Debian 12 machine: no systemd, no docker. Missing packages are
#   installed with apt-get (postgresql, mariadb-server, pgbouncer, openssl, nginx, curl,
#   python3-venv, and for Derby default-jre-headless, libderby-java, libderbyclient-java,
#   derby-tools, and FreeTDS's tsql and ODBC driver for SQL Server's clients: freetds-bin,
#   tdsodbc, unixodbc; patch, for the emulator's source).
# - Every bit of state (data directories, sockets, logs, pid files, the TLS certificate)
#   lives under the git-ignored .services/ of the repository (or $HELIOS_SERVICES_DIR).
#   The Debian default cluster/instance in /etc and /var/lib is neither used nor needed.
# - The emulators are Python packages, pinned in scripts/requirements-emulators.txt and
#   installed into the project's git-ignored .venv (created when missing); `pip install`
#   runs again only when that file changes (its hash is kept in .venv). docs/emulators.md
#   describes how they answer.
# - Idempotent: `up` with everything already running only checks the configuration and
#   that each server answers (the databases over TCP with TLS as test/test, Derby over
#   plain TCP as test/test refusing a wrong password, the emulators over HTTP, iridium
#   over TDS: a PRELOGIN answered as SQL Server does, and a query through tsql as sa).
# - `down` stops every server cleanly. `status` prints whether each one answers (exit 0
#   when all do, 1 otherwise).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# One file per service; common.sh holds the configuration, packages and TLS they share.
for part in common postgres mariadb pgbouncer derby iridium emulators gateway heliosdb; do
  # shellcheck source=/dev/null
  source "$ROOT/scripts/services/$part.sh"
done

# ------------------------------------------------------------------------------- main

print_targets() {
  local name
  printf 'postgresql: %s\n' "$PG_TARGET"
  printf 'mysql:      %s\n' "$MY_TARGET"
  printf 'pgbouncer:  %s (transaction pooling)\n' "$BOUNCER_TARGET"
  printf 'db2:        %s (derby, database %s, user %s)\n' "$DERBY_TARGET" "$DB" "$USER_NAME"
  printf 'sqlserver:  %s (iridium, TDS 7.4, no TLS)\n' "$IRI_TARGET"
  for name in "${EMULATORS[@]}"; do
    printf '%-11s %s (%s)\n' "$(emu_protocol "$name"):" "$(emu_target "$name")" "$name"
  done
  printf 'gateway:    %s (snowflake /, databricks /api/2.0/sql, pinecone /pinecone; certificate %s)\n' \
    "$(gw_target)" "$TLS/server.crt"
  printf 'heliosdb:   postgresql :5442 (TLS, scram-sha-256 as %s); postgresql :5443, mysql :3316 (trust); http :8092, :8093\n' "$HDB_USER"
}

cmd_up() {
  ensure_packages
  ensure_state
  ensure_tls
  pg_up
  my_up
  bouncer_up
  log "both databases, and pgbouncer in front of PostgreSQL, answer over TLS"
  derby_up
  log "derby answers over DRDA as $USER_NAME (database $DB in $DERBY_DIR)"
  iridium_up
  log "iridium answers over TDS as $IRI_USER"
  emulators_up
  log "the emulators answer over HTTP (state in $STATE)"
  gateway_up
  log "the gateway answers over HTTPS for all three"
  heliosdb_up
  log "heliosdb answers on its secure and open listener sets"
  print_targets
}

cmd_down() {
  local name
  heliosdb_down
  if command -v nginx >/dev/null 2>&1; then gateway_down; else log "gateway: nginx not installed"; fi
  bouncer_down
  pg_down
  if command -v mariadb-admin >/dev/null 2>&1; then my_down; else log "mariadb: not installed"; fi
  if command -v java >/dev/null 2>&1; then derby_down; else log "derby: java not installed"; fi
  iridium_down
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
  if command -v pgbouncer >/dev/null 2>&1 && [ "$(bouncer_probe)" == "t" ]; then
    printf 'pgbouncer:  up    %s\n' "$BOUNCER_TARGET"
  else
    printf 'pgbouncer:  down  %s\n' "$BOUNCER_TARGET"
    rc=1
  fi
  if command -v java >/dev/null 2>&1 && [ "$(derby_probe)" == ok ]; then
    printf 'db2:        up    %s (derby, pid %s)\n' "$DERBY_TARGET" "$(derby_pid || echo "not ours")"
  else
    printf 'db2:        down  %s (derby)\n' "$DERBY_TARGET"
    rc=1
  fi
  iridium_status || rc=1
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
  heliosdb_status || rc=1
  if command -v nginx >/dev/null 2>&1 && out="$(gw_probe)" && gw_probe_ok "$out"; then
    printf 'gateway:    up    %s (pid %s)\n' "$(gw_target)" "$(gw_pid || echo "not ours")"
  else
    printf 'gateway:    down  %s\n' "$(gw_target)"
    rc=1
  fi
  return $rc
}

case "${1:-up}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  -h | --help | help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" ;;
  *) die "usage: $0 [up|down|status]" ;;
esac
