//! A run always ends: real servers behind a fault proxy (tests/common/fault.rs) that
//! stalls, cuts and serializes their connections, through every kind of executor
//! (PostgreSQL, MySQL, an HTTP one, DRDA, a driver host). Each test checks that the run
//! ends within its deadlines, that the affected cases are errors (not failures, not
//! xfails), that later cases run on fresh connections, and that the JUnit file is whole.
//!
//! `cargo test --test faults -- --ignored` with the reference servers up (`just services`,
//! `just drivers` for the driver host).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::fault::{FaultProxy, Faults, PG_CANCEL_REQUEST};
use common::{arg, root, status_kind, text};
use quick_junit::Report;

const PG: &str = "127.0.0.1:5432";
const MARIADB: &str = "127.0.0.1:3306";
const DERBY: &str = "127.0.0.1:1527";
/// fakesnow's own plain-HTTP port (the gateway in front of it speaks TLS).
const FAKESNOW: &str = "127.0.0.1:8446";

/// Plain (no TLS) targets for the reference servers behind a proxy at `{addr}`: the proxy
/// looks for its markers in what the client sends.
const PG_URL: &str = "postgres://test:test@{addr}/helios?sslmode=disable";
const MARIADB_URL: &str = "mysql://test:test@{addr}/helios?ssl-mode=disabled";

/// `PROTOCOL=URL` for `--target`, `url` with the proxy's address for `{addr}`.
fn through(proxy: &FaultProxy, protocol: &str, url: &str) -> String {
    format!(
        "{protocol}={}",
        url.replace("{addr}", &proxy.addr.to_string())
    )
}

/// What the proxy watches for: the server "never answers" a statement that says this.
const STALL: &str = "stall here";

struct Ran {
    out: Output,
    report: Report,
    took: Duration,
    _dir: tempfile::TempDir,
}

impl Ran {
    /// Each case's id and verdict, in report order.
    fn verdicts(&self) -> Vec<(String, &'static str)> {
        self.report
            .test_suites
            .iter()
            .flat_map(|s| s.test_cases.iter())
            .map(|c| {
                let id = c.name.as_str().split(' ').next().unwrap_or_default();
                (id.to_string(), status_kind(&c.status))
            })
            .collect()
    }

    fn stdout(&self) -> String {
        text(&self.out.stdout)
    }

    fn explain(&self) -> String {
        format!(
            "took {:?}\n{}\n{}",
            self.took,
            self.stdout(),
            text(&self.out.stderr)
        )
    }
}

/// `run` with the project's registry and `suite`, against `target`, with `args`.
fn run(suite: &str, target: &str, args: &[&str]) -> Ran {
    let specs = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        root().join("specs/matrix.yaml"),
        specs.path().join("matrix.yaml"),
    )
    .expect("registry");
    std::fs::write(specs.path().join("faults.yaml"), suite).expect("suite");
    run_specs(specs.path(), target, args)
}

/// `run` on the specs in `specs`, against `target`, with `args`, timed, its JUnit read.
fn run_specs(specs: &Path, target: &str, args: &[&str]) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = dir.path().join("report.xml");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_helios-matrix"))
        .current_dir(root())
        .args(["run", "--specs", arg(specs), "--target", target])
        .args(args)
        .args(["--no-progress", "--junit", arg(&xml)])
        .output()
        .expect("the binary runs");
    let took = started.elapsed();
    let xml_text = std::fs::read_to_string(&xml)
        .unwrap_or_else(|_| panic!("no JUnit written: {}", text(&out.stderr)));
    let report = Report::deserialize_from_str(&xml_text).expect("the JUnit file is whole");
    Ran {
        out,
        report,
        took,
        _dir: dir,
    }
}

