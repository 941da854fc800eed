//! Verdicts you can trust: no pass by construction, no failure hidden behind an xfail,
//! values compared with their types. Each test here runs the binary on the embedded SQLite
//! target or against an address nothing listens on, so it needs no server.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use quick_junit::{Report, TestCase, TestCaseStatus};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    report: Report,
    _dir: tempfile::TempDir,
}

impl Ran {
    fn case(&self, id: &str) -> &TestCase {
        self.report
            .test_suites
            .iter()
            .flat_map(|s| s.test_cases.iter())
            .find(|c| c.name.as_str().starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no case {id} in the report:\n{}", self.stdout))
    }

    fn kind(&self, id: &str) -> &'static str {
        common::status_kind(&self.case(id).status)
    }

    fn message(&self, id: &str) -> String {
        match &self.case(id).status {
            TestCaseStatus::NonSuccess {
                message,
                description,
                ..
            }
            | TestCaseStatus::Skipped {
                message,
                description,
                ..
            } => format!(
                "{}\n{}",
                message.as_ref().map(|m| m.as_str()).unwrap_or_default(),
                description.as_ref().map(|m| m.as_str()).unwrap_or_default()
            ),
            TestCaseStatus::Success { .. } => String::new(),
        }
    }
}

/// A spec directory with the project's registry and one suite.
fn specs(suite: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        root().join("specs/matrix.yaml"),
        dir.path().join("matrix.yaml"),
    )
    .expect("registry");
    std::fs::write(dir.path().join("suite.yaml"), suite).expect("suite");
    dir
}

