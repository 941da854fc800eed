# helios-matrix tasks. `just ci` is the whole check CI runs (.ci/run calls it).

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "target/release/helios-matrix"

# List the recipes.
default:
    @just --list

# Every check CI runs: format, lints, tests (with the reference servers), generated/ up to
# date, and the runs CI gates on, with JUnit under target/junit/.
ci: fmt-check clippy services test test-live compile-check run-sqlite run-matrix

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

# Fail when generated/ is stale.
compile-check: build
    {{bin}} compile specs/ -o generated/ --check

# Tests against the real servers and emulators (started by `just services`), one at a
# time: they share the servers' databases.
test-live: services
    cargo test --test live -- --ignored --test-threads=1

# Run every case on the embedded SQLite target, JUnit under target/junit/.
run-sqlite: build
    mkdir -p target/junit
    {{bin}} run --protocol sqlite --junit target/junit/sqlite.xml --no-progress

# P0 and P1 on every protocol with a server here, JUnit under target/junit/. The default
# gate is P0 (the seed's policy); this project's own CI holds P1 to passing too.
run-matrix: build services
    mkdir -p target/junit
    {{bin}} run --protocol sqlite,postgresql,mysql,snowflake,databricks,pinecone --priority p0,p1 --gate p0,p1 --junit target/junit/matrix.xml --no-progress

# Start (installing if missing) PostgreSQL, MariaDB and the Silver emulators, state in .services/.
services:
    bash scripts/services.sh up

# Stop the servers and emulators started by `just services`.
services-down:
    bash scripts/services.sh down

# Median wall time of helios-matrix vs psql / mariadb on the same workload (needs the servers).
bench: build services
    cargo bench --bench gold
