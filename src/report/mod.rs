//! Reporters: consumers of the run's event stream.

pub mod junit;
pub mod terminal;

use std::collections::BTreeMap;

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
}

impl Counts {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed(_) => self.failed += 1,
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
    }

    /// Cases that fail the run.
    pub fn failures(&self) -> usize {
        self.failed + self.unexpected_passes
    }

    /// `N passed, N failed, N skipped`: expected failures count as passed (they are what
    /// the spec says), unexpected passes as failed.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed + self.expected_failures,
            self.failures(),
            self.skipped
        )
    }
}

/// Tallies outcomes per protocol, in the order protocols were announced.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub order: Vec<String>,
    pub per_protocol: BTreeMap<String, Counts>,
}

impl Tally {
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::RunStarted { protocols } => {
                for (name, _) in protocols {
                    self.order.push(name.clone());
                    self.per_protocol.entry(name.clone()).or_default();
                }
            }
            Event::CaseFinished { case, outcome, .. } => self
                .per_protocol
                .entry(case.protocol.clone())
                .or_default()
                .add(outcome),
            _ => {}
        }
    }

    pub fn total(&self) -> Counts {
        let mut total = Counts::default();
        for c in self.per_protocol.values() {
            total.merge(c);
        }
        total
    }
}
