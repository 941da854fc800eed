//! `record`: what a server answered, written into the spec files where it contradicts
//! what they expect.
//!
//! The run (with `keep_going`) reports, per failing step, its answer and the keys the
//! answer contradicts ([`Observed`]). Here each answer becomes text edits at the spans
//! the YAML reader tracked: into the step's base expectation for the reference protocol
//! (or with `base`), into its `on: {PROTOCOL: …}` override otherwise. The file is never
//! re-serialised, so comments, key order and layout stay as the author wrote them.

mod answer;
mod edit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use self::edit::{Edit, MapEdit, Yaml, apply};
use crate::diag::Diagnostics;
use crate::plan::CasePlan;
use crate::registry::{ErrorClass, Protocol, Tier};
use crate::run::{Answer, Event, ExpectedBy, Key, Observed, Outcome, RunConfig};
use crate::select::Selection;
use crate::source::FileId;
use crate::step::{Action, Step};
use crate::yaml::Node;

/// One spec file, before and after recording.
#[derive(Debug)]
pub struct FileChange {
    pub path: PathBuf,
    /// The file as messages show it (`specs/core/types.yaml`).
    pub shown: String,
    pub before: String,
    pub after: String,
    /// How many of its steps changed.
    pub steps: usize,
}

impl FileChange {
    /// The change as a unified diff.
    pub fn diff(&self) -> String {
        similar::TextDiff::from_lines(&self.before, &self.after)
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{}", self.shown), &format!("b/{}", self.shown))
            .to_string()
    }
}

/// What a recording run found.
#[derive(Debug, Default)]
pub struct Recording {
    /// Files with answers written in (unchanged files are left out).
    pub files: Vec<FileChange>,
    /// Cases whose answers could not be recorded, and why.
    pub notes: Vec<String>,
    /// Cases run, and how many of them failed (before recording).
    pub cases: usize,
    pub failed: usize,
}

/// Runs the selection (one protocol, or one protocol × driver) with every step of a
/// failing case run, and computes each spec file's text with the answers written in.
/// Nothing is written: see [`FileChange`].
pub async fn record(
    selection: &Selection,
    specs: &Path,
    config: &RunConfig,
    base: bool,
    mut progress: impl FnMut(&Event),
) -> Result<Recording, String> {
    let selected = selection.selected();
    let [cell] = selected.as_slice() else {
        let cells: Vec<String> = selected.iter().map(|s| s.cell()).collect();
        return Err(format!(
            "record writes one protocol's answers at a time; the selection has {} ({}): name one with --protocol (and at most one --driver)",
            cells.len(),
            cells.join(", ")
        ));
    };
    let config = RunConfig {
        keep_going: true,
        ..config.clone()
    };
    let mut finished = Vec::new();
    crate::run::run(&selected, &config, |event| {
        progress(&event);
        if let Event::CaseFinished {
            case,
            outcome,
            observed,
            ..
        } = event
        {
            finished.push((case, outcome, observed));
        }
    })
    .await;

    let recorder = Recorder {
        protocol: &cell.protocol.protocol,
        cli_labels: &selection.plan.labels,
        error_classes: &selection.registry.error_classes,
        base,
    };
    let mut recording = Recording {
        cases: finished.len(),
        ..Recording::default()
    };
    // Per spec file, in the order the run reported them.
    let mut by_file: BTreeMap<&str, Vec<(&CasePlan, &Observed)>> = BTreeMap::new();
    for (info, outcome, observed) in &finished {
        let failure = match outcome {
            Outcome::Failed(f) => f,
            // `record` runs no baseline: every expectation is the specs' own.
            Outcome::ExpectedFailure {
                by: ExpectedBy::Xfail { label },
                ..
            } => {
                recording.notes.push(format!(
                    "{}: expected to fail on {label} (xfail); not recorded",
                    info.id
                ));
                continue;
            }
            Outcome::UnexpectedPass {
                by: ExpectedBy::Xfail { label },
                ..
            } => {
                recording.notes.push(format!(
                    "{}: passes, though an xfail on {label} says it fails; remove the xfail",
                    info.id
                ));
                continue;
            }
            Outcome::ExpectedFailure {
                by: ExpectedBy::Baseline,
                ..
            }
            | Outcome::UnexpectedPass {
                by: ExpectedBy::Baseline,
                ..
            } => continue,
            Outcome::Passed | Outcome::Skipped(_) => continue,
        };
        recording.failed += 1;
        if failure.is_infrastructure() || observed.is_empty() {
            recording.notes.push(format!(
                "{}: not recorded: {}",
                info.id,
                crate::secret::mask(&failure.message)
            ));
            continue;
        }
        let case = cell
            .cases
            .iter()
            .find(|(s, c)| s.source == info.source && c.id == info.id)
            .map(|(_, c)| *c);
        if let Some(case) = case {
            let entry = by_file.entry(info.source.as_str()).or_default();
            entry.extend(observed.iter().map(|o| (case, o)));
        }
    }
    for (shown, observed) in by_file {
        let path = crate::source::file_of(specs, shown);
        let before = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let findings: Vec<Finding<'_>> = observed
            .iter()
            .filter_map(|(case, o)| {
                let step = case.steps.iter().find(|s| s.line == o.line)?;
                Some(Finding {
                    case: &case.id,
                    step,
                    observed: o,
                })
            })
            .collect();
        let rewritten = recorder
            .rewrite(&before, &findings)
            .map_err(|e| format!("{shown}: {e}"))?;
        recording
            .notes
            .extend(rewritten.notes.iter().map(|n| format!("{shown}: {n}")));
        if rewritten.text != before {
            recording.files.push(FileChange {
                path,
                shown: shown.to_string(),
                before,
                after: rewritten.text,
                steps: rewritten.steps,
            });
        }
    }
    Ok(recording)
}

