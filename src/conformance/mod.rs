//! Drivers' own test suites as matrix cells (`run --conformance`, docs/conformance.md).
//!
//! A driver's `conformance:` entry in the registry names a pinned source distribution
//! (fetched by `conformance fetch` into `.conformance/`), the command that runs its tests
//! with JUnit output, and how to point it at each protocol's target. A cell runs that
//! command once, in a database of its own made fresh on the target, and reads the JUnit it
//! wrote back as the cell's cases: the same [`Event`] stream the spec runner emits, so the
//! terminal, JUnit, HTML page, gate and baselines treat them as any other cases. The cell
//! is `protocol/driver`; its suite is [`SUITE`].

pub mod fetch;
pub mod junit;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::exec::workspace::Workspace;
use crate::registry::conformance::Run;
use crate::registry::{Conformance, Driver, Protocol, Registry};
use crate::run::{CaseInfo, Event, Failure, Outcome, RunConfig, Selected, cell_name};
use crate::secret::mask;
use crate::target::Target;

/// The suite name of a conformance cell's cases: its JUnit suite is
/// `<protocol>/<driver>.conformance`.
pub const SUITE: &str = crate::run::CONFORMANCE_SUITE;

/// Where suites are unpacked and their runs' output kept, under the working directory
/// (git-ignored).
pub const DIR: &str = ".conformance";

/// One driver's suite against one protocol's target.
pub struct Cell<'a> {
    pub protocol: &'a Protocol,
    pub driver: &'a Driver,
    pub suite: &'a Conformance,
    pub how: &'a Run,
    /// `None`: no target is configured; the cell is an error.
    pub target: Option<Target>,
    /// The unpacked source the command runs in.
    pub source: PathBuf,
}

impl Cell<'_> {
    pub fn name(&self) -> String {
        cell_name(&self.protocol.name, Some(&self.driver.name))
    }
}

/// The conformance cells of `names` (driver names, or `all`) on the selected protocols,
/// whose suites must be fetched under `base`. An unknown name, a driver without a suite
/// for any selected protocol, or a suite not yet fetched is an error for the user.
pub fn cells<'a>(
    selected: &[Selected<'a>],
    registry: &'a Registry,
    names: &[String],
    base: &Path,
) -> Result<Vec<Cell<'a>>, String> {
    let drivers = declared(registry, names)?;
    let mut cells = Vec::new();
    let mut missing = Vec::new();
    for s in selected
        .iter()
        .filter(|s| s.protocol.protocol.driver.is_none())
    {
        let protocol = &s.protocol.protocol;
        for driver_name in &protocol.drivers {
            let Some(driver) = drivers.iter().copied().find(|d| d.name == *driver_name) else {
                continue;
            };
            let Some(suite) = &driver.conformance else {
                continue;
            };
            let Some(how) = suite.protocols.get(&protocol.name) else {
                continue;
            };
            if !fetch::is_fetched(base, &suite.sdist) && !missing.contains(&driver.name) {
                missing.push(driver.name.clone());
            }
            cells.push(Cell {
                protocol,
                driver,
                suite,
                how,
                target: s.target.clone(),
                source: fetch::root(base, &suite.sdist),
            });
        }
    }
    if cells.is_empty() {
        let protocols: Vec<&str> = selected
            .iter()
            .map(|s| s.protocol.protocol.name.as_str())
            .collect();
        return Err(format!(
            "no conformance suite of {} runs on the selected protocols ({})",
            names.join(", "),
            protocols.join(", ")
        ));
    }
    if !missing.is_empty() {
        return Err(format!(
            "the conformance suite of {} is not fetched: run `helios-matrix conformance fetch {}` first (it downloads the pinned source distribution into {})",
            missing.join(", "),
            missing.join(","),
            base.display()
        ));
    }
    Ok(cells)
}

