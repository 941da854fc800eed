//! Interop with sqllogictest files: `import` of third-party files (tests/fixtures/
//! sqllogictest/, origins in its README) into YAML that compiles, validates against the
//! schema and runs on SQLite with the files' own verdicts; and `record`.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{arg, bin, root, text};

use quick_junit::Report;

/// A spec directory holding the project's registry and the suites imported from `inputs`
/// under `imported/`.
struct Imported {
    dir: tempfile::TempDir,
    out: Output,
}

impl Imported {
    fn new(inputs: &[PathBuf]) -> Imported {
        let dir = registry_dir();
        let dest = dir.path().join("imported");
        let mut args = vec!["import"];
        args.extend(inputs.iter().map(|p| arg(p)));
        args.extend(["-o", arg(&dest)]);
        let out = bin(&args);
        Imported { dir, out }
    }

    fn specs(&self) -> &Path {
        self.dir.path()
    }

    fn suite(&self, relative: &str) -> PathBuf {
        self.dir.path().join("imported").join(relative)
    }

    /// `run --specs DIR ARGS`, with its JUnit report.
    fn run(&self, args: &[&str]) -> (Output, Report) {
        let xml = self.dir.path().join("report.xml");
        let mut full = vec![
            "run",
            "--specs",
            arg(self.specs()),
            "--no-progress",
            "--junit",
            arg(&xml),
        ];
        full.extend_from_slice(args);
        let out = bin(&full);
        let report =
            Report::deserialize_from_str(&std::fs::read_to_string(&xml).expect("junit written"))
                .expect("junit parses");
        (out, report)
    }
}

fn fixtures(sub: &str) -> PathBuf {
    root().join("tests/fixtures/sqllogictest").join(sub)
}

fn verdicts(report: &Report) -> Vec<(String, &'static str)> {
    report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .map(|c| {
            let id = c.name.split(' ').next().unwrap_or_default().to_string();
            (id, common::status_kind(&c.status))
        })
        .collect()
}

