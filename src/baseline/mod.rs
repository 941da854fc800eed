//! A reviewed compatibility baseline (roachtest's blocklist model): the failures expected
//! of one server, per cell and case, each with the failure it was seen with and a reason a
//! person wrote.
//!
//! `helios-matrix baseline` takes one from a run ([`take`]); `run --baseline FILE` judges a
//! run by it ([`judge::Judge`], a transformation of the `CaseFinished` events between the
//! runner and the reporters: the runner knows nothing of baselines). A listed failure that
//! happens with the recorded error is a known failure (an expected failure); a listed case
//! that passes is fixed (an unexpected pass, which fails the run); any other failure fails
//! as usual. Infrastructure failures and timeouts are never absorbed. A case the specs
//! `xfail` keeps the specs' verdict: the baseline covers only the cases they don't.
//! The format and the workflow: docs/baselines.md.

pub mod file;
pub mod judge;
pub mod signature;
pub mod take;

use std::collections::BTreeMap;
use std::path::Path;

pub use file::Invalid;
pub use signature::{Seen, Signature};

use crate::run::{ExpectedBy, Failure, FailureKind, Outcome};

/// What a fixed case's message says: the gate fails until the entry is removed.
pub const FIXED: &str = "fixed: remove it from the baseline";

/// The message of a case the baseline lists that passed.
pub fn fixed_message(reason: &str) -> String {
    if reason.is_empty() {
        FIXED.to_string()
    } else {
        format!("{FIXED} (listed as: {reason})")
    }
}

/// The message of a case that failed as the baseline says it does.
pub fn known_failure_message(reason: &str) -> String {
    if reason.is_empty() {
        "known failure in the baseline, no reason written yet".to_string()
    } else {
        format!("known failure in the baseline: {reason}")
    }
}

/// The failures expected of one server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// The server it was taken on (`heliosdb-nano`).
    pub server: String,
    /// Its version, when the run knew it.
    pub version: Option<String>,
    /// By cell, then case id: the order the file is written in.
    pub entries: BTreeMap<(String, String), Entry>,
    /// Comment lines of the file's head (besides its first line), kept on rewrite.
    pub head_comments: Vec<String>,
    /// Comment lines after the last entry, kept on rewrite.
    pub tail_comments: Vec<String>,
}

/// One expected failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `postgresql`, or `postgresql/psycopg2`.
    pub cell: String,
    /// The case id.
    pub case: String,
    pub expected: Signature,
    /// Why the server fails it; empty until a person writes it.
    pub reason: String,
    /// The comment lines above the entry (and inside it), kept on rewrite.
    pub comments: Vec<String>,
    /// The entry's line in the file it was read from (0 for a new one).
    pub line: u32,
}

/// Why a baseline file cannot be used.
#[derive(Debug)]
pub enum LoadError {
    Read(std::io::Error),
    Invalid(Invalid),
}

impl Baseline {
    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, LoadError> {
        let text = std::fs::read_to_string(path).map_err(LoadError::Read)?;
        file::parse(&text, &path.display().to_string()).map_err(LoadError::Invalid)
    }

    /// The file's text.
    pub fn to_yaml(&self) -> String {
        file::emit(self)
    }

    /// Writes the file whole (a temporary file renamed over it).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::files::write_atomically(path, self.to_yaml().as_bytes())
    }

    pub fn entry(&self, cell: &str, case: &str) -> Option<&Entry> {
        self.entries.get(&(cell.to_string(), case.to_string()))
    }

    /// The outcome of case `case` in `cell` judged by the baseline; `seen` names a failure
    /// as the entry would. Outcomes of cases the baseline does not list, skips, and the
    /// verdicts of a spec's xfail are left as they are.
    pub fn judge(
        &self,
        cell: &str,
        case: &str,
        outcome: Outcome,
        seen: impl FnOnce(&Failure) -> Seen,
    ) -> Outcome {
        let Some(entry) = self.entry(cell, case) else {
            return outcome;
        };
        match outcome {
            Outcome::Passed => Outcome::UnexpectedPass {
                reason: entry.reason.clone(),
                by: ExpectedBy::Baseline,
            },
            Outcome::Failed(mut failure) if failure.is_infrastructure() => {
                let what = match failure.kind {
                    FailureKind::Timeout => "a timeout",
                    _ => "an infrastructure failure",
                };
                failure.message = format!(
                    "{}\n  (the baseline expects it to fail with {}; {what} is never a known failure)",
                    failure.message, entry.expected
                );
                Outcome::Failed(failure)
            }
            Outcome::Failed(mut failure) => {
                let seen = seen(&failure);
                if seen.matches(&entry.expected) {
                    Outcome::ExpectedFailure {
                        reason: entry.reason.clone(),
                        by: ExpectedBy::Baseline,
                        failure,
                    }
                } else {
                    failure.message = format!(
                        "{}\n  (the baseline expects it to fail with {}; it failed with {})",
                        failure.message, entry.expected, seen.signature
                    );
                    Outcome::Failed(failure)
                }
            }
            other => other,
        }
    }
}

/// Which server a run tested: the `--server` it named and that server's version, each
/// when known.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunServer<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
}

/// `baseline taken on heliosdb-nano 4.41.1; this run: 4.42.0` when the run's server (or its
/// version) is not the one the baseline of `server` was taken on (at `taken_on`).
pub fn version_note(server: &str, taken_on: Option<&str>, run: RunServer<'_>) -> Option<String> {
    let other_server = run.name.filter(|name| *name != server);
    if other_server.is_none() && taken_on == run.version {
        return None;
    }
    let taken = match taken_on {
        Some(v) => format!("{server} {v}"),
        None => format!("{server} (version not recorded)"),
    };
    let version = run.version.unwrap_or("version unknown");
    let this = match other_server {
        Some(name) => format!("{name} {version}"),
        None => version.to_string(),
    };
    Some(format!("baseline taken on {taken}; this run: {this}"))
}

#[cfg(test)]
mod tests;
