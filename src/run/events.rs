//! The typed stream a run emits. Reporters consume it; the runner knows no output format.

use std::sync::Arc;
use std::time::Duration;

use crate::registry::{Priority, Tier};

/// The identity of a case on a protocol, shared by all events about it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseInfo {
    pub protocol: String,
    pub tier: Tier,
    pub suite: String,
    /// The suite's spec file (`specs/core/types.yaml`).
    pub source: String,
    pub id: String,
    pub name: String,
    pub line: u32,
    pub priority: Priority,
}

impl CaseInfo {
    /// `specs/core/types.yaml:12`
    pub fn location(&self) -> String {
        format!("{}:{}", self.source, self.line)
    }
}

/// Why a case failed, with what a person needs to act on it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Failure {
    pub message: String,
    /// `file:line` of the failing step.
    pub location: Option<String>,
    /// The SQL as sent (after placeholder rewriting and template rendering).
    pub sql: Option<String>,
    /// Expected vs actual, as a unified diff.
    pub diff: Option<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            ..Self::default()
        }
    }

    /// The whole failure as text: message, location, SQL, diff.
    pub fn details(&self) -> String {
        let mut out = self.message.clone();
        if let Some(loc) = &self.location {
            out.push_str(&format!("\n  at {loc}"));
        }
        if let Some(sql) = &self.sql {
            out.push_str(&format!("\n  sql: {}", sql.replace('\n', "\n       ")));
        }
        if let Some(diff) = &self.diff {
            out.push_str("\n  expected vs actual:\n");
            for line in diff.lines() {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.trim_end().to_string()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    Failed(Failure),
    Skipped(String),
    /// Failed where an `xfail` said it would.
    ExpectedFailure {
        reason: String,
        failure: Failure,
    },
    /// Passed where an `xfail` said it would fail: counts as a failure.
    UnexpectedPass {
        reason: String,
    },
}

impl Outcome {
    /// Whether this outcome fails the run.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::UnexpectedPass { .. })
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    /// The run begins: every protocol with how many cases it will report.
    RunStarted {
        protocols: Vec<(String, usize)>,
    },
    ProtocolStarted {
        protocol: String,
        target: Option<String>,
    },
    CaseFinished {
        case: Arc<CaseInfo>,
        outcome: Outcome,
        duration: Duration,
    },
    ProtocolFinished {
        protocol: String,
    },
    RunFinished,
}
