//! `helios-matrix conformance fetch`, and what `run` and `baseline` share of `--conformance`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{Selection, exit, report_diagnostics};
use crate::conformance::{self, Cell, fetch};
use crate::diag::Diagnostics;
use crate::run::{Event, RunConfig, Selected};

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    #[command(subcommand)]
    pub command: ConformanceCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConformanceCommand {
    /// Download the pinned source distribution of each named driver's own test suite (or
    /// `all` of them) from the address the registry gives, check it against the registry's
    /// SHA-256 and unpack it into .conformance/ (git-ignored); a suite already unpacked
    /// from that digest is left as it is. The one command that contacts a host other than
    /// the targets. Exit 1 when a download or check fails.
    Fetch(FetchArgs),
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Drivers whose suite to fetch (comma-separated, or `all`).
    #[arg(value_delimiter = ',', default_value = "all", value_name = "DRIVER")]
    pub drivers: Vec<String>,
    /// The spec directory whose registry (matrix.yaml) declares the suites.
    #[arg(long, default_value = "specs", value_name = "DIR")]
    pub specs: PathBuf,
}

/// `--conformance`, for `run` and `baseline`.
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// Run these drivers' own test suites (comma-separated, or `all` for every driver of
    /// the selected protocols whose registry entry declares one) instead of the specs'
    /// cases: each runs once per selected protocol's target, in a database of its own
    /// made fresh there, as the cell PROTOCOL/DRIVER with the suite `conformance`, its
    /// tests reported, gated and judged by --baseline as cases. Fetch them first with
    /// `helios-matrix conformance fetch`. Spec filters (--case, --priority, --tag) do
    /// not apply.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "DRIVER",
        conflicts_with = "drivers"
    )]
    pub conformance: Vec<String>,
}

/// What `run` and `baseline` run: the specs' cases, or the drivers' own suites.
pub enum Work<'a> {
    Specs(Vec<Selected<'a>>),
    Suites(Vec<Cell<'a>>),
}

impl SuiteArgs {
    /// The work of the selection; an exit code when a named suite cannot run.
    pub fn work<'a>(&self, selection: &'a Selection) -> Result<Work<'a>, u8> {
        let selected = selection.selected();
        if self.conformance.is_empty() {
            return Ok(Work::Specs(selected));
        }
        conformance::cells(
            &selected,
            &selection.registry,
            &self.conformance,
            Path::new(conformance::DIR),
        )
        .map(Work::Suites)
        .map_err(|message| {
            eprintln!("error: {message}");
            exit::USAGE
        })
    }
}

impl Work<'_> {
    /// The selected spec cells (none for suites: a baseline reads them for the cases the
    /// specs xfail).
    pub fn specs(&self) -> &[Selected<'_>] {
        match self {
            Work::Specs(selected) => selected,
            Work::Suites(_) => &[],
        }
    }

    pub async fn run(&self, config: &RunConfig, sink: impl FnMut(Event)) {
        match self {
            Work::Specs(selected) => crate::run::run(selected, config, sink).await,
            Work::Suites(cells) => {
                conformance::run(cells, config, Path::new(conformance::DIR), sink).await;
            }
        }
    }
}

pub fn command(args: &ConformanceArgs) -> u8 {
    match &args.command {
        ConformanceCommand::Fetch(fetch_args) => fetch_command(fetch_args),
    }
}

fn fetch_command(args: &FetchArgs) -> u8 {
    let mut diags = Diagnostics::default();
    let specs = crate::spec::load(&args.specs, &[], &mut diags);
    if !report_diagnostics(diags, &specs) {
        return exit::USAGE;
    }
    let chosen = match conformance::declared(&specs.registry, &args.drivers) {
        Ok(drivers) => drivers,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let base = Path::new(conformance::DIR);
    let fetched = super::block_on(async {
        let mut code = exit::OK;
        for driver in chosen {
            let Some(suite) = &driver.conformance else {
                continue;
            };
            let root = fetch::root(base, &suite.sdist);
            match fetch::fetch(base, &suite.sdist).await {
                Ok(fetch::Fetched::Present) => {
                    println!("{}: {} (already there)", driver.name, root.display());
                }
                Ok(fetch::Fetched::Downloaded(bytes)) => println!(
                    "{}: {} ({} KiB, SHA-256 checked)",
                    driver.name,
                    root.display(),
                    bytes / 1024
                ),
                Err(e) => {
                    eprintln!("error: {}: {e}", driver.name);
                    code = exit::FAILED;
                }
            }
        }
        code
    });
    fetched.unwrap_or_else(|code| code)
}
