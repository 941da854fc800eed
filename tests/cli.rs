//! End-to-end tests of the binary: exit codes, diagnostics, reports and generated files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_helios-matrix"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("HELIOS_MATRIX_TARGET_SQLITE");
    cmd
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn junit(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).expect("junit written");
    Report::deserialize_from_str(&xml).expect("junit parses")
}

/// (case name, status) for every test case in a report.
fn statuses(report: &Report) -> Vec<(String, TestCaseStatus)> {
    report
        .test_suites
        .iter()
        .flat_map(|s| {
            s.test_cases
                .iter()
                .map(|c| (c.name.as_str().to_string(), c.status.clone()))
        })
        .collect()
}

fn is_failure(status: &TestCaseStatus) -> bool {
    matches!(
        status,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            ..
        }
    )
}

/// A JUnit `<error>`: the case could not run (no target, no connection, a fixture failing).
fn is_error(status: &TestCaseStatus) -> bool {
    matches!(
        status,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            ..
        }
    )
}

/// The outcome of a `run` with a JUnit report in a scratch directory.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    xml: PathBuf,
    _dir: tempfile::TempDir,
}

impl Ran {
    fn report(&self) -> Report {
        junit(&self.xml)
    }

    fn statuses(&self) -> Vec<(String, TestCaseStatus)> {
        statuses(&self.report())
    }
}

/// `helios-matrix run ARGS --no-progress --junit <scratch>/report.xml`
fn run_with_junit(args: &[&str]) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = dir.path().join("report.xml");
    let mut full: Vec<&str> = vec!["run"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--no-progress", "--junit", xml.to_str().expect("utf8")]);
    let out = run(&full);
    Ran {
        code: out.status.code(),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
        xml,
        _dir: dir,
    }
}

/// `helios-matrix compile DIR -o DIR/out`
fn compile_dir(dir: &Path) -> Output {
    run(&[
        "compile",
        dir.to_str().expect("utf8"),
        "-o",
        dir.join("out").to_str().expect("utf8"),
    ])
}

/// The path of a fixture spec directory, as an argument.
fn fixture_arg(name: &str) -> String {
    fixture(name).to_str().expect("utf8").to_string()
}

#[test]
fn the_core_suite_passes_on_sqlite_with_a_complete_junit_report() {
    let ran = run_with_junit(&["--protocol", "sqlite"]);
    let stdout = &ran.stdout;
    assert_eq!(
        ran.code,
        Some(0),
        "{stdout}
{}",
        ran.stderr
    );
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.ends_with("0 failed, 0 skipped")),
        "{stdout}"
    );
    let report = ran.report();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ran.xml)
            .expect("report")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o644,
            "the report is readable by CI uploaders"
        );
    }
    let cases = statuses(&report);
    let passed = cases
        .iter()
        .filter(|(_, s)| matches!(s, TestCaseStatus::Success { .. }))
        .count();
    assert!(passed >= 40, "only {passed} passed");
    assert_eq!(passed, cases.len());
    // classname and properties as the report contract says
    let suite = &report.test_suites[0];
    assert!(suite.name.as_str().starts_with("sqlite."));
    let case = &suite.test_cases[0];
    assert_eq!(
        case.classname.as_ref().map(|c| c.as_str()),
        Some(suite.name.as_str())
    );
    let props: Vec<&str> = case.properties.iter().map(|p| p.name.as_str()).collect();
    for wanted in ["priority", "tier", "source"] {
        assert!(props.contains(&wanted), "{props:?}");
    }
}

#[test]
fn wrong_expectations_fail_with_exit_1_and_failure_elements() {
    let ran = run_with_junit(&["--specs", &fixture_arg("failing"), "--protocol", "sqlite"]);
    let stdout = &ran.stdout;
    assert_eq!(ran.code, Some(1), "{stdout}");
    let cases = ran.statuses();
    let failed: Vec<&str> = cases
        .iter()
        .filter(|(_, s)| is_failure(s))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        failed,
        vec![
            "WRONG-002 Wrong expected value",
            "WRONG-003 Expected an error that does not happen",
            "WRONG-004 A teardown still runs after a failure"
        ]
    );
    // The failure shows where, what SQL, and a diff.
    assert!(stdout.contains("failing/wrong.yaml:12"), "{stdout}");
    assert!(
        stdout.contains("sql: SELECT 'Alice' AS name, 100 AS value"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-Alice | 200") && stdout.contains("+Alice | 100"),
        "{stdout}"
    );
    assert!(stdout.contains("2 passed, 3 failed, 0 skipped"), "{stdout}");
    let xml_text = std::fs::read_to_string(&ran.xml).expect("xml");
    assert!(
        xml_text.contains("+Alice | 100"),
        "the JUnit failure carries the diff"
    );
}

#[test]
fn a_failing_case_still_tears_its_fixtures_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = format!("sqlite=sqlite:{}", dir.path().join("shared.db").display());
    let ran = run_with_junit(&[
        "--specs",
        &fixture_arg("failing"),
        "-p",
        "sqlite",
        "--target",
        &target,
    ]);
    let stdout = &ran.stdout;
    assert!(stdout.contains("PASS  sqlite      WRONG-005"), "{stdout}");
}

