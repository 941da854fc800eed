//! The compatibility matrix read back from JUnit reports: one row per protocol, one column
//! per executor or driver, each cell its counts and its cases. The HTML and Markdown
//! reports render it; a baseline run marks what changed.
//!
//! Everything comes from what [`super::junit`] writes (the `protocol`, `driver`, `tier`,
//! `priority`, `source`, `xfail` properties), so merged shard reports read the same.

use std::collections::{BTreeMap, HashMap};

use quick_junit::{Report, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::merge::{property, read_case};
use super::{Counts, Tally, Verdict};
use crate::registry::Priority;
use crate::run::CONFORMANCE_SUITE;
use crate::secret::mask;

/// The column of the built-in executor (cases with no `driver` property).
pub const NATIVE: &str = "native";

#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// The priorities whose failures fail the gate.
    pub gate: Vec<String>,
    /// Whether the gate holds: no case within it failed, errored or passed unexpectedly.
    pub gate_passed: bool,
    /// The gate verdict of each tier, in the order tiers first appear.
    pub tiers: Vec<TierGate>,
    /// `native` first (when present), then drivers in order of appearance.
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    pub total: Counts,
    /// With a baseline: the cases whose verdict changed, regressions first.
    pub changes: Vec<Change>,
    /// With a baseline: how many cases each kind of change has.
    pub change_counts: BTreeMap<&'static str, usize>,
    /// Every case that fails the run (failed, errored, passed unexpectedly), in order.
    pub failing: Vec<Failing>,
    /// The baseline the run was judged by (`run --baseline`), if it was.
    pub server_baseline: Option<ServerBaseline>,
}

/// The baseline a run was judged by, from its reports' `baseline_*` suite properties.
#[derive(Debug, Clone, Serialize)]
pub struct ServerBaseline {
    /// The server it was taken on, and its version.
    pub server: String,
    pub version: Option<String>,
    /// `baseline taken on heliosdb-nano 4.41.1; this run: 4.42.0` when the run's server
    /// version differs.
    pub version_note: Option<String>,
}

