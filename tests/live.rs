//! Tests against the real reference servers (`just services`): PostgreSQL and MariaDB on
//! 127.0.0.1. Ignored by a plain `cargo test`; `just ci` starts the servers and runs them
//! with `cargo test --test live -- --ignored`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

const POSTGRES: &str = "postgres://test:test@127.0.0.1:5432/helios?sslmode=require";
const MYSQL: &str = "mysql://test:test@127.0.0.1:3306/helios?ssl-mode=required";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Ran {
    out: Output,
    report: Report,
    _dir: tempfile::TempDir,
}

impl Ran {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn failed(&self) -> Vec<String> {
        self.cases(|s| {
            matches!(
                s,
                TestCaseStatus::NonSuccess {
                    kind: NonSuccessKind::Failure,
                    ..
                }
            )
        })
    }

    fn passed(&self) -> Vec<String> {
        self.cases(|s| matches!(s, TestCaseStatus::Success { .. }))
    }

    fn cases(&self, which: impl Fn(&TestCaseStatus) -> bool) -> Vec<String> {
        self.report
            .test_suites
            .iter()
            .flat_map(|s| s.test_cases.iter())
            .filter(|c| which(&c.status))
            .map(|c| {
                format!(
                    "{} {}",
                    c.classname.as_ref().map(|n| n.as_str()).unwrap_or_default(),
                    c.name.as_str()
                )
            })
            .collect()
    }
}

fn run(args: &[&str]) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = dir.path().join("report.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_helios-matrix"))
        .current_dir(root())
        .arg("run")
        .args(args)
        .args(["--no-progress", "--junit", xml.to_str().expect("utf8")])
        .output()
        .expect("the binary runs");
    let xml_text = std::fs::read_to_string(&xml)
        .unwrap_or_else(|_| panic!("no JUnit written: {}", String::from_utf8_lossy(&out.stderr)));
    let report = Report::deserialize_from_str(&xml_text).expect("JUnit parses");
    Ran {
        out,
        report,
        _dir: dir,
    }
}