fn run(specs: Option<&Path>, args: &[&str]) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = dir.path().join("report.xml");
    let mut command = Command::new(env!("CARGO_BIN_EXE_helios-matrix"));
    command.current_dir(root()).arg("run");
    if let Some(s) = specs {
        command.args(["--specs", s.to_str().expect("utf8")]);
    }
    let out = command
        .args(args)
        .args(["--no-progress", "--junit", xml.to_str().expect("utf8")])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let xml_text = std::fs::read_to_string(&xml).unwrap_or_else(|_| {
        panic!(
            "no JUnit written:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Ran {
        code: out.status.code(),
        stdout,
        report: Report::deserialize_from_str(&xml_text).expect("JUnit parses"),
        _dir: dir,
    }
}

fn list(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_helios-matrix"))
        .current_dir(root())
        .arg("list")
        .args(args)
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines `list` prints for one protocol.
fn section<'a>(listing: &'a str, protocol: &str) -> Vec<&'a str> {
    listing
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{protocol} (")))
        .take_while(|l| l.starts_with(&format!("{protocol} (")) || l.starts_with("  "))
        .collect()
}

#[test]
fn values_compare_with_their_types() {
    let dir = specs(
        r#"
suite: typed
protocols: [sqlite]
priority: p0
cases:
  - id: T-1
    name: a string never matches an integer column
    steps:
      - query: SELECT 100 AS n
        rows: [["100"]]
  - id: T-2
    name: a number never matches a text column
    steps:
      - query: SELECT CAST(100 AS TEXT) AS s
        rows: [[100]]
  - id: T-3
    name: numbers and strings of the right types match
    steps:
      - query: SELECT 100 AS n, 'Alice' AS s, 2.5 AS f
        rows: [[100, Alice, 2.5]]
        types: [integer, text, float]
  - id: T-4
    name: compare text restores canonical-text comparison
    steps:
      - query: SELECT 100 AS n, CAST(7 AS TEXT) AS s
        rows: [["100", 7]]
        compare: text
  - id: T-5
    name: a wrong type class fails types
    steps:
      - query: SELECT 100 AS n
        types: [text]
"#,
    );
    let ran = run(Some(dir.path()), &["-p", "sqlite"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    assert_eq!(ran.kind("T-1"), "failure");
    assert!(
        ran.message("T-1")
            .contains("column `n` (INTEGER): a string (\"100\") was expected, the server sent an integer value"),
        "{}",
        ran.message("T-1")
    );
    assert_eq!(ran.kind("T-2"), "failure");
    assert!(
        ran.message("T-2")
            .contains("an integer (100) was expected, the server sent a text value"),
        "{}",
        ran.message("T-2")
    );
    assert_eq!(ran.kind("T-3"), "pass", "{}", ran.message("T-3"));
    assert_eq!(ran.kind("T-4"), "pass", "{}", ran.message("T-4"));
    assert_eq!(ran.kind("T-5"), "failure");
    assert!(
        ran.message("T-5").contains("the column types differ"),
        "{}",
        ran.message("T-5")
    );
}

#[test]
fn a_target_given_by_the_user_carries_no_emulator_labels() {
    let common = ["-p", "snowflake,databricks", "--priority", "p0,p1"];
    let default = list(&common);
    let snowflake = section(&default, "snowflake");
    assert!(
        snowflake
            .iter()
            .any(|l| l.contains("labels: fakesnow, snowflake, silver")),
        "{snowflake:?}"
    );
    assert!(
        snowflake.iter().any(|l| l.contains("[xfail:")),
        "the emulator's gaps are excused on its own target: {snowflake:?}"
    );

    let mut given = common.to_vec();
    given.extend(["--target", "snowflake=http://u:secret@127.0.0.1:1/db/sch"]);
    let listing = list(&given);
    let snowflake = section(&listing, "snowflake");
    assert!(
        snowflake[0].contains("from --target") && !snowflake[0].contains("secret"),
        "{snowflake:?}"
    );
    assert!(
        snowflake
            .iter()
            .any(|l| l.trim() == "labels: snowflake, silver"),
        "{snowflake:?}"
    );
    assert!(
        !snowflake.iter().any(|l| l.contains("[xfail:")),
        "a real server is held to every case: {snowflake:?}"
    );
    // The other protocol keeps its default target and its emulator's labels.
    let databricks = section(&listing, "databricks");
    assert!(
        databricks.iter().any(|l| l.contains("minilake")),
        "{databricks:?}"
    );

    given.extend(["--target-label", "snowflake=fakesnow"]);
    let listing = list(&given);
    assert!(
        section(&listing, "snowflake")
            .iter()
            .any(|l| l.contains("[xfail:")),
        "labels given with the target apply"
    );
}

#[test]
fn with_the_server_down_an_xfail_case_is_an_error_not_an_expected_failure() {
    let ran = run(
        None,
        &[
            "-p",
            "snowflake",
            "--case",
            "SF-00[14]",
            "--target",
            "snowflake=http://test:test@127.0.0.1:1/helios/public",
            "--target-label",
            "snowflake=fakesnow",
            "--gate",
            "p0,p1",
        ],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    // SF-004 is xfail on fakesnow; an unreachable server is not that gap.
    assert_eq!(ran.kind("SF-004"), "error", "{}", ran.stdout);
    assert!(
        ran.message("SF-004")
            .contains("an infrastructure failure is never an expected failure"),
        "{}",
        ran.message("SF-004")
    );
    assert_eq!(ran.kind("SF-001"), "error");
    assert!(
        ran.stdout.contains("ERROR snowflake   SF-004"),
        "{}",
        ran.stdout
    );
}

#[test]
fn an_xfail_that_states_its_error_holds_the_failure_to_it() {
    let dir = specs(
        r#"
suite: xfails
protocols: [sqlite]
cases:
  - id: X-1
    name: fails the way the xfail says
    xfail: {sqlite: {reason: "no such table here", error: {message: "no such table"}}}
    steps:
      - query: SELECT * FROM missing_table
        rows: []
  - id: X-2
    name: fails another way
    xfail: {sqlite: {reason: "no such table here", error: {message: "no such table"}}}
    steps:
      - query: SELECT 1
        rows: [[2]]
  - id: X-3
    name: fails at another step than the xfail says
    xfail: {sqlite: {reason: "the second step", step: 2}}
    steps:
      - query: SELECT 1
        rows: [[2]]
      - query: SELECT 1
  - id: X-4
    name: a fixture failing is never the expected failure
    fixtures: [broken]
    xfail: {sqlite: "the query is wrong"}
    steps:
      - query: SELECT 1
        rows: [[2]]
fixtures:
  broken:
    setup: [CREATE TABLE broken (]
    teardown: [DROP TABLE IF EXISTS broken]
"#,
    );
    let ran = run(Some(dir.path()), &["-p", "sqlite"]);
    assert_eq!(ran.kind("X-1"), "xfail", "{}", ran.message("X-1"));
    assert_eq!(ran.kind("X-2"), "failure");
    assert!(
        ran.message("X-2")
            .contains("it was expected to fail with message /no such table/, not a failed check"),
        "{}",
        ran.message("X-2")
    );
    assert_eq!(ran.kind("X-3"), "failure");
    assert!(
        ran.message("X-3")
            .contains("expected to fail at step 2, not step 1"),
        "{}",
        ran.message("X-3")
    );
    assert_eq!(ran.kind("X-4"), "error");
    assert!(ran.message("X-4").contains("fixture `broken` setup failed"));
}

#[test]
fn a_case_timeout_bounds_work_no_step_timeout_catches() {
    let dir = specs(
        r#"
suite: bounded
protocols: [sqlite]
priority: p0
cases:
  - id: B-1
    name: many fast steps
    steps:
      - query: SELECT {{ i }}
        repeat: {var: i, from: 0, to: 1000000}
  - id: B-2
    name: its own limit
    timeout: {case: 100ms}
    steps:
      - sleep: 5s
  - id: B-3
    name: runs after the others
    steps:
      - query: SELECT 1
        rows: [[1]]
"#,
    );
    let started = std::time::Instant::now();
    let ran = run(Some(dir.path()), &["-p", "sqlite", "--case-timeout", "1s"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the run was not bounded"
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    assert_eq!(ran.kind("B-1"), "error");
    assert!(
        ran.message("B-1")
            .contains("did not finish within its time limit of 1s"),
        "{}",
        ran.message("B-1")
    );
    assert_eq!(ran.kind("B-2"), "error");
    assert!(ran.message("B-2").contains("time limit of 100ms"));
    assert_eq!(ran.kind("B-3"), "pass");
}

#[test]
fn a_case_needing_what_the_executor_lacks_is_skipped_with_the_reason() {
    let dir = specs(
        r#"
suite: sessions
protocols: [databricks]
cases:
  - id: S-1
    name: another session sees a commit
    steps:
      - statement: CREATE TABLE s1 (id INT)
      - query: SELECT COUNT(*) FROM s1
        session: other
        rows: [[0]]
  - id: S-2
    name: a transaction
    steps:
      - begin
      - rollback
"#,
    );
    // Nothing listens there: a case that ran would error; these never start.
    let ran = run(
        Some(dir.path()),
        &[
            "-p",
            "databricks",
            "--target",
            "databricks=http://127.0.0.1:1",
        ],
    );
    assert_eq!(ran.kind("S-1"), "skipped");
    assert!(
        ran.message("S-1")
            .contains("the databricks executor has no separate sessions"),
        "{}",
        ran.message("S-1")
    );
    assert_eq!(ran.kind("S-2"), "skipped");
    assert!(ran.message("S-2").contains("no transactions"));
}

#[test]
fn decode_failures_are_errors_not_nulls() {
    // SQLite stores text that is not UTF-8 as is; reading it as text must fail loudly.
    let dir = specs(
        r#"
suite: decode
protocols: [sqlite]
cases:
  - id: D-1
    name: invalid UTF-8 text
    steps:
      - query: SELECT CAST(x'ff00fe' AS TEXT) AS t
        rows: [[null]]
"#,
    );
    let ran = run(Some(dir.path()), &["-p", "sqlite"]);
    assert_eq!(ran.kind("D-1"), "failure");
    assert!(
        ran.message("D-1")
            .contains("cannot decode column 1 `t` of type TEXT"),
        "{}",
        ran.message("D-1")
    );
    assert!(
        ran.message("D-1").contains("bytes \\xff00fe"),
        "{}",
        ran.message("D-1")
    );
}