/// A case that fails the run, for summaries.
#[derive(Debug, Clone, Serialize)]
pub struct Failing {
    pub cell: String,
    pub id: String,
    pub name: String,
    pub priority: String,
    pub verdict: &'static str,
    pub source: String,
    /// The message's first line.
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierGate {
    pub tier: String,
    pub passed: bool,
    /// Cases within the gate that fail it, and all cases of the tier.
    pub failures: usize,
    pub cases: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub protocol: String,
    pub tier: String,
    /// The protocol's priority in the matrix, when the report says it.
    pub priority: Option<String>,
    /// One per column; `None` where the protocol did not run through that executor.
    pub cells: Vec<Option<Cell>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// `postgresql`, or `postgresql/psycopg2`.
    pub name: String,
    /// An HTML id for the cell's drill-down.
    pub anchor: String,
    pub counts: Counts,
    /// The colour: `fail` when any case fails, else `pass` when any passed, else `skip`.
    pub state: &'static str,
    /// Cases changed since the baseline, regressions counted apart.
    pub regressed: usize,
    pub changed: usize,
    /// Of the expected failures, those a `run --baseline` entry expected (known
    /// failures); of the unexpected passes, those it listed (fixed).
    pub known_failures: usize,
    pub fixed: usize,
    /// The server's share of the cases that ran (skips aside) that passed, `87.5%`:
    /// known and expected failures count against it, whatever the gate says.
    pub compatibility: Option<String>,
    pub cases: Vec<CaseEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseEntry {
    pub id: String,
    pub name: String,
    pub suite: String,
    pub priority: String,
    /// `pass`, `fail`, `error`, `skip`, `xfail`, `xpass`.
    pub verdict: &'static str,
    /// Milliseconds, when the report has a time.
    pub duration_ms: Option<u64>,
    /// `specs/core/types.yaml:12`
    pub source: String,
    /// The failure or skip message (credentials masked).
    pub message: Option<String>,
    /// The failure as the terminal shows it: message, location, SQL as sent, diff; one
    /// entry per line with its kind (`add`, `remove`, or `text`) for colouring.
    pub details: Vec<DetailLine>,
    pub xfail: Option<String>,
    pub xfail_on: Option<String>,
    /// The reason of the `run --baseline` entry that expected this case to fail.
    pub baseline_reason: Option<String>,
    /// Since the baseline: `regressed`, `fixed`, `changed`, `new`; `None` when the same.
    pub change: Option<&'static str>,
    /// The baseline's verdict, when it differs.
    pub was: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetailLine {
    pub kind: &'static str,
    pub text: String,
}

/// One case whose verdict changed since the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub kind: &'static str,
    pub cell: String,
    pub anchor: String,
    pub id: String,
    pub name: String,
    pub was: &'static str,
    /// `None`: the case is gone from the new run.
    pub now: Option<&'static str>,
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "pass",
        Verdict::Failed => "fail",
        Verdict::Error => "error",
        Verdict::Skipped => "skip",
        Verdict::ExpectedFailure => "xfail",
        Verdict::UnexpectedPass => "xpass",
    }
}

/// A case read from a report, before it is placed in the matrix.
struct Read {
    protocol: String,
    column: String,
    cell: String,
    tier: String,
    protocol_priority: Option<String>,
    priority: Priority,
    verdict: Verdict,
    entry: CaseEntry,
}

/// The key a case has in two runs of the same matrix.
fn key(cell: &str, suite: &str, id: &str) -> (String, String, String) {
    (cell.to_string(), suite.to_string(), id.to_string())
}

fn read_report(report: &Report) -> Result<Vec<Read>, String> {
    let mut out = Vec::new();
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            let read = read_case(case, suite).map_err(|m| {
                format!(
                    "case `{}` in suite {}: {m}",
                    case.name.as_str(),
                    suite.name.as_str()
                )
            })?;
            let protocol =
                property(case, "protocol").map_or_else(|| read.cell.clone(), str::to_string);
            let driver = property(case, "driver").unwrap_or(NATIVE);
            // A driver's own suite is a column of its own beside the driver's spec cases.
            let column = if suite_name(suite) == CONFORMANCE_SUITE {
                format!("{driver} (own suite)")
            } else {
                driver.to_string()
            };
            let (id, name) = case
                .name
                .as_str()
                .split_once(' ')
                .unwrap_or((case.name.as_str(), ""));
            let (message, description) = match &case.status {
                TestCaseStatus::Success { .. } => (None, None),
                TestCaseStatus::NonSuccess {
                    message,
                    description,
                    ..
                }
                | TestCaseStatus::Skipped {
                    message,
                    description,
                    ..
                } => (message.as_ref(), description.as_ref()),
            };
            let details = description
                .map(|d| mask(d.as_str()))
                .map(|d| d.lines().map(detail_line).collect())
                .unwrap_or_default();
            let entry = CaseEntry {
                id: id.to_string(),
                name: name.to_string(),
                suite: suite_name(suite),
                priority: read.priority.as_str().to_string(),
                verdict: verdict_name(read.verdict),
                duration_ms: case.time.map(|t| t.as_millis() as u64),
                source: property(case, "source").unwrap_or_default().to_string(),
                message: message.map(|m| mask(m.as_str())),
                details,
                xfail: property(case, "xfail").map(mask),
                xfail_on: property(case, "xfail_on").map(str::to_string),
                baseline_reason: property(case, "baseline").map(mask),
                change: None,
                was: None,
            };
            out.push(Read {
                protocol,
                column,
                tier: property(case, "tier").unwrap_or("unknown").to_string(),
                protocol_priority: suite_property(suite, "protocol_priority"),
                priority: read.priority,
                verdict: read.verdict,
                cell: read.cell,
                entry,
            });
        }
    }
    Ok(out)
}

/// The suite's own name: `postgresql.core_types` → `core_types`.
fn suite_name(suite: &TestSuite) -> String {
    let name = suite.name.as_str();
    name.rsplit_once('.').map_or(name, |(_, s)| s).to_string()
}

