//! The command line: argument parsing, wiring the stages together, exit codes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use regex::Regex;

use crate::diag::{Diagnostics, did_you_mean};
use crate::plan::compile::{compile, compile_protocols};
use crate::plan::{Plan, ProtocolPlan};
use crate::registry::{Priority, Protocol};
use crate::render;
use crate::report::Reporter;
use crate::report::junit::JunitReporter;
use crate::report::terminal::TerminalReporter;
use crate::run::{RunConfig, Selected, run};
use crate::script;
use crate::spec::{self, SpecSet};
use crate::target;

/// Exit codes; each means one thing.
pub mod exit {
    /// Every selected case passed (or was skipped / failed as expected); generated files are current.
    pub const OK: u8 = 0;
    /// A case within the gate (`--gate`, default p0) failed; or `compile --check` found stale files.
    pub const FAILED: u8 = 1;
    /// Usage error or invalid specs: nothing was run.
    pub const USAGE: u8 = 2;
    /// A file could not be read or written (JUnit report, generated scripts).
    pub const IO: u8 = 3;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  no case within the gate (--gate, default p0) failed; --check: up to date
  1  a case within the gate failed or passed unexpectedly; --check: generated files are stale
  2  usage error or invalid specs (every problem is reported with file:line:column)
  3  a file could not be read or written (JUnit report, generated scripts)";

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
    /// Compile specs into one sqllogictest-style script per protocol × suite, plus manifest.json.
    #[command(after_help = EXIT_CODES)]
    Compile(CompileArgs),
    /// Compile specs in memory (or read compiled scripts) and run them against each protocol's target.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// List the cases `run` would run with the same selection: protocol, id, priority, tier,
    /// whether it runs, is skipped or is expected to fail, and where it is written.
    #[command(after_help = EXIT_CODES)]
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The spec directory (holds matrix.yaml and the suite files).
    #[arg(default_value = "specs")]
    pub specs: PathBuf,
    /// Where the scripts go; scripts no longer produced are removed.
    #[arg(short, long, default_value = "generated")]
    pub out: PathBuf,
    /// Write nothing; exit 1 naming each stale, missing or extra file.
    #[arg(long)]
    pub check: bool,
    /// An extra label every protocol carries (for `on`/`only`/`skip`/`xfail`). Repeatable.
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Run the compiled scripts in DIR (from `compile`) instead of compiling the specs.
    #[arg(long, value_name = "DIR")]
    pub scripts: Option<PathBuf>,
    /// Write a JUnit XML report here (written whole, atomically, even when cases fail).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Longest one step may take before its case fails and its session is cancelled.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub step_timeout: Duration,
    /// The quality gate: failures of cases with these priorities fail the run (exit 1);
    /// failures of other priorities are reported only. The seed's CI policy is the default.
    #[arg(long, value_delimiter = ',', value_parser = parse_priority, default_value = "p0", value_name = "PRIORITIES")]
    pub gate: Vec<Priority>,
    /// Stop at the first failing case; the remaining cases are reported as not run.
    #[arg(long)]
    pub fail_fast: bool,
    /// Plain lines instead of progress bars, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

/// Which cases, on which protocols and targets: shared by `run` and `list`.
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
    /// Wins over HELIOS_MATRIX_TARGET_<PROTOCOL> and matrix.yaml.
    #[arg(long = "target", value_name = "PROTOCOL=URL")]
    pub targets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,
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
        Command::Compile(args) => compile_command(&args),
        Command::Run(args) => run_command(&args),
        Command::List(args) => list_command(&args),
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

/// Loads and compiles the specs for every protocol, printing diagnostics.
fn load_plan(specs_dir: &Path, labels: &[String]) -> Option<(SpecSet, Plan)> {
    let mut diags = Diagnostics::default();
    let specs = spec::load(specs_dir, labels, &mut diags);
    let plan = compile(&specs, labels, &mut diags);
    report_diagnostics(diags, &specs).then_some((specs, plan))
}

fn compile_command(args: &CompileArgs) -> u8 {
    let Some((_, plan)) = load_plan(&args.specs, &args.labels) else {
        return exit::USAGE;
    };
    let files = match render::render(&plan) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: rendering failed: {e:#}");
            return exit::USAGE;
        }
    };
    let out = &args.out;
    if args.check {
        return match render::check(out, &files) {
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", out.display());
                exit::IO
            }
            Ok(s) if s.is_clean() => {
                println!("{} is up to date ({} files)", out.display(), files.len());
                exit::OK
            }
            Ok(s) => {
                for p in &s.missing {
                    println!("missing: {}", out.join(p).display());
                }
                for p in &s.changed {
                    println!("stale:   {}", out.join(p).display());
                }
                for p in &s.extra {
                    println!("extra:   {}", out.join(p).display());
                }
                eprintln!(
                    "error: {} is out of date; run `helios-matrix compile {} -o {}`",
                    out.display(),
                    args.specs.display(),
                    out.display()
                );
                exit::FAILED
            }
        };
    }
    match render::write(out, &files) {
        Ok(s) => {
            println!(
                "compiled {} case(s) into {}: {} written, {} removed, {} unchanged",
                plan.cases().count(),
                out.display(),
                s.missing.len() + s.changed.len(),
                s.extra.len(),
                files.len() - s.missing.len() - s.changed.len()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            exit::IO
        }
    }
}

