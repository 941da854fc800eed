# helios-matrix tasks. `just ci` is the whole check CI runs (.ci/run calls it).

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "target/release/helios-matrix"

# The sqllogictest-rs runner the live tests check `compile --format sqllogictest` with.
slt_version := "0.29.1"

# List the recipes.
default:
    @just --list

# Every check CI runs: format, lints, tests (with the reference servers), generated/ up to
# date, and the runs CI gates on, with JUnit under target/junit/.
ci: fmt-check clippy services drivers test drivers-check test-live test-browser compile-check ci-workflow-check run-sqlite probe run-matrix run-drivers conformance report run-heliosdb

# Fail when code is not `cargo fmt`-formatted.
fmt-check:
    cargo fmt --all -- --check

# Lints, warnings denied.
clippy:
    cargo clippy --all-targets -- -D warnings

# Unit, snapshot and end-to-end tests.
test:
    cargo test --all-targets

# The release binary.
build:
    cargo build --release

# Recompile specs/ into generated/ (commit the result).
compile: build
    {{bin}} compile specs/ -o generated/

# Write schema/driver-host.schema.json again from the driver host protocol's Rust types
# (src/exec/driver/protocol.rs); commit the result. `just test` fails while it is stale.
driver-host-schema:
    HELIOS_BLESS=1 cargo test --test schema driver_host_schema

# Fail when generated/ is stale.
compile-check: build
    {{bin}} compile specs/ -o generated/ --check

# scripts/actionlint.sh installs actionlint (pinned in scripts/actionlint/) when missing.
# The GitHub Actions workflow of `ci github --shards 3`, into target/ci/, checked by actionlint.
ci-workflow-check: build
    {{bin}} ci github --shards 3 -o target/ci/helios-matrix.yml
    bash scripts/actionlint.sh target/ci/helios-matrix.yml

# Tests against the real servers and emulators (started by `just services`), directly,
# behind a fault proxy (tests/faults.rs) and through a stand-in conformance suite, one at a
# time: they share the servers' databases.
test-live: services drivers slt-tools
    cargo test --test live --test faults --test conformance -- --ignored --test-threads=1

# Every protocol's handshake sent to the servers' endpoints (the gateway's too): each
# answers its own protocols and refuses the others cleanly.
probe: build services
    {{bin}} probe -p postgresql,mysql,snowflake,databricks,pinecone

# Run every case on the embedded SQLite target, JUnit under target/junit/.
run-sqlite: build
    mkdir -p target/junit
    {{bin}} run --protocol sqlite --junit target/junit/sqlite.xml --no-progress

# Every case on every protocol with a server here (DB2 on Derby and SQL Server on iridium
# included, whose Bronze suites are P2), JUnit under target/junit/, the HTML report in
# target/report/index.html.
# The default gate is P0 (the seed's policy); this project's own CI holds every priority
# to passing.
run-matrix: build services
    mkdir -p target/junit
    {{bin}} run --protocol sqlite,postgresql,mysql,snowflake,databricks,pinecone,db2,sqlserver --priority p0,p1,p2 --gate p0,p1,p2 --junit target/junit/native.xml --html target/report --no-progress

# Install sqllogictest-rs's runner (crate sqllogictest-bin, pinned) into the git-ignored
# .tools/, unless .tools/bin/sqllogictest already is that version.
slt-tools:
    if .tools/bin/sqllogictest --version 2>/dev/null | grep -qx 'sqllogictest-bin {{slt_version}}'; then \
      echo ".tools/bin/sqllogictest is sqllogictest-bin {{slt_version}}"; \
    else \
      cargo install sqllogictest-bin --version {{slt_version}} --locked --root .tools; \
    fi

# Start (installing if missing) PostgreSQL, MariaDB, Derby, the Silver emulators and HeliosDB
# Nano (built once into ~/.cache/helios-matrix), state in .services/.
services:
    bash scripts/services.sh up

# Install (when their pinned requirements changed) the client drivers and their hosts:
# Python drivers into the git-ignored .venv-drivers, node-postgres into drivers/node.
drivers:
    bash scripts/drivers.sh install
    bash scripts/node-host.sh install

# The driver hosts' own checks: format, lints, types and tests (against the servers), the
# replay of the driver host transcripts (tests/fixtures/driver-host) among them.
drivers-check: drivers services
    bash scripts/drivers.sh check
    bash scripts/node-host.sh check