fn suite_property(suite: &TestSuite, name: &str) -> Option<String> {
    suite
        .properties
        .iter()
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str().to_string())
}

/// Diff lines keep their sign so the page can colour them; the details' indentation
/// (`    -1181`) is the terminal's.
fn detail_line(line: &str) -> DetailLine {
    let body = line.trim_start();
    let kind = if body.starts_with("+++") || body.starts_with("---") || body.starts_with("@@") {
        "text"
    } else if body.starts_with('+') && line.starts_with("    ") {
        "add"
    } else if body.starts_with('-') && line.starts_with("    ") {
        "remove"
    } else {
        "text"
    };
    DetailLine {
        kind,
        text: line.to_string(),
    }
}

/// The item `matches` finds, or the one `make` gives, pushed last.
fn find_or_push<T>(
    items: &mut Vec<T>,
    matches: impl Fn(&T) -> bool,
    make: impl FnOnce() -> T,
) -> &mut T {
    let at = match items.iter().position(matches) {
        Some(i) => i,
        None => {
            items.push(make());
            items.len() - 1
        }
    };
    &mut items[at]
}

fn anchor(cell: &str) -> String {
    let safe: String = cell
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("cell-{safe}")
}

impl Matrix {
    /// The matrix of `report` (one run, or shards merged), gated on `gate`; with a
    /// `baseline` report, each case's change since it.
    pub fn new(
        report: &Report,
        gate: &[Priority],
        baseline: Option<&Report>,
    ) -> Result<Matrix, String> {
        let mut reads = read_report(report)?;
        let mut changes = Vec::new();
        if let Some(baseline) = baseline {
            changes = compare(&mut reads, &read_report(baseline)?);
        }

        // Columns first: the native executor's, then drivers as they came.
        let mut columns: Vec<String> = Vec::new();
        for read in &reads {
            if !columns.contains(&read.column) {
                columns.push(read.column.clone());
            }
        }
        columns.sort_by_key(|c| c != NATIVE);

        let mut tally = Tally::default();
        let mut rows: Vec<Row> = Vec::new();
        let mut tiers: Vec<TierGate> = Vec::new();
        let mut failing = Vec::new();
        for read in reads {
            tally.record(&read.cell, read.priority, read.verdict);
            if read.verdict.is_failure() {
                failing.push(Failing {
                    cell: read.cell.clone(),
                    id: read.entry.id.clone(),
                    name: read.entry.name.clone(),
                    priority: read.entry.priority.clone(),
                    verdict: read.entry.verdict,
                    source: read.entry.source.clone(),
                    message: read
                        .entry
                        .message
                        .as_deref()
                        .and_then(|m| m.lines().next())
                        .unwrap_or_default()
                        .to_string(),
                });
            }
            let tier = find_or_push(
                &mut tiers,
                |t| t.tier == read.tier,
                || TierGate {
                    tier: read.tier.clone(),
                    passed: true,
                    failures: 0,
                    cases: 0,
                },
            );
            tier.cases += 1;
            if read.verdict.is_failure() && gate.contains(&read.priority) {
                tier.failures += 1;
            }
            let row = find_or_push(
                &mut rows,
                |r| r.protocol == read.protocol,
                || Row {
                    protocol: read.protocol.clone(),
                    tier: read.tier.clone(),
                    priority: read.protocol_priority.clone(),
                    cells: vec![None; columns.len()],
                },
            );
            let column = columns.iter().position(|c| *c == read.column).unwrap_or(0);
            let cell = row.cells[column].get_or_insert_with(|| Cell {
                name: read.cell.clone(),
                anchor: anchor(&read.cell),
                counts: Counts::default(),
                state: "skip",
                regressed: 0,
                changed: 0,
                known_failures: 0,
                fixed: 0,
                compatibility: None,
                cases: Vec::new(),
            });
            cell.counts.add(read.verdict);
            if read.entry.baseline_reason.is_some() {
                match read.verdict {
                    Verdict::ExpectedFailure => cell.known_failures += 1,
                    Verdict::UnexpectedPass => cell.fixed += 1,
                    _ => {}
                }
            }
            match read.entry.change {
                Some("regressed") => cell.regressed += 1,
                Some(_) => cell.changed += 1,
                None => {}
            }
            cell.cases.push(read.entry);
        }
        for tier in &mut tiers {
            tier.passed = tier.failures == 0;
        }
        for cell in rows.iter_mut().flat_map(|r| r.cells.iter_mut().flatten()) {
            let c = &cell.counts;
            cell.state = if c.failures() > 0 {
                "fail"
            } else if c.passed + c.expected_failures > 0 {
                "pass"
            } else {
                "skip"
            };
            cell.compatibility = compatibility(c);
        }
        let mut change_counts = BTreeMap::new();
        for c in &changes {
            *change_counts.entry(c.kind).or_insert(0) += 1;
        }
        Ok(Matrix {
            gate: gate.iter().map(|p| p.as_str().to_string()).collect(),
            gate_passed: tally.gate_failures(gate) == 0,
            tiers,
            columns,
            rows,
            total: tally.total(),
            changes,
            change_counts,
            failing,
            server_baseline: server_baseline(report),
        })
    }

