# Sourced by scripts/services.sh; see there.
# shellcheck shell=bash
#
# The HTTPS gateway: nginx on 127.0.0.1:8443 with the services' certificate, in front of
# the three HTTP emulators, routed by path as the seed's server serves Snowflake,
# Databricks SQL and Pinecone on one TLS port:
#
#   /session…, /queries/…   → fakesnow   (the Snowflake connector's REST paths)
#   /api/2.0/sql/…          → minilake   (the Statement Execution API)
#   /pinecone/…             → NeedleDB, prefix removed; the index hosts NeedleDB names in
#                             its answers get the prefix back, so data-plane calls come
#                             through the gateway too
#   /health                 → the gateway itself
#
# nginx runs from Debian's package with a configuration of our own (no system service),
# as a daemon whose pid file, logs and temporary files live under .services/gateway/.

GW_PORT="$(registry_port snowflake 8443)"
GW_DIR="$STATE/gateway"

gw_target() { printf 'https://%s:%s\n' "$HOST" "$GW_PORT"; }

# The user nginx's workers run as (they only talk to the emulators and write temp files).
gw_worker_user() {
  if [ "$(id -u)" -ne 0 ]; then
    id -un
  elif getent passwd www-data >/dev/null; then
    echo www-data
  else
    echo nobody
  fi
}

gw_write_config() {
  local user group
  user="$(gw_worker_user)"
  group="$(id -gn "$user")"
  install -d -m 755 "$GW_DIR"
  install -d -m 700 -o "$user" -g "$group" "$GW_DIR/tmp"
  cat >"$GW_DIR/nginx.conf.tmp" <<EOF
# Written by scripts/services/gateway.sh; regenerated on every \`services up\`.
$([ "$(id -u)" -eq 0 ] && printf 'user %s %s;' "$user" "$group")
worker_processes 1;
daemon on;
pid $GW_DIR/nginx.pid;
error_log $GW_DIR/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $GW_DIR/tmp/body;
  proxy_temp_path $GW_DIR/tmp/proxy;
  fastcgi_temp_path $GW_DIR/tmp/fastcgi;
  uwsgi_temp_path $GW_DIR/tmp/uwsgi;
  scgi_temp_path $GW_DIR/tmp/scgi;
  client_max_body_size 64m;
  default_type application/json;

  upstream fakesnow { server $HOST:$SF_PORT; keepalive 16; }
  upstream minilake { server $HOST:$DBX_PORT; keepalive 16; }
  upstream needledb { server $HOST:$PC_PORT; keepalive 16; }

  server {
    listen $HOST:$GW_PORT ssl;
    ssl_certificate $TLS/server.crt;
    ssl_certificate_key $TLS/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:helios:1m;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$http_host;
    proxy_set_header X-Forwarded-Proto https;
    proxy_set_header X-Forwarded-For \$remote_addr;
    # Queries may run for minutes (the cancel and timeout cases).
    proxy_read_timeout 600s;
    proxy_buffering off;

    location = /health { return 200 '{"status":"ok","gateway":"helios-matrix"}\n'; }
    location /session { proxy_pass http://fakesnow; }
    location /queries/ { proxy_pass http://fakesnow; }
    location /api/2.0/sql/ { proxy_pass http://minilake; }
    location /pinecone/ {
      proxy_pass http://needledb/;
      # NeedleDB names an index's data plane after the address it was asked on, which
      # lacks the prefix; answers are rewritten uncompressed. (A proxy_set_header here
      # drops the server's, hence the repetition.)
      proxy_set_header Accept-Encoding "";
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-For \$remote_addr;
      sub_filter_types application/json;
      sub_filter_once off;
      sub_filter '"host":"https://\$http_host/indexes/' '"host":"https://\$http_host/pinecone/indexes/';
    }
    location / { return 404 '{"error":"no such route on the helios-matrix gateway"}\n'; }
  }
}
EOF
  mv -f "$GW_DIR/nginx.conf.tmp" "$GW_DIR/nginx.conf"
}

# The gateway's pid when our nginx runs (checked against /proc, as for the emulators).
gw_pid() {
  local pid
  pid="$(cat "$GW_DIR/nginx.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q nginx || return 1
  printf '%s\n' "$pid"
}

# One request per upstream through the gateway, verifying the certificate; prints answers.
gw_probe() {
  local base
  base="$(gw_target)"
  curl -sS -m 3 --cacert "$TLS/server.crt" "$base/health" 2>&1
  curl -sS -m 3 --cacert "$TLS/server.crt" -X POST "$base/queries/v1/abort-request" 2>&1
  curl -sS -m 3 --cacert "$TLS/server.crt" "$base/api/2.0/sql/warehouses" 2>&1
  curl -sS -m 3 --cacert "$TLS/server.crt" "$base/pinecone/indexes" 2>&1
}

gw_probe_ok() {
  [[ "$1" == *'"gateway":"helios-matrix"'* && "$1" == *'"success":true'* &&
    "$1" == *'"warehouses":'* && "$1" == *'"indexes":'* ]]
}

gateway_up() {
  local out i
  gw_write_config
  nginx -t -c "$GW_DIR/nginx.conf" -p "$GW_DIR" >"$GW_DIR/check.log" 2>&1 || {
    log_tail "$GW_DIR/check.log"
    die "nginx refuses the gateway configuration $GW_DIR/nginx.conf"
  }
  if gw_pid >/dev/null; then
    # Running: pick up a changed configuration (ports, certificate) without a restart.
    nginx -c "$GW_DIR/nginx.conf" -p "$GW_DIR" -s reload >>"$GW_DIR/error.log" 2>&1 ||
      die "nginx could not reload the gateway"
  elif port_open "$GW_PORT"; then
    die "port $GW_PORT on $HOST is taken by another server (not the gateway)"
  else
    log "gateway: starting nginx on $(gw_target)"
    nginx -c "$GW_DIR/nginx.conf" -p "$GW_DIR" >>"$GW_DIR/error.log" 2>&1 || {
      log_tail "$GW_DIR/error.log"
      die "nginx did not start"
    }
  fi
  for ((i = 0; i < 50; i++)); do
    out="$(gw_probe || true)"
    gw_probe_ok "$out" && return 0
    sleep 0.2
  done
  printf 'services: last answers: %s\n' "$out" >&2
  log_tail "$GW_DIR/error.log"
  die "the gateway does not route to the emulators on $(gw_target)"
}

gateway_down() {
  local pid i
  if ! pid="$(gw_pid)"; then
    log "gateway: not running"
    return 0
  fi
  log "gateway: stopping (pid $pid)"
  nginx -c "$GW_DIR/nginx.conf" -p "$GW_DIR" -s quit >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < WAIT_SECS * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}
