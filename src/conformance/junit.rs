//! A suite's own JUnit XML read back as case outcomes. pytest's flavour is the one met so
//! far; any runner that writes `<testcase classname name time>` with `<failure>`,
//! `<error>` and `<skipped>` reads the same.

use std::collections::HashMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

use crate::run::{Failure, Outcome};
use crate::secret::mask;

/// One upstream test and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// `classname.name` (`tests.test_cursor.CursorTests.test_close`), whitespace made `_`
    /// (an id is one word in the reports); a repeated id gets `#2`, `#3`, …
    pub id: String,
    /// The test's own name.
    pub name: String,
    /// Its file in the suite's source and its line, when the runner says (pytest's
    /// `xunit1` flavour does).
    pub file: Option<String>,
    pub line: u32,
    pub outcome: Outcome,
    pub duration: Duration,
}

/// The cases of a JUnit report, in its order. Every message and trace is masked (a
/// suite's messages may quote its connection string).
pub fn read(xml: &str) -> Result<Vec<Upstream>, String> {
    let xml = first_status_only(xml)?;
    let report = Report::deserialize_from_str(&xml).map_err(|e| e.to_string())?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            let name = case.name.as_str().to_string();
            let full = match &case.classname {
                Some(class) if !class.as_str().is_empty() => format!("{}.{name}", class.as_str()),
                _ => name.clone(),
            };
            let mut id: String = full
                .chars()
                .map(|c| if c.is_whitespace() { '_' } else { c })
                .collect();
            let n = seen.entry(id.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                id = format!("{id}#{n}");
            }
            let extra = |key: &str| {
                case.extra
                    .iter()
                    .find(|(k, _)| k.as_str() == key)
                    .map(|(_, v)| v.as_str().to_string())
            };
            out.push(Upstream {
                id,
                name,
                file: extra("file"),
                line: extra("line").and_then(|l| l.parse().ok()).unwrap_or(0),
                outcome: outcome(&case.status),
                duration: case.time.unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// The report with each test case's first status element only. pytest writes a second
/// one for a test that failed and then errored in its teardown; the failure is the verdict
/// (pytest's own summary counts it so), and quick-junit refuses two.
fn first_status_only(xml: &str) -> Result<String, String> {
    use quick_xml::events::Event;
    let status = |name: &[u8]| matches!(name, b"failure" | b"error" | b"skipped");
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(xml.len()));
    // Inside a test case, and whether its status was seen.
    let (mut in_case, mut seen) = (false, false);
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match &event {
            Event::Eof => break,
            Event::Start(e) if e.name().as_ref() == b"testcase" => (in_case, seen) = (true, false),
            Event::End(e) if e.name().as_ref() == b"testcase" => in_case = false,
            Event::Start(e) if in_case && status(e.name().as_ref()) => {
                if seen {
                    let end = e.to_end().into_owned();
                    reader.read_to_end(end.name()).map_err(|e| e.to_string())?;
                    continue;
                }
                seen = true;
            }
            Event::Empty(e) if in_case && status(e.name().as_ref()) => {
                if seen {
                    continue;
                }
                seen = true;
            }
            _ => {}
        }
        writer.write_event(event).map_err(|e| e.to_string())?;
    }
    String::from_utf8(writer.into_inner()).map_err(|e| e.to_string())
}

fn outcome(status: &TestCaseStatus) -> Outcome {
    match status {
        TestCaseStatus::Success { .. } => Outcome::Passed,
        TestCaseStatus::NonSuccess {
            kind,
            message,
            description,
            ..
        } => {
            let message = message.as_ref().map(|m| mask(m.as_str()));
            let first = message
                .as_deref()
                .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
                .unwrap_or("failed, with no message")
                .to_string();
            // An upstream `<error>` is a test whose fixture or teardown failed: still the
            // suite's own verdict on the server (a table its setup could not create), so a
            // check failure a baseline may list, not an infrastructure error of ours.
            let first = match kind {
                NonSuccessKind::Error => format!("error: {first}"),
                NonSuccessKind::Failure => first,
            };
            Outcome::Failed(Failure {
                trace: description
                    .as_ref()
                    .map(|d| mask(d.as_str()))
                    .filter(|d| !d.trim().is_empty())
                    .map(Box::new),
                ..Failure::new(first)
            })
        }
        TestCaseStatus::Skipped { message, ty, .. } => {
            let message = message
                .as_ref()
                .map(|m| mask(m.as_str()))
                .unwrap_or_default();
            // pytest reports an upstream xfail as a skip of type `pytest.xfail`: the suite's
            // own known failure, not one of ours.
            if ty.as_ref().is_some_and(|t| t.as_str() == "pytest.xfail") {
                Outcome::Skipped(format!("upstream xfail: {message}"))
            } else {
                Outcome::Skipped(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_that_fails_and_then_errors_keeps_its_failure() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2"><testcase classname="t.T" name="test_a" time="0.1"><failure message="assert 1 == 2">trace a</failure><error message="teardown: relation gone">trace b</error></testcase><testcase classname="t.T" name="test_b" time="0.1"><skipped type="pytest.skip" message="no"/><error message="teardown"/></testcase></testsuite></testsuites>"#;
        let read = read(xml).expect("read despite two statuses");
        let Outcome::Failed(f) = &read[0].outcome else {
            panic!("{:?}", read[0].outcome);
        };
        assert_eq!(f.message, "assert 1 == 2");
        assert_eq!(f.trace.as_deref().map(String::as_str), Some("trace a"));
        assert_eq!(read[1].outcome, Outcome::Skipped("no".to_string()));
    }

    fn fixture() -> Vec<Upstream> {
        let xml = include_str!("../../tests/fixtures/conformance/pytest-xunit1.xml");
        read(xml).expect("a pytest report")
    }

    #[test]
    fn reads_each_case_with_its_file_line_and_verdict() {
        let cases = fixture();
        let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "tests.test_async.AsyncTests.test_close",
                "tests.test_connection.ConnectionTests.test_pgconn_ptr",
                "tests.test_connection.ConnectionTests.test_tpc",
                "test.dialect.test_suite.ReflectionTest_postgresql+psycopg2_15_18.test_round_trip[True_-_x]",
                "test.dialect.test_suite.TableTest.test_fixture",
                "tests.test_async.AsyncTests.test_close#2",
            ]
        );
        assert_eq!(cases[0].outcome, Outcome::Passed);
        assert_eq!(cases[0].file.as_deref(), Some("tests/test_async.py"));
        assert_eq!(cases[0].line, 101);
        assert_eq!(cases[0].duration, Duration::from_millis(14));
        assert_eq!(cases[3].name, "test_round_trip[True - x]");
    }

    #[test]
    fn a_failure_is_its_first_message_line_with_the_trace_kept() {
        let cases = fixture();
        let Outcome::Failed(f) = &cases[1].outcome else {
            panic!("{:?}", cases[1].outcome)
        };
        assert_eq!(f.message, "AssertionError: 0 != 150018");
        assert!(!f.is_infrastructure());
        let trace = f.trace.as_deref().map_or("", String::as_str);
        assert!(
            trace.contains("tests/test_connection.py:376: AssertionError"),
            "{trace}"
        );
    }

    #[test]
    fn skips_and_upstream_xfails_are_skips() {
        let cases = fixture();
        assert_eq!(
            cases[2].outcome,
            Outcome::Skipped("server not configured for two phase transactions".into())
        );
        assert_eq!(
            cases[3].outcome,
            Outcome::Skipped("upstream xfail: not supported here".into())
        );
    }

    #[test]
    fn an_upstream_error_is_a_check_failure_with_secrets_masked() {
        let cases = fixture();
        let Outcome::Failed(f) = &cases[4].outcome else {
            panic!("{:?}", cases[4].outcome)
        };
        assert_eq!(
            f.message,
            "error: failed on setup with \"psycopg2.OperationalError: connection to server failed: password=****\""
        );
        assert!(!f.is_infrastructure());
        assert!(!f.details().contains("s3cret"), "{}", f.details());
    }

    #[test]
    fn what_is_not_junit_is_an_error() {
        assert!(read("<html>").is_err());
        assert!(read("").is_err());
    }
}
