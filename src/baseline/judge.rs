//! A baseline applied to a run: the `CaseFinished` events rewritten between the runner and
//! the reporters, with what the baseline needs to know of each selected cell.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Baseline, Seen};
use crate::exec::DbError;
use crate::registry::{ErrorClass, Protocol};
use crate::run::{Event, ExpectedBy, Failure, Outcome, Selected};

/// What the baseline needs of the selected cells: which cases the specs xfail (the
/// baseline leaves those alone), and each cell's protocol, whose error classes name a
/// server's error.
pub struct Cells<'a> {
    protocols: HashMap<String, &'a Protocol>,
    /// (cell, case id) of every selected case the specs xfail there.
    xfailed: HashSet<(String, String)>,
    classes: &'a BTreeMap<String, ErrorClass>,
    cli_labels: &'a [String],
}

impl<'a> Cells<'a> {
    pub fn new(
        selected: &[Selected<'a>],
        classes: &'a BTreeMap<String, ErrorClass>,
        cli_labels: &'a [String],
    ) -> Cells<'a> {
        let mut cells = Cells {
            protocols: HashMap::new(),
            xfailed: HashSet::new(),
            classes,
            cli_labels,
        };
        for s in selected {
            let cell = s.cell();
            for (_, case) in &s.cases {
                if case.xfail.is_some() {
                    cells.xfailed.insert((cell.clone(), case.id.clone()));
                }
            }
            cells.protocols.insert(cell, &s.protocol.protocol);
        }
        cells
    }

    /// No cells: every failure named by its codes, diff or message (for tests), with the
    /// cases the specs xfail.
    #[cfg(test)]
    pub fn without_protocols(xfailed: &[(&str, &str)]) -> Cells<'static> {
        static NO_CLASSES: BTreeMap<String, ErrorClass> = BTreeMap::new();
        Cells {
            protocols: HashMap::new(),
            xfailed: xfailed
                .iter()
                .map(|(cell, case)| (cell.to_string(), case.to_string()))
                .collect(),
            classes: &NO_CLASSES,
            cli_labels: &[],
        }
    }

    /// Whether the specs xfail `case` in `cell`.
    pub fn xfailed(&self, cell: &str, case: &str) -> bool {
        self.xfailed.contains(&(cell.to_string(), case.to_string()))
    }

    /// A failure in `cell` as a baseline names it.
    pub fn seen(&self, cell: &str, failure: &Failure) -> Seen {
        let classes = match (&failure.server_error, self.protocols.get(cell)) {
            (Some(db), Some(protocol)) => self.classes_of(db, protocol),
            _ => Vec::new(),
        };
        Seen::of(failure, &classes)
    }

    /// The error classes whose mapping for `protocol` matches `db`, with their precision.
    fn classes_of(&self, db: &DbError, protocol: &Protocol) -> Vec<(usize, String)> {
        self.classes
            .iter()
            .filter_map(|(name, class)| {
                let native = &class.mapping_for(protocol, self.cli_labels)?.native;
                let precision = [&native.sqlstate, &native.code, &native.message]
                    .iter()
                    .filter(|f| f.is_some())
                    .count();
                // A mapping that names nothing would match every error.
                (precision > 0 && crate::run::check::error_matches(native, db))
                    .then(|| (precision, name.clone()))
            })
            .collect()
    }
}

/// Applies a baseline to a run's events.
pub struct Judge<'a> {
    baseline: &'a Baseline,
    cells: Cells<'a>,
    /// Known failures and fixed cases seen so far.
    pub known_failures: usize,
    pub fixed: usize,
}

impl<'a> Judge<'a> {
    pub fn new(baseline: &'a Baseline, cells: Cells<'a>) -> Judge<'a> {
        Judge {
            baseline,
            cells,
            known_failures: 0,
            fixed: 0,
        }
    }

    /// The event as the reporters should see it: a case's outcome judged by the baseline,
    /// unless the specs xfail the case. Other events pass unchanged.
    pub fn apply(&mut self, event: Event) -> Event {
        let Event::CaseFinished {
            case,
            outcome,
            duration,
            observed,
        } = event
        else {
            return event;
        };
        let cell = case.cell();
        let outcome = if self.cells.xfailed(&cell, &case.id) {
            outcome
        } else {
            self.baseline
                .judge(&cell, &case.id, outcome, |f| self.cells.seen(&cell, f))
        };
        match &outcome {
            Outcome::ExpectedFailure {
                by: ExpectedBy::Baseline,
                ..
            } => self.known_failures += 1,
            Outcome::UnexpectedPass {
                by: ExpectedBy::Baseline,
                ..
            } => self.fixed += 1,
            _ => {}
        }
        Event::CaseFinished {
            case,
            outcome,
            duration,
            observed,
        }
    }
}
