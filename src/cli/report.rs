//! `helios-matrix report merge`: the JUnit reports of a sharded run made one, and gated.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{EXIT_CODES, exit, parse_priority};
use crate::registry::Priority;
use crate::report::merge;

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the JUnit reports of `run --shard K/N --junit …` (one per CI job) into one:
    /// suites of the same name become one, in the order they are first seen; totals are
    /// recomputed. Then gate on the whole as `run` does, printing its verdict line.
    #[command(after_help = EXIT_CODES)]
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The JUnit reports to merge, written by `helios-matrix run --junit`.
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// Write the merged JUnit report here (whole, atomically, even when the gate fails).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The quality gate: failures of cases with these priorities (from each case's
    /// `priority` property) fail the merge (exit 1); others are reported only.
    #[arg(long, value_delimiter = ',', value_parser = parse_priority, default_value = "p0", value_name = "PRIORITIES")]
    pub gate: Vec<Priority>,
}

pub fn command(args: &ReportArgs) -> u8 {
    match &args.command {
        ReportCommand::Merge(merge_args) => merge_command(merge_args),
    }
}

fn merge_command(args: &MergeArgs) -> u8 {
    // An input that cannot be read or parsed is a usage error: nothing is merged.
    let merged = match args
        .reports
        .iter()
        .map(|p| merge::read(p))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|inputs| merge::merge(&inputs))
    {
        Ok(merged) => merged,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    for d in &merged.duplicates {
        eprintln!("warning: {d} (overlapping shards?)");
    }
    let mut out = String::new();
    if !merged.failures.is_empty() {
        out.push_str(&format!("{} failing case(s):\n", merged.failures.len()));
        for f in &merged.failures {
            out.push_str(&format!("  {f}\n"));
        }
        out.push('\n');
    }
    out.push_str(&merged.tally.summary(&args.gate));
    println!("{out}");
    let mut code = if merged.tally.gate_failures(&args.gate) > 0 {
        exit::FAILED
    } else {
        exit::OK
    };
    if let Some(path) = &args.out {
        let written = merged
            .report
            .to_string()
            .map_err(std::io::Error::other)
            .and_then(|xml| crate::files::write_atomically(path, xml.as_bytes()));
        match written {
            Ok(()) => eprintln!(
                "merged {} report(s) into {}",
                args.reports.len(),
                path.display()
            ),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                code = exit::IO;
            }
        }
    }
    code
}
