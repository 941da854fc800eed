//! The command line: one file per command, each parsing its flags and calling library
//! code. Exit codes live here, and mean one thing each.

mod baseline;
mod ci;
mod compile;
mod conformance;
mod import;
mod list;
mod probe;
mod record;
mod report;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::diag::Diagnostics;
use crate::registry::Priority;
use crate::select::{self, Selection};
use crate::spec::SpecSet;

/// Exit codes; each means one thing.
pub mod exit {
    /// Every selected case passed (or was skipped / failed as expected); generated files are current.
    pub const OK: u8 = 0;
    /// A case within the gate (`--gate`, default p0) failed; or `compile --check` found stale files.
    pub const FAILED: u8 = 1;
    /// Usage error, invalid specs, or a JUnit report to merge that cannot be read or is
    /// not one: nothing was run (or merged).
    pub const USAGE: u8 = 2;
    /// A file could not be read or written (JUnit report, generated scripts, workflow).
    pub const IO: u8 = 3;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  no case within the gate (--gate, default p0) failed; --check: up to date
  1  a case within the gate failed, errored or passed unexpectedly (a baseline's fixed case
     too); --check: generated files are stale; baseline: a failure no baseline can hold
  2  usage error, invalid specs or baseline (every problem is reported with
     file:line:column); report merge: a report cannot be read or is not a helios-matrix
     JUnit report
  3  a file could not be read or written (JUnit report, generated scripts, workflow)";

#[derive(Debug, Parser)]
#[command(
    name = "helios-matrix",
    version,
    about = "Write database protocol compatibility tests once in YAML; compile them per dialect; run them against real servers.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile specs into one script (.hmx) per protocol × suite, plus manifest.json.
    #[command(after_help = EXIT_CODES)]
    Compile(compile::CompileArgs),
    /// Compile specs in memory (or read compiled scripts) and run them against each protocol's target.
    #[command(after_help = EXIT_CODES)]
    Run(run::RunArgs),
    /// Run the selection and write the failures it saw as a baseline file: per cell and
    /// case, the error (class, else SQLSTATE and code), else the diff's first changed line,
    /// else the message's first line, with an empty `reason:` for a person to fill. When
    /// the file exists, reasons and comments of entries still failing are kept and entries
    /// that no longer fail are dropped. `run --baseline FILE` then gates on it. Exit 1 when
    /// a failure cannot be held by a baseline (infrastructure errors, timeouts).
    #[command(after_help = EXIT_CODES)]
    Baseline(baseline::BaselineArgs),
    /// List the cases `run` would run with the same selection: protocol, its target and the
    /// labels in force, then each case's id, priority, whether it runs, is skipped or is
    /// expected to fail, and where it is written.
    #[command(after_help = EXIT_CODES)]
    List(list::ListArgs),
    /// JUnit reports: `report merge` makes the reports of a sharded run one, and gates on
    /// it; `report html` and `report markdown` show the matrix they hold.
    #[command(after_help = EXIT_CODES)]
    Report(report::ReportArgs),
    /// CI configuration: `ci github` writes a GitHub Actions workflow that runs the matrix
    /// as one job per protocol × driver × shard and gates once on their merged reports.
    #[command(after_help = EXIT_CODES)]
    Ci(ci::CiArgs),
    /// Send every protocol's opening handshake (PostgreSQL SSLRequest, MySQL greeting, TDS
    /// PRELOGIN, the HTTP APIs' paths) to each selected target's endpoint: which protocols
    /// it answers, how fast, and whether it refuses the others cleanly instead of hanging.
    /// Exit 1 when an endpoint does not answer its protocol or hangs on another.
    #[command(after_help = EXIT_CODES)]
    Probe(probe::ProbeArgs),
    /// Turn sqllogictest files into YAML suites: statements, queries (results kept as
    /// sqllogictest prints them, hashes included), skipif/onlyif as skip/only labels,
    /// connections as sessions; each step's `origin` names its record. Exit 2 when a file
    /// cannot be parsed (file:line given).
    #[command(after_help = EXIT_CODES)]
    Import(import::ImportArgs),
    /// Run one protocol's selection and write its answers into the specs where they
    /// contradict them: into the steps' expectations for the reference protocol (or with
    /// --base), into `on: {PROTOCOL: …}` overrides otherwise. Only the contradicted values
    /// change; comments and layout stay. Errors are written as error classes where one
    /// matches, else as SQLSTATE or code. --dry-run prints the diff.
    #[command(after_help = EXIT_CODES)]
    Record(record::RecordArgs),
    /// Drivers' own test suites, run as matrix cells by `run --conformance`:
    /// `conformance fetch` downloads the pinned sources the registry declares.
    #[command(after_help = EXIT_CODES)]
    Conformance(conformance::ConformanceArgs),
}