/// Two cases: the first sends a statement the proxy stalls, the second must pass on a
/// fresh connection.
fn stall_suite(protocol: &str) -> String {
    format!(
        r#"
suite: faults
priority: p0
protocols: [{protocol}]
cases:
  - id: FAULT-1
    name: The server never answers
    steps:
      - query: SELECT '{STALL}' AS s
        rows: [["{STALL}"]]
        on:
          db2: {{query: "SELECT '{STALL}' AS s FROM SYSIBM.SYSDUMMY1"}}
  - id: FAULT-2
    name: The next case runs on a fresh connection
    steps:
      - query: SELECT 1 AS n
        rows: [[1]]
        on:
          db2: {{query: "SELECT 1 AS n FROM SYSIBM.SYSDUMMY1"}}
"#
    )
}

const LIMITS: [&str; 8] = [
    "--step-timeout",
    "2s",
    "--case-timeout",
    "4s",
    "--cancel-grace",
    "1s",
    "--jobs",
    "1",
];

/// The stalled case is an error that names the timeout, the next one passes, and the run
/// ended within the stalled case's step timeout and cancel grace plus `slack`.
fn assert_stall_contained(ran: &Ran, slack: Duration) {
    assert_eq!(
        ran.verdicts(),
        vec![
            ("FAULT-1".to_string(), "error"),
            ("FAULT-2".to_string(), "pass")
        ],
        "{}",
        ran.explain()
    );
    assert!(
        ran.stdout().contains("step timed out after 2s"),
        "{}",
        ran.explain()
    );
    assert!(
        ran.took < Duration::from_secs(3) + slack,
        "the run took too long: {}",
        ran.explain()
    );
    assert_eq!(ran.out.status.code(), Some(1), "{}", ran.explain());
}