/// Whose answers are written, and where.
pub struct Recorder<'a> {
    /// The protocol (× driver) the answers came from.
    pub protocol: &'a Protocol,
    /// Command-line labels (they take part in choosing a step's override).
    pub cli_labels: &'a [String],
    /// To record a server error as the error class it is, where one matches.
    pub error_classes: &'a BTreeMap<String, ErrorClass>,
    /// Write into the base expectation even though the protocol is not the reference.
    pub base: bool,
}

/// One step's answer, to write into the case `case` of a spec file.
pub struct Finding<'a> {
    pub case: &'a str,
    /// The step as compiled for the protocol (its query's compare mode and sort).
    pub step: &'a Step,
    pub observed: &'a Observed,
}

/// A spec file's text with the findings written in.
#[derive(Debug)]
pub struct Rewritten {
    pub text: String,
    /// How many steps changed.
    pub steps: usize,
    /// Findings that could not be written, and why.
    pub notes: Vec<String>,
}

/// A key to set to a value, or (`None`) to take away.
type Change = (&'static str, Option<Yaml>);

impl Recorder<'_> {
    /// Whether answers go into the base expectation: the protocol is the reference
    /// (tier `reference`), or `base` says so.
    pub fn into_base(&self) -> bool {
        self.base || self.protocol.tier == Tier::Reference
    }

    /// The label a new override is keyed on: the driver's name in a driver's cell, the
    /// protocol's otherwise.
    fn label(&self) -> &str {
        self.protocol
            .driver
            .as_ref()
            .map_or(self.protocol.name.as_str(), |d| d.name.as_str())
    }

    /// `text` (a spec file) with every finding written in.
    pub fn rewrite(&self, text: &str, findings: &[Finding<'_>]) -> Result<Rewritten, String> {
        let mut diags = Diagnostics::default();
        let root = crate::yaml::parse(text, FileId::default(), &mut diags)
            .ok_or("the file is not valid YAML any more")?;
        let cases = root.get("cases").and_then(Node::items).unwrap_or_default();
        let mut edits = Vec::new();
        let mut notes = Vec::new();
        let mut steps = 0;
        for finding in findings {
            let line = finding.observed.line;
            let step = cases
                .iter()
                .find(|c| c.get("id").and_then(Node::as_str) == Some(finding.case))
                .and_then(|case| step_at(case, line));
            let Some(step) = step else {
                notes.push(format!(
                    "{} line {line}: no step of the case starts on this line",
                    finding.case
                ));
                continue;
            };
            let changes = changes(self, finding.step, finding.observed);
            if changes.is_empty() {
                continue;
            }
            match self.step_edits(text, step, &changes) {
                Ok(mut e) => {
                    edits.append(&mut e);
                    steps += 1;
                }
                Err(why) => notes.push(format!("{} line {line}: {why}", finding.case)),
            }
        }
        let text = apply(text, edits)?;
        Ok(Rewritten { text, steps, notes })
    }

    /// The edits that write `changes` into one step.
    fn step_edits(&self, text: &str, step: &Node, changes: &[Change]) -> Result<Vec<Edit>, String> {
        let step_map = MapEdit::new(text, step).ok_or("the step is not a mapping")?;
        let removed: Vec<&str> = changes
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
            .collect();
        // The override in force for this protocol, whichever way answers go: it is what
        // the step expects here.
        if let Some(over) = self.override_in_force(step) {
            let over = MapEdit::new(text, over).ok_or("the step's override is not a mapping")?;
            return Ok(override_edits(&step_map, &over, changes, &removed));
        }
        if self.into_base() {
            let mut edits = Vec::new();
            for (key, value) in changes {
                match value {
                    Some(v) => edits.push(step_map.set(key, v, &removed)),
                    None => edits.extend(step_map.remove(key)),
                }
            }
            return Ok(edits);
        }
        // A new override: what changes, and `key: null` for what the base has and this
        // protocol's answer has not.
        let entries: Vec<(String, Yaml)> = changes
            .iter()
            .filter_map(|(key, value)| match value {
                Some(v) => Some((key.to_string(), v.clone())),
                None => step_map
                    .has(key)
                    .then(|| (key.to_string(), Yaml::Flow("null".to_string()))),
            })
            .collect();
        let entry = Yaml::Flow(Yaml::Map(entries).flow());
        let label = crate::yaml::emit::flow_scalar(self.label());
        Ok(vec![match step.get("on") {
            Some(on) => MapEdit::new(text, on)
                .ok_or("the step's `on` is not a mapping")?
                .set(&label, &entry, &[]),
            None => step_map.set("on", &Yaml::Map(vec![(label, entry)]), &[]),
        }])
    }

    /// The step's `on:` entry that applies to this protocol: the most specific matching
    /// label, as compiling chose it.
    fn override_in_force<'n>(&self, step: &'n Node) -> Option<&'n Node> {
        let entries = step.get("on")?.entries()?;
        self.protocol.most_specific(
            entries.iter().filter_map(|(k, v)| Some((k.as_str()?, v))),
            self.cli_labels,
        )
    }
}

