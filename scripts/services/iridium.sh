# Sourced by scripts/services.sh; see there.
# shellcheck shell=bash
#
# iridium_server, a TDS 7.4 SQL Server emulator (crates.io, MIT): the registry's
# `sqlserver` protocol's reference server, since no SQL Server can be installed here.
# It is an emulator, not SQL Server: where it differs, the difference is keyed on the
# `iridium` label, never on `sqlserver` (docs/sqlserver.md lists what it does and lacks).
#
# As published, 0.1.13 answers PRELOGIN with the wrong packet type and FreeTDS's clients
# (tsql, pymssql, ODBC) cannot log in; the project carries the one-line fix as
# scripts/services/iridium/*.patch. So the
# crate is not installed straight from the registry: its source is fetched with cargo
# (checked against the index like any dependency), unpacked, patched, and built with
# `cargo install --locked --path` (the crate's own Cargo.lock) into a cache outside the
# checkout, as HeliosDB is (a fresh clone on the same machine, CI's included, reuses it;
# a cold build takes about 5-10 minutes on 2 cores). The cache holds a stamp naming the
# version and the checksum of each patch's changes (its description aside): the binary is
# rebuilt only when either changes.
#
# Runs in memory on 127.0.0.1 only, plain TCP (--no-tls: the emulator's TLS mode was
# found to fail with every client tried), SQL authentication as sa with a test password,
# detached like the emulators (common.sh, start_detached). State, pid file, log and the
# freetds.conf its clients need: .services/iridium/.

IRI_VERSION=0.1.13
IRI_PORT="$(registry_port sqlserver 1433)"
IRI_USER=sa
# SQL Server's password policy (upper, lower, digit, symbol) holds, so that the same
# credentials would do for a real server; no character that a URL must escape.
IRI_PASS=Helios_test_1
IRI_CACHE="${HELIOS_MATRIX_CACHE:-${HOME:-/root}/.cache/helios-matrix}"
IRI_ROOT="$IRI_CACHE/iridium-$IRI_VERSION"
IRI_BIN="$IRI_ROOT/bin/iridium-server"
IRI_STAMP="$IRI_ROOT/helios-matrix.stamp"
IRI_PATCHES="$ROOT/scripts/services/iridium"
IRI_DIR="$STATE/iridium"
IRI_WAIT_SECS=30
# Its address space is capped: the emulator materializes intermediate results in memory
# (a COUNT(*) over a 262,144-row cross join takes 2.4 GB; one over 16.7 million rows grew
# it past 21 GB until the kernel's OOM killer ended it), and on a machine that CI and
# builds share, a runaway query must end only the emulator ("memory allocation of N bytes
# failed" in its log; the client sees the connection close).
IRI_MEMORY_LIMIT=$((4 * 1024 * 1024 * 1024))
IRI_TARGET="mssql://$IRI_USER:****@$HOST:$IRI_PORT"

