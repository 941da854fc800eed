//! `helios-matrix run`: the selection through each protocol's executor, reported on the
//! terminal and in JUnit.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{LimitArgs, SelectArgs, exit, parse_priority};
use crate::baseline::judge::{Cells, Judge};
use crate::registry::Priority;
use crate::report::Reporter;
use crate::report::junit::JunitReporter;
use crate::report::terminal::TerminalReporter;
use crate::run::wait::wait_for_targets;
use crate::run::{Event, RunConfig};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub suites: super::conformance::SuiteArgs,
    /// Run the compiled scripts in DIR (from `compile`) instead of compiling the specs.
    #[arg(long, value_name = "DIR")]
    pub scripts: Option<PathBuf>,
    /// Write a JUnit XML report here (written whole, atomically, even when cases fail).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Judge the run by this baseline (written by `helios-matrix baseline`): a listed case
    /// that fails with the recorded error is a known failure (XFAIL, with its reason); a
    /// listed case that passes is fixed (XPASS: it fails the run until the entry is
    /// removed); a listed case that fails otherwise, and any unlisted failure, fails.
    /// Infrastructure errors and timeouts are never absorbed; cases the specs xfail keep
    /// their own verdict.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the matrix of this run as an HTML page, DIR/index.html (as `report html`
    /// writes it from the JUnit report), even when cases fail.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The quality gate: failures of cases with these priorities fail the run (exit 1);
    /// failures of other priorities are reported only. The seed's CI policy is the default.
    #[arg(long, value_delimiter = ',', value_parser = parse_priority, default_value = "p0", value_name = "PRIORITIES")]
    pub gate: Vec<Priority>,
    /// Stop at the first failing case: cases not yet started are reported as not run (cases
    /// already under way on other workers finish).
    #[arg(long)]
    pub fail_fast: bool,
    /// Workers per protocol: how many of its cases run at once, each worker in a schema or
    /// database of its own (created and dropped by the run; the target's user needs the
    /// right to). Output and JUnit are in the same order whatever N is. Default: one more
    /// than the CPU cores, since cases wait on the server as much as they compute.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Before the first case, poll each selected target until it accepts a connection, for
    /// up to this long (e.g. 30s), so CI can start a server and run at once. A target not
    /// ready in time is reported, and its cases fail as errors.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub wait: Option<Duration>,
    /// Plain lines instead of progress bars, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

pub fn command(args: &RunArgs) -> u8 {
    let runtime = match super::runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(prestart_named_drivers(&args.select));
    let code = run(args, &runtime);
    runtime.block_on(crate::exec::driver::discard_prestarted());
    // What is still in flight (a connection a stalled server never answered) is not
    // waited on: a run ends when its work has.
    runtime.shutdown_background();
    code
}