/// A spec directory holding the project's registry and the given suite files.
fn spec_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        root().join("specs/matrix.yaml"),
        dir.path().join("matrix.yaml"),
    )
    .expect("registry");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf8")
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn every_core_and_gold_case_passes_on_both_servers() {
    let ran = run(&["-p", "postgresql,mysql"]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout());
    let passed = ran.passed();
    for id in [
        "PG-001", "PG-002", "PG-003", "PG-004", "PG-005", "PG-006", "PG-007", "PG-008",
    ] {
        assert!(passed.iter().any(|c| c.contains(id)), "{id} not passed");
    }
    for id in ["MY-001", "MY-002", "MY-003", "MY-004", "MY-005", "MY-006"] {
        assert!(passed.iter().any(|c| c.contains(id)), "{id} not passed");
    }
    // The cancel case really cancelled on both (it would run for 30 s otherwise).
    assert!(passed.iter().filter(|c| c.contains("CORE-CAN-001")).count() == 2);
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn the_tls_checks_fail_without_tls() {
    let ran = run(&[
        "-p",
        "postgresql,mysql",
        "--case",
        "PG-001|MY-001",
        "--target",
        "postgresql=postgres://test:test@127.0.0.1:5432/helios?sslmode=disable",
        "--target",
        "mysql=mysql://test:test@127.0.0.1:3306/helios?ssl-mode=disabled",
    ]);
    assert_eq!(ran.failed().len(), 2, "{}", ran.stdout());
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn changing_one_expected_value_fails_exactly_that_case() {
    let original =
        std::fs::read_to_string(root().join("specs/gold/postgresql.yaml")).expect("spec");
    assert!(
        original.contains("rows: [[Alice, 100]]"),
        "PG-002's expectation moved"
    );
    let edited = original.replacen("rows: [[Alice, 100]]", "rows: [[Alice, 101]]", 1);
    let dir = spec_dir(&[("postgresql.yaml", &edited)]);
    let ran = run(&[
        "--specs",
        arg(dir.path()),
        "-p",
        "postgresql",
        "--priority",
        "p0",
    ]);
    assert_eq!(ran.out.status.code(), Some(1));
    let failed = ran.failed();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("PG-002"), "{failed:?}");
    assert!(ran.stdout().contains("+Alice | 100"), "{}", ran.stdout());
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn a_failing_case_still_tears_down_on_real_servers() {
    let specs = root().join("tests/fixtures/failing");
    let ran = run(&[
        "--specs",
        arg(&specs),
        "-p",
        "postgresql,mysql",
        "--target",
        &format!("postgresql={POSTGRES}"),
        "--target",
        &format!("mysql={MYSQL}"),
    ]);
    let passed = ran.passed();
    assert_eq!(
        passed.iter().filter(|c| c.contains("WRONG-005")).count(),
        2,
        "{}",
        ran.stdout()
    );
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn a_step_over_the_timeout_is_cancelled_and_the_next_case_runs() {
    let dir = spec_dir(&[(
        "slow.yaml",
        r#"
suite: slow
protocols: [postgresql, mysql]
cases:
  - id: SLOW-1
    name: Longer than the step timeout
    steps:
      - query: SELECT pg_sleep(20)
        on:
          mysql: {query: "SELECT SLEEP(20), 1"}
  - id: SLOW-2
    name: The server is no longer running the first query
    steps:
      - sleep: 300ms
      - query: SELECT COUNT(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)' AND state = 'active'
        rows: [[0]]
        on:
          mysql: {query: "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(20), 1'"}
"#,
    )]);
    let started = std::time::Instant::now();
    let ran = run(&[
        "--specs",
        arg(dir.path()),
        "-p",
        "postgresql,mysql",
        "--step-timeout",
        "1s",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the timeout did not stop the step"
    );
    let failed = ran.failed();
    assert_eq!(failed.len(), 2, "{}", ran.stdout());
    assert!(failed.iter().all(|c| c.contains("SLOW-1")), "{failed:?}");
    assert!(
        ran.stdout().contains("step timed out after 1s"),
        "{}",
        ran.stdout()
    );
}

/// A TCP proxy in front of a real server, which the test can cut: the closest a test can
/// come to killing the server mid-run without stopping it for the other tests.
struct Proxy {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: &'static str) -> Proxy {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx.send(listener.local_addr().expect("addr")).expect("send");
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((mut client, _)) = accepted else { continue };
                            connections.spawn(async move {
                                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                                }
                            });
                        }
                    }
                }
                // Dropping the listener and aborting every connection: the server is gone.
                connections.abort_all();
            });
        });
        Proxy {
            addr: addr_rx.recv().expect("proxy address"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
#[ignore = "needs the reference servers: just services"]
fn a_server_dying_mid_run_fails_the_rest_and_the_junit_file_is_whole() {
    let mut cases = String::from("suite: dying\nprotocols: [postgresql]\ncases:\n");
    for i in 0..12 {
        cases.push_str(&format!(
            "  - id: DIE-{i:02}\n    name: case {i}\n    steps:\n      - query: SELECT pg_sleep(0.25)\n      - query: SELECT {i} AS n\n        rows: [[{i}]]\n"
        ));
    }
    let dir = spec_dir(&[("dying.yaml", &cases)]);
    let mut proxy = Proxy::start("127.0.0.1:5432");
    let target = format!(
        "postgresql=postgres://test:test@{}/helios?sslmode=require",
        proxy.addr
    );
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        proxy.kill();
    });
    let ran = run(&[
        "--specs",
        arg(dir.path()),
        "-p",
        "postgresql",
        "--target",
        &target,
        "--step-timeout",
        "5s",
        "--gate",
        "p1",
    ]);
    killer.join().expect("killer");
    assert_eq!(ran.out.status.code(), Some(1));
    let (passed, failed) = (ran.passed(), ran.failed());
    assert_eq!(
        passed.len() + failed.len(),
        12,
        "every case is in the report"
    );
    assert!(
        !passed.is_empty() && !failed.is_empty(),
        "passed {passed:?} failed {failed:?}"
    );
    // Everything after the first failure failed too: the server stayed gone.
    let first_failure = ran.report.test_suites[0]
        .test_cases
        .iter()
        .position(|c| !matches!(c.status, TestCaseStatus::Success { .. }))
        .expect("a failure");
    assert!(
        ran.report.test_suites[0].test_cases[first_failure..]
            .iter()
            .all(|c| !matches!(c.status, TestCaseStatus::Success { .. }))
    );
    assert!(
        ran.stdout()
            .contains("cannot connect to postgresql at 127.0.0.1:"),
        "{}",
        ran.stdout()
    );
}