/// Replaces the compiled suites with the ones read from scripts.
fn plan_from_scripts(
    dir: &Path,
    compiled: Plan,
    registry: &crate::registry::Registry,
) -> Result<Plan, String> {
    let manifest_path = dir.join(render::MANIFEST);
    let manifest: serde_json::Value = std::fs::read_to_string(&manifest_path)
        .map_err(|e| {
            format!(
                "cannot read {}: {e} (run `helios-matrix compile` first)",
                manifest_path.display()
            )
        })
        .and_then(|t| {
            serde_json::from_str(&t).map_err(|e| format!("{}: {e}", manifest_path.display()))
        })?;
    let labels: Vec<String> = manifest
        .get("labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    if labels != compiled.labels {
        return Err(format!(
            "the scripts in {} were compiled with labels {labels:?} but this run has {:?}; recompile or pass the same --label",
            dir.display(),
            compiled.labels
        ));
    }
    let mut protocols: Vec<ProtocolPlan> = compiled
        .protocols
        .into_iter()
        .map(|p| ProtocolPlan {
            protocol: p.protocol,
            suites: Vec::new(),
        })
        .collect();
    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(render::SCRIPT_EXTENSION))
        .collect();
    paths.sort();
    let names: Vec<String> = protocols.iter().map(|p| p.protocol.name.clone()).collect();
    let selected = |path: &Path| {
        let dir = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|d| d.to_str());
        names.iter().any(|n| Some(n.as_str()) == dir)
    };
    for path in paths {
        if !selected(&path) && dir_is_protocol(&path, registry) {
            continue;
        }
        let script = script::parse_file(&path)?;
        if registry.protocol(&script.protocol).is_none() {
            return Err(format!(
                "{}: protocol `{}` is not in the registry",
                path.display(),
                script.protocol
            ));
        }
        // Scripts of protocols this run does not select are not needed.
        if let Some(protocol) = protocols
            .iter_mut()
            .find(|p| p.protocol.name == script.protocol)
        {
            protocol.suites.push(script.suite);
        }
    }
    Ok(Plan {
        labels: compiled.labels,
        protocols,
    })
}

/// Whether a script sits in a directory named after a registry protocol.
fn dir_is_protocol(path: &Path, registry: &crate::registry::Registry) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .and_then(|d| d.to_str())
        .is_some_and(|d| registry.protocol(d).is_some())
}

/// The selected plan, ready to run or list.
struct Prepared {
    plan: Plan,
    targets: BTreeMap<String, target::Target>,
    case_filter: Option<Regex>,
}