/// The drivers `names` (driver names, or `all`) stand for, each declaring a suite: an
/// unknown name, or one without a suite, is an error naming those with one.
pub fn declared<'a>(registry: &'a Registry, names: &[String]) -> Result<Vec<&'a Driver>, String> {
    let with_suites: Vec<&'a Driver> = registry
        .drivers
        .values()
        .filter(|d| d.conformance.is_some())
        .collect();
    if names.iter().any(|n| n == "all") {
        return Ok(with_suites);
    }
    names
        .iter()
        .map(|name| {
            with_suites
                .iter()
                .copied()
                .find(|d| d.name == *name)
                .ok_or_else(|| {
                    let known: Vec<&str> = with_suites.iter().map(|d| d.name.as_str()).collect();
                    format!(
                        "`{name}` declares no conformance suite in the registry (drivers with one: {})",
                        known.join(", ")
                    )
                })
        })
        .collect()
}

/// Runs the cells one after another (a suite loads its server as a whole run does), sending
/// every event to `sink`.
pub async fn run(cells: &[Cell<'_>], config: &RunConfig, base: &Path, mut sink: impl FnMut(Event)) {
    // A suite's test count is known once it has run.
    sink(Event::RunStarted {
        cells: cells.iter().map(|c| (c.name(), 0)).collect(),
    });
    let deadline = config.run_timeout.map(|limit| Instant::now() + limit);
    for cell in cells {
        sink(Event::CellStarted {
            cell: cell.name(),
            target: cell.target.as_ref().map(ToString::to_string),
            driver: Some(format!("its own suite, {}", cell.suite.sdist.stem())),
            workers: 1,
            note: None,
        });
        let started = Instant::now();
        let cases = match run_cell(cell, deadline, base).await {
            Ok(cases) => cases,
            Err(failure) => vec![(
                whole(cell, &cell.name()),
                Outcome::Failed(failure),
                started.elapsed(),
            )],
        };
        for (case, outcome, duration) in cases {
            sink(Event::CaseFinished {
                case: Arc::new(case),
                outcome,
                duration,
                observed: Vec::new(),
            });
        }
        sink(Event::CellFinished { cell: cell.name() });
    }
    sink(Event::RunFinished);
}

type Finished = (CaseInfo, Outcome, Duration);

/// The suite run once: its cases, or the one failure that kept it from reporting any.
async fn run_cell(
    cell: &Cell<'_>,
    deadline: Option<Instant>,
    base: &Path,
) -> Result<Vec<Finished>, Failure> {
    let target = cell.target.as_ref().ok_or_else(|| {
        Failure::infrastructure(format!(
            "no target configured for {}: set it in matrix.yaml, {} or --target {}=URL",
            cell.protocol.name,
            crate::target::env_var(&cell.protocol.name),
            cell.protocol.name
        ))
    })?;
    target.ensure_allowed().map_err(Failure::infrastructure)?;
    let database = format!(
        "{}_conformance",
        target
            .path_segments()
            .first()
            .map_or("helios", String::as_str)
    );
    let runs = base.join("runs");
    std::fs::create_dir_all(&runs)
        .map_err(|e| Failure::infrastructure(format!("cannot create {}: {e}", runs.display())))?;
    let stem = format!("{}-{}", cell.protocol.name, cell.driver.name);
    let junit_path = absolute(&runs.join(format!("{stem}.xml")));
    let log_path = runs.join(format!("{stem}.log"));
    // Rendered first: a template error costs no database.
    let invocation = invocation(cell, &target.with_path_segments(&[&database]), &junit_path)?;
    let workspace = tokio::time::timeout(
        ADMIN_LIMIT,
        Workspace::fresh_database(cell.protocol.executor, target, &database, &cell.how.setup),
    )
    .await
    .map_err(|_| {
        Failure::infrastructure(format!(
            "making the database {database} on {target} took longer than {}",
            humantime::format_duration(ADMIN_LIMIT)
        ))
    })?
    .map_err(|e| Failure::infrastructure(e.to_string()))?;
    let _ = std::fs::remove_file(&junit_path);
    let limit = deadline.map_or(cell.suite.timeout, |d| {
        cell.suite
            .timeout
            .min(d.saturating_duration_since(Instant::now()))
    });
    let ran = run_command(&cell.source, &invocation, &log_path, limit).await;
    Workspace::release(vec![workspace], cell.protocol.executor).await;
    let status = ran?;
    let source_display = cell.source.display().to_string();
    let read = std::fs::read_to_string(&junit_path)
        .map_err(|e| e.to_string())
        .and_then(|xml| junit::read(&xml));
    let upstream = match read {
        Ok(cases) if !cases.is_empty() => cases,
        Ok(_) => {
            return Err(with_log(
                Failure::infrastructure(format!(
                    "the suite ran no tests ({status}); its output: {}",
                    log_path.display()
                )),
                &log_path,
            ));
        }
        Err(e) => {
            return Err(with_log(
                Failure::infrastructure(format!(
                    "the suite wrote no JUnit report that can be read ({status}: {e}); its output: {}",
                    log_path.display()
                )),
                &log_path,
            ));
        }
    };
    let mut out: Vec<Finished> = upstream
        .into_iter()
        .map(|u| {
            let source = match &u.file {
                Some(file) => format!("{source_display}/{file}"),
                None => source_display.clone(),
            };
            let case = CaseInfo {
                id: u.id,
                name: u.name,
                line: u.line,
                source,
                ..whole(cell, "")
            };
            (case, u.outcome, u.duration)
        })
        .collect();
    // pytest's own convention: 0 all passed, 1 some failed. Anything else (interrupted,
    // an internal error, a usage error) means the report may be short of tests.
    if !matches!(status.code(), Some(0 | 1)) {
        out.push((
            whole(cell, &format!("{}.exit", cell.name())),
            Outcome::Failed(with_log(
                Failure::infrastructure(format!(
                    "the suite {status}: its report may be short of tests; its output: {}",
                    log_path.display()
                )),
                &log_path,
            )),
            Duration::ZERO,
        ));
    }
    Ok(out)
}

/// Longest making the suite's database may take.
const ADMIN_LIMIT: Duration = Duration::from_secs(60);

/// A case standing for the whole cell (the suite could not run, or ended badly).
fn whole(cell: &Cell<'_>, id: &str) -> CaseInfo {
    CaseInfo {
        protocol: cell.protocol.name.clone(),
        driver: Some(cell.driver.name.clone()),
        tier: cell.protocol.tier,
        suite: SUITE.to_string(),
        source: cell.source.display().to_string(),
        id: id.to_string(),
        name: format!("{}'s own test suite", cell.driver.name),
        line: 0,
        priority: cell.suite.priority,
        protocol_priority: cell.protocol.priority,
    }
}

/// The suite's command line and environment, rendered for its target.
struct Invocation {
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

/// Renders the suite's templates for `target` (the suite's own database).
fn invocation(cell: &Cell<'_>, target: &Target, junit_path: &Path) -> Result<Invocation, Failure> {
    let context = context(target, junit_path)?;
    let render = |text: &str| render(text, &context).map_err(Failure::infrastructure);
    let argv = cell
        .suite
        .command
        .iter()
        .chain(&cell.how.args)
        .map(|arg| render(arg))
        .collect::<Result<Vec<_>, _>>()?;
    let env = cell
        .how
        .env
        .iter()
        .map(|(key, value)| Ok((key.clone(), render(value)?)))
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok(Invocation { argv, env })
}

/// The suite's command, run in `source` to its end or until `limit`, its output in
/// `log_path`.
async fn run_command(
    source: &Path,
    invocation: &Invocation,
    log_path: &Path,
    limit: Duration,
) -> Result<std::process::ExitStatus, Failure> {
    let Some((program, args)) = invocation.argv.split_first() else {
        return Err(Failure::infrastructure("the suite's command is empty"));
    };
    let log = std::fs::File::create(log_path).map_err(|e| {
        Failure::infrastructure(format!("cannot create {}: {e}", log_path.display()))
    })?;
    let log_err = log.try_clone().map_err(|e| {
        Failure::infrastructure(format!("cannot write {}: {e}", log_path.display()))
    })?;
    let mut command = tokio::process::Command::new(program_path(program));
    command
        .args(args)
        .current_dir(source)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // In helios-matrix's own process group, so Ctrl-C stops the suite too.
        .kill_on_drop(true);
    command.envs(invocation.env.iter().map(|(k, v)| (k, v)));
    let mut child = command.spawn().map_err(|e| {
        Failure::infrastructure(format!("cannot start the suite's command `{program}`: {e}"))
    })?;
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(e)) => Err(Failure::infrastructure(format!(
            "lost the suite's process: {e}"
        ))),
        Err(_) => {
            let _ = child.kill().await;
            Err(with_log(
                Failure::timeout(format!(
                    "the suite ran past its time limit of {} and was stopped; its output: {}",
                    humantime::format_duration(limit),
                    log_path.display()
                )),
                log_path,
            ))
        }
    }
}

