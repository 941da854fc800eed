# helios-matrix tasks. `just ci` is the whole check CI runs (.ci/run calls it).

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "target/release/helios-matrix"

# List the recipes.
default:
    @just --list

# Every check CI runs: format, lints, tests, generated/ up to date, the SQLite run with JUnit.
ci: fmt-check clippy test compile-check run-sqlite

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

# Run every case on the embedded SQLite target, JUnit under target/junit/.
run-sqlite: build
    mkdir -p target/junit
    {{bin}} run --protocol sqlite --junit target/junit/sqlite.xml --no-progress
