//! `report merge`: the JUnit reports of a sharded run (`run --shard K/N --junit …`, one per
//! CI job) made into one, and gated as `run` gates, with the same counts and verdict line.
//!
//! A case is read back from what [`super::junit`] writes: its priority from its `priority`
//! property, its cell from `protocol` (and `driver`), its verdict from its status: an
//! `<error>` could not run, a `<failure>` with an `xfail` (or `baseline`) property passed
//! unexpectedly, a `<skipped>` with one failed as expected.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Tally, Verdict};
use crate::registry::Priority;
use crate::run::cell_name;

/// Why a report cannot be merged.
#[derive(Debug)]
pub enum Error {
    /// The file cannot be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a JUnit report written by helios-matrix.
    Invalid { path: PathBuf, message: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Error::Invalid { path, message } => write!(
                f,
                "{} is not a JUnit report written by `helios-matrix run`: {message}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

/// One input report, read and parsed.
pub struct Input {
    pub path: PathBuf,
    pub report: Report,
}

/// Reads and parses one report.
pub fn read(path: &Path) -> Result<Input, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |message: String| Error::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let text = String::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8 ({e})")))?;
    let report = Report::deserialize_from_str(&text).map_err(|e| invalid(with_causes(&e)))?;
    Ok(Input {
        path: path.to_path_buf(),
        report,
    })
}

/// An error with its causes: quick-junit's own message ("error parsing XML") says where,
/// its source says what.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        // quick-xml's errors repeat their source's message in their own.
        let said = c.to_string();
        if !text.ends_with(&said) {
            text.push_str(&format!(": {said}"));
        }
        cause = c.source();
    }
    text
}

/// The merged report, with what the gate and the terminal need.
pub struct Merged {
    pub report: Report,
    pub tally: Tally,
    /// A line per failing case (failed, error, unexpected pass), in report order.
    pub failures: Vec<String>,
    /// A line per case found in more than one input (overlapping shards).
    pub duplicates: Vec<String>,
}

/// Merges the inputs: suites of the same name become one, in the order each name is first
/// seen (inputs in the order given); each suite's cases keep the order they are read in.
/// The counts are recomputed from the cases.
pub fn merge(inputs: &[Input]) -> Result<Merged, Error> {
    let mut suites: Vec<TestSuite> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut seen: BTreeMap<(String, String), &Path> = BTreeMap::new();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let mut duplicates = Vec::new();
    let mut time: Option<Duration> = None;
    for input in inputs {
        if let Some(t) = input.report.time {
            time = Some(time.unwrap_or_default() + t);
        }
        for suite in &input.report.test_suites {
            let name = suite.name.as_str().to_string();
            let at = *index.entry(name.clone()).or_insert_with(|| {
                suites.push(empty_like(suite));
                suites.len() - 1
            });
            let merged = &mut suites[at];
            if let Some(t) = suite.time {
                merged.time = Some(merged.time.unwrap_or_default() + t);
            }
            for case in &suite.test_cases {
                let key = (name.clone(), case.name.as_str().to_string());
                if let Some(first) = seen.get(&key) {
                    duplicates.push(format!(
                        "{} `{}` is in both {} and {}",
                        key.0,
                        key.1,
                        first.display(),
                        input.path.display()
                    ));
                } else {
                    seen.insert(key, &input.path);
                }
                let read = read_case(case, suite).map_err(|message| Error::Invalid {
                    path: input.path.clone(),
                    message: format!("case `{}` in suite {name}: {message}", case.name.as_str()),
                })?;
                tally.record(&read.cell, read.priority, read.verdict);
                if read.verdict.is_failure() {
                    failures.push(format!(
                        "{} {:<11} {} ({}, {})",
                        read.verdict.label(),
                        read.cell,
                        case.name.as_str(),
                        read.priority,
                        property(case, "source").unwrap_or("no source")
                    ));
                }
                merged.add_test_case(case.clone());
            }
        }
    }
    let mut report = Report::new("helios-matrix");
    if let Some(t) = time {
        report.set_time(t);
    }
    report.add_test_suites(suites);
    Ok(Merged {
        report,
        tally,
        failures,
        duplicates,
    })
}

/// A suite with `suite`'s name, attributes and properties, and no cases (so no counts).
fn empty_like(suite: &TestSuite) -> TestSuite {
    let mut empty = TestSuite::new(suite.name.clone());
    empty.timestamp = suite.timestamp;
    empty.properties = suite.properties.clone();
    empty.extra = suite.extra.clone();
    empty
}

/// What the gate needs of one case.
pub(super) struct ReadCase {
    pub cell: String,
    pub priority: Priority,
    pub verdict: Verdict,
}

/// A case as `run` wrote it: its cell, priority and verdict.
pub(super) fn read_case(case: &TestCase, suite: &TestSuite) -> Result<ReadCase, String> {
    let priority = match property(case, "priority") {
        Some(p) => Priority::parse(p).ok_or_else(|| format!("unknown priority `{p}`"))?,
        None => return Err("no `priority` property".to_string()),
    };
    // The cell as `run` names it; a report without the property is named by its suite
    // (`<cell>.<suite>`).
    let cell = match property(case, "protocol") {
        Some(protocol) => cell_name(protocol, property(case, "driver")),
        None => suite
            .name
            .as_str()
            .split_once('.')
            .map_or(suite.name.as_str(), |(cell, _)| cell)
            .to_string(),
    };
    // A baseline's known failures and fixes are xfails and xpasses too, told apart by
    // their own property.
    let xfail = property(case, "xfail").is_some() || property(case, "baseline").is_some();
    let verdict = match &case.status {
        TestCaseStatus::Success { .. } => Verdict::Passed,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            ..
        } => Verdict::Error,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            ..
        } if xfail => Verdict::UnexpectedPass,
        TestCaseStatus::NonSuccess { .. } => Verdict::Failed,
        TestCaseStatus::Skipped { .. } if xfail => Verdict::ExpectedFailure,
        TestCaseStatus::Skipped { .. } => Verdict::Skipped,
    };
    Ok(ReadCase {
        cell,
        priority,
        verdict,
    })
}