/// Which cases, on which protocols and targets: shared by `run`, `list` and `record`.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// The spec directory: the registry (protocols, targets) and, without --scripts, the suites.
    #[arg(long, default_value = "specs", value_name = "DIR")]
    pub specs: PathBuf,
    /// Protocols to run (repeatable or comma-separated). Default: every protocol with a target.
    #[arg(
        long = "protocol",
        short = 'p',
        value_delimiter = ',',
        value_name = "PROTOCOL"
    )]
    pub protocols: Vec<String>,
    /// Only cases of these priorities (p0, p1, p2; repeatable or comma-separated).
    #[arg(long = "priority", value_delimiter = ',', value_parser = parse_priority, value_name = "PRIORITY")]
    pub priorities: Vec<Priority>,
    /// Only cases carrying one of these tags (a case's own or its suite's; repeatable or comma-separated).
    #[arg(long = "tag", value_delimiter = ',', value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only cases whose id or name matches this regular expression.
    #[arg(long = "case", value_name = "REGEX")]
    pub case: Option<String>,
    /// An extra label every protocol carries (for `on`/`only`/`skip`/`xfail`). Repeatable.
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Override a protocol's target, e.g. postgresql=postgres://u:p@127.0.0.1:5432/db (repeatable).
    /// Wins over HELIOS_MATRIX_TARGET_<PROTOCOL> and matrix.yaml. A target given here or in
    /// the environment carries none of the registry's server labels (an emulator's known
    /// gaps do not excuse a real server); give its own with --target-label.
    #[arg(long = "target", value_name = "PROTOCOL=URL")]
    pub targets: Vec<String>,
    /// Labels of the server behind a protocol's target, e.g. snowflake=heliosdb (repeatable;
    /// comma-separated labels). They rank above the protocol name in `on`/`xfail`/`skip`.
    /// Also HELIOS_MATRIX_TARGET_LABELS_<PROTOCOL> for a target given in the environment.
    #[arg(long = "target-label", value_name = "PROTOCOL=LABEL[,LABEL]")]
    pub target_labels: Vec<String>,
    /// Run through these client drivers (repeatable or comma-separated): names from the
    /// protocols' `drivers:` in matrix.yaml, `all` for every driver each selected protocol
    /// lists, `native` for the built-in executor. Each driver is a label, more specific than
    /// the server's. Default: the built-in executor only.
    #[arg(long = "driver", value_delimiter = ',', value_name = "DRIVER")]
    pub drivers: Vec<String>,
    /// Test this deployment: a server of the registry's `servers:` (e.g. `heliosdb-nano`,
    /// `reference`). Every protocol it serves runs (or those of --protocol), each at the
    /// server's target with the server's labels in force, its endpoints for `http` steps.
    /// `list` shows the servers. --target still wins, with only the labels given with it.
    #[arg(long = "server", value_name = "NAME")]
    pub server: Option<String>,
    /// Only the K-th of N deterministic parts of the selected cases (K from 1), for running
    /// a suite as N CI jobs: a case's part depends only on its protocol and id, and the N
    /// parts together hold every case exactly once.
    #[arg(long = "shard", value_parser = select::Shard::parse, value_name = "K/N")]
    pub shard: Option<select::Shard>,
    /// Let helios-matrix contact hosts other than loopback (127.0.0.1, ::1). Off by default:
    /// suites drop and create tables, so a remote server is tested only on purpose.
    #[arg(long = "allow-remote", env = "HELIOS_MATRIX_ALLOW_REMOTE")]
    pub allow_remote: bool,
    /// A PEM file of certificates to verify HTTPS targets against instead of the system's
    /// (a self-signed test certificate), for every HTTPS target that names none itself with
    /// `?ca-file=FILE`.
    #[arg(long = "ca-file", env = "HELIOS_MATRIX_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