    /// The cell of `protocol` in `column`, if it ran.
    pub fn cell(&self, protocol: &str, column: &str) -> Option<&Cell> {
        let col = self.columns.iter().position(|c| c == column)?;
        self.rows
            .iter()
            .find(|r| r.protocol == protocol)?
            .cells
            .get(col)?
            .as_ref()
    }
}

/// The cases that passed (unexpected passes too: they passed) out of those that ran.
fn compatibility(c: &Counts) -> Option<String> {
    let ran = c.passed + c.failed + c.expected_failures + c.unexpected_passes;
    let passed = c.passed + c.unexpected_passes;
    // Rounded down to a tenth, so 999 of 1000 is never shown as 100%.
    (ran > 0).then(|| {
        let tenths = passed * 1000 / ran;
        format!("{}.{}%", tenths / 10, tenths % 10)
    })
}

/// The baseline the report's run was judged by: the first suite that names one.
fn server_baseline(report: &Report) -> Option<ServerBaseline> {
    let suite = report
        .test_suites
        .iter()
        .find(|s| suite_property(s, "baseline_server").is_some())?;
    let server = suite_property(suite, "baseline_server")?;
    let version = suite_property(suite, "baseline_version");
    let run_server = suite_property(suite, "server");
    let run_version = suite_property(suite, "server_version");
    Some(ServerBaseline {
        version_note: crate::baseline::version_note(
            &server,
            version.as_deref(),
            crate::baseline::RunServer {
                name: run_server.as_deref(),
                version: run_version.as_deref(),
            },
        ),
        server,
        version,
    })
}

/// Marks each case's change since the baseline; returns the changed cases, regressions
/// first, then fixes, other changes, new cases and cases gone.
fn compare(reads: &mut [Read], baseline: &[Read]) -> Vec<Change> {
    let before: HashMap<_, &Read> = baseline
        .iter()
        .map(|b| (key(&b.cell, &b.entry.suite, &b.entry.id), b))
        .collect();
    let mut changes = Vec::new();
    for read in reads.iter_mut() {
        let k = key(&read.cell, &read.entry.suite, &read.entry.id);
        let kind = match before.get(&k) {
            None => Some("new"),
            Some(b) if b.verdict == read.verdict => None,
            Some(b) if !b.verdict.is_failure() && read.verdict.is_failure() => Some("regressed"),
            Some(b) if b.verdict.is_failure() && !read.verdict.is_failure() => Some("fixed"),
            Some(_) => Some("changed"),
        };
        let was = before.get(&k).map(|b| verdict_name(b.verdict));
        read.entry.change = kind;
        read.entry.was = kind.and(was);
        if let Some(kind) = kind {
            changes.push(Change {
                kind,
                cell: read.cell.clone(),
                anchor: anchor(&read.cell),
                id: read.entry.id.clone(),
                name: read.entry.name.clone(),
                was: was.unwrap_or("absent"),
                now: Some(read.entry.verdict),
            });
        }
    }
    let now: std::collections::HashSet<_> = reads
        .iter()
        .map(|r| key(&r.cell, &r.entry.suite, &r.entry.id))
        .collect();
    for b in baseline {
        if !now.contains(&key(&b.cell, &b.entry.suite, &b.entry.id)) {
            changes.push(Change {
                kind: "gone",
                cell: b.cell.clone(),
                anchor: anchor(&b.cell),
                id: b.entry.id.clone(),
                name: b.entry.name.clone(),
                was: verdict_name(b.verdict),
                now: None,
            });
        }
    }
    let rank = |k: &str| match k {
        "regressed" => 0,
        "fixed" => 1,
        "changed" => 2,
        "new" => 3,
        _ => 4,
    };
    changes.sort_by_key(|c| rank(c.kind));
    changes
}