/// The last lines of the suite's output, as the failure's trace (masked).
fn with_log(failure: Failure, log_path: &Path) -> Failure {
    const TAIL: usize = 30;
    let text = std::fs::read_to_string(log_path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL)..].join("\n");
    Failure {
        trace: (!tail.trim().is_empty()).then(|| Box::new(mask(&tail))),
        ..failure
    }
}

/// A program named by a relative path (`.venv-drivers/bin/python`) is found from the
/// working directory, as a driver host's command is, though the suite runs in its source.
fn program_path(program: &str) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && path.components().count() > 1 {
        absolute(path)
    } else {
        path.to_path_buf()
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// What the suite's templates see of the target.
fn context(target: &Target, junit: &Path) -> Result<minijinja::Value, Failure> {
    let url = reqwest::Url::parse(target.expose_url())
        .map_err(|e| Failure::infrastructure(format!("the target {target} is not a URL: {e}")))?;
    let params: std::collections::BTreeMap<String, String> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let decode = crate::target::percent_decode;
    Ok(minijinja::context! {
        host => url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']'),
        port => url.port_or_known_default().map(|p| p.to_string()).unwrap_or_default(),
        user => decode(url.username()),
        password => url.password().map(decode).unwrap_or_default(),
        database => target.path_segments().first().cloned().unwrap_or_default(),
        params => params,
        junit => junit.display().to_string(),
    })
}

