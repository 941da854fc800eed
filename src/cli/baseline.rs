//! `helios-matrix baseline`: runs the selection and writes the failures it saw as a
//! baseline file for a person to review (a reason per entry), keeping the reasons and
//! comments of the file it rewrites.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{LimitArgs, SelectArgs, exit};
use crate::baseline::judge::Cells;
use crate::baseline::take::take;
use crate::baseline::{Baseline, LoadError};
use crate::report::Reporter;
use crate::report::terminal::TerminalReporter;
use crate::run::{CaseInfo, Event, Outcome, RunConfig};

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub suites: super::conformance::SuiteArgs,
    /// The baseline file to write, e.g. baselines/heliosdb-nano.yaml. When it exists, the
    /// entries still failing keep their `reason:` and the comment lines above them; entries
    /// that no longer fail are dropped (each said on stderr); entries of cells or cases
    /// this run did not select, or could not run, are kept as they were.
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
    /// The server the baseline is of, written as its `server:` (e.g. heliosdb-nano).
    /// Default: the server --server names, else the `server:` of the file being rewritten.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Workers per protocol, as for `run` (each in a schema or database of its own).
    /// Default: one more than the CPU cores.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Plain lines instead of progress bars, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

/// A baseline file read for a command; an exit code (its problems printed) when it cannot
/// be used. `None` when `missing_ok` and there is no file.
pub(super) fn load(path: &Path, missing_ok: bool) -> Result<Option<Baseline>, u8> {
    match Baseline::load(path) {
        Ok(b) => Ok(Some(b)),
        Err(LoadError::Read(e)) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(LoadError::Read(e)) => {
            eprintln!(
                "error: cannot read the baseline {}: {e}; nothing was run",
                path.display()
            );
            Err(exit::USAGE)
        }
        Err(LoadError::Invalid(invalid)) => {
            eprint!("{}", invalid.report);
            eprintln!(
                "error: {} problem(s) in the baseline {}; nothing was run",
                invalid.errors,
                path.display()
            );
            Err(exit::USAGE)
        }
    }
}

pub fn command(args: &BaselineArgs) -> u8 {
    let previous = match load(&args.out, true) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(server) = args
        .name
        .clone()
        .or_else(|| args.select.server.clone())
        .or_else(|| previous.as_ref().map(|p| p.server.clone()))
    else {
        eprintln!(
            "error: name the server the baseline is of: --server NAME or --name NAME (e.g. --name heliosdb-nano)"
        );
        return exit::USAGE;
    };
    let selection = match args.select.load(None) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let work = match args.suites.work(&selection) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let config = RunConfig {
        jobs: args.jobs.map_or_else(crate::run::default_jobs, usize::from),
        ..args.limits.config()
    };
    let progress =
        !args.no_progress && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    // No gate: a baseline records failures rather than judging them.
    let mut terminal = TerminalReporter::new(std::io::stdout(), progress, Vec::new());
    let mut finished: Vec<(Arc<CaseInfo>, Outcome)> = Vec::new();
    let ran = super::block_on(work.run(&config, |event| {
        terminal.event(&event);
        if let Event::CaseFinished { case, outcome, .. } = event {
            finished.push((case, outcome));
        }
    }));
    if let Err(code) = ran {
        return code;
    }
    if let Err(e) = terminal.finish() {
        eprintln!("error: cannot write the report: {e}");
        return exit::IO;
    }

    let cells = Cells::new(
        work.specs(),
        &selection.registry.error_classes,
        &selection.plan.labels,
    );
    let version = selection.server_version();
    if let Some(p) = &previous
        && (p.server != server || p.version != version)
    {
        eprintln!(
            "note: {} was taken on {}; it is now of {}",
            args.out.display(),
            shown(&p.server, p.version.as_deref()),
            shown(&server, version.as_deref())
        );
    }
    let taken = take(&server, version, previous.as_ref(), &finished, &cells);
    for note in &taken.notes {
        eprintln!("note: {note}");
    }
    for failure in &taken.unabsorbed {
        eprintln!("error: {failure}");
    }
    if let Err(e) = taken.baseline.write(&args.out) {
        eprintln!("error: cannot write {}: {e}", args.out.display());
        return exit::IO;
    }
    let unexplained = taken
        .baseline
        .entries
        .values()
        .filter(|e| e.reason.trim().is_empty())
        .count();
    eprintln!(
        "baseline of {} written to {}: {} entries ({} new, {} kept, {} dropped){}",
        shown(&server, taken.baseline.version.as_deref()),
        args.out.display(),
        taken.baseline.entries.len(),
        taken.added,
        taken.kept,
        taken.dropped,
        if unexplained > 0 {
            format!("; {unexplained} without a reason yet: write why each fails")
        } else {
            String::new()
        }
    );
    if taken.unabsorbed.is_empty() {
        exit::OK
    } else {
        eprintln!(
            "error: {} failure(s) no baseline entry can hold (errors, timeouts, spec xfails that do not hold): `run --baseline` will fail on them",
            taken.unabsorbed.len()
        );
        exit::FAILED
    }
}

/// `heliosdb-nano 4.41.1`, or the name alone.
fn shown(server: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{server} {v}"),
        None => server.to_string(),
    }
}
