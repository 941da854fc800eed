//! `helios-matrix baseline` and `run --baseline` on the embedded SQLite target: a baseline
//! taken, reviewed, rewritten and gated on. The same against the real PostgreSQL is
//! `live::a_baseline_gates_a_real_server_on_its_known_failures`.

use std::path::Path;

mod common;

use common::{arg, bin, specs_with, text};

const SUITE: &str = "\
suite: gaps
priority: p0
cases:
  - id: GAP-001
    name: reads a table the server lacks
    steps:
      - query: SELECT * FROM no_such_table
        rows: [[1]]
  - id: GAP-002
    name: passes
    steps:
      - query: SELECT 1
        rows: [[1]]
  - id: GAP-003
    name: a wrong answer
    steps:
      - query: SELECT 2
        rows: [[3]]
";

fn baseline(specs: &Path, file: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "baseline",
        "--specs",
        arg(specs),
        "-p",
        "sqlite",
        "--no-progress",
        "-o",
        arg(file),
    ];
    args.extend_from_slice(extra);
    bin(&args)
}

fn run(specs: &Path, file: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "--specs",
        arg(specs),
        "-p",
        "sqlite",
        "--no-progress",
        "--baseline",
        arg(file),
    ];
    args.extend_from_slice(extra);
    bin(&args)
}

#[test]
fn a_baseline_is_taken_reviewed_rewritten_and_gated_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = specs_with(dir.path(), SUITE);
    let file = dir.path().join("baselines/sqlite.yaml");

    let out = baseline(&specs, &file, &["--name", "sqlite-embedded"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&file).expect("written");
    assert_eq!(
        written,
        "\
# helios-matrix baseline: failures expected of one server, each with why. See docs/baselines.md.
server: sqlite-embedded
entries:
  - cell: sqlite
    case: GAP-001
    error: class undefined_table
    reason:
  - cell: sqlite
    case: GAP-003
    diff: \"-3\"
    reason:
"
    );
    assert!(
        text(&out.stderr).contains("2 without a reason yet"),
        "{}",
        text(&out.stderr)
    );

    // A person reviews it: a reason and a comment for each.
    let reviewed = written
        .replace(
            "  - cell: sqlite\n    case: GAP-001\n    error: class undefined_table\n    reason:\n",
            "  # Tracked as issue 7.\n  - cell: sqlite\n    case: GAP-001\n    error: class undefined_table\n    reason: the table is not created here\n",
        )
        .replace(
            "diff: \"-3\"\n    reason:\n",
            "diff: \"-3\"\n    reason: two is not three\n",
        );
    std::fs::write(&file, &reviewed).expect("review");

    let xml = dir.path().join("run.xml");
    let page = dir.path().join("page");
    let out = run(&specs, &file, &["--junit", arg(&xml), "--html", arg(&page)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("XFAIL sqlite      GAP-001 reads a table the server lacks (known failure in the baseline: the table is not created here)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("baseline sqlite-embedded (")
            && stdout.contains("2 known failure(s), 0 fixed"),
        "{stdout}"
    );
    // The JUnit report tells a baseline's known failure from a spec's xfail.
    let junit = std::fs::read_to_string(&xml).expect("junit");
    assert!(
        junit.contains("<property name=\"baseline\" value=\"the table is not created here\"/>"),
        "{junit}"
    );
    assert!(junit.contains("<property name=\"baseline_server\" value=\"sqlite-embedded\"/>"));
    assert!(!junit.contains("xfail_on"), "{junit}");
    let html = std::fs::read_to_string(page.join("index.html")).expect("page");
    assert!(
        html.contains("<tr data-compat=\"sqlite\" data-passed=\"1\" data-known=\"2\" data-new=\"0\" data-fixed=\"0\" data-compatibility=\"33.3%\">"),
        "{html}"
    );
    let md = text(&bin(&["report", "markdown", arg(&xml)]).stdout);
    assert!(md.contains("| sqlite | 1 | 2 | 0 | 0 | 33.3% |"), "{md}");
    // Merged (as the shards of a CI run are), the known failures still hold the gate.
    let merged = bin(&["report", "merge", arg(&xml)]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged.stdout));

    // Rewritten after the wrong answer is fixed: the reason and comment of what still fails
    // stay, and what passes now is dropped, saying so.
    let fixed_specs = specs_with(dir.path(), &SUITE.replace("rows: [[3]]", "rows: [[2]]"));
    let gated = run(&fixed_specs, &file, &[]);
    assert_eq!(gated.status.code(), Some(1), "{}", text(&gated.stdout));
    assert!(
        text(&gated.stdout).contains("fixed: remove it from the baseline"),
        "{}",
        text(&gated.stdout)
    );
    let out = baseline(&fixed_specs, &file, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("sqlite GAP-003: dropped from the baseline: it passed"),
        "{}",
        text(&out.stderr)
    );
    let rewritten = std::fs::read_to_string(&file).expect("rewritten");
    assert!(
        rewritten.ends_with(
            "server: sqlite-embedded\nentries:\n  # Tracked as issue 7.\n  - cell: sqlite\n    case: GAP-001\n    error: class undefined_table\n    reason: the table is not created here\n"
        ),
        "{rewritten}"
    );
    let out = run(&fixed_specs, &file, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn a_malformed_baseline_is_reported_with_file_line_and_column_and_nothing_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = specs_with(dir.path(), SUITE);
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "server: sqlite-embedded\nentries:\n  - cell: sqlite\n    case: GAP-001\n    error: class undefined_table\n    reasn: typo\n",
    )
    .expect("write");
    for out in [run(&specs, &file, &[]), baseline(&specs, &file, &[])] {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("bad.yaml:6:5: unknown key `reasn` in a baseline entry"),
            "{stderr}"
        );
        assert!(stderr.contains("nothing was run"), "{stderr}");
        assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    }
    // A baseline that is not there is no baseline to gate on.
    let out = run(&specs, &dir.path().join("missing.yaml"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A new baseline needs the server's name.
    let out = baseline(&specs, &dir.path().join("new.yaml"), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--name"),
        "{}",
        text(&out.stderr)
    );
}