/// Edits to an override in force: keys set there, keys taken away as `key: null` where
/// the base has them (and dropped from the override where only it has them).
fn override_edits(
    base: &MapEdit<'_>,
    over: &MapEdit<'_>,
    changes: &[Change],
    removed: &[&str],
) -> Vec<Edit> {
    let null = Yaml::Flow("null".to_string());
    let mut edits = Vec::new();
    for (key, value) in changes {
        match value {
            Some(v) => edits.push(over.set(key, v, removed)),
            None if base.has(key) => edits.push(over.set(key, &null, removed)),
            None => edits.extend(over.remove(key)),
        }
    }
    edits
}

/// The step of a case (its own steps, a case override's, anywhere below the case) that
/// starts on `line`.
fn step_at(node: &Node, line: u32) -> Option<&Node> {
    if let Some(entries) = node.entries() {
        for (key, value) in entries {
            if key.as_str() == Some("steps")
                && let Some(step) = value
                    .items()
                    .and_then(|items| items.iter().find(|s| s.span.line == line))
            {
                return Some(step);
            }
            if let Some(found) = step_at(value, line) {
                return Some(found);
            }
        }
    }
    node.items()?.iter().find_map(|item| step_at(item, line))
}

/// What to write for one step's answer: each contradicted key set to what the server
/// said, and the keys an answer of another kind makes meaningless taken away.
fn changes(recorder: &Recorder<'_>, step: &Step, observed: &Observed) -> Vec<Change> {
    let query = match &step.action {
        Action::Query(q) => Some(q),
        _ => None,
    };
    let mut out: Vec<Change> = Vec::new();
    for key in &observed.wrong {
        match (key, &observed.answer) {
            (Key::Error, Answer::Error(db)) => {
                let error = answer::error(
                    db,
                    recorder.protocol,
                    recorder.cli_labels,
                    recorder.error_classes,
                );
                out.push(("error", Some(error)));
                for gone in ["rows", "rows_hash", "row_count", "columns", "count"] {
                    out.push((gone, None));
                }
            }
            (Key::Error, Answer::Done(_)) => out.push(("error", None)),
            (Key::Error, Answer::Rows { result, printed }) => {
                out.push(("error", None));
                if let Some(q) = query {
                    let printed = printed.as_ref().map(|(p, _)| p.as_slice());
                    out.push(("rows", Some(answer::rows(q, result, printed))));
                }
            }
            (Key::Count, Answer::Done(Some(n))) => out.push(("count", Some(answer::number(*n)))),
            (Key::Columns, Answer::Rows { result, .. }) => {
                out.push(("columns", Some(answer::columns(result))));
            }
            (Key::Types, Answer::Rows { result, .. }) => {
                out.push(("types", Some(answer::types(result))));
            }
            (Key::RowCount, Answer::Rows { result, .. }) => {
                out.push(("row_count", Some(answer::number(result.rows.len() as u64))));
            }
            (Key::Rows, Answer::Rows { result, printed }) => {
                if let Some(q) = query {
                    let printed = printed.as_ref().map(|(p, _)| p.as_slice());
                    out.push(("rows", Some(answer::rows(q, result, printed))));
                }
            }
            (
                Key::RowsHash,
                Answer::Rows {
                    printed: Some((_, hash)),
                    ..
                },
            ) => out.push(("rows_hash", Some(answer::rows_hash(hash)))),
            _ => {}
        }
    }
    out
}
