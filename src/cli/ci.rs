//! `helios-matrix ci github`: the GitHub Actions workflow of the matrix, from the registry.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{EXIT_CODES, exit, parse_priority, report_diagnostics};
use crate::ci::github::{self, Workflow};
use crate::ci::jobs::{self, ShardCount, Shards};
use crate::diag::Diagnostics;
use crate::registry::Priority;
use crate::spec;

#[derive(Debug, Args)]
pub struct CiArgs {
    #[command(subcommand)]
    pub command: CiCommand,
}

#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// Write a GitHub Actions workflow: a build job; one run job per protocol with a target
    /// × driver (the built-in executor and each driver it lists) × shard, each running its
    /// protocol's tier priority and those above it and uploading its JUnit report; and a
    /// gate job that merges the reports (`report merge`) and fails the workflow once.
    #[command(after_help = EXIT_CODES)]
    Github(GithubArgs),
}

#[derive(Debug, Args)]
pub struct GithubArgs {
    /// The spec directory: its registry (matrix.yaml) gives the protocols, tiers, targets
    /// and drivers, and the run jobs run its suites. Give it relative to the repository root.
    #[arg(long, default_value = "specs", value_name = "DIR")]
    pub specs: PathBuf,
    /// Split each protocol × driver into N jobs (`run --shard K/N`); PROTOCOL=N for one
    /// protocol (repeatable or comma-separated, later ones win: `3,sqlite=1`). Default: 1.
    #[arg(long, value_delimiter = ',', value_parser = ShardCount::parse, value_name = "N|PROTOCOL=N")]
    pub shards: Vec<ShardCount>,
    /// The gate job's quality gate: failures of cases with these priorities, in any shard,
    /// fail the workflow; other failures are reported only.
    #[arg(long, value_delimiter = ',', value_parser = parse_priority, default_value = "p0", value_name = "PRIORITIES")]
    pub gate: Vec<Priority>,
    /// Write the workflow here (e.g. .github/workflows/helios-matrix.yml) instead of to
    /// standard output.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn command(args: &CiArgs) -> u8 {
    match &args.command {
        CiCommand::Github(github_args) => github_command(github_args),
    }
}

fn github_command(args: &GithubArgs) -> u8 {
    let mut diags = Diagnostics::default();
    let specs = spec::load(&args.specs, &[], &mut diags);
    if !report_diagnostics(diags, &specs) {
        return exit::USAGE;
    }
    let planned = Shards::new(&args.shards, &specs.registry)
        .and_then(|shards| jobs::plan(&specs.registry, &shards));
    let planned = match planned {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let specs_dir = args.specs.display().to_string();
    let text = match github::render(&Workflow {
        jobs: &planned,
        specs: &specs_dir,
        gate: &args.gate,
        regenerate: &regenerate(args),
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let written = match &args.out {
        Some(path) => crate::files::write_atomically(path, text.as_bytes()),
        None => std::io::stdout().write_all(text.as_bytes()),
    };
    match (written, &args.out) {
        (Ok(()), Some(path)) => {
            eprintln!(
                "wrote {} ({} run job(s))",
                path.display(),
                planned.jobs.len()
            );
            exit::OK
        }
        (Ok(()), None) => exit::OK,
        (Err(e), path) => {
            let what = path
                .as_ref()
                .map_or("the workflow".to_string(), |p| p.display().to_string());
            eprintln!("error: cannot write {what}: {e}");
            exit::IO
        }
    }
}

/// The command line that writes the same file again, for its header.
fn regenerate(args: &GithubArgs) -> String {
    let mut line = String::from("helios-matrix ci github");
    if args.specs.as_path() != std::path::Path::new("specs") {
        line.push_str(&format!(" --specs {}", args.specs.display()));
    }
    if !args.shards.is_empty() {
        let shards: Vec<String> = args.shards.iter().map(ToString::to_string).collect();
        line.push_str(&format!(" --shards {}", shards.join(",")));
    }
    if args.gate != [Priority::P0] {
        let gate: Vec<&str> = args.gate.iter().map(|p| p.as_str()).collect();
        line.push_str(&format!(" --gate {}", gate.join(",")));
    }
    match &args.out {
        Some(path) => line.push_str(&format!(" -o {}", path.display())),
        None => line.push_str(" > FILE"),
    }
    line
}