impl Prepared {
    /// Loads and compiles what `select` asks for; an exit code when it cannot.
    fn new(select: &SelectArgs, scripts: Option<&Path>) -> Result<Prepared, u8> {
        let mut diags = Diagnostics::default();
        let specs = spec::load(&select.specs, &select.labels, &mut diags);
        if diags.has_errors() {
            report_diagnostics(diags, &specs);
            return Err(exit::USAGE);
        }
        // --target P=URL, checked against the registry.
        let mut overrides = BTreeMap::new();
        for t in &select.targets {
            let Some((name, url)) = t.split_once('=') else {
                eprintln!(
                    "error: --target takes PROTOCOL=URL, got `{}`",
                    target::mask(t)
                );
                return Err(exit::USAGE);
            };
            if specs.registry.protocol(name).is_none() {
                eprintln!(
                    "error: --target names unknown protocol `{name}`{}",
                    suggestion(name, &specs)
                );
                return Err(exit::USAGE);
            }
            overrides.insert(name.to_string(), url.to_string());
        }
        let targets = target::resolve(&specs.registry, &overrides, |k| std::env::var(k).ok());
        for name in &select.protocols {
            if specs.registry.protocol(name).is_none() {
                eprintln!(
                    "error: unknown protocol `{name}`{}",
                    suggestion(name, &specs)
                );
                return Err(exit::USAGE);
            }
        }
        // Only the selected protocols are compiled; `compile` checks them all.
        let selected = |p: &Protocol| {
            if select.protocols.is_empty() {
                targets.contains_key(&p.name)
            } else {
                select.protocols.contains(&p.name)
            }
        };
        let mut plan = compile_protocols(&specs, &select.labels, selected, &mut diags);
        if !report_diagnostics(diags, &specs) {
            return Err(exit::USAGE);
        }
        if let Some(dir) = scripts {
            plan = plan_from_scripts(dir, plan, &specs.registry).map_err(|e| {
                eprintln!("error: {e}");
                exit::USAGE
            })?;
        }
        let case_filter = select
            .case
            .as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|e| {
                eprintln!("error: --case is not a valid regular expression: {e}");
                exit::USAGE
            })?;
        if plan.protocols.is_empty() {
            eprintln!(
                "error: no protocol selected (none named with --protocol has a target, or none exists)"
            );
            return Err(exit::USAGE);
        }
        Ok(Prepared {
            plan,
            targets,
            case_filter,
        })
    }

    /// The cases of each selected protocol that pass the filters.
    fn selection(&self, select: &SelectArgs) -> Vec<Selected<'_>> {
        self.plan
            .protocols
            .iter()
            .map(|p| Selected {
                protocol: p,
                target: self.targets.get(&p.protocol.name).cloned(),
                cases: p
                    .suites
                    .iter()
                    .flat_map(|s| s.cases.iter().map(move |c| (s, c)))
                    .filter(|(_, c)| {
                        select.priorities.is_empty() || select.priorities.contains(&c.priority)
                    })
                    .filter(|(_, c)| {
                        select.tags.is_empty() || c.tags.iter().any(|t| select.tags.contains(t))
                    })
                    .filter(|(_, c)| {
                        self.case_filter
                            .as_ref()
                            .is_none_or(|r| r.is_match(&c.id) || r.is_match(&c.name))
                    })
                    .collect(),
            })
            .collect()
    }
}

fn list_command(args: &ListArgs) -> u8 {
    let prepared = match Prepared::new(&args.select, None) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let selection = prepared.selection(&args.select);
    let mut total = 0;
    for selected in &selection {
        let protocol = &selected.protocol.protocol;
        let target = selected
            .target
            .as_ref()
            .map_or_else(|| "no target".to_string(), ToString::to_string);
        println!(
            "{} ({}, {}): {} case(s)",
            protocol.name,
            protocol.tier.as_str(),
            target,
            selected.cases.len()
        );
        for (suite, case) in &selected.cases {
            let status = match (&case.skip, &case.xfail) {
                (Some(reason), _) => format!("skip: {reason}"),
                (None, Some(reason)) => format!("xfail: {reason}"),
                (None, None) => "run".to_string(),
            };
            println!(
                "  {:<14} {} {:<40} {}:{}  [{status}]",
                case.id, case.priority, case.name, suite.source, case.line
            );
        }
        total += selected.cases.len();
    }
    println!("{total} case(s) on {} protocol(s)", selection.len());
    exit::OK
}

fn run_command(args: &RunArgs) -> u8 {
    let prepared = match Prepared::new(&args.select, args.scripts.as_deref()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let selection = prepared.selection(&args.select);

    let config = RunConfig {
        step_timeout: args.step_timeout,
        fail_fast: args.fail_fast,
    };
    let progress =
        !args.no_progress && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let mut terminal = TerminalReporter::new(std::io::stdout(), progress, args.gate.clone());
    let mut junit = args.junit.clone().map(JunitReporter::new);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::IO;
        }
    };
    runtime.block_on(run(&selection, &config, |event| {
        terminal.event(&event);
        if let Some(j) = junit.as_mut() {
            j.event(&event);
        }
    }));
    let mut code = if terminal.tally().gate_failures(&args.gate) > 0 {
        exit::FAILED
    } else {
        exit::OK
    };
    if let Err(e) = terminal.finish() {
        eprintln!("error: cannot write the report: {e}");
        code = exit::IO;
    }
    if let (Some(j), Some(path)) = (junit.as_mut(), &args.junit) {
        if let Err(e) = j.finish() {
            eprintln!("error: cannot write {}: {e}", path.display());
            code = exit::IO;
        } else {
            eprintln!("JUnit report: {}", path.display());
        }
    }
    code
}

fn suggestion(name: &str, specs: &SpecSet) -> String {
    did_you_mean(
        name,
        specs.registry.protocols.iter().map(|p| p.name.as_str()),
    )
    .map(|s| format!(" (did you mean `{s}`?)"))
    .unwrap_or_default()
}