/// The matrix of JUnit report files (shards merged as `report merge` merges them), and
/// of a baseline run's report.
pub fn from_files(
    reports: &[std::path::PathBuf],
    baseline: Option<&std::path::Path>,
    gate: &[Priority],
) -> Result<Matrix, String> {
    let read_all = |paths: &[std::path::PathBuf]| -> Result<Report, String> {
        let inputs = paths
            .iter()
            .map(|p| super::merge::read(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        super::merge::merge(&inputs)
            .map(|m| m.report)
            .map_err(|e| e.to_string())
    };
    let report = read_all(reports)?;
    let baseline = baseline.map(|b| read_all(&[b.to_path_buf()])).transpose()?;
    Matrix::new(&report, gate, baseline.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_junit::{NonSuccessKind, Property, TestCase};

    fn case(id: &str, protocol: &str, driver: Option<&str>, status: TestCaseStatus) -> TestCase {
        let mut tc = TestCase::new(format!("{id} a case"), status);
        tc.add_property(Property::new("priority", "p0"));
        tc.add_property(Property::new("tier", "gold"));
        tc.add_property(Property::new("protocol", protocol));
        if let Some(d) = driver {
            tc.add_property(Property::new("driver", d));
        }
        tc.add_property(Property::new("source", "specs/x.yaml:3"));
        tc
    }

    fn report(cases: Vec<TestCase>) -> Report {
        let mut suite = TestSuite::new("x.s");
        suite.add_property(Property::new("protocol_priority", "p0"));
        suite.add_test_cases(cases);
        let mut r = Report::new("helios-matrix");
        r.add_test_suite(suite);
        r
    }

    fn failure(message: &str, description: &str) -> TestCaseStatus {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(message).set_description(description);
        s
    }

    #[test]
    fn cells_by_protocol_and_driver_native_first_with_secrets_masked() {
        let r = report(vec![
            case(
                "A-1",
                "postgresql",
                Some("psycopg2"),
                TestCaseStatus::success(),
            ),
            case(
                "A-1",
                "postgresql",
                None,
                failure(
                    "cannot connect to postgres://app:s3cret@127.0.0.1/db",
                    "the result differs\n  expected vs actual:\n    -1\n    +2",
                ),
            ),
            case("A-1", "mysql", None, TestCaseStatus::skipped()),
        ]);
        let m = Matrix::new(&r, &[Priority::P0], None).expect("reads");
        assert_eq!(m.columns, vec![NATIVE, "psycopg2"]);
        assert_eq!(
            m.rows
                .iter()
                .map(|r| r.protocol.as_str())
                .collect::<Vec<_>>(),
            vec!["postgresql", "mysql"]
        );
        assert!(!m.gate_passed);
        let native = m.cell("postgresql", NATIVE).expect("ran");
        assert_eq!((native.counts.failed, native.state), (1, "fail"));
        let entry = &native.cases[0];
        assert_eq!(
            entry.message.as_deref(),
            Some("cannot connect to postgres://app:****@127.0.0.1/db")
        );
        let kinds: Vec<&str> = entry.details.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, vec!["text", "text", "remove", "add"]);
        assert_eq!(
            m.cell("postgresql", "psycopg2").map(|c| c.state),
            Some("pass")
        );
        assert_eq!(m.cell("mysql", NATIVE).map(|c| c.state), Some("skip"));
        assert!(m.cell("mysql", "psycopg2").is_none());
    }

    #[test]
    fn a_baselines_known_failures_and_fixes_are_told_from_a_specs_xfails() {
        let xfail = |property: &str| {
            let mut s = TestCaseStatus::skipped();
            s.set_type("xfail");
            let mut tc = case("B-1", "sqlite", None, s);
            tc.add_property(Property::new(property, "a known gap"));
            tc
        };
        let mut fixed = case("B-3", "sqlite", None, failure("fixed", ""));
        fixed.add_property(Property::new("baseline", "was broken"));
        let mut r = report(vec![
            xfail("baseline"),
            xfail("xfail"),
            fixed,
            case("B-4", "sqlite", None, TestCaseStatus::success()),
            case("B-5", "sqlite", None, failure("new", "")),
            case("B-6", "sqlite", None, TestCaseStatus::skipped()),
        ]);
        let without = Matrix::new(&r, &[Priority::P0], None).expect("reads");
        assert!(without.server_baseline.is_none());
        for (name, value) in [
            ("baseline_server", "heliosdb-nano"),
            ("baseline_version", "4.41.1"),
            ("server_version", "4.42.0"),
        ] {
            r.test_suites[0].add_property(Property::new(name, value));
        }
        let m = Matrix::new(&r, &[Priority::P0], None).expect("reads");
        let baseline = m.server_baseline.as_ref().expect("judged by a baseline");
        assert_eq!(baseline.server, "heliosdb-nano");
        assert_eq!(
            baseline.version_note.as_deref(),
            Some("baseline taken on heliosdb-nano 4.41.1; this run: 4.42.0")
        );
        let cell = m.cell("sqlite", NATIVE).expect("ran");
        assert_eq!(
            (
                cell.known_failures,
                cell.fixed,
                cell.counts.expected_failures,
                cell.counts.failed
            ),
            (1, 1, 2, 1)
        );
        // Passed: B-4 and the fixed B-3, of the five that ran.
        assert_eq!(cell.compatibility.as_deref(), Some("40.0%"));
        let md = super::super::pages::markdown(&m).expect("renders");
        assert!(md.contains("| sqlite | 1 | 1 | 1 | 1 | 40.0% |"), "{md}");
        assert!(md.contains("this run: 4.42.0"), "{md}");
        let page = super::super::pages::html(&m, &[], None).expect("renders");
        assert!(
            page.contains("data-known=\"1\" data-new=\"1\" data-fixed=\"1\" data-compatibility=\"40.0%\"")
                && page.contains("<strong id=\"version-note\">baseline taken on heliosdb-nano 4.41.1; this run: 4.42.0</strong>"),
            "{page}"
        );
    }

    #[test]
    fn a_baseline_sorts_changes_regressions_first() {
        let before = report(vec![
            case("A-1", "sqlite", None, TestCaseStatus::success()),
            case("A-2", "sqlite", None, failure("x", "")),
            case("A-3", "sqlite", None, TestCaseStatus::success()),
        ]);
        let after = report(vec![
            case("A-2", "sqlite", None, TestCaseStatus::success()),
            case("A-1", "sqlite", None, failure("x", "")),
            case("A-4", "sqlite", None, TestCaseStatus::success()),
        ]);
        let m = Matrix::new(&after, &[Priority::P0], Some(&before)).expect("reads");
        let changes: Vec<(&str, &str)> =
            m.changes.iter().map(|c| (c.kind, c.id.as_str())).collect();
        assert_eq!(
            changes,
            vec![
                ("regressed", "A-1"),
                ("fixed", "A-2"),
                ("new", "A-4"),
                ("gone", "A-3")
            ]
        );
        assert_eq!(m.cell("sqlite", NATIVE).map(|c| c.regressed), Some(1));
    }
}