#[test]
fn an_xfail_that_passes_is_a_failure() {
    let ran = run_with_junit(&[
        "--specs",
        &fixture_arg("xpass"),
        "-p",
        "sqlite",
        "--gate",
        "p0,p1,p2",
    ]);
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    let cases = ran.statuses();
    let by_id = |id: &str| {
        cases
            .iter()
            .find(|(n, _)| n.starts_with(id))
            .map(|(_, s)| s.clone())
            .expect("case present")
    };
    assert!(
        matches!(by_id("XP-001"), TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, ref ty, .. } if ty.as_ref().map(|t| t.as_str()) == Some("xpass"))
    );
    assert!(
        matches!(by_id("XP-002"), TestCaseStatus::Skipped { ref ty, .. } if ty.as_ref().map(|t| t.as_str()) == Some("xfail"))
    );
    assert!(
        matches!(by_id("XP-003"), TestCaseStatus::Skipped { ref message, .. } if message.as_ref().map(|m| m.as_str()) == Some("not on the reference"))
    );
    let stdout = &ran.stdout;
    assert!(
        stdout.contains("XPASS") && stdout.contains("remove the xfail entry"),
        "{stdout}"
    );
}

/// Every file in tests/fixtures/malformed declares the message it must produce on its first
/// line; each must exit 2 with that message located at file:line:column, and never panic.
#[test]
fn malformed_specs_exit_2_with_located_diagnostics() {
    let corpus = fixture("malformed");
    let mut checked = 0;
    for entry in std::fs::read_dir(&corpus).expect("corpus") {
        let path = entry.expect("entry").path();
        let source = std::fs::read_to_string(&path).expect("read");
        let expect = source
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .expect("# expect: line")
            .to_string();
        let dir = tempfile::tempdir().expect("tempdir");
        let name = path.file_name().expect("name").to_str().expect("utf8");
        std::fs::copy(&path, dir.path().join(name)).expect("copy");
        let out = compile_dir(dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&expect),
            "{name}: expected `{expect}` in\n{stderr}"
        );
        let located =
            regex::Regex::new(&format!(r"{}:\d+:\d+: ", regex::escape(name))).expect("regex");
        assert!(
            located.is_match(&stderr),
            "{name}: no file:line:column in\n{stderr}"
        );
        assert!(stderr.contains('│'), "{name}: no snippet in\n{stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            !dir.path().join("out").exists(),
            "{name}: nothing is written on errors"
        );
        checked += 1;
    }
    assert!(checked >= 20, "the corpus shrank to {checked}");
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "unknown_case_key.yaml",
        "bad_priority.yaml",
        "two_kinds.yaml",
    ] {
        std::fs::copy(fixture("malformed").join(name), dir.path().join(name)).expect("copy");
    }
    let out = compile_dir(dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    for fragment in [
        "unknown key `nmae`",
        "unknown priority `p5`",
        "both `statement` and `query`",
        "problem(s) in the specs",
    ] {
        assert!(
            stderr.contains(fragment),
            "missing `{fragment}` in\n{stderr}"
        );
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Deterministic pseudo-random garbage, invalid UTF-8 and YAML-ish noise.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces: [&[u8]; 10] = [
        b"cases:",
        b"\n  - ",
        b"{",
        b"[",
        b"id: ",
        b"&a ",
        b"*a",
        b"\xff\xfe",
        b"steps: ",
        b": ",
    ];
    for round in 0..12 {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::new();
        for _ in 0..(20 + round * 5) {
            let n = next();
            if n % 3 == 0 {
                bytes.push((n >> 8) as u8);
            } else {
                bytes.extend_from_slice(pieces[(n % 10) as usize]);
            }
        }
        std::fs::write(dir.path().join("noise.yaml"), &bytes).expect("write");
        let out = compile_dir(dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "round {round}: {stderr}");
        assert!(!stderr.contains("panicked"), "round {round}: {stderr}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("latin1.yaml"), b"cases:\n  - id: caf\xe9\n").expect("write");
    let out = compile_dir(dir.path());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("latin1.yaml:2:12: the file is not valid UTF-8"),
        "{stderr}"
    );
}

#[test]
fn compile_is_deterministic_and_check_names_stale_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for out in [&a, &b] {
        let res = run(&["compile", "specs", "-o", out.to_str().expect("utf8")]);
        assert_eq!(res.status.code(), Some(0), "{}", text(&res.stderr));
    }
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&a)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    assert!(files.len() > 10);
    for file in &files {
        let twin = b.join(file.strip_prefix(&a).expect("prefix"));
        assert_eq!(
            std::fs::read(file).expect("a"),
            std::fs::read(&twin).expect("b"),
            "{} differs",
            file.display()
        );
    }
    let check = |out: &Path| {
        run(&[
            "compile",
            "specs",
            "-o",
            out.to_str().expect("utf8"),
            "--check",
        ])
    };
    assert_eq!(check(&a).status.code(), Some(0));
    // Edit one file, delete another, add a stray script: --check names all three.
    let edited = a.join("sqlite/core_types.hmx");
    std::fs::write(&edited, "edited\n").expect("write");
    std::fs::remove_file(a.join("mysql/core_types.hmx")).expect("remove");
    std::fs::write(a.join("sqlite/gone.hmx"), "stale\n").expect("write");
    let res = check(&a);
    let stdout = text(&res.stdout);
    assert_eq!(res.status.code(), Some(1));
    assert!(
        stdout.contains("stale:") && stdout.contains("sqlite/core_types.hmx"),
        "{stdout}"
    );
    assert!(
        stdout.contains("missing:") && stdout.contains("mysql/core_types.hmx"),
        "{stdout}"
    );
    assert!(
        stdout.contains("extra:") && stdout.contains("sqlite/gone.hmx"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&edited).expect("read"),
        "edited\n",
        "--check writes nothing"
    );
    // A real compile repairs everything and removes the stray file.
    assert_eq!(
        run(&["compile", "specs", "-o", a.to_str().expect("utf8")])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(check(&a).status.code(), Some(0));
    assert!(!a.join("sqlite/gone.hmx").exists());
}

#[test]
fn scripts_of_the_old_slt_extension_are_extra_and_compile_removes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("gen");
    let out_arg = out.to_str().expect("utf8");
    assert_eq!(
        run(&["compile", "specs", "-o", out_arg]).status.code(),
        Some(0)
    );
    let script = out.join("sqlite/core_types.hmx");
    assert!(script.is_file(), "scripts are .hmx files");
    // What an older helios-matrix wrote: the same script as `.slt`, and a suite gone since.
    let old = out.join("sqlite/core_types.slt");
    std::fs::copy(&script, &old).expect("copy");
    std::fs::create_dir_all(out.join("oldproto")).expect("mkdir");
    std::fs::write(out.join("oldproto/suite.slt"), "old\n").expect("write");
    let res = run(&["compile", "specs", "-o", out_arg, "--check"]);
    let stdout = text(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("extra:") && stdout.contains("sqlite/core_types.slt"),
        "{stdout}"
    );
    assert!(stdout.contains("oldproto/suite.slt"), "{stdout}");
    assert!(old.is_file(), "--check writes nothing");
    let res = run(&["compile", "specs", "-o", out_arg]);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res.stderr));
    assert!(
        text(&res.stdout).contains("2 removed"),
        "{}",
        text(&res.stdout)
    );
    assert!(!old.exists() && !out.join("oldproto").exists());
    assert!(script.is_file());
    assert_eq!(
        run(&["compile", "specs", "-o", out_arg, "--check"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn run_scripts_refuses_scripts_compiled_as_slt_by_an_older_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("gen");
    let out_arg = out.to_str().expect("utf8");
    assert_eq!(
        run(&["compile", "specs", "-o", out_arg]).status.code(),
        Some(0)
    );
    let manifest = out.join("manifest.json");
    let text_before = std::fs::read_to_string(&manifest).expect("manifest");
    assert!(text_before.contains("\"sqlite/core_types.hmx\""));
    std::fs::write(&manifest, text_before.replace(".hmx\"", ".slt\"")).expect("write");
    let res = run(&["run", "-p", "sqlite", "--scripts", out_arg, "--no-progress"]);
    assert_eq!(res.status.code(), Some(2), "{}", text(&res.stdout));
    let stderr = text(&res.stderr);
    assert!(
        stderr.contains("compiled by an older helios-matrix") && stderr.contains(".slt"),
        "{stderr}"
    );
}

#[test]
fn compile_format_sqllogictest_writes_one_script_per_case_and_lists_the_rest() {
    let res = run(&["compile", "specs", "--format", "sqllogictest"]);
    assert_eq!(res.status.code(), Some(2));
    assert!(text(&res.stderr).contains("needs an output directory"));

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("slt");
    let out_arg = out.to_str().expect("utf8");
    let specs = fixture_arg("slt");
    let export = |extra: &[&str]| {
        let mut args = vec![
            "compile",
            specs.as_str(),
            "--format",
            "sqllogictest",
            "-o",
            out_arg,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let res = export(&[]);
    let stdout = text(&res.stdout);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res.stderr));
    assert!(
        stdout.contains(
            "postgresql: 4 case(s) exported for `sqllogictest --engine postgres`, 22 not exported"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("  not exported: NX-PARAMS slt/export.yaml:82: step @85: binds parameters"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sqlite: not exported (26 case(s)): no sqllogictest-rs engine speaks it"),
        "{stdout}"
    );
    assert!(out.join("postgresql/slt_export/OK-ROWS.slt").is_file());
    assert!(!out.join("mysql/slt_export/OK-SESSIONS.slt").exists());
    let listed = std::fs::read_to_string(out.join("mysql/not-exported.txt")).expect("list");
    assert!(
        listed.contains("OK-SESSIONS\tslt/export.yaml:62\tstep @66: `begin`"),
        "{listed}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("sqlite/not-exported.txt"))
            .expect("list")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count(),
        26
    );
    assert_eq!(export(&["--check"]).status.code(), Some(0));

    // A native compile into the same directory leaves the export alone, and the other way
    // round; a stray case script is extra to --check and removed by the next export.
    assert_eq!(
        run(&["compile", specs.as_str(), "-o", out_arg])
            .status
            .code(),
        Some(0)
    );
    assert!(out.join("manifest.json").is_file());
    let stray = out.join("postgresql/gone/GONE-1.slt");
    std::fs::create_dir_all(stray.parent().expect("dir")).expect("mkdir");
    std::fs::write(&stray, "statement ok\nSELECT 1\n").expect("write");
    let res = export(&["--check"]);
    let stdout = text(&res.stdout);
    assert_eq!(res.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("extra:") && stdout.contains("GONE-1.slt"),
        "{stdout}"
    );
    assert!(
        text(&res.stderr).contains("-o") && text(&res.stderr).contains("--format sqllogictest"),
        "{}",
        text(&res.stderr)
    );
    let res = export(&[]);
    assert!(
        text(&res.stdout).contains("1 removed"),
        "{}",
        text(&res.stdout)
    );
    assert!(!stray.exists() && !out.join("postgresql/gone").exists());
    assert!(out.join("manifest.json").is_file() && out.join("sqlite/slt_export.hmx").is_file());
    assert_eq!(export(&["--check"]).status.code(), Some(0));
}

#[test]
fn running_compiled_scripts_gives_the_same_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = fixture_arg("failing");
    let scripts = dir.path().join("gen");
    let scripts_arg = scripts.to_str().expect("utf8");
    assert_eq!(
        run(&["compile", &specs, "-o", scripts_arg]).status.code(),
        Some(0)
    );
    let verdicts = |extra: &[&str]| {
        let mut args = vec!["--specs", specs.as_str(), "-p", "sqlite"];
        args.extend_from_slice(extra);
        let ran = run_with_junit(&args);
        (
            ran.code,
            ran.statuses()
                .into_iter()
                .map(|(n, s)| (n, is_failure(&s)))
                .collect::<Vec<_>>(),
        )
    };
    let compiled = verdicts(&[]);
    assert_eq!(compiled, verdicts(&["--scripts", scripts_arg]));
    assert_eq!(compiled.0, Some(1));
}

#[test]
fn filters_select_cases() {
    let out = run(&[
        "run",
        "-p",
        "sqlite",
        "--priority",
        "p0",
        "--tag",
        "params",
        "--case",
        "PRM-00[12]",
        "--no-progress",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("CORE-PRM-001") && stdout.contains("CORE-PRM-002"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l == "2 passed, 0 failed, 0 skipped"),
        "{stdout}"
    );
}

#[test]
fn list_shows_the_selection_run_would_use() {
    let out = run(&[
        "list",
        "-p",
        "sqlite",
        "--priority",
        "p0",
        "--case",
        "CORE-TYP-00[12]",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("sqlite (reference, sqlite::memory: from matrix.yaml): 2 case(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("  labels: sqlite, reference\n"), "{stdout}");
    assert!(
        stdout.contains("CORE-TYP-001") && stdout.contains("specs/core/types.yaml:"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l == "2 case(s) in 1 cell(s)"),
        "{stdout}"
    );
    // Skips and expected failures are shown with their reasons, as run will report them.
    let out = run(&["list", "--specs", &fixture_arg("xpass"), "-p", "sqlite"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[skip: not on the reference]") && stdout.contains("[xfail: known gap]"),
        "{stdout}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["run", "--protocol", "mysqll"][..],
        &["run", "--priority", "p9"],
        &["run", "--target", "nosuch=x"],
        &["run", "--case", "("],
        &["frobnicate"],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = run(&["run", "--protocol", "mysqll"]);
    assert!(text(&out.stderr).contains("did you mean `mysql`?"));
}

#[test]
fn bad_http_steps_and_endpoints_are_located_spec_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = std::fs::read_to_string(fixture("http").join("matrix.yaml")).expect("read");
    std::fs::write(
        dir.path().join("matrix.yaml"),
        format!("{registry}  sqlite: {{target: \"http://127.0.0.1:1\"}}\n"),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "protocols: [sqlite]\ncases:\n  - id: B-1\n    name: b\n    steps:\n      - http: {target: admn, url: /x}\n      - http: {method: GRAB, url: x}\n",
    )
    .expect("write");
    let out = compile_dir(dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for located in [
        "bad.yaml:6:24: unknown endpoint `admn`",
        "bad.yaml:7:24: unknown HTTP method `GRAB`",
        "bad.yaml:7:35: `url` must be a path starting with `/` or a full http:// URL",
        "matrix.yaml:12:3: endpoint `sqlite` has the name of a protocol",
    ] {
        assert!(stderr.contains(located), "missing `{located}` in\n{stderr}");
    }
    assert!(stderr.contains("did you mean `admin`?"), "{stderr}");

    let specs = fixture_arg("http");
    let out = run(&[
        "list",
        "--specs",
        &specs,
        "--target",
        "admn=http://127.0.0.1:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .contains("--target names unknown protocol or endpoint `admn` (did you mean `admin`?)"),
        "{stderr}"
    );
    let out = run(&["list", "--specs", &specs, "--target-label", "admin=x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("endpoints carry no labels"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unknown_executor_is_a_located_registry_error_with_a_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("matrix.yaml"),
        "protocols:\n  sqlite: {tier: reference, executor: sqlite}\n  postgresql: {tier: gold, dialect: postgres, executor: postgress}\n  oracle2: {tier: bronze, dialect: oracle}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("core.yaml"),
        "protocols: [sqlite]\ncases:\n  - id: E-1\n    name: e\n    steps:\n      - query: SELECT 1 AS one\n        rows: [[1]]\n",
    )
    .expect("write");
    let out = compile_dir(dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for located in [
        "matrix.yaml:3:57: unknown executor `postgress`",
        "did you mean `postgres`? The executors: sqlite, postgres, mysql, snowflake, databricks, pinecone, drda, tds, tns",
        "matrix.yaml:4:12: protocol `oracle2` has no `executor`, and no executor is named `oracle2`",
    ] {
        assert!(stderr.contains(located), "missing `{located}` in\n{stderr}");
    }
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written on errors"
    );
}

#[test]
fn help_documents_every_flag_and_the_exit_codes() {
    let out = run(&["run", "--help"]);
    let help = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for flag in [
        "--specs",
        "--scripts",
        "--protocol",
        "--priority",
        "--tag",
        "--case",
        "--label",
        "--target",
        "--junit",
        "--step-timeout",
        "--fail-fast",
        "Exit codes",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn the_gate_decides_the_exit_code_and_prints_its_verdict() {
    // XP-001 is a p1 case that passes unexpectedly: a failure, but outside the default gate.
    let ran = run_with_junit(&["--specs", &fixture_arg("xpass"), "-p", "sqlite"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stdout);
    assert!(
        ran.stdout.contains(
            "gate p0: PASSED (0 failing case(s) within the gate, 1 outside it, reported only)"
        ),
        "{}",
        ran.stdout
    );
    let ran = run_with_junit(&[
        "--specs",
        &fixture_arg("xpass"),
        "-p",
        "sqlite",
        "--gate",
        "p0,p1",
    ]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stdout
            .contains("gate p0,p1: FAILED (1 failing case(s) within the gate)"),
        "{}",
        ran.stdout
    );
}

#[test]
fn credentials_never_reach_the_output_and_only_loopback_is_contacted() {
    let ran = run_with_junit(&[
        "-p",
        "postgresql,mysql",
        "--case",
        "CORE-TYP-001",
        "--target",
        "postgresql=postgres://test:hunter2@127.0.0.1:1/helios",
        "--target",
        "mysql=mysql://test:hunter2@192.0.2.10:3306/helios",
    ]);
    let all = format!(
        "{}{}{}",
        ran.stdout,
        ran.stderr,
        std::fs::read_to_string(&ran.xml).expect("xml")
    );
    assert_eq!(ran.code, Some(1));
    assert!(!all.contains("hunter2"), "{all}");
    assert!(
        all.contains("postgres://test:****@127.0.0.1:1/helios"),
        "{all}"
    );
    assert!(all.contains("contacts only loopback addresses"), "{all}");
    assert!(
        all.contains("--allow-remote") && all.contains("HELIOS_MATRIX_ALLOW_REMOTE=1"),
        "the refusal names the way to allow it: {all}"
    );
}

#[test]
fn wait_reports_a_target_that_never_comes_up_and_the_run_goes_on() {
    let ran = run_with_junit(&[
        "-p",
        "sqlite,postgresql",
        "--case",
        "CORE-TYP-001",
        "--wait",
        "1s",
        "--target",
        "postgresql=postgres://test:hunter2@127.0.0.1:1/helios",
    ]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .contains("sqlite at sqlite::memory: accepts connections"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("error: postgresql at 127.0.0.1:1: not ready after 1s"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("hunter2"), "{}", ran.stderr);
    let cases = ran.statuses();
    assert_eq!(cases.len(), 2, "the JUnit file holds every case: {cases:?}");
    assert_eq!(cases.iter().filter(|(_, s)| is_error(s)).count(), 1);
}

#[test]
fn a_server_that_cannot_be_reached_fails_its_cases_and_the_run_goes_on() {
    let ran = run_with_junit(&[
        "-p",
        "sqlite,postgresql",
        "--case",
        "CORE-TYP-00[12]",
        "--target",
        "postgresql=postgres://test:test@127.0.0.1:1/helios",
    ]);
    assert_eq!(ran.code, Some(1));
    let cases = ran.statuses();
    assert_eq!(cases.len(), 4);
    assert_eq!(
        cases.iter().filter(|(_, s)| is_error(s)).count(),
        2,
        "an unreachable server is an error of each of its cases, not a failed check: {cases:?}"
    );
}

#[test]
fn fail_fast_reports_the_rest_as_not_run() {
    let ran = run_with_junit(&[
        "--specs",
        &fixture_arg("failing"),
        "-p",
        "sqlite",
        "--fail-fast",
        // One worker, so which cases were under way when the first failed is fixed.
        "--jobs",
        "1",
    ]);
    assert_eq!(ran.code, Some(1));
    let cases = ran.statuses();
    assert_eq!(cases.len(), 5, "every case is still reported");
    assert!(
        matches!(&cases[2].1, TestCaseStatus::Skipped { message, .. } if message.as_ref().is_some_and(|m| m.as_str().contains("fail-fast")))
    );
}

#[test]
fn a_step_over_the_timeout_fails_its_case_and_the_next_case_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("slow.yaml"),
        r#"
cases:
  - id: SLOW-001
    name: A query longer than the step timeout
    steps:
      - query: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"
  - id: SLOW-002
    name: The next case still runs
    steps:
      - query: SELECT 1
        rows: [[1]]
"#,
    )
    .expect("write");
    let out = run(&[
        "run",
        "--specs",
        dir.path().to_str().expect("utf8"),
        "-p",
        "sqlite",
        "--step-timeout",
        "300ms",
        "--gate",
        "p1",
        "--no-progress",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("step timed out after 300ms"), "{stdout}");
    assert!(stdout.contains("PASS  sqlite      SLOW-002"), "{stdout}");
}

#[test]
fn driver_selection_builds_protocol_by_driver_cells() {
    let out = run(&[
        "list",
        "-p",
        "postgresql,mysql",
        "--priority",
        "p0",
        "--case",
        "PG-001|MY-001",
        "--driver",
        "all,native",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for cell in [
        "postgresql (",
        "postgresql/psycopg2 (",
        "postgresql/asyncpg (",
        "postgresql/sqlalchemy (",
        "postgresql/node-postgres (",
        "mysql (",
        "mysql/pymysql (",
        "mysql/mysql-connector-python (",
        "mysql/sqlalchemy (",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(cell)),
            "no cell {cell}\n{stdout}"
        );
    }
    // The driver is the most specific label of its cell.
    assert!(
        stdout.contains("  labels: psycopg2, postgresql, postgres, gold\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("9 case(s) in 9 cell(s)\n"), "{stdout}");

    let out = run(&["list", "-p", "postgresql", "--driver", "pymysql"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--driver `pymysql` is not a driver of the selected protocols"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "run",
        "-p",
        "postgresql",
        "--driver",
        "psycopg2",
        "--scripts",
        "generated",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("compiled for the built-in executors"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_shards_of_a_run_together_hold_every_case_once() {
    let names = |extra: &[&str]| {
        let mut args = vec!["-p", "sqlite"];
        args.extend_from_slice(extra);
        let ran = run_with_junit(&args);
        assert_eq!(ran.code, Some(0), "{}", ran.stdout);
        let mut names: Vec<String> = ran.statuses().into_iter().map(|(n, _)| n).collect();
        names.sort();
        names
    };
    let whole = names(&[]);
    let mut union = Vec::new();
    for k in 1..=3 {
        let part = names(&["--shard", &format!("{k}/3")]);
        assert!(
            !part.is_empty() && part.len() < whole.len(),
            "shard {k}: {part:?}"
        );
        union.extend(part);
    }
    union.sort();
    assert_eq!(union, whole, "every case exactly once");

    let listed = run(&["list", "-p", "sqlite", "--shard", "2/3"]);
    let stdout = text(&listed.stdout);
    let ran = names(&["--shard", "2/3"]);
    assert!(
        stdout.ends_with(&format!("{} case(s) in 1 cell(s)\n", ran.len())),
        "{stdout}"
    );
    let bad = run(&["list", "-p", "sqlite", "--shard", "4/3"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// The terminal's case lines without their durations.
fn case_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with(['P', 'F', 'E', 'S', 'X']) && l.ends_with(']'))
        .map(|l| l.rsplit_once(" [").map_or(l, |(line, _)| line).to_string())
        .collect()
}

#[test]
fn workers_change_neither_verdicts_nor_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shared.db");
    let target = format!("sqlite={}", db.to_str().expect("utf8"));
    let target = target.replacen('=', "=sqlite:", 1);
    let failing = fixture_arg("failing");
    let ran = |jobs: &str| {
        run_with_junit(&[
            "--specs", &failing, "-p", "sqlite", "--target", &target, "--jobs", jobs,
        ])
    };
    let one = ran("1");
    let three = ran("3");
    assert_eq!(one.code, Some(1), "{}{}", one.stdout, one.stderr);
    assert_eq!(three.code, one.code, "{}{}", three.stdout, three.stderr);
    assert!(three.stdout.contains("on 3 workers"), "{}", three.stdout);
    assert_eq!(one.statuses(), three.statuses());
    assert!(!case_lines(&one.stdout).is_empty());
    assert_eq!(case_lines(&one.stdout), case_lines(&three.stdout));
    // Each worker had a file of its own beside the target's, removed afterwards.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n.to_string_lossy().contains(".w"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn specs_with_errors_change_nothing_in_the_output_and_leave_no_staging_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let out_arg = out.to_str().expect("utf8");
    assert_eq!(
        run(&["compile", "specs", "-o", out_arg]).status.code(),
        Some(0)
    );
    let before = std::fs::read(out.join("manifest.json")).expect("manifest");
    let res = run(&["compile", &fixture_arg("malformed"), "-o", out_arg]);
    assert_eq!(res.status.code(), Some(2), "{}", text(&res.stderr));
    assert_eq!(
        std::fs::read(out.join("manifest.json")).expect("manifest"),
        before
    );
    assert!(
        out.join("sqlite/core_types.hmx").is_file(),
        "nothing removed"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, ["out"], "the staging directory went away");
}

/// (suite, case, status kind) of every case in a report, sorted.
fn case_kinds(report: &Report) -> Vec<(String, String, &'static str)> {
    let mut cases: Vec<_> = report
        .test_suites
        .iter()
        .flat_map(|s| {
            s.test_cases.iter().map(|c| {
                let kind = common::status_kind(&c.status);
                (
                    s.name.as_str().to_string(),
                    c.name.as_str().to_string(),
                    kind,
                )
            })
        })
        .collect();
    cases.sort();
    cases
}

#[test]
fn merged_shard_reports_hold_exactly_the_cases_of_the_whole_run() {
    let whole = run_with_junit(&["-p", "sqlite"]);
    assert_eq!(whole.code, Some(0), "{}", whole.stdout);
    let shards: Vec<Ran> = (1..=3)
        .map(|k| run_with_junit(&["-p", "sqlite", "--shard", &format!("{k}/3")]))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let merged = dir.path().join("merged.xml");
    let mut args = vec!["report", "merge"];
    args.extend(shards.iter().map(|s| s.xml.to_str().expect("utf8")));
    args.extend(["-o", merged.to_str().expect("utf8")]);
    let out = run(&args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let report = junit(&merged);
    assert_eq!(case_kinds(&report), case_kinds(&whole.report()));
    let w = whole.report();
    assert_eq!(
        (report.tests, report.failures, report.errors, report.skipped),
        (w.tests, w.failures, w.errors, w.skipped),
        "totals are recomputed"
    );
    // The verdict reads as the whole run's does.
    let last_lines = |s: &str| {
        s.lines()
            .rev()
            .take(2)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(last_lines(&stdout), last_lines(&whole.stdout));
    assert!(
        stdout.contains("gate p0: PASSED (0 failing case(s) within the gate)"),
        "{stdout}"
    );
}

#[test]
fn report_merge_gates_on_the_failures_of_every_shard() {
    let passing = run_with_junit(&["-p", "sqlite", "--case", "CORE-TYP-00[12]"]);
    let failing = run_with_junit(&["--specs", &fixture_arg("failing"), "-p", "sqlite"]);
    assert_eq!(failing.code, Some(1));
    let merge = |extra: &[&str]| {
        let mut args = vec![
            "report",
            "merge",
            passing.xml.to_str().expect("utf8"),
            failing.xml.to_str().expect("utf8"),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = merge(&["--gate", "p0"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("gate p0: FAILED (3 failing case(s) within the gate)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL  sqlite      WRONG-002 Wrong expected value (p0, "),
        "{stdout}"
    );
    // The fixture's cases are P0: a gate on P1 only reports them.
    let out = merge(&["--gate", "p1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains(
            "gate p1: PASSED (0 failing case(s) within the gate, 3 outside it, reported only)"
        ),
        "{}",
        text(&out.stdout)
    );
    // An expected failure is not a failure; an unexpected pass (P1 here) is.
    let xpass = run_with_junit(&["--specs", &fixture_arg("xpass"), "-p", "sqlite"]);
    let out = run(&["report", "merge", xpass.xml.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), xpass.code, "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains(
            "gate p0: PASSED (0 failing case(s) within the gate, 1 outside it, reported only)"
        ),
        "{}",
        text(&out.stdout)
    );
    let out = run(&[
        "report",
        "merge",
        xpass.xml.to_str().expect("utf8"),
        "--gate",
        "p0,p1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

#[test]
fn report_merge_refuses_what_it_cannot_read_or_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.xml");
    std::fs::write(&garbage, "not < xml at all").expect("write");
    let truncated = dir.path().join("truncated.xml");
    std::fs::write(&truncated, "<testsuites><testsuite name=\"x\"><testcase").expect("write");
    let foreign = dir.path().join("foreign.xml");
    std::fs::write(
        &foreign,
        "<testsuites><testsuite name=\"x\" tests=\"1\"><testcase name=\"t\"/></testsuite></testsuites>",
    )
    .expect("write");
    let missing = dir.path().join("missing.xml");
    for (path, says) in [
        (&garbage, "is not a JUnit report"),
        (&truncated, "is not a JUnit report"),
        (&foreign, "no `priority` property"),
        (&missing, "cannot read"),
    ] {
        let out = run(&["report", "merge", path.to_str().expect("utf8")]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(run(&["report", "merge"]).status.code(), Some(2));
    let ran = run_with_junit(&["-p", "sqlite", "--case", "CORE-TYP-001"]);
    let blocked = dir.path().join("file").join("merged.xml");
    std::fs::write(dir.path().join("file"), "a file, not a directory").expect("write");
    let out = run(&[
        "report",
        "merge",
        ran.xml.to_str().expect("utf8"),
        "-o",
        blocked.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let help = text(&run(&["report", "merge", "--help"]).stdout);
    for flag in ["--out", "--gate", "REPORT", "Exit codes"] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

/// A workflow parsed with the project's YAML reader (duplicate keys are errors there).
fn parse_yaml(text: &str) -> helios_matrix::yaml::Node {
    let mut sources = helios_matrix::source::SourceMap::default();
    let id = sources.add("workflow".into(), "workflow.yml".into(), text.into());
    let mut diags = helios_matrix::diag::Diagnostics::default();
    let node = helios_matrix::yaml::parse(text, id, &mut diags);
    assert!(!diags.has_errors(), "{}", diags.render(&sources));
    node.expect("a YAML document")
}

fn at<'a>(node: &'a helios_matrix::yaml::Node, path: &[&str]) -> &'a helios_matrix::yaml::Node {
    path.iter().fold(node, |n, key| {
        n.get(key)
            .unwrap_or_else(|| panic!("no `{key}` in {path:?}"))
    })
}

#[test]
fn the_github_workflow_is_generated_from_the_registry_deterministically() {
    let out = run(&["ci", "github", "--shards", "3"]);
    let workflow = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&run(&["ci", "github", "--shards", "3"]).stdout),
        workflow,
        "the same registry gives the same bytes"
    );
    insta::assert_snapshot!("github_workflow_3_shards", workflow);
}

#[test]
fn the_github_workflow_runs_every_cell_shard_and_gates_once() {
    let out = run(&["ci", "github", "--shards", "2,sqlite=3", "--gate", "p0,p1"]);
    let workflow = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        workflow.starts_with("# Generated by `helios-matrix ci github`"),
        "{workflow}"
    );
    assert!(
        workflow.contains("#   helios-matrix ci github --shards 2,sqlite=3 --gate p0,p1 > FILE\n"),
        "{workflow}"
    );
    let doc = parse_yaml(&workflow);
    let include = at(&doc, &["jobs", "run", "strategy", "matrix", "include"])
        .items()
        .expect("a list");
    // Cells: postgresql 1 + 4 drivers, mysql 1 + 3, snowflake 1 + 1, databricks 1 (its
    // connector skips every case), pinecone 1 + 1, db2 1 (on Derby; ibm_db has no host
    // here), sqlserver 1 + 2 (on iridium, through pymssql and pyodbc too): 18 × 2 shards;
    // sqlite × 3.
    assert_eq!(include.len(), 18 * 2 + 3);
    let field = |entry: &helios_matrix::yaml::Node, key: &str| {
        at(entry, &[key]).as_str().map(str::to_string)
    };
    let mut ids: Vec<String> = include.iter().filter_map(|e| field(e, "job")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), include.len(), "job names are unique");
    let sqlite: Vec<_> = include
        .iter()
        .filter(|e| field(e, "protocol").as_deref() == Some("sqlite"))
        .collect();
    assert_eq!(sqlite.len(), 3);
    assert_eq!(field(sqlite[1], "shard").as_deref(), Some("2/3"));
    assert_eq!(
        at(sqlite[0], &["server"]).scalar(),
        Some(&helios_matrix::value::Scalar::Bool(false))
    );
    let silver = include
        .iter()
        .find(|e| field(e, "protocol").as_deref() == Some("pinecone"))
        .expect("pinecone");
    assert_eq!(field(silver, "priority").as_deref(), Some("p0,p1"));
    assert_eq!(
        at(&doc, &["env", "HELIOS_MATRIX_GATE"]).as_str(),
        Some("p0,p1")
    );
    // The gate job waits for every run job, runs whatever they came to, and merges.
    let gate = at(&doc, &["jobs", "gate"]);
    assert_eq!(at(gate, &["needs"]).as_str(), Some("run"));
    assert_eq!(at(gate, &["if"]).as_str(), Some("always()"));
    assert!(
        workflow.contains("report merge junit/*.xml --gate \"$HELIOS_MATRIX_GATE\" -o merged.xml")
    );
    assert!(workflow.contains("merge-multiple: true"));
    // Every job's selection is one `run` accepts.
    for entry in include {
        let (protocol, driver, priority, shard) = (
            field(entry, "protocol").expect("protocol"),
            field(entry, "driver").expect("driver"),
            field(entry, "priority").expect("priority"),
            field(entry, "shard").expect("shard"),
        );
        let out = run(&[
            "list",
            "--protocol",
            &protocol,
            "--driver",
            &driver,
            "--priority",
            &priority,
            "--shard",
            &shard,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{protocol}/{driver} {shard}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn ci_github_refuses_bad_shards_and_reports_unwritable_files() {
    for args in [
        &["ci", "github", "--shards", "0"][..],
        &["ci", "github", "--shards", "sqlite3=2"],
        &["ci", "github", "--shards", "300"],
        &["ci", "github", "--specs", "no/such/dir"],
    ] {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
    let out = run(&["ci", "github", "--shards", "300"]);
    assert!(
        text(&out.stderr).contains("more than one GitHub Actions matrix holds (256)"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("workflows").join("helios-matrix.yml");
    let out = run(&["ci", "github", "-o", path.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&path).expect("written");
    assert!(
        written.contains(&format!("-o {}\n", path.display())),
        "{written}"
    );
    std::fs::write(dir.path().join("file"), "not a directory").expect("write");
    let blocked = dir.path().join("file").join("helios-matrix.yml");
    let out = run(&["ci", "github", "-o", blocked.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let help = text(&run(&["ci", "github", "--help"]).stdout);
    for flag in ["--specs", "--shards", "--gate", "--out", "Exit codes"] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn probe_calls_an_endpoint_that_never_answers_a_hang_within_its_bound() {
    // A fault no real server produces on demand: a listener that accepts and says nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = silent.local_addr().expect("addr");
    let started = std::time::Instant::now();
    let out = run(&[
        "probe",
        "-p",
        "postgresql",
        "--timeout",
        "500ms",
        "--target",
        &format!("postgresql=postgres://u:hunter2@{address}/db"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the bound holds"
    );
    assert!(
        stdout.contains(&format!(
            "{address} (postgresql): PROBLEM: does not answer postgresql: no answer within the bound"
        )),
        "{stdout}"
    );
    // The HTTP handshakes hang on it too; MySQL's silence is a refusal.
    assert!(
        stdout.contains("does not refuse snowflake cleanly"),
        "{stdout}"
    );
    assert!(!stdout.contains("does not refuse mysql"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    drop(silent);
}

#[test]
fn probe_refuses_a_remote_endpoint_unless_allowed() {
    let out = run(&[
        "probe",
        "-p",
        "mysql",
        "--target",
        "mysql=mysql://u:hunter2@192.0.2.10:3306/db",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("--allow-remote"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

#[test]
fn import_skips_a_file_with_no_steps_and_writes_only_what_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = dir.path().join("slt");
    std::fs::create_dir(&sources).expect("mkdir");
    std::fs::write(sources.join("empty.test"), "").expect("write");
    std::fs::write(sources.join("comments.test"), "# nothing but a comment\n").expect("write");
    std::fs::write(sources.join("one.test"), "query I\nSELECT 1\n----\n1\n").expect("write");
    let specs = dir.path().join("specs");
    std::fs::create_dir(&specs).expect("mkdir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/matrix.yaml"),
        specs.join("matrix.yaml"),
    )
    .expect("registry");
    let out_dir = specs.join("imported");
    let out = run(&[
        "import",
        sources.to_str().expect("utf8"),
        "-o",
        out_dir.to_str().expect("utf8"),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for name in ["empty.test", "comments.test"] {
        assert!(
            stderr.contains(&format!(
                "warning: {name}: skipped: none of its records becomes a statement or query step"
            )),
            "{stderr}"
        );
    }
    assert!(
        text(&out.stdout).contains("imported 1 file(s), 2 skipped (no steps), 1 record(s)"),
        "{}",
        text(&out.stdout)
    );
    assert!(!out_dir.join("empty.yaml").exists());
    assert!(!out_dir.join("comments.yaml").exists());
    // What import wrote, run accepts.
    let ran = run_with_junit(&[
        "--specs",
        specs.to_str().expect("utf8"),
        "--protocol",
        "sqlite",
    ]);
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("1 passed"), "{}", ran.stdout);

    // Nothing to import at all is an error: nothing was written.
    let lone = run(&[
        "import",
        sources.join("empty.test").to_str().expect("utf8"),
        "-o",
        dir.path().join("lone").to_str().expect("utf8"),
    ]);
    assert_eq!(lone.status.code(), Some(2), "{}", text(&lone.stderr));
    assert!(
        text(&lone.stderr).contains("warning: empty.test: skipped"),
        "{}",
        text(&lone.stderr)
    );
    assert!(!dir.path().join("lone").exists());
}
