//! The typed plan: every suite resolved for one protocol.
//!
//! This is the seam between the two back ends. `compile` renders it through templates into
//! scripts; `run` hands it to an executor. Both read only this (and the [`crate::step`]s it
//! holds), so anything a protocol needs
//! to know (placeholders already rewritten, error classes already turned into native codes,
//! overrides already applied) is decided here, once, by [`compile`].

pub mod compile;
pub mod placeholders;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::registry::{ErrorExpect, Priority, Protocol};
use crate::step::{Action, Repeat, Step, opt_duration};

/// Everything compiled from a spec directory: one entry per protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Command-line labels the plan was compiled with (they can change resolutions).
    pub labels: Vec<String>,
    pub protocols: Vec<ProtocolPlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolPlan {
    pub protocol: Protocol,
    pub suites: Vec<SuitePlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuitePlan {
    pub name: String,
    /// The spec file as a user sees it (`specs/core/types.yaml`).
    pub source: String,
    pub description: Option<String>,
    pub fixtures: Vec<FixturePlan>,
    pub cases: Vec<CasePlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixturePlan {
    pub name: String,
    pub setup: Vec<Step>,
    pub teardown: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CasePlan {
    pub id: String,
    pub name: String,
    /// Line of the case in its suite's source file.
    pub line: u32,
    pub priority: Priority,
    /// The case's own tags followed by its suite's.
    pub tags: Vec<String>,
    /// Why the case does not run on this protocol, if it doesn't.
    pub skip: Option<String>,
    /// Why and how the case is expected to fail on this protocol, if it is.
    pub xfail: Option<Xfail>,
    pub autocommit: bool,
    /// Time limit of each step of the case (the run's `--step-timeout` otherwise).
    #[serde(with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Time limit of the whole case (the run's `--case-timeout` otherwise).
    #[serde(with = "opt_duration")]
    pub case_timeout: Option<Duration>,
    pub fixtures: Vec<String>,
    pub steps: Vec<Step>,
}

/// An expected failure. Without `error` or `step`, any failure of the case's own checks is
/// the expected one; with them, only a failure of that kind is. Infrastructure failures
/// (connect, TLS, login, missing target, fixtures, timeouts) are never expected failures.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Xfail {
    #[serde(default)]
    pub reason: String,
    /// The label the entry is keyed on: whose gap this is.
    #[serde(default)]
    pub label: String,
    /// The server error the case is expected to fail with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorExpect>,
    /// The 1-based position, among the case's steps, of the step expected to fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// The expected failure is a timeout (of a step or of the case).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timeout: bool,
}

impl CasePlan {
    /// A rough guess at how long the case runs: a round trip per step and iteration, plus
    /// the waits it asks for. Workers start the longest cases first, so that one long case
    /// does not begin last and keep the others waiting at the end.
    pub fn estimated_duration(&self) -> Duration {
        const ROUND_TRIP: Duration = Duration::from_micros(250);
        let mut total = Duration::ZERO;
        for step in &self.steps {
            let iterations = step.repeat.as_ref().map_or(1, Repeat::len);
            let wait = match &step.action {
                Action::Sleep { duration } => *duration,
                Action::Query(q) => q.cancel_after.unwrap_or_default(),
                _ => Duration::ZERO,
            };
            let per = ROUND_TRIP.saturating_add(wait);
            total = total
                .saturating_add(per.saturating_mul(u32::try_from(iterations).unwrap_or(u32::MAX)));
        }
        total
    }
}

impl Plan {
    /// Every (protocol, suite, case) in plan order.
    pub fn cases(&self) -> impl Iterator<Item = (&ProtocolPlan, &SuitePlan, &CasePlan)> {
        self.protocols.iter().flat_map(|p| {
            p.suites
                .iter()
                .flat_map(move |s| s.cases.iter().map(move |c| (p, s, c)))
        })
    }
}