/// Runs the stall suite on `protocol` through a proxy in front of `upstream` that stalls
/// on `stall_on`, with `args`; `url` is the target with `{addr}` for the proxy's address.
fn stall_run(upstream: &str, stall_on: &[&[u8]], protocol: &str, url: &str, args: &[&str]) -> Ran {
    let proxy = FaultProxy::start(
        upstream,
        Faults {
            stall_on: stall_on.iter().map(|m| m.to_vec()).collect(),
            ..Faults::default()
        },
    );
    run(
        &stall_suite(protocol),
        &through(&proxy, protocol, url),
        args,
    )
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn postgresql_a_stalled_statement_and_an_ignored_cancel_end_within_the_deadlines() {
    let ran = stall_run(
        PG,
        &[STALL.as_bytes(), PG_CANCEL_REQUEST],
        "postgresql",
        PG_URL,
        &LIMITS,
    );
    assert_stall_contained(&ran, Duration::from_secs(4));
    // The cancel was sent (and swallowed): the executor really tried.
    assert!(
        ran.stdout()
            .contains("the cancel got no answer within 1s (--cancel-grace)"),
        "{}",
        ran.explain()
    );
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn mysql_a_stalled_statement_and_an_ignored_cancel_end_within_the_deadlines() {
    let ran = stall_run(
        MARIADB,
        &[STALL.as_bytes(), b"KILL QUERY"],
        "mysql",
        MARIADB_URL,
        &LIMITS,
    );
    assert_stall_contained(&ran, Duration::from_secs(4));
}

#[test]
#[ignore = "needs the reference servers and emulators: just services"]
fn an_http_executor_a_stalled_request_ends_within_the_deadlines() {
    let ran = stall_run(
        FAKESNOW,
        &[STALL.as_bytes()],
        "snowflake",
        "http://test:test@{addr}/helios/public?account=local&warehouse=default",
        &LIMITS,
    );
    assert_stall_contained(&ran, Duration::from_secs(4));
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn drda_a_stalled_statement_ends_within_the_deadlines() {
    let ran = stall_run(
        DERBY,
        &[STALL.as_bytes()],
        "db2",
        "drda://test:test@{addr}/helios?create=true",
        &LIMITS,
    );
    assert_stall_contained(&ran, Duration::from_secs(4));
}

#[test]
#[ignore = "needs the reference servers and the drivers: just services drivers"]
fn a_driver_host_a_stalled_statement_and_an_ignored_cancel_end_within_the_deadlines() {
    let ran = stall_run(
        PG,
        &[STALL.as_bytes(), PG_CANCEL_REQUEST],
        "postgresql",
        PG_URL,
        &[&LIMITS[..], &["--driver", "psycopg2"]].concat(),
    );
    // The host starts an interpreter and imports its driver: a second more of slack.
    assert_stall_contained(&ran, Duration::from_secs(6));
}

/// A connection dropped mid-result and one cut mid-COPY are errors of their cases; the
/// case after each runs on a fresh connection.
fn cut_suite(protocol: &str) -> String {
    format!(
        r#"
suite: faults
priority: p0
protocols: [{protocol}]
fixtures:
  copied:
    setup: ["CREATE TABLE fault_copy (id INTEGER, name VARCHAR(40))"]
    teardown: [DROP TABLE fault_copy]
cases:
  - id: CUT-1
    name: The connection drops mid-result
    steps:
      - query: SELECT REPEAT('x', 2000000) AS big
        row_count: 1
  - id: CUT-2
    name: A fresh connection after a dropped one
    steps:
      - query: SELECT 2 AS n
        rows: [[2]]
  - id: CUT-3
    name: The connection drops mid-COPY
    fixtures: [copied]
    steps:
      - copy:
          table: fault_copy
          columns: [id, name]
          rows:
            repeat: {{var: i, from: 0, to: 20000}}
            row: ["{{{{ i }}}}", "cut-marker-{{{{ i }}}}"]
  - id: CUT-4
    name: A fresh connection after a cut COPY, and the fixture was torn down
    fixtures: [copied]
    steps:
      - query: SELECT COUNT(*) AS n FROM fault_copy
        rows: [[0]]
"#
    )
}

fn cut_run(upstream: &str, protocol: &str, url: &str) -> Ran {
    let proxy = FaultProxy::start(
        upstream,
        Faults {
            cut_on: vec![
                (b"REPEAT('x'".to_vec(), 4096),
                (b"cut-marker-1000".to_vec(), 0),
            ],
            ..Faults::default()
        },
    );
    let ran = run(
        &cut_suite(protocol),
        &through(&proxy, protocol, url),
        &LIMITS,
    );
    assert_eq!(
        proxy.seen.cuts.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "both cuts happened: {}",
        ran.explain()
    );
    ran
}

fn assert_cuts_contained(ran: &Ran) {
    assert_eq!(
        ran.verdicts(),
        vec![
            ("CUT-1".to_string(), "error"),
            ("CUT-2".to_string(), "pass"),
            ("CUT-3".to_string(), "error"),
            ("CUT-4".to_string(), "pass"),
        ],
        "{}",
        ran.explain()
    );
    assert!(ran.took < Duration::from_secs(20), "{}", ran.explain());
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn postgresql_connections_cut_mid_result_and_mid_copy_are_errors_of_their_cases() {
    let ran = cut_run(PG, "postgresql", PG_URL);
    assert_cuts_contained(&ran);
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn mysql_connections_cut_mid_result_and_mid_copy_are_errors_of_their_cases() {
    let ran = cut_run(MARIADB, "mysql", MARIADB_URL);
    assert_cuts_contained(&ran);
}

/// The whole PostgreSQL suite against a stand-in that serves one connection at a time
/// and never answers a cancel: every case is reported, within N × (case timeout + cancel
/// grace) and a constant.
fn whole_suite_one_at_a_time(
    protocol: &str,
    upstream: &str,
    url: &str,
    case: &str,
    extra: &[&str],
) -> Ran {
    let proxy = FaultProxy::start(
        upstream,
        Faults {
            one_at_a_time: true,
            stall_on: vec![PG_CANCEL_REQUEST.into(), b"KILL QUERY".to_vec()],
            ..Faults::default()
        },
    );
    let target = through(&proxy, protocol, url);
    let mut args = vec![
        "-p",
        protocol,
        "--priority",
        "p0,p1,p2",
        "--case",
        case,
        "--case-timeout",
        "1s",
        "--cancel-grace",
        "500ms",
    ];
    args.extend_from_slice(extra);
    run_specs(&root().join("specs"), &target, &args)
}

fn assert_whole_suite_ended(ran: &Ran, protocol: &str, case: &str) {
    let listed = Command::new(env!("CARGO_BIN_EXE_helios-matrix"))
        .current_dir(root())
        .args([
            "list",
            "-p",
            protocol,
            "--priority",
            "p0,p1,p2",
            "--case",
            case,
        ])
        .output()
        .expect("list");
    // `list` ends with "N case(s) in 1 cell(s)".
    let selected: usize = text(&listed.stdout)
        .lines()
        .last()
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("list counts the cases");
    let verdicts = ran.verdicts();
    assert_eq!(
        verdicts.len(),
        selected,
        "every case is reported: {}",
        ran.explain()
    );
    let bound = Duration::from_millis(1500) * u32::try_from(verdicts.len()).unwrap_or(u32::MAX)
        + Duration::from_secs(30);
    assert!(ran.took < bound, "over {bound:?}: {}", ran.explain());
    // Whatever did not pass could not run to a verdict here: errors, never failed checks
    // blamed on the server's answers. The stand-in speaks plain TCP, so the cases that
    // check the session is encrypted fail, as they should.
    let tls_checks = ["PG-001", "PG-006", "MY-001", "MY-004"];
    let failed: Vec<_> = verdicts
        .iter()
        .filter(|(id, v)| *v == "failure" && !tls_checks.contains(&id.as_str()))
        .collect();
    assert!(failed.is_empty(), "{failed:?}: {}", ran.explain());
    // And some cases did reach the server and a verdict: the run went on after each stall.
    assert!(
        verdicts
            .iter()
            .any(|(_, v)| *v == "pass" || *v == "failure"),
        "{}",
        ran.explain()
    );
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn the_postgresql_suite_ends_against_a_server_of_one_connection_that_ignores_cancel() {
    let ran = whole_suite_one_at_a_time("postgresql", PG, PG_URL, ".", &["--jobs", "4"]);
    assert_whole_suite_ended(&ran, "postgresql", ".");
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn the_mysql_suite_ends_against_a_server_of_one_connection_that_ignores_cancel() {
    let ran = whole_suite_one_at_a_time("mysql", MARIADB, MARIADB_URL, ".", &["--jobs", "4"]);
    assert_whole_suite_ended(&ran, "mysql", ".");
}

/// The seed's PostgreSQL cases and the core cases that open several sessions, cancel or
/// copy: what a one-connection server makes hang.
const DRIVER_CASES: &str = "^(PG-0|CORE-(SES|CAN|REP))";

#[test]
#[ignore = "needs the reference servers and the drivers: just services drivers"]
fn a_driver_cell_ends_against_a_server_of_one_connection_that_ignores_cancel() {
    let ran = whole_suite_one_at_a_time(
        "postgresql",
        PG,
        PG_URL,
        DRIVER_CASES,
        &["--jobs", "1", "--driver", "psycopg2"],
    );
    assert_whole_suite_ended(&ran, "postgresql", DRIVER_CASES);
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn the_run_timeout_reports_cases_not_started_as_not_run() {
    let ran = stall_run(
        PG,
        &[STALL.as_bytes(), PG_CANCEL_REQUEST],
        "postgresql",
        PG_URL,
        &[
            "--step-timeout",
            "30s",
            "--run-timeout",
            "2s",
            "--cancel-grace",
            "1s",
            "--jobs",
            "1",
        ],
    );
    assert_eq!(
        ran.verdicts(),
        vec![
            ("FAULT-1".to_string(), "error"),
            ("FAULT-2".to_string(), "error")
        ],
        "{}",
        ran.explain()
    );
    let out = ran.stdout();
    assert!(out.contains("the run's time limit"), "{}", ran.explain());
    assert!(
        out.contains(
            "not run: the run's time limit of 2s (--run-timeout) ran out before this case started"
        ),
        "{}",
        ran.explain()
    );
    assert!(ran.took < Duration::from_secs(8), "{}", ran.explain());
}
