//! The typed stream a run emits. Reporters consume it; the runner knows no output format.

use std::sync::Arc;
use std::time::Duration;

use crate::registry::{Priority, Tier};

/// The identity of a case on a protocol, shared by all events about it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseInfo {
    pub protocol: String,
    /// The client driver the case ran through; `None` is the native executor.
    pub driver: Option<String>,
    pub tier: Tier,
    pub suite: String,
    /// The suite's spec file (`specs/core/types.yaml`).
    pub source: String,
    pub id: String,
    pub name: String,
    pub line: u32,
    pub priority: Priority,
    /// The protocol's own priority in the matrix (`priority:` in matrix.yaml).
    pub protocol_priority: Priority,
}

impl CaseInfo {
    /// The matrix cell the case belongs to: `postgresql`, or `postgresql/psycopg2`.
    pub fn cell(&self) -> String {
        cell_name(&self.protocol, self.driver.as_deref())
    }

    /// `specs/core/types.yaml:12`
    pub fn location(&self) -> String {
        format!("{}:{}", self.source, self.line)
    }
}

/// What kind of failure a case had: the case's own checks, or the machinery around them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureKind {
    /// A check of the case failed: a wrong result, an unexpected error or success, an
    /// executor that could not read the answer.
    #[default]
    Check,
    /// A step or the whole case ran out of time. Reported as an error, and an expected
    /// failure only where an xfail says `timeout: true`.
    Timeout,
    /// The case could not be run as written: no target, cannot connect, TLS or login
    /// refused, the connection lost, a fixture failing. Never an expected failure;
    /// reported as an error.
    Infrastructure,
}

/// Why a case failed, with what a person needs to act on it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// `file:line` of the failing step.
    pub location: Option<String>,
    /// The SQL as sent (after placeholder rewriting and template rendering).
    pub sql: Option<String>,
    /// Expected vs actual, as a unified diff.
    pub diff: Option<String>,
    /// The 1-based position among the case's own steps of the step that failed.
    pub step: Option<std::num::NonZeroU32>,
    /// The error the server answered, when the failure is an unexpected server error.
    pub server_error: Option<Box<crate::exec::DbError>>,
    /// What a driver's own test printed about its failure (its traceback), for the cases
    /// of a conformance suite. One pointer wide: a `Failure` is the error of many a
    /// `Result`, and clippy holds those to 128 bytes.
    #[allow(clippy::box_collection)]
    pub trace: Option<Box<String>>,
}

/// What one step got where its expectation said otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The step's line in its spec file (set by the case runner).
    pub line: u32,
    pub answer: Answer,
    /// The step's keys the answer contradicts.
    pub wrong: Vec<Key>,
}

/// A step's actual answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A query's result; under `compare: sqllogictest` also its values as printed and
    /// sorted there, and their hash.
    Rows {
        result: crate::exec::ResultSet,
        printed: Option<(Vec<Vec<String>>, crate::step::RowsHash)>,
    },
    /// A statement succeeded, affecting this many rows if the server said.
    Done(Option<u64>),
    /// The server refused the step.
    Error(crate::exec::DbError),
}

/// A key of a step that states an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Error,
    Count,
    Columns,
    Types,
    RowCount,
    Rows,
    RowsHash,
}

impl Key {
    /// The key as a spec writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Key::Error => "error",
            Key::Count => "count",
            Key::Columns => "columns",
            Key::Types => "types",
            Key::RowCount => "row_count",
            Key::Rows => "rows",
            Key::RowsHash => "rows_hash",
        }
    }
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            ..Self::default()
        }
    }

    /// A failure of the machinery around the case (see [`FailureKind::Infrastructure`]).
    pub fn infrastructure(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Infrastructure,
            ..Self::new(message)
        }
    }

    /// A timeout, like an infrastructure failure, is an error: the case did not finish.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Timeout,
            ..Self::new(message)
        }
    }

    /// Whether the case could not run to a verdict (reported as an error).
    pub fn is_infrastructure(&self) -> bool {
        self.kind != FailureKind::Check
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
        if let Some(trace) = &self.trace {
            out.push('\n');
            for line in trace.lines() {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
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
    /// Failed where an `xfail` (or a baseline entry) said it would.
    ExpectedFailure {
        reason: String,
        by: ExpectedBy,
        failure: Failure,
    },
    /// Passed where an `xfail` (or a baseline entry) said it would fail: counts as a
    /// failure.
    UnexpectedPass {
        reason: String,
        by: ExpectedBy,
    },
}

/// Who said a case would fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedBy {
    /// The spec's `xfail` entry, keyed on this label (`fakesnow`, `mysql`, …).
    Xfail { label: String },
    /// An entry of the baseline given to `run --baseline` (see `crate::baseline`).
    Baseline,
}

impl Outcome {
    /// Whether this outcome fails the run.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::UnexpectedPass { .. })
    }
}

/// The suite of a driver's own tests run as a cell (`run --conformance`): their JUnit suite
/// is `<protocol>/<driver>.conformance`, and the matrix shows them in a column of their own.
pub const CONFORMANCE_SUITE: &str = "conformance";

/// `protocol` or `protocol/driver`: one cell of the matrix.
pub fn cell_name(protocol: &str, driver: Option<&str>) -> String {
    match driver {
        Some(d) => format!("{protocol}/{d}"),
        None => protocol.to_string(),
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    /// The run begins: every cell (protocol, or protocol/driver) with how many cases it
    /// will report.
    RunStarted {
        cells: Vec<(String, usize)>,
    },
    CellStarted {
        cell: String,
        target: Option<String>,
        /// The driver's own description (`psycopg2 2.9.10 on CPython 3.11.7`), if any.
        driver: Option<String>,
        /// How many workers run the cell's cases.
        workers: usize,
        /// Why the cell runs on fewer workers than `--jobs` asked, if it does.
        note: Option<String>,
    },
    CaseFinished {
        case: Arc<CaseInfo>,
        outcome: Outcome,
        duration: Duration,
        /// What the case's wrong steps actually got, for `record`: filled only under
        /// [`RunConfig::keep_going`](super::RunConfig::keep_going), which runs every step
        /// of a case past its failing checks.
        observed: Vec<Observed>,
    },
    CellFinished {
        cell: String,
    },
    RunFinished,
}