# The P0 seed cases of every protocol through every client driver the registry lists
# (`run-matrix` runs them on the native executors), plus the cases where a driver takes
# its own path, and SQL Server's whole suites through pymssql and pyodbc (pyodbc's gaps on
# the iridium emulator are baselines/iridium.yaml); JUnit under target/junit/.
run-drivers: build services drivers
    mkdir -p target/junit
    {{bin}} run --protocol postgresql,mysql --priority p0 --driver all --junit target/junit/drivers-gold.xml --no-progress
    {{bin}} run --protocol snowflake,pinecone,databricks --case 'SF-00[123]|PC-00[123]|DB-00[123]' --gate p0,p1 --driver all --junit target/junit/drivers-silver.xml --no-progress
    {{bin}} run --protocol sqlserver --driver pymssql,pyodbc --priority p0,p1,p2 --gate p0,p1,p2 --baseline baselines/iridium.yaml --junit target/junit/drivers-bronze.xml --no-progress

# The drivers' own test suites as matrix cells (docs/conformance.md): psycopg2's,
# asyncpg's and SQLAlchemy's dialect compliance suite against the reference PostgreSQL and
# MariaDB, then psycopg2's and SQLAlchemy's through PgBouncer, each gated on its reviewed
# list in baselines/conformance/. The first run's JUnit goes into `report`'s matrix.
conformance: build services drivers
    mkdir -p target/junit
    {{bin}} conformance fetch psycopg2,asyncpg,sqlalchemy
    {{bin}} run --server reference --protocol postgresql,mysql --conformance psycopg2,asyncpg,sqlalchemy --gate p0,p1,p2 --baseline baselines/conformance/reference.yaml --junit target/junit/conformance.xml --no-progress
    {{bin}} run --protocol postgresql --target 'postgresql=postgres://test:test@127.0.0.1:6432/helios?sslmode=require&pooler=transaction' --conformance psycopg2,sqlalchemy --gate p0,p1,p2 --baseline baselines/conformance/pgbouncer.yaml --junit target/junit/conformance-pgbouncer.xml --no-progress

# HeliosDB Nano's results on the same suites (on demand: its list is not reviewed yet);
# JUnit in target/junit/conformance-heliosdb.xml.
conformance-heliosdb: build services drivers
    mkdir -p target/junit
    {{bin}} conformance fetch psycopg2,asyncpg,sqlalchemy
    {{bin}} run --server heliosdb-nano --protocol postgresql,mysql --conformance psycopg2,asyncpg,sqlalchemy --gate p0,p1,p2 --run-timeout 20m --junit target/junit/conformance-heliosdb.xml --no-progress

# HeliosDB Nano, the system under test, through its native executors and every driver,
# gated on its reviewed baseline (docs/baselines.md): a new failure or a fixed one (a stale
# entry) fails. JUnit in target/junit/heliosdb.xml, its page in target/report/heliosdb/.
run-heliosdb: build services drivers
    mkdir -p target/junit
    {{bin}} run --server heliosdb-nano --driver native,all --priority p0,p1 --gate p0,p1 --baseline baselines/heliosdb-nano.yaml --junit target/junit/heliosdb.xml --html target/report/heliosdb --no-progress

# Take HeliosDB Nano's baseline again (reasons of entries still failing are kept); review
# every new entry's `reason:` before committing it.
heliosdb-baseline: build services drivers
    {{bin}} baseline --server heliosdb-nano --driver native,all --priority p0,p1 -o baselines/heliosdb-nano.yaml

# Debian's Chromium, for the report's browser test and screenshot, when missing.
browser:
    command -v chromium >/dev/null 2>&1 || { [ "$(id -u)" -eq 0 ] || { echo "installing chromium needs root" >&2; exit 1; }; apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# The HTML report of a real run (SQLite and the Gold servers, every driver) opened in
# headless Chromium: no console errors, each cell's counts those of the JUnit report.
test-browser: browser services drivers
    cargo test --test report -- --ignored

# The whole CI matrix, every protocol × executor or driver cell (the native runs of
# `run-matrix`, the driver runs of `run-drivers`, the drivers' own suites of
# `conformance`), as one JUnit report,
# target/junit/matrix.xml, and its HTML page, target/report/index.html.
report: run-matrix run-drivers conformance
    {{bin}} report merge target/junit/native.xml target/junit/drivers-gold.xml target/junit/drivers-silver.xml target/junit/drivers-bronze.xml target/junit/conformance.xml --gate p0,p1,p2 -o target/junit/matrix.xml
    {{bin}} report html target/junit/matrix.xml --gate p0,p1,p2 -o target/report

# Regenerate the README's screenshot of the report (docs/report.png) from `just report`.
screenshot: browser report
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1500,760 --screenshot=docs/report.png "file://$PWD/target/report/index.html"

# Stop the servers and emulators started by `just services`.
services-down:
    bash scripts/services.sh down

# Median wall time of helios-matrix vs psql / mariadb on the same workload (needs the servers).
bench: build services
    cargo bench --bench gold