pub(super) fn property<'a>(case: &'a TestCase, name: &str) -> Option<&'a str> {
    case.properties
        .iter()
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_junit::Property;

    fn case(name: &str, priority: &str, status: TestCaseStatus, xfail: bool) -> TestCase {
        let mut tc = TestCase::new(name, status);
        tc.add_property(Property::new("priority", priority));
        tc.add_property(Property::new("protocol", "sqlite"));
        tc.add_property(Property::new("source", "specs/x.yaml:1"));
        if xfail {
            tc.add_property(Property::new("xfail", "a known gap"));
        }
        tc
    }

    fn input(path: &str, suites: Vec<(&str, Vec<TestCase>)>) -> Input {
        let mut report = Report::new("helios-matrix");
        for (name, cases) in suites {
            let mut suite = TestSuite::new(name);
            suite.add_test_cases(cases);
            report.add_test_suite(suite);
        }
        // Through XML and back, as the command reads them.
        let xml = report.to_string().expect("serializes");
        Input {
            path: PathBuf::from(path),
            report: Report::deserialize_from_str(&xml).expect("parses"),
        }
    }

    fn failure() -> TestCaseStatus {
        TestCaseStatus::non_success(NonSuccessKind::Failure)
    }

    #[test]
    fn suites_merge_by_name_in_first_seen_order_and_counts_are_recomputed() {
        let a = input(
            "a.xml",
            vec![
                (
                    "sqlite.b",
                    vec![case("B-1", "p0", TestCaseStatus::success(), false)],
                ),
                ("sqlite.c", vec![case("C-1", "p1", failure(), false)]),
            ],
        );
        let b = input(
            "b.xml",
            vec![
                (
                    "sqlite.a",
                    vec![case("A-1", "p0", TestCaseStatus::skipped(), false)],
                ),
                (
                    "sqlite.b",
                    vec![case("B-2", "p0", TestCaseStatus::skipped(), true)],
                ),
            ],
        );
        let merged = merge(&[a, b]).expect("merges");
        let layout: Vec<(String, Vec<String>)> = merged
            .report
            .test_suites
            .iter()
            .map(|s| {
                (
                    s.name.as_str().to_string(),
                    s.test_cases
                        .iter()
                        .map(|c| c.name.as_str().to_string())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            layout,
            vec![
                ("sqlite.b".into(), vec!["B-1".into(), "B-2".into()]),
                ("sqlite.c".into(), vec!["C-1".into()]),
                ("sqlite.a".into(), vec!["A-1".into()]),
            ]
        );
        let r = &merged.report;
        assert_eq!((r.tests, r.failures, r.errors, r.skipped), (4, 1, 0, 2));
        let b_suite = &r.test_suites[0];
        assert_eq!((b_suite.tests, b_suite.skipped), (2, 1));
        let total = merged.tally.total();
        assert_eq!(
            (
                total.passed,
                total.failed,
                total.skipped,
                total.expected_failures
            ),
            (1, 1, 1, 1)
        );
        // The failing case is P1: outside the default gate.
        assert_eq!(merged.tally.gate_failures(&[Priority::P0]), 0);
        assert_eq!(merged.tally.gate_failures(&[Priority::P0, Priority::P1]), 1);
        assert_eq!(
            merged.failures,
            vec!["FAIL  sqlite      C-1 (p1, specs/x.yaml:1)"]
        );
        assert!(merged.duplicates.is_empty());
    }

    #[test]
    fn errors_and_unexpected_passes_fail_the_gate_and_duplicates_are_named() {
        let error = TestCaseStatus::non_success(NonSuccessKind::Error);
        let a = input(
            "a.xml",
            vec![(
                "sqlite.s",
                vec![
                    case("S-1", "p0", error, false),
                    case("S-2", "p0", failure(), true),
                ],
            )],
        );
        let again = input(
            "again.xml",
            vec![(
                "sqlite.s",
                vec![case("S-1", "p0", TestCaseStatus::success(), false)],
            )],
        );
        let merged = merge(&[a, again]).expect("merges");
        let total = merged.tally.total();
        assert_eq!((total.errors, total.unexpected_passes), (1, 1));
        assert_eq!(merged.tally.gate_failures(&[Priority::P0]), 2);
        assert_eq!(
            merged.duplicates,
            vec!["sqlite.s `S-1` is in both a.xml and again.xml"]
        );
    }

    #[test]
    fn a_case_without_a_priority_is_refused() {
        let mut report = Report::new("other");
        let mut suite = TestSuite::new("x");
        suite.add_test_case(TestCase::new("T", TestCaseStatus::success()));
        report.add_test_suite(suite);
        let input = Input {
            path: PathBuf::from("other.xml"),
            report,
        };
        let Err(e) = merge(&[input]) else {
            panic!("merged a report without priorities")
        };
        assert_eq!(
            e.to_string(),
            "other.xml is not a JUnit report written by `helios-matrix run`: case `T` in suite x: no `priority` property"
        );
    }
}