# What the installed binary must have been built from: the version and the patches'
# changes (from each one's first `--- ` line on, so that editing a description does not
# cost a rebuild).
iri_stamp() {
  local patch
  printf 'iridium_server %s\n' "$IRI_VERSION"
  for patch in "$IRI_PATCHES"/*.patch; do
    printf '%s %s\n' "$(sed -n '/^--- /,$p' "$patch" | sha256sum | cut -d' ' -f1)" "$(basename "$patch")"
  done
}

# The pristine .crate file of the pinned version, fetched into cargo's registry cache by
# `cargo fetch` in a throw-away project that depends on exactly that version (cargo
# verifies its checksum against the index). Prints its path.
iri_fetch_crate() {
  local work="$1" cargo_home="${CARGO_HOME:-${HOME:-/root}/.cargo}" crate
  install -d "$work/fetch/src"
  cat >"$work/fetch/Cargo.toml" <<EOF
[package]
name = "helios-matrix-fetch-iridium"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
iridium_server = "=$IRI_VERSION"
EOF
  printf 'fn main() {}\n' >"$work/fetch/src/main.rs"
  cargo fetch --manifest-path "$work/fetch/Cargo.toml" >&2 || die "cargo fetch iridium_server $IRI_VERSION failed"
  crate="$(find "$cargo_home/registry/cache" -name "iridium_server-$IRI_VERSION.crate" -print -quit)"
  [ -n "$crate" ] || die "iridium_server-$IRI_VERSION.crate not found under $cargo_home/registry/cache"
  printf '%s\n' "$crate"
}

# Builds the patched, pinned binary when the stamp says it is not there yet (never
# otherwise).
ensure_iridium_installed() {
  if [ -x "$IRI_BIN" ] && [ "$(cat "$IRI_STAMP" 2>/dev/null || true)" == "$(iri_stamp)" ]; then
    return 0
  fi
  local work="$IRI_CACHE/iridium-build" crate src patch
  log "iridium: building iridium_server $IRI_VERSION, patched, into $IRI_ROOT (once; ~5-10 min cold on 2 cores)"
  install -d "$work"
  crate="$(iri_fetch_crate "$work")"
  src="$work/iridium_server-$IRI_VERSION"
  rm -rf "$src"
  tar -xzf "$crate" -C "$work"
  for patch in "$IRI_PATCHES"/*.patch; do
    log "iridium: applying $(basename "$patch")"
    patch -p1 --forward --silent -d "$src" <"$patch" || die "$patch does not apply to iridium_server $IRI_VERSION"
  done
  # A stale stamp must not vouch for a half-replaced binary.
  rm -f "$IRI_STAMP"
  cargo install --locked --force --path "$src" --bin iridium-server \
    --root "$IRI_ROOT" --target-dir "$work/target" ||
    die "cargo install of the patched iridium_server $IRI_VERSION failed"
  iri_stamp >"$IRI_STAMP"
  # The build tree is only needed to resume an interrupted build.
  rm -rf "$work"
}

iri_pid() { pidfile_pid "$IRI_DIR/server.pid" iridium-server; }

# A TDS PRELOGIN (VERSION, ENCRYPTION = not supported) sent to the server; prints the
# answer's packet type as two hex digits. The patched server answers 04 (tabular
# result), the published one 12.
iri_prelogin_type() {
  # shellcheck disable=SC2016 # $0 and $1 are for the inner bash
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    # header: type 0x12, status EOM, length 0x001a, spid 0, packet 1, window 0;
    # options VERSION (offset 11, len 6), ENCRYPTION (offset 17, len 1), terminator;
    # data: version 0.0.0.0 sub 0, encryption 2 (not supported).
    printf "\x12\x01\x00\x1a\x00\x00\x01\x00\x00\x00\x0b\x00\x06\x01\x00\x11\x00\x01\xff\x00\x00\x00\x00\x00\x00\x02" >&3
    head -c 1 <&3 | od -An -tx1 | tr -d " \n"
  ' "$HOST" "$IRI_PORT" 2>/dev/null
}

# FreeTDS's configuration for talking to it: TDS 7.4, and `encryption = off`, which makes
# FreeTDS offer ENCRYPT_NOT_SUP. FreeTDS's default offers ENCRYPT_OFF, to which the server
# answers ENCRYPT_OFF too, and that means "encrypt the login packet" (MS-TDS): FreeTDS then
# starts TLS, which a --no-tls server cannot do, and the login fails ("Unexpected EOF from
# the server"). Use it with FREETDSCONF=.services/iridium/freetds.conf (tsql, pymssql's
# FreeTDS; FreeTDS's ODBC driver takes Encryption=off in its connection string instead).
iri_freetds_conf() {
  install -d -m 700 "$IRI_DIR"
  printf '# Written by scripts/services.sh (iridium.sh); edits are overwritten.\n[global]\n\ttds version = 7.4\n\tencryption = off\n' \
    >"$IRI_DIR/freetds.conf"
}

# Answers when the server answers PRELOGIN as SQL Server does; with tsql (FreeTDS) at
# hand, also when it takes a login as sa and runs a query.
iri_probe() {
  [ "$(iri_prelogin_type || true)" == 04 ] || return 1
  command -v tsql >/dev/null 2>&1 || return 0
  [ -r "$IRI_DIR/freetds.conf" ] || iri_freetds_conf
  # tsql -o q: no banner, no prompts.
  printf 'SELECT 40 + 2\ngo\nexit\n' |
    FREETDSCONF="$IRI_DIR/freetds.conf" timeout 10 \
      tsql -o q -H "$HOST" -p "$IRI_PORT" -U "$IRI_USER" -P "$IRI_PASS" 2>&1 |
    grep -qx 42
}

iridium_up() {
  ensure_iridium_installed
  local pid i
  if pid="$(iri_pid)" && iri_probe; then
    return 0
  fi
  ! port_open "$IRI_PORT" || die "iridium: port $IRI_PORT is taken by another process"
  iri_freetds_conf
  log "iridium: starting on $HOST:$IRI_PORT"
  # RUST_LOG=warn: at info it logs every connection; at debug every packet.
  RUST_LOG=warn start_detached "$IRI_DIR" prlimit --as="$IRI_MEMORY_LIMIT" -- \
    "$IRI_BIN" --host "$HOST" --port "$IRI_PORT" -u "$IRI_USER" -P "$IRI_PASS" --memory --no-tls
  for ((i = 0; i < IRI_WAIT_SECS * 5; i++)); do
    iri_probe && return 0
    sleep 0.2
  done
  log_tail "$IRI_DIR/server.log"
  if [ "$(iri_prelogin_type || true)" == 12 ]; then
    die "iridium answers PRELOGIN with packet type 0x12: $IRI_BIN is not the patched build"
  fi
  die "iridium did not answer within ${IRI_WAIT_SECS}s"
}

iridium_down() {
  local pid
  if pid="$(iri_pid)"; then
    stop_group iridium "$pid"
  else
    log "iridium: not running"
  fi
}

iridium_status() {
  if iri_probe; then
    printf 'sqlserver:  up    %s (iridium, pid %s)\n' "$IRI_TARGET" "$(iri_pid || echo "not ours")"
  else
    printf 'sqlserver:  down  %s (iridium)\n' "$IRI_TARGET"
    return 1
  fi
}
