//! The matrix as a page and a summary: `report html`, `report markdown`, `run --html`,
//! from real runs (SQLite here; the Gold servers and headless Chromium in the ignored
//! test `just test-browser` runs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{arg, bin, specs_with, text};

use quick_junit::Report;

const SUITE: &str = "\
suite: page
priority: p0
cases:
  - id: PAGE-001
    name: passes
    steps:
      - query: SELECT 1
        rows: [[1]]
  - id: PAGE-002
    name: will regress
    steps:
      - query: SELECT 2
        rows: [[2]]
  - id: PAGE-003
    name: \"<b>markup</b> | in a name\"
    priority: p1
    steps:
      - query: SELECT '<script>alert(\"x\")</script>' FROM no_such_table
        rows: [[1]]
  - id: PAGE-004
    name: skipped here
    skip: [sqlite]
    steps:
      - query: SELECT 1
        rows: [[1]]
";

/// `run --junit --html` on SQLite; the JUnit path and the page.
fn run(specs: &Path, dir: &Path, name: &str) -> (PathBuf, String) {
    let xml = dir.join(format!("{name}.xml"));
    let html = dir.join(name);
    let out = bin(&[
        "run",
        "--specs",
        arg(specs),
        "-p",
        "sqlite",
        "--no-progress",
        "--junit",
        arg(&xml),
        "--html",
        arg(&html),
    ]);
    assert!(html.join("index.html").is_file(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(html.join("index.html")).expect("page");
    (xml, page)
}

/// `data-NAME="VALUE"` of the element whose `data-cell` is `cell`.
fn cell_counts(page: &str, cell: &str) -> BTreeMap<String, String> {
    let start = page
        .find(&format!("data-cell=\"{cell}\""))
        .unwrap_or_else(|| panic!("no cell {cell}"));
    let tag_end = start + page[start..].find('>').expect("tag ends");
    let tag = &page[start..tag_end];
    tag.split(" data-")
        .filter_map(|a| a.split_once("=\""))
        .map(|(k, v)| (k.to_string(), v.trim_end_matches('"').to_string()))
        .collect()
}

#[test]
fn the_page_shows_the_cells_counts_the_gate_and_a_failures_diff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = specs_with(dir.path(), SUITE);
    let (_, page) = run(&specs, dir.path(), "run");
    let counts = cell_counts(&page, "sqlite");
    assert_eq!(counts["passed"], "2", "{counts:?}");
    assert_eq!(counts["failed"], "1");
    assert_eq!(counts["skipped"], "1");
    // The failing case is p1: the p0 gate holds, and the page says so.
    assert!(page.contains("gate p0: passed"), "{page}");
    assert!(page.contains("data-tier=\"reference\""));
    // Its drill-down: the SQL as sent and the server's message, as text.
    assert!(page.contains("<details class=\"cell-cases\" id=\"cell-sqlite\" open>"));
    assert!(page.contains("no such table: no_such_table"), "{page}");
    assert!(page.contains("&lt;script&gt;alert("), "{page}");
    assert!(
        !page.contains("<script>"),
        "markup from a report never becomes markup"
    );
    // Self-contained: nothing fetched.
    for remote in ["http://", "https://", "src=", "<link"] {
        assert!(!page.contains(remote), "{remote} in the page");
    }
}

#[test]
fn a_baseline_marks_the_cases_that_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = specs_with(dir.path(), SUITE);
    let (before, _) = run(&specs, dir.path(), "before");
    std::fs::write(
        specs.join("suite.yaml"),
        SUITE.replace("rows: [[2]]", "rows: [[3]]"),
    )
    .expect("changed");
    let (after, _) = run(&specs, dir.path(), "after");
    let out_dir = dir.path().join("compared");
    let out = bin(&[
        "report",
        "html",
        "--baseline",
        arg(&before),
        arg(&after),
        "-o",
        arg(&out_dir),
    ]);
    // A page is written whatever the verdicts: the gate is `report merge`'s job.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(out_dir.join("index.html")).expect("page");
    assert!(
        page.contains("<tr data-case=\"PAGE-002\" data-change=\"regressed\">"),
        "{page}"
    );
    assert!(page.contains("1 regressed"), "{page}");
    assert!(page.contains("gate p0: FAILED"));
    assert_eq!(
        page.matches("data-change=").count(),
        2,
        "the change list and the case"
    );

    let md = bin(&[
        "report",
        "markdown",
        "--baseline",
        arg(&before),
        arg(&after),
    ]);
    let md = text(&md.stdout);
    assert!(
        md.starts_with("### helios-matrix: gate p0 FAILED ❌"),
        "{md}"
    );
    assert!(
        md.contains("| **sqlite** reference p0 | 🟥 1 pass · 2 fail · 1 skip · **1 regressed** |"),
        "{md}"
    );
    assert!(
        md.contains("- regressed: `PAGE-002` will regress (sqlite): pass → fail"),
        "{md}"
    );
    // Markup and pipes in a name cannot break the Markdown out of its line.
    assert!(
        md.contains("&lt;b&gt;markup&lt;/b&gt; \\| in a name"),
        "{md}"
    );
}

