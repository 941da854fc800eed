//! Reporters: consumers of the run's event stream.

pub mod junit;
pub mod matrix;
pub mod merge;
pub mod pages;
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

/// What a case came to, as the counts and the gate see it: an [`Outcome`] without its
/// details, which is also all a JUnit report keeps of one (`report merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// A check failed.
    Failed,
    /// The case could not run as written (infrastructure).
    Error,
    Skipped,
    /// Failed where an `xfail` or a baseline entry said it would (not a failure).
    ExpectedFailure,
    /// Passed where an `xfail` or a baseline entry said it would fail (a failure).
    UnexpectedPass,
}

impl Verdict {
    pub fn of(outcome: &Outcome) -> Verdict {
        match outcome {
            Outcome::Passed => Verdict::Passed,
            Outcome::Failed(f) if f.is_infrastructure() => Verdict::Error,
            Outcome::Failed(_) => Verdict::Failed,
            Outcome::Skipped(_) => Verdict::Skipped,
            Outcome::ExpectedFailure { .. } => Verdict::ExpectedFailure,
            Outcome::UnexpectedPass { .. } => Verdict::UnexpectedPass,
        }
    }

    /// Whether it fails the run (within the gate).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Verdict::Failed | Verdict::Error | Verdict::UnexpectedPass
        )
    }

    /// The terminal's five-column label (`PASS `, `FAIL `, `ERROR`, …).
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "PASS ",
            Verdict::Failed => "FAIL ",
            Verdict::Error => "ERROR",
            Verdict::Skipped => "SKIP ",
            Verdict::ExpectedFailure => "XFAIL",
            Verdict::UnexpectedPass => "XPASS",
        }
    }
}

/// Counts per protocol, shared by the reporters' summaries and the exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
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
    pub fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Passed => self.passed += 1,
            Verdict::Failed => self.failed += 1,
            Verdict::Error => {
                self.failed += 1;
                self.errors += 1;
            }
            Verdict::Skipped => self.skipped += 1,
            Verdict::ExpectedFailure => self.expected_failures += 1,
            Verdict::UnexpectedPass => self.unexpected_passes += 1,
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
                    self.announce(name);
                }
            }
            Event::CaseFinished { case, outcome, .. } => {
                self.record(&case.cell(), case.priority, Verdict::of(outcome));
            }
            _ => {}
        }
    }

    /// A cell, in the order the summary lists them (once; later calls change nothing).
    pub fn announce(&mut self, cell: &str) {
        if !self.per_protocol.contains_key(cell) {
            self.order.push(cell.to_string());
            self.per_protocol
                .insert(cell.to_string(), Counts::default());
        }
    }

    /// One case's verdict in `cell`.
    pub fn record(&mut self, cell: &str, priority: Priority, verdict: Verdict) {
        self.announce(cell);
        self.per_protocol
            .entry(cell.to_string())
            .or_default()
            .add(verdict);
        if verdict.is_failure() {
            *self.failures_by_priority.entry(priority).or_default() += 1;
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

    /// The run's closing lines: one per cell, the gate verdict, and the totals
    /// (`N passed, N failed, N skipped`).
    pub fn summary(&self, gate: &[Priority]) -> String {
        // Cell names (`postgresql/mysql-connector-python`) set the column's width.
        let width = self
            .order
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max(11);
        let mut summary = String::new();
        for name in &self.order {
            let c = self.per_protocol.get(name).copied().unwrap_or_default();
            let mut extra = Vec::new();
            if c.expected_failures > 0 {
                extra.push(format!("{} expected failure(s)", c.expected_failures));
            }
            if c.unexpected_passes > 0 {
                extra.push(format!("{} unexpected pass(es)", c.unexpected_passes));
            }
            let extra = if extra.is_empty() {
                String::new()
            } else {
                format!(" ({})", extra.join(", "))
            };
            summary.push_str(&format!("{name:>width$}: {}{extra}\n", c.line()));
        }
        // No gate (`baseline`, which records failures rather than judging them): no verdict.
        if !gate.is_empty() {
            summary.push_str(&self.gate_verdict(gate));
            summary.push('\n');
        }
        summary.push_str(&self.total().line());
        summary
    }

    pub fn total(&self) -> Counts {
        let mut total = Counts::default();
        for c in self.per_protocol.values() {
            total.merge(c);
        }
        total
    }
}