fn run(args: &RunArgs, runtime: &tokio::runtime::Runtime) -> u8 {
    let selection = match args.select.load(args.scripts.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let baseline = match &args.baseline {
        Some(path) => match super::baseline::load(path, false) {
            Ok(b) => b,
            Err(code) => return code,
        },
        None => None,
    };
    let work = match args.suites.work(&selection) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let run_version = selection.server_version();
    let mut judge = baseline.as_ref().map(|b| {
        Judge::new(
            b,
            Cells::new(
                work.specs(),
                &selection.registry.error_classes,
                &selection.plan.labels,
            ),
        )
    });
    let config = RunConfig {
        fail_fast: args.fail_fast,
        jobs: args.jobs.map_or_else(crate::run::default_jobs, usize::from),
        keep_going: false,
        ..args.limits.config()
    };
    let progress =
        !args.no_progress && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let mut terminal = TerminalReporter::new(std::io::stdout(), progress, args.gate.clone());
    // The page is made from the JUnit report, so it is built whenever either is asked for.
    let junit_path = args.junit.clone().unwrap_or_default();
    let mut junit =
        (args.junit.is_some() || args.html.is_some()).then(|| JunitReporter::new(junit_path));
    if let (Some(j), Some(b)) = (junit.as_mut(), &baseline) {
        j.add_suite_property("baseline_server", &b.server);
        if let Some(v) = &b.version {
            j.add_suite_property("baseline_version", v);
        }
        if let Some(name) = &args.select.server {
            j.add_suite_property("server", name);
        }
        if let Some(v) = &run_version {
            j.add_suite_property("server_version", v);
        }
    }
    runtime.block_on(async {
        if let Some(within) = args.wait {
            for r in wait_for_targets(&selection.selected(), within).await {
                match r.outcome {
                    Ok(took) => eprintln!(
                        "{} at {} accepts connections (after {})",
                        r.protocol,
                        r.address,
                        humantime::format_duration(Duration::from_millis(took.as_millis() as u64))
                    ),
                    Err(e) => eprintln!("error: {} at {}: {e}", r.protocol, r.address),
                }
            }
        }
        work.run(&config, |event| {
            let event = match judge.as_mut() {
                Some(judge) => judge.apply(event),
                None => event,
            };
            if let (Event::RunFinished, Some(judge), Some(b), Some(path)) =
                (&event, &judge, &baseline, &args.baseline)
            {
                terminal.note_in_summary(baseline_line(b, path, judge));
                let run_server = crate::baseline::RunServer {
                    name: args.select.server.as_deref(),
                    version: run_version.as_deref(),
                };
                if let Some(note) =
                    crate::baseline::version_note(&b.server, b.version.as_deref(), run_server)
                {
                    terminal.note_in_summary(note);
                }
            }
            terminal.event(&event);
            if let Some(j) = junit.as_mut() {
                j.event(&event);
            }
        })
        .await;
    });
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
    if let (Some(j), Some(dir)) = (junit.as_ref(), &args.html) {
        let written = html_page(j, &args.gate, args.junit.as_deref(), dir);
        if written != exit::OK {
            code = written;
        }
    }
    code
}

/// Starts the hosts of the drivers `--driver` names, so that their interpreters start and
/// import their drivers while the specs are read (the engines take them; see
/// [`crate::exec::driver::prestart`]). `all` starts none: which drivers it means is known
/// only once the protocols are selected. A host that cannot start is left for its engine
/// to report.
async fn prestart_named_drivers(select: &super::SelectArgs) {
    let named: Vec<&String> = select
        .drivers
        .iter()
        .filter(|d| *d != "all" && *d != crate::select::NATIVE)
        .collect();
    if named.is_empty() {
        return;
    }
    let Some(registry) = crate::spec::registry(&select.specs) else {
        return;
    };
    for name in named {
        if let Some(driver) = registry.drivers.get(name) {
            let _ = crate::exec::driver::prestart(driver).await;
        }
    }
}

/// `baseline heliosdb-nano 4.41.1 (baselines/nano.yaml): 3 known failure(s), 1 fixed`
fn baseline_line(
    b: &crate::baseline::Baseline,
    path: &std::path::Path,
    judge: &Judge<'_>,
) -> String {
    let version = b
        .version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    format!(
        "baseline {}{version} ({}): {} known failure(s), {} fixed",
        b.server,
        path.display(),
        judge.known_failures,
        judge.fixed
    )
}

/// The run's HTML page, made from its JUnit report as `report html` makes it.
fn html_page(
    junit: &JunitReporter,
    gate: &[Priority],
    junit_path: Option<&std::path::Path>,
    dir: &std::path::Path,
) -> u8 {
    let matrix = junit
        .to_xml()
        .map_err(|e| e.to_string())
        .and_then(|xml| quick_junit::Report::deserialize_from_str(&xml).map_err(|e| e.to_string()))
        .and_then(|report| crate::report::matrix::Matrix::new(&report, gate, None));
    match matrix {
        Ok(m) => {
            let inputs: Vec<PathBuf> = junit_path
                .map(|p| vec![p.to_path_buf()])
                .unwrap_or_default();
            super::report::write_page(&m, &inputs, None, dir)
        }
        Err(e) => {
            eprintln!("error: cannot make the HTML report: {e}");
            exit::IO
        }
    }
}