#[test]
fn a_report_that_is_not_helios_matrix_junit_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<testsuites><testsuite name=\"x\"><testcase name=\"t\"/></testsuite></testsuites>",
    )
    .expect("write");
    let out = bin(&[
        "report",
        "html",
        arg(&bad),
        "-o",
        arg(&dir.path().join("o")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no `priority` property"),
        "{}",
        text(&out.stderr)
    );
}

/// Headless Chromium's DOM of a page and what its console said.
fn in_browser(page: &Path, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let url = format!("file://{}", page.display());
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,900",
    ]);
    match screenshot {
        Some(path) => cmd.arg(format!("--screenshot={}", path.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd
        .arg(&url)
        .output()
        .expect("chromium runs (apt-get install chromium)");
    let console = text(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (text(&out.stdout), console)
}

/// Counts per cell straight from the JUnit report: passed, failed (checks), errors,
/// xfail, xpass, skipped.
fn junit_counts(xml: &Path) -> BTreeMap<String, [usize; 6]> {
    let report = Report::deserialize_from_str(&std::fs::read_to_string(xml).expect("junit"))
        .expect("parses");
    let mut out: BTreeMap<String, [usize; 6]> = BTreeMap::new();
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            let prop = |n: &str| {
                case.properties
                    .iter()
                    .find(|p| p.name.as_str() == n)
                    .map(|p| p.value.as_str().to_string())
            };
            let cell = match prop("driver") {
                Some(d) => format!("{}/{d}", prop("protocol").expect("protocol")),
                None => prop("protocol").expect("protocol"),
            };
            let xfail = prop("xfail").is_some();
            let slot = match (common::status_kind(&case.status), xfail) {
                ("pass", _) => 0,
                ("failure", true) => 4,
                ("failure", false) => 1,
                ("error", _) => 2,
                ("xfail", _) => 3,
                _ => 5,
            };
            out.entry(cell).or_default()[slot] += 1;
        }
    }
    out
}

#[test]
#[ignore = "needs chromium and the reference servers: just test-browser"]
fn the_page_of_a_real_matrix_run_loads_in_a_browser_with_the_right_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = dir.path().join("matrix.xml");
    let html = dir.path().join("report");
    let out = bin(&[
        "run",
        "-p",
        "sqlite,postgresql,mysql",
        "--driver",
        "native,all",
        "--priority",
        "p0",
        "--no-progress",
        "--junit",
        arg(&xml),
        "--html",
        arg(&html),
    ]);
    assert!(xml.is_file(), "{}", text(&out.stderr));
    let (dom, console) = in_browser(&html.join("index.html"), None);
    assert!(console.is_empty(), "console: {console:?}");
    let expected = junit_counts(&xml);
    assert!(expected.len() >= 3, "cells: {expected:?}");
    for (cell, [passed, failed, errors, xfail, xpass, skipped]) in &expected {
        let shown = cell_counts(&dom, cell);
        let got: Vec<usize> = ["passed", "failed", "errors", "xfail", "xpass", "skipped"]
            .iter()
            .map(|k| shown[*k].parse().expect("a count"))
            .collect();
        assert_eq!(
            got,
            vec![*passed, *failed, *errors, *xfail, *xpass, *skipped],
            "{cell}"
        );
    }
    let (_, console) = in_browser(&html.join("index.html"), Some(&dir.path().join("shot.png")));
    assert!(console.is_empty(), "console: {console:?}");
    assert!(dir.path().join("shot.png").is_file());
}
