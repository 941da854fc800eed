//! Taking a baseline: a run's failures as entries, merged with the file they replace so
//! that what a person wrote (reasons, comments) survives.

use std::sync::Arc;

use super::judge::Cells;
use super::{Baseline, Entry};
use crate::run::{CaseInfo, FailureKind, Outcome};

/// A new baseline and what the person taking it should know.
#[derive(Debug, Default)]
pub struct Taken {
    pub baseline: Baseline,
    /// Entries dropped, kept unchanged or whose failure changed, one line each.
    pub notes: Vec<String>,
    /// Failures no entry can hold (infrastructure errors, timeouts, cases whose spec
    /// xfail did not hold), one line each: `run --baseline` would fail on them.
    pub unabsorbed: Vec<String>,
    /// Entries new to the file, kept from it, and dropped from it.
    pub added: usize,
    pub kept: usize,
    pub dropped: usize,
}

/// What a run said of a case already in the previous baseline.
enum Now {
    /// It failed, and is written again.
    Failing,
    /// It no longer fails: the entry goes.
    Gone(String),
    /// The run could not tell: the entry stays as it was.
    Unknown(String),
}

/// The baseline of `server` (at `version`) from a run's finished cases, keeping the reasons
/// and comments of `previous` for the entries still failing. Entries of cells or cases the
/// run did not select, or could not run, are kept as they were.
pub fn take(
    server: &str,
    version: Option<String>,
    previous: Option<&Baseline>,
    finished: &[(Arc<CaseInfo>, Outcome)],
    cells: &Cells<'_>,
) -> Taken {
    let mut taken = Taken {
        baseline: Baseline {
            server: server.to_string(),
            version,
            head_comments: previous
                .map(|p| p.head_comments.clone())
                .unwrap_or_default(),
            tail_comments: previous
                .map(|p| p.tail_comments.clone())
                .unwrap_or_default(),
            ..Baseline::default()
        },
        ..Taken::default()
    };
    let mut seen_now = std::collections::HashMap::new();
    for (case, outcome) in finished {
        let cell = case.cell();
        let key = (cell.clone(), case.id.clone());
        let name = format!("{} {}", cell, case.id);
        let first_line = |text: &str| text.lines().next().unwrap_or_default().to_string();
        let now = if cells.xfailed(&cell, &case.id) {
            // The specs' own xfail decides these; a baseline entry would never apply.
            if outcome.is_failure() {
                let why = match outcome {
                    Outcome::Failed(f) => first_line(&f.message),
                    _ => "passed".to_string(),
                };
                taken.unabsorbed.push(format!(
                    "{name}: its xfail in the specs does not hold ({why}); a baseline does not override the specs' xfail: fix the xfail"
                ));
            }
            Now::Gone("the specs xfail it".to_string())
        } else {
            match outcome {
                Outcome::Passed => Now::Gone("it passed".to_string()),
                Outcome::Skipped(reason) => Now::Gone(format!("it was skipped ({reason})")),
                Outcome::Failed(f) if f.is_infrastructure() => {
                    let what = if f.kind == FailureKind::Timeout {
                        "timed out"
                    } else {
                        "could not run"
                    };
                    taken.unabsorbed.push(format!(
                        "{name}: {what}: {} (never written to a baseline)",
                        first_line(&f.message)
                    ));
                    Now::Unknown(format!("it {what} this time"))
                }
                Outcome::Failed(f) => {
                    let seen = cells.seen(&cell, f);
                    let entry = match previous.and_then(|p| p.entries.get(&key)) {
                        Some(old) => {
                            let mut kept = old.clone();
                            // A hand-written error that still names the failure stays.
                            if !seen.matches(&old.expected) {
                                taken.notes.push(format!(
                                    "{name}: now fails with {} (was {}); its reason is kept: check it still holds",
                                    seen.signature, old.expected
                                ));
                                kept.expected = seen.signature;
                            }
                            taken.kept += 1;
                            kept
                        }
                        None => {
                            taken.added += 1;
                            Entry {
                                cell: cell.clone(),
                                case: case.id.clone(),
                                expected: seen.signature,
                                reason: String::new(),
                                comments: Vec::new(),
                                line: 0,
                            }
                        }
                    };
                    taken.baseline.entries.insert(key.clone(), entry);
                    Now::Failing
                }
                // The runner's own verdicts come only from the specs' xfail (handled above).
                Outcome::ExpectedFailure { .. } | Outcome::UnexpectedPass { .. } => {
                    Now::Gone("the specs xfail it".to_string())
                }
            }
        };
        seen_now.insert(key, now);
    }
    for (key, old) in previous.map(|p| &p.entries).into_iter().flatten() {
        let name = format!("{} {}", key.0, key.1);
        match seen_now.get(key) {
            Some(Now::Failing) => {}
            Some(Now::Gone(why)) => {
                taken.dropped += 1;
                taken
                    .notes
                    .push(format!("{name}: dropped from the baseline: {why}"));
            }
            Some(Now::Unknown(why)) => {
                taken.kept += 1;
                taken.notes.push(format!("{name}: kept as it was: {why}"));
                taken.baseline.entries.insert(key.clone(), old.clone());
            }
            // Not selected this time: nothing is known of it.
            None => {
                taken.kept += 1;
                taken.baseline.entries.insert(key.clone(), old.clone());
            }
        }
    }
    taken
}
