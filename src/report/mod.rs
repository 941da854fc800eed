//! Reporters: consumers of the run's event stream.

pub mod junit;
pub mod terminal;

use std::collections::BTreeMap;

use crate::registry::Priority;
use crate::run::{Event, Outcome};

/// Something that turns events into output.
pub trait Reporter {
    fn event(&mut self, event: &Event);
    /// Called once after `RunFinished`; writes whatever is left.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts per protocol, shared by the reporters' summaries and the exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Failed where an `xfail` said it would (not a failure).
    pub expected_failures: usize,
    /// Passed where an `xfail` said it would fail (a failure).
    pub unexpected_passes: usize,
    /// Of `failed`, those that could not run as written (infrastructure errors).
    pub errors: usize,
}

impl Counts {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed(f) => {
                self.failed += 1;
                if f.is_infrastructure() {
                    self.errors += 1;
                }
            }
            Outcome::Skipped(_) => self.skipped += 1,
            Outcome::ExpectedFailure { .. } => self.expected_failures += 1,
            Outcome::UnexpectedPass { .. } => self.unexpected_passes += 1,
        }
    }

    pub fn merge(&mut self, other: &Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.expected_failures += other.expected_failures;
        self.unexpected_passes += other.unexpected_passes;
        self.errors += other.errors;
    }

    /// Cases that fail the run.
    pub fn failures(&self) -> usize {
        self.failed + self.unexpected_passes
    }

    /// `N passed, N failed, N skipped`: expected failures count as passed (they are what
    /// the spec says), unexpected passes as failed.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} passed, {} failed, {} skipped",
            self.passed + self.expected_failures,
            self.failures(),
            self.skipped
        );
        if self.errors > 0 {
            line.push_str(&format!(
                " ({} of the failures are errors: the case could not run)",
                self.errors
            ));
        }
        line
    }
}

/// Tallies outcomes per protocol, in the order protocols were announced.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub order: Vec<String>,
    pub per_protocol: BTreeMap<String, Counts>,
    /// Failing cases (failed or unexpectedly passed) by priority, for the gate.
    pub failures_by_priority: BTreeMap<Priority, usize>,
}

impl Tally {
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::RunStarted { cells } => {
                for (name, _) in cells {
                    self.order.push(name.clone());
                    self.per_protocol.entry(name.clone()).or_default();
                }
            }
            Event::CaseFinished { case, outcome, .. } => {
                self.per_protocol
                    .entry(case.cell())
                    .or_default()
                    .add(outcome);
                if outcome.is_failure() {
                    *self.failures_by_priority.entry(case.priority).or_default() += 1;
                }
            }
            _ => {}
        }
    }

    /// Failing cases whose priority the gate covers.
    pub fn gate_failures(&self, gate: &[Priority]) -> usize {
        gate.iter()
            .map(|p| self.failures_by_priority.get(p).copied().unwrap_or(0))
            .sum()
    }

    /// `gate p0: PASSED (…)`, the line CI reads the verdict from.
    pub fn gate_verdict(&self, gate: &[Priority]) -> String {
        let names: Vec<&str> = gate.iter().map(|p| p.as_str()).collect();
        let inside = self.gate_failures(gate);
        let outside = self.total().failures() - inside;
        let verdict = if inside == 0 { "PASSED" } else { "FAILED" };
        let mut line = format!(
            "gate {}: {verdict} ({inside} failing case(s) within the gate",
            names.join(",")
        );
        if outside > 0 {
            line.push_str(&format!(", {outside} outside it, reported only"));
        }
        line.push(')');
        line
    }

    pub fn total(&self) -> Counts {
        let mut total = Counts::default();
        for c in self.per_protocol.values() {
            total.merge(c);
        }
        total
    }
}