#[test]
fn the_sqlite_corpus_imports_and_passes_on_sqlite_as_its_own_runner_passes_it() {
    let imported = Imported::new(&[fixtures("sqlite")]);
    assert_eq!(
        imported.out.status.code(),
        Some(0),
        "{}",
        text(&imported.out.stderr)
    );
    let stdout = text(&imported.out.stdout);
    assert!(stdout.contains("imported 3 file(s)"), "{stdout}");
    let yaml = std::fs::read_to_string(imported.suite("select1.yaml")).expect("written");
    // Hashed results stay hashed; the SQLite corpus's one-value-per-line results are rows.
    assert!(
        yaml.contains("rows_hash: {values: 30, md5: 3c13dee48d9356ae19af2515e05e6b54}"),
        "{yaml}"
    );
    assert!(yaml.contains("origin: select1.test:94"), "{yaml}");
    // A fresh database per file, as sqllogictest's runners give: its case drops `t1`
    // before and after it.
    assert!(
        yaml.contains(
            "  clean_slate:\n    setup:\n      - DROP TABLE IF EXISTS t1\n    teardown:\n      - DROP TABLE IF EXISTS t1\n"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("    fixtures: [clean_slate]\n"), "{yaml}");
    let in1 = std::fs::read_to_string(imported.suite("in1.yaml")).expect("written");
    // `onlyif mssql` + `halt` at the top: the whole case skips SQL Server, with the reason.
    assert!(
        in1.contains(
            "skip: {sqlserver: \"halted at in1.test:5\", oracle: \"halted at in1.test:9\"}"
        ),
        "{in1}"
    );
    // `onlyif sqlite # empty RHS`: the condition, and its comment kept.
    assert!(
        in1.contains("# empty RHS\n      - query: SELECT 1 IN ()"),
        "{in1}"
    );

    let (out, report) = imported.run(&["--protocol", "sqlite"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(
        verdicts(&report),
        vec![
            ("SLT-IN1".to_string(), "pass"),
            ("SLT-SELECT1".to_string(), "pass"),
            ("SLT-SELECT2".to_string(), "pass")
        ]
    );
}

#[test]
fn a_wrong_expectation_fails_and_points_back_to_the_record() {
    let imported = Imported::new(&[fixtures("sqlite/select1.test")]);
    let path = imported.suite("select1.yaml");
    let yaml = std::fs::read_to_string(&path).expect("written");
    // The one plain result in the excerpt: 1000, 1180, 1240 (select1.test:395).
    let broken = yaml.replacen("- [1180]", "- [1181]", 1);
    assert_ne!(broken, yaml, "the excerpt holds the 1180 row");
    std::fs::write(&path, broken).expect("rewritten");
    let (out, report) = imported.run(&["--protocol", "sqlite"]);
    assert_eq!(out.status.code(), Some(0), "p1 is outside the default gate");
    assert_eq!(
        verdicts(&report),
        vec![("SLT-SELECT1".to_string(), "failure")]
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(from select1.test:395)"), "{stdout}");
    assert!(
        stdout.contains("-1181") && stdout.contains("+1180"),
        "{stdout}"
    );
}

#[test]
fn a_changed_hash_fails_with_the_values_it_got() {
    let imported = Imported::new(&[fixtures("sqlite/select1.test")]);
    let path = imported.suite("select1.yaml");
    let yaml = std::fs::read_to_string(&path).expect("written");
    let broken = yaml.replacen("md5: 3c13dee4", "md5: 4c13dee4", 1);
    std::fs::write(&path, broken).expect("rewritten");
    let (out, _) = imported.run(&["--protocol", "sqlite"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("the result differs from its hash"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(30 values hashing to 3c13dee48d9356ae19af2515e05e6b54)"),
        "{stdout}"
    );
}

#[test]
fn sqllogictest_rs_files_import_to_yaml_that_compiles_and_validates() {
    let imported = Imported::new(&[fixtures("sqllogictest-rs")]);
    assert_eq!(imported.out.status.code(), Some(0));
    let stderr = text(&imported.out.stderr);
    // What the format has no place for is named with file:line, never dropped silently.
    for warning in [
        "include_1.slt:1: `include` is not supported",
        "rowsort.slt:1: `control` is not supported",
        "condition.slt:2: engine `risinglight` names no protocol here",
    ] {
        assert!(stderr.contains(warning), "{warning} in:\n{stderr}");
    }
    let counter = std::fs::read_to_string(imported.suite("counter.yaml")).expect("written");
    assert!(counter.contains("session: another"), "{counter}");
    let basic = std::fs::read_to_string(imported.suite("basic.yaml")).expect("written");
    assert!(
        basic.contains("error: {message: \"(?i)fakedb\"}"),
        "{basic}"
    );
    assert!(
        basic.contains("rows_hash: {values: 3, md5: b5b44edac84d34d6af3be2a88bfae352}"),
        "{basic}"
    );
    let sqlstate = std::fs::read_to_string(imported.suite("error_sqlstate.yaml")).expect("written");
    assert!(
        sqlstate.contains("error: {sqlstate: \"42P01\"}"),
        "{sqlstate}"
    );
    // Row-wise results (values on one line) become rows of values.
    let rowsort = std::fs::read_to_string(imported.suite("rowsort.yaml")).expect("written");
    assert!(rowsort.contains("- [10, 100, 2333]"), "{rowsort}");

    let out = bin(&[
        "compile",
        arg(imported.specs()),
        "-o",
        arg(&imported.specs().join("out")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    validate_against_schema(&imported.specs().join("imported"));
}

/// `t1` holding the largest integer and 1: summing them overflows once the statement runs.
const OVERFLOWING: &str = "\
statement ok
CREATE TABLE t1(x INTEGER)

statement ok
INSERT INTO t1 VALUES(9223372036854775807)

statement ok
INSERT INTO t1 VALUES(1)

query I
SELECT sum(x) FROM t1
----

query I
SELECT CASE WHEN x = 1 THEN abs(-9223372036854775807 - x) ELSE x END FROM t1
----
9223372036854775807
";

/// One sqllogictest file imported into a scratch spec directory.
fn import_text(name: &str, text: &str) -> Imported {
    let sources = tempfile::tempdir().expect("tempdir");
    let file = sources.path().join(name);
    std::fs::write(&file, text).expect("written");
    Imported::new(&[file])
}

#[test]
fn a_query_failing_after_it_started_returns_the_rows_before_as_the_sqlite_runner_does() {
    // SQLite's runner (slt_sqlite.c) fails a query only when sqlite3_prepare does; an
    // error from sqlite3_step ends its rows: `sum` overflowing gives none, the CASE one
    // row, the one before the failing `abs`.
    let imported = import_text("overflow.test", OVERFLOWING);
    assert_eq!(
        imported.out.status.code(),
        Some(0),
        "{}",
        text(&imported.out.stderr)
    );
    let path = imported.suite("overflow.yaml");
    let yaml = std::fs::read_to_string(&path).expect("written");
    assert!(yaml.contains("SELECT sum(x) FROM t1\n        origin: overflow.test:10\n        compare: sqllogictest\n        types: [integer]\n        rows: []\n"), "{yaml}");
    let (out, report) = imported.run(&["--protocol", "sqlite"]);
    assert_eq!(
        verdicts(&report),
        vec![("SLT-OVERFLOW".to_string(), "pass")],
        "{}",
        text(&out.stdout)
    );

    // A wrong row of an interrupted result says where the rows ended.
    std::fs::write(&path, yaml.replace("- [9223372036854775807]", "- [7]")).expect("rewritten");
    let (out, report) = imported.run(&["--protocol", "sqlite"]);
    assert_eq!(
        verdicts(&report),
        vec![("SLT-OVERFLOW".to_string(), "failure")]
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(from overflow.test:14)"), "{stdout}");
    assert!(
        stdout
            .contains("the rows ended after 1 row(s) at a server error, [code 1] integer overflow"),
        "{stdout}"
    );

    // Any other query (here the same one compared typed) fails on the error, as before.
    std::fs::write(&path, yaml.replace("        compare: sqllogictest\n", "")).expect("rewritten");
    let (out, report) = imported.run(&["--protocol", "sqlite"]);
    assert_eq!(
        verdicts(&report),
        vec![("SLT-OVERFLOW".to_string(), "failure")]
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(from overflow.test:10)"), "{stdout}");
    assert!(stdout.contains("integer overflow"), "{stdout}");
}

#[test]
fn a_query_that_does_not_prepare_still_fails() {
    let imported = import_text(
        "syntax.test",
        "statement ok\nCREATE TABLE t1(x INTEGER)\n\nquery I\nSELEC x FROM t1\n----\n\n",
    );
    assert_eq!(
        imported.out.status.code(),
        Some(0),
        "{}",
        text(&imported.out.stderr)
    );
    let (out, report) = imported.run(&["--protocol", "sqlite"]);
    assert_eq!(
        verdicts(&report),
        vec![("SLT-SYNTAX".to_string(), "failure")]
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(from syntax.test:4)"), "{stdout}");
    assert!(stdout.contains("syntax error"), "{stdout}");
}

fn validate_against_schema(dir: &Path) {
    use helios_matrix::diag::Diagnostics;
    use helios_matrix::source::FileId;
    use helios_matrix::yaml::decode::to_json;
    let schema_text =
        std::fs::read_to_string(root().join("schema/suite.schema.json")).expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&schema_text).expect("json");
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("read");
        let mut d = Diagnostics::default();
        let doc = to_json(&helios_matrix::yaml::parse(&text, FileId(0), &mut d).expect("parses"));
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} suites validated");
}

#[test]
fn a_file_that_does_not_parse_exits_2_naming_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.test");
    std::fs::write(
        &bad,
        "statement ok\nSELECT 1\n\nstatement perhaps\nSELECT 2\n",
    )
    .expect("w");
    let out = bin(&["import", arg(&bad), "-o", arg(&dir.path().join("out"))]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.test:4"), "{stderr}");
    assert!(!dir.path().join("out/bad.yaml").exists());
    let missing = bin(&["import", "no/such/dir", "-o", arg(dir.path())]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no such file or directory"));
}

impl Imported {
    /// `record --specs DIR ARGS`.
    fn record(&self, args: &[&str]) -> Output {
        let mut full = vec!["record", "--specs", arg(self.specs())];
        full.extend_from_slice(args);
        bin(&full)
    }
}

#[test]
fn recording_an_imported_corpus_on_its_own_server_changes_nothing() {
    let imported = Imported::new(&[fixtures("sqlite")]);
    let before = std::fs::read_to_string(imported.suite("select1.yaml")).expect("written");
    let out = imported.record(&["--protocol", "sqlite"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("3 case(s) run, 0 differ; recorded 0 step(s) in 0 file(s)"),
        "{stdout}"
    );
    let after = std::fs::read_to_string(imported.suite("select1.yaml")).expect("kept");
    assert_eq!(before, after);
}

#[test]
fn record_rewrites_just_the_changed_value_and_keeps_comments() {
    let imported = Imported::new(&[fixtures("sqlite/select1.test")]);
    let path = imported.suite("select1.yaml");
    let original = std::fs::read_to_string(&path).expect("written");
    assert!(
        original.contains("\n# "),
        "the import keeps the file's comments"
    );
    let broken =
        original
            .replacen("- [1180]", "- [1181]", 1)
            .replacen("md5: 3c13dee4", "md5: 4c13dee4", 1);
    std::fs::write(&path, &broken).expect("rewritten");

    // --dry-run: the diff of exactly those two values, and nothing written.
    let out = imported.record(&["--protocol", "sqlite", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let diff = text(&out.stdout);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(
        changed,
        vec![
            "-        rows_hash: {values: 30, md5: 4c13dee48d9356ae19af2515e05e6b54}",
            "+        rows_hash: {values: 30, md5: 3c13dee48d9356ae19af2515e05e6b54}",
            "-          - [1181]",
            "+          - [1180]",
        ],
        "{diff}"
    );
    assert!(
        diff.contains("would record 2 step(s) in 1 file(s)"),
        "{diff}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("kept"), broken);

    let out = imported.record(&["--protocol", "sqlite"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&path).expect("recorded"), original);
    let (out, report) = imported.run(&["--protocol", "sqlite"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(verdicts(&report), vec![("SLT-SELECT1".to_string(), "pass")]);
}

/// A spec directory holding the project's registry.
fn registry_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        root().join("specs/matrix.yaml"),
        dir.path().join("matrix.yaml"),
    )
    .expect("registry copied");
    dir
}

/// A spec directory with the project's registry and one suite written here.
fn specs_with(suite: &str) -> tempfile::TempDir {
    let dir = registry_dir();
    std::fs::write(dir.path().join("suite.yaml"), suite).expect("suite written");
    dir
}

const TYPED_SUITE: &str = "\
suite: recorded
description: values a person wrote, some of them wrong
cases:
  - id: REC-001
    name: typed values
    steps:
      - statement: CREATE TABLE t (id INTEGER, name TEXT, price REAL)
      # Three rows; the count is wrong.
      - statement: INSERT INTO t VALUES (1, 'a', 1.5), (2, NULL, 2.25), (3, 'c', 0.1)
        count: 2   # should be 3
      - query: SELECT id, name, price FROM t ORDER BY id
        columns: [id, name, cost]
        rows:
          - [1, a, 1.5]
          - [2, null, 2.5]   # wrong price
          - [3, c, 0.1]
      - {query: SELECT count(*) FROM t, rows: [[4]]}
      - query: SELECT * FROM missing
        rows: []
      - statement: INSERT INTO t VALUES (4, 'd', 1)
        error: {class: undefined_table}
";

#[test]
fn record_writes_typed_answers_into_the_reference_protocols_expectations() {
    let dir = specs_with(TYPED_SUITE);
    let specs = arg(dir.path());
    let out = bin(&["record", "--specs", specs, "--protocol", "sqlite"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(dir.path().join("suite.yaml")).expect("read");
    let expected = "\
suite: recorded
description: values a person wrote, some of them wrong
cases:
  - id: REC-001
    name: typed values
    steps:
      - statement: CREATE TABLE t (id INTEGER, name TEXT, price REAL)
      # Three rows; the count is wrong.
      - statement: INSERT INTO t VALUES (1, 'a', 1.5), (2, NULL, 2.25), (3, 'c', 0.1)
        count: 3   # should be 3
      - query: SELECT id, name, price FROM t ORDER BY id
        columns: [id, name, price]
        rows:
          - [1, a, 1.5]
          - [2, null, 2.25]
          - [3, c, 0.1]
      - {query: SELECT count(*) FROM t, rows: [[3]]}
      - query: SELECT * FROM missing
        error: {class: undefined_table}
      - statement: INSERT INTO t VALUES (4, 'd', 1)
";
    assert_eq!(after, expected);
    // What was recorded passes.
    let out = bin(&[
        "run",
        "--specs",
        specs,
        "--protocol",
        "sqlite",
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("1 passed"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn record_edits_the_override_in_force_and_leaves_the_others() {
    let suite = "\
suite: overrides
cases:
  - id: REC-002
    name: overrides
    steps:
      - query: SELECT 1 + 1
        rows: [[3]]
        on:
          postgresql: {rows: [[2]]}   # not sqlite's
      - query: SELECT 2
        rows: [[2]]
        on:
          mysql: {rows: [[7]]}
          sqlite: {rows: [[5]], sort: rows}
";
    let dir = specs_with(suite);
    let out = bin(&["record", "--specs", arg(dir.path()), "--protocol", "sqlite"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(dir.path().join("suite.yaml")).expect("read");
    assert_eq!(
        after,
        suite
            .replace("rows: [[3]]", "rows: [[2]]")
            .replace("sqlite: {rows: [[5]]", "sqlite: {rows: [[2]]")
    );
}

#[test]
fn record_takes_one_protocol_at_a_time() {
    let dir = specs_with(TYPED_SUITE);
    let out = bin(&[
        "record",
        "--specs",
        arg(dir.path()),
        "--protocol",
        "sqlite,postgresql",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("record writes one protocol's answers at a time; the selection has 2 (postgresql, sqlite)"),
        "{stderr}"
    );
    let untouched = std::fs::read_to_string(dir.path().join("suite.yaml")).expect("read");
    assert_eq!(untouched, TYPED_SUITE);
}
