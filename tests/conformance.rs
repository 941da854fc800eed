//! `run --conformance` end to end against the reference PostgreSQL (`just services`), with a
//! stand-in for a driver's suite: a shell script that checks what it was given (its fresh
//! database, the setup run in it, the target's parts) with psql and writes JUnit. Ignored by
//! a plain `cargo test`; `just test-live` runs them.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;

use common::{status_kind, text};
use quick_junit::Report;

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A working directory with a registry declaring the suite `fake` for PostgreSQL, its
/// source "fetched" as `script`, and a trivial spec suite.
fn workdir(script: &str, timeout: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = dir.path().join("specs");
    std::fs::create_dir_all(&specs).expect("mkdir");
    std::fs::write(
        specs.join("matrix.yaml"),
        format!(
            r#"protocols:
  postgresql:
    tier: gold
    dialect: postgres
    executor: postgres
    target: postgres://test:test@127.0.0.1:5432/helios?sslmode=require
    drivers: [fake]
drivers:
  fake:
    command: [sh, -c, "exit 1"]
    placeholder: "%s"
    conformance:
      sdist: {{url: "https://files.invalid/fake-1.0.tar.gz", sha256: "{SHA}"}}
      timeout: {timeout}
      command: [sh, suite.sh, "{{{{ junit }}}}"]
      protocols:
        postgresql:
          env:
            PGHOST: "{{{{ host }}}}"
            PGPORT: "{{{{ port }}}}"
            PGUSER: "{{{{ user }}}}"
            PGPASSWORD: "{{{{ password }}}}"
            PGDATABASE: "{{{{ database }}}}"
            PGSSLMODE: "{{{{ params.sslmode }}}}"
          setup: [CREATE TABLE made_by_setup (i int)]
"#
        ),
    )
    .expect("registry");
    std::fs::write(
        specs.join("core.yaml"),
        "cases:\n  - id: C-1\n    name: c\n    steps:\n      - query: SELECT 1 AS one\n        rows: [[1]]\n",
    )
    .expect("suite");
    let source = dir.path().join(".conformance/fake-1.0");
    std::fs::create_dir_all(&source).expect("mkdir");
    std::fs::write(source.join(".helios-sha256"), format!("{SHA}\n")).expect("stamp");
    std::fs::write(source.join("suite.sh"), script).expect("script");
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_helios-matrix"))
        .current_dir(dir)
        .args(["run", "--no-progress", "--conformance", "fake"])
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The suite run, gated on p0 and p1 and judged by `baseline.yaml`, into `out.xml`.
fn judged(dir: &Path) -> Output {
    run(
        dir,
        &[
            "--gate",
            "p0,p1",
            "--baseline",
            "baseline.yaml",
            "--junit",
            "out.xml",
        ],
    )
}

/// Asserts the run failed with one error case standing for the whole cell; its stdout.
fn one_error_for_the_cell(dir: &Path, out: &Output) -> String {
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        verdicts(&dir.join("out.xml")),
        [("postgresql/fake".to_string(), "error")]
    );
    stdout
}

/// (id, verdict) of every case of the JUnit report.
fn verdicts(path: &Path) -> Vec<(String, &'static str)> {
    let xml = std::fs::read_to_string(path).expect("JUnit written");
    let report = Report::deserialize_from_str(&xml).expect("JUnit");
    report
        .test_suites
        .iter()
        .inspect(|s| assert_eq!(s.name.as_str(), "postgresql/fake.conformance"))
        .flat_map(|s| &s.test_cases)
        .map(|c| {
            let id = c.name.as_str().split(' ').next().unwrap_or_default();
            (id.to_string(), status_kind(&c.status))
        })
        .collect()
}

/// Checks with psql that the suite runs in a fresh database holding only what `setup`
/// made, then reports one passing check per fact, a failure and a skip.
const CHECKING_SUITE: &str = r#"
tables=$(psql -XAt -c "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'")
check() { if [ "$2" = "$3" ]; then echo "<testcase classname=\"t.Checks\" name=\"$1\" time=\"0.001\"/>"; else echo "<testcase classname=\"t.Checks\" name=\"$1\"><failure message=\"got $2, want $3\"/></testcase>"; fi; }
{
  echo '<?xml version="1.0"?><testsuites><testsuite name="pytest">'
  check database "$PGDATABASE" helios_conformance
  check fresh_with_setup "$tables" made_by_setup
  check password_given "$PGPASSWORD" test
  echo '<testcase classname="t.Known" name="fails"><failure message="AssertionError: boom">trace with password=test inside</failure></testcase>'
  echo '<testcase classname="t.Known" name="skipped"><skipped message="not here"/></testcase>'
  echo '</testsuite></testsuites>'
} > "$1"
psql -XAt -c "CREATE TABLE left_behind (i int)" >/dev/null
"#;