/// One of the registry's templates, strictly: a name it does not know is an error.
fn render(template: &str, context: &minijinja::Value) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(template, context)
        .map_err(|e| format!("the conformance template `{template}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_see_the_targets_parts_decoded() {
        let target = Target::new(
            "postgres://te%40st:p%2Fss@127.0.0.1:6432/helios_conformance?sslmode=require&pooler=transaction",
        );
        let ctx = context(&target, Path::new("/tmp/r.xml")).expect("a URL");
        let r = |t: &str| render(t, &ctx).expect("renders");
        assert_eq!(r("{{ host }}:{{ port }}"), "127.0.0.1:6432");
        assert_eq!(r("{{ user }}/{{ password }}"), "te@st/p/ss");
        assert_eq!(r("{{ database }}"), "helios_conformance");
        assert_eq!(r("{{ params.sslmode }}"), "require");
        assert_eq!(r("{{ junit }}"), "/tmp/r.xml");
        assert_eq!(
            r("{{ params.sslrootcert | default('') }}"),
            "",
            "an absent parameter can be defaulted"
        );
    }

    #[test]
    fn an_unknown_name_in_a_template_is_an_error() {
        let target = Target::new("mysql://u:p@127.0.0.1:3306/db");
        let ctx = context(&target, Path::new("r.xml")).expect("a URL");
        let err = render("{{ hostname }}", &ctx).expect_err("strict");
        assert!(err.contains("`{{ hostname }}`"), "{err}");
        let default_port = Target::new("mysql://u:p@127.0.0.1/db");
        let ctx = context(&default_port, Path::new("r.xml")).expect("a URL");
        assert_eq!(render("{{ port }}", &ctx).expect("renders"), "");
    }
}
