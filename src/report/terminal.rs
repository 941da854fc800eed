//! The terminal reporter: a progress bar per protocol on a TTY, plain lines otherwise;
//! every failure with its case, location, SQL and diff; a summary per protocol.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Reporter, Tally, Verdict};
use crate::registry::Priority;
use crate::run::{CaseInfo, Event, ExpectedBy, Outcome};

pub struct TerminalReporter<W: Write> {
    out: W,
    /// The priorities whose failures fail the run.
    gate: Vec<Priority>,
    bars: Option<Bars>,
    tally: Tally,
    /// Failures, printed again together at the end.
    failures: Vec<String>,
    /// Lines the summary opens with (the baseline the run was judged against).
    notes: Vec<String>,
}

struct Bars {
    multi: MultiProgress,
    per_protocol: BTreeMap<String, ProgressBar>,
}

impl<W: Write> TerminalReporter<W> {
    /// `progress`: draw bars (only sensible on a TTY).
    pub fn new(out: W, progress: bool, gate: Vec<Priority>) -> Self {
        let bars = progress.then(|| Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            per_protocol: BTreeMap::new(),
        });
        Self {
            out,
            gate,
            bars,
            tally: Tally::default(),
            failures: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A line for the summary, printed before the counts.
    pub fn note_in_summary(&mut self, line: String) {
        self.notes.push(line);
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    fn line(&mut self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(text);
            }
            None => {
                let _ = writeln!(self.out, "{text}");
            }
        }
    }

    fn case_line(case: &CaseInfo, outcome: &Outcome, duration: Duration) -> String {
        let detail = match outcome {
            Outcome::Passed | Outcome::Failed(_) => String::new(),
            Outcome::Skipped(reason)
            | Outcome::ExpectedFailure {
                reason,
                by: ExpectedBy::Xfail { .. },
                ..
            } => {
                format!(" ({reason})")
            }
            Outcome::ExpectedFailure {
                reason,
                by: ExpectedBy::Baseline,
                ..
            } => format!(" ({})", crate::baseline::known_failure_message(reason)),
            Outcome::UnexpectedPass {
                reason,
                by: ExpectedBy::Xfail { .. },
            } => format!(" (marked xfail: {reason})"),
            Outcome::UnexpectedPass {
                by: ExpectedBy::Baseline,
                ..
            } => format!(" ({})", crate::baseline::FIXED),
        };
        format!(
            "{} {:<11} {} {}{detail} [{}]",
            Verdict::of(outcome).label(),
            case.cell(),
            case.id,
            case.name,
            humantime::format_duration(Duration::from_millis(duration.as_millis() as u64))
        )
    }
}

impl<W: Write> Reporter for TerminalReporter<W> {
    fn event(&mut self, event: &Event) {
        self.tally.observe(event);
        match event {
            Event::RunStarted { cells } => {
                if let Some(bars) = &mut self.bars {
                    let style =
                        ProgressStyle::with_template("{prefix:>11} [{bar:30}] {pos}/{len} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> ");
                    for (name, len) in cells {
                        let bar = bars.multi.add(ProgressBar::new(*len as u64));
                        bar.set_style(style.clone());
                        bar.set_prefix(name.clone());
                        bars.per_protocol.insert(name.clone(), bar);
                    }
                }
            }
            Event::CellStarted {
                cell,
                target,
                driver,
                workers,
                note,
            } => {
                if self.bars.is_none() {
                    let shown = target.as_deref().unwrap_or("no target configured");
                    let through = driver
                        .as_deref()
                        .map(|d| format!(" through {d}"))
                        .unwrap_or_default();
                    let on = if *workers > 1 {
                        format!(" on {workers} workers")
                    } else {
                        String::new()
                    };
                    self.line(&format!("---- {cell} ({shown}){through}{on}"));
                }
                if let Some(note) = note {
                    self.line(&format!("note: {cell}: {note}"));
                }
            }
            Event::CaseFinished {
                case,
                outcome,
                duration,
                ..
            } => {
                if let Some(bar) = self
                    .bars
                    .as_ref()
                    .and_then(|b| b.per_protocol.get(&case.cell()))
                {
                    bar.inc(1);
                    bar.set_message(case.id.clone());
                }
                let headline = Self::case_line(case, outcome, *duration);
                let failure = match outcome {
                    Outcome::Failed(f) => Some(format!(
                        "{headline}\n  case {} ({}) in suite {}, {}\n  {}",
                        case.id,
                        case.priority,
                        case.suite,
                        case.location(),
                        f.details().replace('\n', "\n  ")
                    )),
                    Outcome::UnexpectedPass {
                        reason,
                        by: ExpectedBy::Xfail { .. },
                    } => Some(format!(
                        "{headline}\n  {} passed but is marked xfail ({reason}); remove the xfail entry\n  at {}",
                        case.id,
                        case.location()
                    )),
                    Outcome::UnexpectedPass {
                        reason,
                        by: ExpectedBy::Baseline,
                    } => Some(format!(
                        "{headline}\n  {} passed but the baseline lists it as failing: {}\n  at {}",
                        case.id,
                        crate::baseline::fixed_message(reason),
                        case.location()
                    )),
                    _ => None,
                };
                match (failure, self.bars.is_some()) {
                    (Some(text), _) => {
                        self.line(&text);
                        self.failures.push(text);
                    }
                    (None, false) => self.line(&headline),
                    (None, true) => {}
                }
            }
            Event::CellFinished { cell } => {
                if let Some(bar) = self.bars.as_ref().and_then(|b| b.per_protocol.get(cell)) {
                    bar.finish_with_message("done");
                }
            }
            Event::RunFinished => {
                if let Some(bars) = &self.bars {
                    let _ = bars.multi.clear();
                }
                self.bars = None;
                let mut summary = String::from("\n");
                if !self.failures.is_empty() {
                    summary.push_str(&format!("{} failing case(s):\n", self.failures.len()));
                    for f in &self.failures {
                        let head = f.lines().next().unwrap_or_default();
                        summary.push_str(&format!("  {head}\n"));
                    }
                    summary.push('\n');
                }
                for note in &self.notes {
                    summary.push_str(note);
                    summary.push('\n');
                }
                summary.push_str(&self.tally.summary(&self.gate));
                let _ = writeln!(self.out, "{summary}");
            }
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