#[test]
#[ignore = "needs the reference servers: just services"]
fn a_suite_runs_in_a_fresh_database_and_its_tests_are_the_cells_cases() {
    let dir = workdir(CHECKING_SUITE, "1m");
    std::fs::write(
        dir.path().join("baseline.yaml"),
        "server: reference\nentries:\n  - cell: postgresql/fake\n    case: t.Known.fails\n    message: \"AssertionError: boom\"\n    reason: the stand-in fails it on purpose\n",
    )
    .expect("baseline");
    // Twice: the second run must find the database fresh again, though the first left a
    // table behind.
    for _ in 0..2 {
        let out = judged(dir.path());
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        assert_eq!(
            verdicts(&dir.path().join("out.xml")),
            [
                ("t.Checks.database".to_string(), "pass"),
                ("t.Checks.fresh_with_setup".to_string(), "pass"),
                ("t.Checks.password_given".to_string(), "pass"),
                ("t.Known.fails".to_string(), "xfail"),
                ("t.Known.skipped".to_string(), "skipped"),
            ],
            "{stdout}"
        );
        assert!(
            stdout.contains("postgresql/fake: 3 passed, 1 expected failure(s), 1 skipped")
                || stdout.contains("postgresql/fake: 4 passed"),
            "{stdout}"
        );
    }
    let xml = std::fs::read_to_string(dir.path().join("out.xml")).expect("JUnit");
    assert!(
        !xml.contains("password=test"),
        "the trace is masked:\n{xml}"
    );
    assert!(xml.contains("password=****"), "{xml}");
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn an_unlisted_failure_fails_the_gate_and_a_listed_pass_is_fixed() {
    let dir = workdir(CHECKING_SUITE, "1m");
    std::fs::write(
        dir.path().join("baseline.yaml"),
        "server: reference\nentries:\n  - cell: postgresql/fake\n    case: t.Checks.database\n    message: \"got x, want y\"\n    reason: stale\n",
    )
    .expect("baseline");
    let out = judged(dir.path());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let got = verdicts(&dir.path().join("out.xml"));
    // A listed case that passes fails as fixed; the unlisted failure fails as new.
    assert!(
        got.contains(&("t.Checks.database".to_string(), "failure")),
        "{got:?}"
    );
    assert!(
        got.contains(&("t.Known.fails".to_string(), "failure")),
        "{got:?}"
    );
    let xml = std::fs::read_to_string(dir.path().join("out.xml")).expect("JUnit");
    assert!(xml.contains("type=\"xpass\""), "{xml}");
    assert!(stdout.contains("AssertionError: boom"), "{stdout}");
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn a_suite_past_its_time_limit_is_stopped_and_reported_with_its_output() {
    let dir = workdir("echo started the hanging test\nsleep 300\n", "2s");
    let started = Instant::now();
    let out = run(dir.path(), &["--gate", "p0,p1", "--junit", "out.xml"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the run ends soon after the limit: {:?}",
        started.elapsed()
    );
    let stdout = one_error_for_the_cell(dir.path(), &out);
    assert!(
        stdout.contains("the suite ran past its time limit of 2s and was stopped"),
        "{stdout}"
    );
    assert!(stdout.contains("started the hanging test"), "{stdout}");
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn a_suite_that_writes_no_report_is_one_error_naming_its_output() {
    let dir = workdir("echo cannot import the driver >&2\nexit 4\n", "1m");
    let out = run(dir.path(), &["--gate", "p0,p1", "--junit", "out.xml"]);
    let stdout = one_error_for_the_cell(dir.path(), &out);
    assert!(
        stdout.contains("the suite wrote no JUnit report that can be read (exit status: 4"),
        "{stdout}"
    );
    assert!(stdout.contains("cannot import the driver"), "{stdout}");
    assert!(
        stdout.contains(".conformance/runs/postgresql-fake.log"),
        "{stdout}"
    );
}

#[test]
fn a_suite_not_fetched_is_a_usage_error_naming_the_fetch() {
    let dir = workdir("", "1m");
    std::fs::remove_file(dir.path().join(".conformance/fake-1.0/.helios-sha256")).expect("rm");
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the conformance suite of fake is not fetched: run `helios-matrix conformance fetch fake` first"),
        "{stderr}"
    );
}

#[test]
fn a_driver_without_a_suite_is_a_usage_error_listing_those_with_one() {
    let dir = workdir("", "1m");
    let out = run(dir.path(), &["--conformance", "pg8000"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "`pg8000` declares no conformance suite in the registry (drivers with one: fake)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_malformed_declaration_is_a_located_registry_error() {
    let dir = workdir("", "1m");
    let registry = dir.path().join("specs/matrix.yaml");
    let yaml = std::fs::read_to_string(&registry).expect("read");
    std::fs::write(&registry, yaml.replace(SHA, "abc")).expect("write");
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`sha256` must be 64 hexadecimal digits"),
        "{stderr}"
    );
    assert!(stderr.contains("matrix.yaml:13:"), "{stderr}");
}
