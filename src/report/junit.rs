//! JUnit XML: one `<testsuite>` per protocol × suite, written atomically at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::Reporter;
use crate::run::{Event, ExpectedBy, Outcome};

pub struct JunitReporter {
    path: PathBuf,
    /// Suites in order of first appearance; keyed by `protocol.suite`.
    suites: Vec<TestSuite>,
    index: BTreeMap<String, usize>,
    /// The run's cells in selection order, and each suite's cell's place among them: cells
    /// run concurrently, so suites are written in cell order, not in order of arrival.
    cells: Vec<String>,
    cell_of_suite: Vec<usize>,
    total: Duration,
    /// Properties every `<testsuite>` carries besides its own (the baseline a run was
    /// judged against): JUnit has no report-level properties.
    suite_properties: Vec<(String, String)>,
}

impl JunitReporter {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            suites: Vec::new(),
            index: BTreeMap::new(),
            cells: Vec::new(),
            cell_of_suite: Vec::new(),
            total: Duration::ZERO,
            suite_properties: Vec::new(),
        }
    }

    /// Adds `name` = `value` to every `<testsuite>`, after its own properties.
    pub fn add_suite_property(&mut self, name: &str, value: &str) {
        self.suite_properties
            .push((name.to_string(), value.to_string()));
    }

    /// The XML as it stands.
    pub fn to_xml(&self) -> Result<String, quick_junit::SerializeError> {
        let mut report = Report::new("helios-matrix");
        report.set_time(self.total);
        let mut order: Vec<usize> = (0..self.suites.len()).collect();
        order.sort_by_key(|&i| self.cell_of_suite[i]);
        report.add_test_suites(order.into_iter().map(|i| self.suites[i].clone()));
        report.to_string()
    }
}

impl Reporter for JunitReporter {
    fn event(&mut self, event: &Event) {
        if let Event::RunStarted { cells } = event {
            self.cells = cells.iter().map(|(name, _)| name.clone()).collect();
        }
        let Event::CaseFinished {
            case,
            outcome,
            duration,
            ..
        } = event
        else {
            return;
        };
        self.total += *duration;
        // `postgresql.core_types`, or `postgresql/psycopg2.core_types` through a driver.
        let classname = format!("{}.{}", case.cell(), case.suite);
        let status = match outcome {
            Outcome::Passed => TestCaseStatus::success(),
            // JUnit's own distinction: <error> when the case could not run, <failure> when
            // a check failed.
            Outcome::Failed(f) if f.is_infrastructure() => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(f.message.clone())
                    .set_type("error")
                    .set_description(f.details());
                s
            }
            Outcome::Failed(f) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(f.message.clone())
                    .set_type("failure")
                    .set_description(f.details());
                s
            }
            Outcome::UnexpectedPass { reason, by } => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(match by {
                    ExpectedBy::Xfail { .. } => {
                        format!("unexpected pass: the case is marked xfail ({reason}) but passed")
                    }
                    ExpectedBy::Baseline => crate::baseline::fixed_message(reason),
                })
                .set_type("xpass");
                s
            }
            Outcome::Skipped(reason) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(reason.clone()).set_type("skipped");
                s
            }
            // pytest's convention, which CI dashboards already understand.
            Outcome::ExpectedFailure {
                reason,
                failure,
                by,
            } => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(match by {
                    ExpectedBy::Xfail { .. } => format!("expected failure: {reason}"),
                    ExpectedBy::Baseline => crate::baseline::known_failure_message(reason),
                })
                .set_type("xfail")
                .set_description(failure.details());
                s
            }
        };
        let mut tc = TestCase::new(format!("{} {}", case.id, case.name), status);
        tc.set_classname(classname.clone()).set_time(*duration);
        tc.add_property(Property::new("priority", case.priority.as_str()));
        tc.add_property(Property::new("tier", case.tier.as_str()));
        tc.add_property(Property::new("protocol", case.protocol.as_str()));
        if let Some(driver) = &case.driver {
            tc.add_property(Property::new("driver", driver.as_str()));
        }
        tc.add_property(Property::new("source", case.location()));
        match outcome {
            Outcome::ExpectedFailure {
                reason,
                by: ExpectedBy::Xfail { label },
                ..
            }
            | Outcome::UnexpectedPass {
                reason,
                by: ExpectedBy::Xfail { label },
            } => {
                tc.add_property(Property::new("xfail", reason.as_str()));
                // Whose gap it is: the label the xfail entry is keyed on.
                tc.add_property(Property::new("xfail_on", label.as_str()));
            }
            // A baseline's verdict, told apart from a spec's xfail by its property.
            Outcome::ExpectedFailure {
                reason,
                by: ExpectedBy::Baseline,
                ..
            }
            | Outcome::UnexpectedPass {
                reason,
                by: ExpectedBy::Baseline,
            } => {
                tc.add_property(Property::new("baseline", reason.as_str()));
            }
            _ => {}
        }
        let index = *self.index.entry(classname.clone()).or_insert_with(|| {
            let mut suite = TestSuite::new(classname.clone());
            suite.add_property(Property::new("protocol", case.protocol.as_str()));
            if let Some(driver) = &case.driver {
                suite.add_property(Property::new("driver", driver.as_str()));
            }
            suite.add_property(Property::new("tier", case.tier.as_str()));
            // The protocol's rank in the matrix, for reports that show it.
            suite.add_property(Property::new(
                "protocol_priority",
                case.protocol_priority.as_str(),
            ));
            suite.add_property(Property::new("source", case.source.as_str()));
            for (name, value) in &self.suite_properties {
                suite.add_property(Property::new(name.as_str(), value.as_str()));
            }
            self.suites.push(suite);
            let cell = case.cell();
            self.cell_of_suite.push(
                self.cells
                    .iter()
                    .position(|c| *c == cell)
                    .unwrap_or(self.cells.len()),
            );
            self.suites.len() - 1
        });
        let suite = &mut self.suites[index];
        suite.time = Some(suite.time.unwrap_or_default() + *duration);
        suite.add_test_case(tc);
    }

    /// Writes to a temporary file beside the target and renames it, so a crash never
    /// leaves half a file.
    fn finish(&mut self) -> std::io::Result<()> {
        let xml = self.to_xml().map_err(std::io::Error::other)?;
        crate::files::write_atomically(&self.path, xml.as_bytes())
    }
}