#[test]
#[ignore = "needs the reference servers and emulators: just services"]
fn the_silver_seed_cases_pass_or_fail_as_their_named_emulator_gap() {
    let ran = run(&["-p", "snowflake,databricks,pinecone", "--gate", "p0,p1"]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stdout());
    let cases: Vec<_> = ran
        .report
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter())
        .collect();
    for id in [
        "SF-001", "SF-002", "SF-003", "SF-004", "DB-001", "DB-002", "DB-003", "PC-001", "PC-002",
        "PC-003",
    ] {
        let case = cases
            .iter()
            .find(|c| c.name.as_str().starts_with(id))
            .unwrap_or_else(|| panic!("{id} missing"));
        match &case.status {
            TestCaseStatus::Success { .. } => {}
            // An expected failure must be keyed on the emulator whose gap it is, so a real
            // server behind the same protocol is held to the case.
            TestCaseStatus::Skipped { ty, .. }
                if ty.as_ref().map(|t| t.as_str()) == Some("xfail") =>
            {
                let property = |name: &str| {
                    case.properties
                        .iter()
                        .find(|p| p.name.as_str() == name)
                        .map(|p| p.value.as_str().to_string())
                        .unwrap_or_default()
                };
                assert!(
                    !property("xfail").is_empty(),
                    "{id} is xfail without a reason"
                );
                let on = property("xfail_on");
                assert!(
                    ["fakesnow", "minilake", "needledb"].contains(&on.as_str()),
                    "{id} is xfail on `{on}`, not on the emulator whose gap it is"
                );
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    // The portable core suite runs on both SQL emulators too.
    assert!(
        ran.passed()
            .iter()
            .filter(|c| c.contains("CORE-TYP-001"))
            .count()
            == 2
    );
}

#[test]
#[ignore = "needs the reference servers and emulators: just services"]
fn http_executors_report_server_errors_with_their_codes() {
    let dir = spec_dir(&[(
        "errors.yaml",
        r#"
suite: http_errors
protocols: [snowflake, pinecone]
cases:
  - id: HTTP-1
    name: A Snowflake syntax error carries code and SQLSTATE
    only: [snowflake]
    steps:
      - statement: SELCT 1
        error: {code: "001003", sqlstate: "42000"}
  - id: HTTP-2
    name: Describing a missing index is a server error
    only: [pinecone]
    steps:
      - describe_index: {name: helios-matrix-no-such-index}
        expect: {dimension: 4}
"#,
    )]);
    let ran = run(&[
        "--specs",
        arg(dir.path()),
        "-p",
        "snowflake,pinecone",
        "--gate",
        "p0,p1",
    ]);
    let stdout = ran.stdout();
    assert!(
        ran.passed().iter().any(|c| c.contains("HTTP-1")),
        "{stdout}"
    );
    // The missing index fails with the server's own error, not a decoding problem.
    assert!(
        ran.failed().iter().any(|c| c.contains("HTTP-2")),
        "{stdout}"
    );
    assert!(
        stdout.contains("describe_index failed: server error: [code"),
        "{stdout}"
    );
}