impl SelectArgs {
    fn options(&self) -> select::Options {
        select::Options {
            specs: self.specs.clone(),
            protocols: self.protocols.clone(),
            priorities: self.priorities.clone(),
            tags: self.tags.clone(),
            case: self.case.clone(),
            labels: self.labels.clone(),
            targets: self.targets.clone(),
            target_labels: self.target_labels.clone(),
            drivers: self.drivers.clone(),
            shard: self.shard,
            server: self.server.clone(),
            access: crate::target::Access {
                allow_remote: self.allow_remote,
                ca_file: self.ca_file.clone(),
            },
        }
    }

    /// The selection, with its warnings printed; an exit code when there is none.
    fn load(&self, scripts: Option<&std::path::Path>) -> Result<Selection, u8> {
        match Selection::load(&self.options(), scripts) {
            Ok(selection) => {
                eprint!("{}", selection.warnings);
                Ok(selection)
            }
            Err(select::Error::Specs { report, errors }) => {
                eprint!("{report}");
                eprintln!("error: {errors} problem(s) in the specs; nothing was done");
                Err(exit::USAGE)
            }
            Err(select::Error::Usage(message)) => {
                eprintln!("error: {message}");
                Err(exit::USAGE)
            }
        }
    }
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    Priority::parse(s).ok_or_else(|| format!("`{s}` is not a priority (p0, p1, p2)"))
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    ExitCode::from(match cli.command {
        Command::Compile(args) => compile::command(&args),
        Command::Run(args) => run::command(&args),
        Command::Baseline(args) => baseline::command(&args),
        Command::Import(args) => import::command(&args),
        Command::Record(args) => record::command(&args),
        Command::List(args) => list::command(&args),
        Command::Report(args) => report::command(&args),
        Command::Ci(args) => ci::command(&args),
        Command::Probe(args) => probe::command(&args),
        Command::Conformance(args) => conformance::command(&args),
    })
}

/// How long the parts of a run may take: every bound that makes a run end whatever the
/// server does (the README's "Deadlines").
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Longest one step may take before its case fails and its session is cancelled.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub step_timeout: std::time::Duration,
    /// Longest one case may take, fixtures, steps and teardown included, before it fails
    /// and its sessions are cancelled; a case may set its own (`timeout: {case: 2m}`).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub case_timeout: std::time::Duration,
    /// How long a session that ran out of time gets to honour the cancel before its
    /// connection is dropped unanswered; also what a timed-out case has left for its
    /// fixture teardown.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub cancel_grace: std::time::Duration,
    /// Longest the whole run may take: cases under way then are cut off as timed out,
    /// cases not started are reported as not run (errors, never passes).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub run_timeout: Option<std::time::Duration>,
}

impl LimitArgs {
    /// A run's configuration with these limits (and defaults for the rest).
    pub fn config(&self) -> crate::run::RunConfig {
        crate::run::RunConfig {
            step_timeout: self.step_timeout,
            case_timeout: self.case_timeout,
            cancel_grace: self.cancel_grace,
            run_timeout: self.run_timeout,
            ..crate::run::RunConfig::default()
        }
    }
}

/// Runs a future on the async runtime of the commands that talk to servers (one thread:
/// the work is waiting on them); the exit code when the runtime cannot start. The runtime
/// is then shut down without waiting on what is still in flight (a connection a stalled
/// server never answered, a blocking DNS look-up): a run ends when its work has.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, u8> {
    let runtime = runtime()?;
    let output = runtime.block_on(future);
    runtime.shutdown_background();
    Ok(output)
}

/// The runtime [`block_on`] runs on, for a command that starts something on it first.
fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::IO
        })
}

/// Prints the diagnostics; `false` when any is an error.
fn report_diagnostics(mut diags: Diagnostics, specs: &SpecSet) -> bool {
    diags.sort();
    if !diags.items().is_empty() {
        eprint!("{}", diags.render(&specs.sources));
    }
    if diags.has_errors() {
        eprintln!(
            "error: {} problem(s) in the specs; nothing was done",
            diags.error_count()
        );
        return false;
    }
    true
}
