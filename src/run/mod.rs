//! The runner: drives selected cases through executors and emits [`Event`]s.
//!
//! Protocols run concurrently (they are independent servers). The cells of one protocol (its
//! native executor and each driver) run one after another; within a cell, `jobs` workers
//! take cases as they free up, each in a namespace of its own on the server (a database per
//! worker), so cases that create the same tables never meet. Events come out in selection
//! order whatever the number of workers. Nothing here formats output.

mod case;
pub mod check;
pub mod events;
mod http;
pub mod sqllogictest;
pub mod wait;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::mpsc;

pub use events::{
    Answer, CONFORMANCE_SUITE, CaseInfo, Event, ExpectedBy, Failure, FailureKind, Key, Observed,
    Outcome, cell_name,
};

use crate::exec::workspace::Workspace;
use crate::exec::{Capability, Engine, engine_for};
use crate::plan::{CasePlan, ProtocolPlan, SuitePlan, Xfail};
use crate::step::Action;
use crate::target::{ResolvedEndpoint, Target};

/// Workers per cell when none are asked for: one more than the CPU cores, since cases
/// wait on their server as much as they compute.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from) + 1
}

/// How long a session that ran out of time gets to honour a cancel, unless told otherwise.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(2);

/// Knobs of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Longest a single step (one statement, one iteration of a repeat) may take.
    pub step_timeout: Duration,
    /// Longest a whole case (fixtures, steps and teardown) may take.
    pub case_timeout: Duration,
    /// How long a session that ran out of time gets to honour its cancel before its
    /// connection is dropped unanswered; the least a timed-out case gets for its teardown.
    /// A case therefore ends within its time limit plus this, whatever the server does.
    pub cancel_grace: Duration,
    /// Longest the whole run may take: cases under way are then cut off, and cases not
    /// started are reported as not run.
    pub run_timeout: Option<Duration>,
    /// Stop at the first failure; the rest is reported as not run.
    pub fail_fast: bool,
    /// Workers per cell: how many of a protocol's cases run at once, each worker in a
    /// namespace of its own (see [`Workspace`]).
    pub jobs: usize,
    /// Go on past a step whose check failed, so every wrong step's answer is observed
    /// (`record`); the case still fails with its first failure.
    pub keep_going: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            step_timeout: Duration::from_secs(30),
            case_timeout: Duration::from_secs(600),
            cancel_grace: DEFAULT_CANCEL_GRACE,
            run_timeout: None,
            fail_fast: false,
            jobs: 1,
            keep_going: false,
        }
    }
}

/// The cases to run on one protocol, and where.
pub struct Selected<'p> {
    pub protocol: &'p ProtocolPlan,
    /// `None`: no target is configured, so every case fails with that reason.
    pub target: Option<Target>,
    pub cases: Vec<(&'p SuitePlan, &'p CasePlan)>,
    /// The registry's named endpoints in force, for `http` steps.
    pub endpoints: &'p BTreeMap<String, ResolvedEndpoint>,
}

/// Runs the selection, sending every event to `sink` in order of occurrence.
pub async fn run(selection: &[Selected<'_>], config: &RunConfig, mut sink: impl FnMut(Event)) {
    sink(Event::RunStarted {
        cells: selection
            .iter()
            .map(|s| (s.cell(), s.cases.len()))
            .collect(),
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = AtomicBool::new(false);
    let deadline = config.run_timeout.map(|limit| Instant::now() + limit);
    // Cells of one protocol share its server: one after another, in selection order.
    let mut groups: Vec<Vec<&Selected<'_>>> = Vec::new();
    for s in selection {
        let name = &s.protocol.protocol.name;
        match groups
            .iter_mut()
            .find(|g| g.first().is_some_and(|f| &f.protocol.protocol.name == name))
        {
            Some(group) => group.push(s),
            None => groups.push(vec![s]),
        }
    }
    let protocols = join_all(groups.into_iter().map(|group| {
        let tx = tx.clone();
        let stop = &stop;
        async move {
            for s in group {
                run_cell(s, config, deadline, stop, tx.clone()).await;
            }
        }
    }));
    drop(tx);
    let drain = async {
        while let Some(event) = rx.recv().await {
            sink(event);
        }
    };
    tokio::join!(protocols, drain);
    sink(Event::RunFinished);
}

impl Selected<'_> {
    /// `postgresql` or `postgresql/psycopg2`.
    pub fn cell(&self) -> String {
        let p = &self.protocol.protocol;
        cell_name(&p.name, p.driver.as_ref().map(|d| d.name.as_str()))
    }
}

async fn run_cell(
    selected: &Selected<'_>,
    config: &RunConfig,
    deadline: Option<Instant>,
    stop: &AtomicBool,
    tx: mpsc::UnboundedSender<Event>,
) {
    let protocol = &selected.protocol.protocol;
    let cell = selected.cell();
    let send = |e: Event| {
        // The receiver lives until every cell finished; a send cannot fail before.
        let _ = tx.send(e);
    };
    let driver_skip = protocol.driver.as_ref().and_then(|d| d.skip.clone());
    let (workspaces, note) = workspaces(selected, config, driver_skip.is_some()).await;
    // Starting a driver host has its own bound (its hello); the run's time limit caps it.
    let start_limit = deadline.map_or(Duration::MAX, |d| {
        d.saturating_duration_since(Instant::now())
    });
    // Anything that stops an engine from existing is an infrastructure failure of its cases.
    let mut workers = Vec::new();
    for workspace in &workspaces {
        let engine: Result<Arc<dyn Engine>, String> = match workspace {
            // Every case is skipped: nothing to start.
            _ if driver_skip.is_some() => Err(String::new()),
            None => Err(format!(
                "no target configured for {}: set it in matrix.yaml, {} or --target {}=URL",
                protocol.name,
                crate::target::env_var(&protocol.name),
                protocol.name
            )),
            Some(w) => match w.target.ensure_allowed() {
                Err(e) => Err(e),
                Ok(()) => match tokio::time::timeout(start_limit, engine_for(protocol, &w.target))
                    .await
                {
                    Ok(started) => started.map_err(|e| e.to_string()),
                    Err(_) => {
                        Err("not started: the run's time limit (--run-timeout) ran out".to_string())
                    }
                },
            },
        };
        workers.push(Worker {
            engine,
            target: workspace.as_ref().map(|w| w.target.clone()),
        });
    }
    send(Event::CellStarted {
        cell: cell.clone(),
        target: selected.target.as_ref().map(ToString::to_string),
        driver: workers
            .first()
            .and_then(|w| w.engine.as_ref().ok())
            .and_then(|e| e.description()),
        workers: workers.len(),
        note,
    });
    // Workers take the next case as they free up, the longest first when there are several
    // (a long case started last would keep the others waiting); results are reported in
    // selection order, so the output is the same whatever the number of workers.
    let mut order: Vec<usize> = (0..selected.cases.len()).collect();
    if workers.len() > 1 {
        order.sort_by_key(|&n| std::cmp::Reverse(selected.cases[n].1.estimated_duration()));
    }
    let next = AtomicUsize::new(0);
    let http = http::HttpTargets::new(&protocol.name, selected.target.as_ref(), selected.endpoints);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let run_workers = join_all(workers.iter().map(|worker| {
        let done_tx = done_tx.clone();
        let (next, order, http) = (&next, &order, &http);
        async move {
            while let Some(&n) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                let event = run_one(selected, worker, http, n, config, deadline, stop).await;
                let _ = done_tx.send((n, event));
            }
        }
    }));
    drop(done_tx);
    let in_order = async {
        let mut waiting = std::collections::BTreeMap::new();
        let mut due = 0;
        while let Some((n, event)) = done_rx.recv().await {
            waiting.insert(n, event);
            while let Some(event) = waiting.remove(&due) {
                send(event);
                due += 1;
            }
        }
    };
    tokio::join!(run_workers, in_order);
    // Goodbyes are bounded: a server that stopped answering must not hold the run.
    for worker in &workers {
        if let Ok(engine) = &worker.engine {
            let _ = tokio::time::timeout(config.cancel_grace, engine.close()).await;
        }
    }
    let release = Workspace::release(
        workspaces.into_iter().flatten().collect(),
        selected.protocol.protocol.executor,
    );
    let _ = tokio::time::timeout(config.step_timeout, release).await;
    send(Event::CellFinished { cell });
}

/// One worker of a cell: its engine, confined to its workspace's target.
struct Worker {
    engine: Result<Arc<dyn Engine>, String>,
    target: Option<Target>,
}

/// The workspaces a cell's workers run in (`None`: no target), and a note when the cell
/// runs on fewer workers than asked.
async fn workspaces(
    selected: &Selected<'_>,
    config: &RunConfig,
    skipped: bool,
) -> (Vec<Option<Workspace>>, Option<String>) {
    let Some(target) = &selected.target else {
        return (vec![None], None);
    };
    let single = || vec![Some(Workspace::without_cleanup(target.clone()))];
    let wanted = config.jobs.min(selected.cases.len());
    if wanted <= 1 || skipped || target.ensure_allowed().is_err() {
        return (single(), None);
    }
    let executor = selected.protocol.protocol.executor;
    let prepared = tokio::time::timeout(
        config.step_timeout,
        Workspace::prepare(executor, target, wanted),
    )
    .await
    .unwrap_or_else(|_| {
        Err(crate::exec::ExecError::Connect(format!(
            "the per-worker namespaces were not ready within {} (--step-timeout)",
            humantime::format_duration(config.step_timeout)
        )))
    });
    match prepared {
        Ok(Some(made)) => (made.into_iter().map(Some).collect(), None),
        Ok(None) => (
            single(),
            Some(format!(
                "one worker: no per-worker namespace for the {executor} executor on this target"
            )),
        ),
        Err(e) => (single(), Some(format!("one worker: {e}"))),
    }
}

/// Runs (or skips) the `n`-th case of a cell on a worker: its `CaseFinished` event.
async fn run_one(
    selected: &Selected<'_>,
    worker: &Worker,
    http: &http::HttpTargets<'_>,
    n: usize,
    config: &RunConfig,
    deadline: Option<Instant>,
    stop: &AtomicBool,
) -> Event {
    let (suite, case) = selected.cases[n];
    let protocol = &selected.protocol.protocol;
    let driver_skip = protocol.driver.as_ref().and_then(|d| d.skip.as_ref());
    let info = Arc::new(CaseInfo {
        protocol: protocol.name.clone(),
        driver: protocol.driver.as_ref().map(|d| d.name.clone()),
        tier: protocol.tier,
        suite: suite.name.clone(),
        source: suite.source.clone(),
        id: case.id.clone(),
        name: case.name.clone(),
        line: case.line,
        priority: case.priority,
        protocol_priority: protocol.priority,
    });
    let started = Instant::now();
    let mut observed = Vec::new();
    let missing = worker
        .engine
        .as_ref()
        .ok()
        .and_then(|e| missing_capability(case, e.capabilities()));
    let outcome = if let Some(reason) = case.skip.as_ref().or(driver_skip) {
        Outcome::Skipped(reason.clone())
    } else if let Some(missing) = missing {
        Outcome::Skipped(format!(
            "the {} has no {}, which this case needs",
            match &protocol.driver {
                Some(d) => format!("{} driver", d.name),
                None => format!("{} executor", protocol.executor),
            },
            missing.describe()
        ))
    } else if config.fail_fast && stop.load(Ordering::Relaxed) {
        Outcome::Skipped("not run: --fail-fast stopped the run after a failure".to_string())
    } else if deadline.is_some_and(|d| Instant::now() >= d) {
        // Not a pass, and not an xfail's to absorb: the case never ran.
        Outcome::Failed(Failure {
            location: Some(info.location()),
            ..Failure::timeout(format!(
                "not run: the run's time limit of {} (--run-timeout) ran out before this case started",
                config
                    .run_timeout
                    .map(humantime::format_duration)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ))
        })
    } else {
        let (result, answers) = match &worker.engine {
            Err(e) => (
                Err(Failure {
                    location: Some(info.location()),
                    ..Failure::infrastructure(e.clone())
                }),
                Vec::new(),
            ),
            Ok(engine) => {
                let key = format!("{}-{n}", sanitize(&case.id));
                let place = case::Place {
                    engine: engine.as_ref(),
                    protocol: &protocol.name,
                    target: worker.target.as_ref(),
                    http,
                    run_deadline: deadline,
                };
                case::run_case(place, suite, case, &key, config).await
            }
        };
        observed = answers;
        verdict(result, case.xfail.as_ref())
    };
    if outcome.is_failure() {
        stop.store(true, Ordering::Relaxed);
    }
    Event::CaseFinished {
        case: info,
        outcome,
        duration: started.elapsed(),
        observed,
    }
}

/// The outcome of a case that ran, given its xfail: an expected failure only when the
/// failure is one the xfail covers.
fn verdict(result: Result<(), Failure>, xfail: Option<&Xfail>) -> Outcome {
    match (result, xfail) {
        (Ok(()), None) => Outcome::Passed,
        (Err(f), None) => Outcome::Failed(f),
        (Ok(()), Some(x)) => Outcome::UnexpectedPass {
            reason: x.reason.clone(),
            by: ExpectedBy::Xfail {
                label: x.label.clone(),
            },
        },
        (Err(mut f), Some(x)) => match xfail_covers(x, &f) {
            Ok(()) => Outcome::ExpectedFailure {
                reason: x.reason.clone(),
                by: ExpectedBy::Xfail {
                    label: x.label.clone(),
                },
                failure: f,
            },
            Err(why) => {
                f.message = format!("{}\n  (marked xfail: {}; {why})", f.message, x.reason);
                Outcome::Failed(f)
            }
        },
    }
}

/// Whether an xfail covers a failure; if not, why not.
fn xfail_covers(x: &Xfail, f: &Failure) -> Result<(), String> {
    match (f.kind, x.timeout) {
        (FailureKind::Infrastructure, _) => {
            return Err("an infrastructure failure is never an expected failure".to_string());
        }
        (FailureKind::Timeout, false) => {
            return Err(
                "a timeout is not the expected failure (an xfail that expects one says `timeout: true`)"
                    .to_string(),
            );
        }
        (FailureKind::Check, true) => {
            return Err("it was expected to time out".to_string());
        }
        (FailureKind::Timeout, true) | (FailureKind::Check, false) => {}
    }
    if let Some(step) = x.step
        && f.step.map(std::num::NonZeroU32::get) != Some(step)
    {
        return Err(match f.step {
            Some(s) => format!("it was expected to fail at step {step}, not step {s}"),
            None => format!("it was expected to fail at step {step}"),
        });
    }
    if let Some(expect) = &x.error {
        match &f.server_error {
            Some(db) if check::error_matches(expect, db) => {}
            Some(db) => {
                return Err(format!(
                    "it was expected to fail with {}, not {db}",
                    expect.describe()
                ));
            }
            None => {
                return Err(format!(
                    "it was expected to fail with {}, not a failed check",
                    expect.describe()
                ));
            }
        }
    }
    Ok(())
}

/// The first capability a case needs that the executor lacks.
fn missing_capability(case: &CasePlan, has: &[Capability]) -> Option<Capability> {
    let mut needs = Vec::new();
    let mut sessions = std::collections::BTreeSet::new();
    if !case.autocommit {
        needs.push(Capability::AutocommitOff);
    }
    for step in &case.steps {
        // The runner sends HTTP steps itself, on no session.
        if matches!(step.action, Action::Http(_)) {
            continue;
        }
        sessions.insert(step.session.as_deref().unwrap_or("default"));
        needs.push(match &step.action {
            Action::Statement(_) => Capability::Sql,
            Action::Query(q) if q.fetch.is_some() => Capability::Cursors,
            Action::Query(q) if q.cancel_after.is_some() => Capability::Cancel,
            Action::Query(_) => Capability::Sql,
            Action::Begin | Action::Commit | Action::Rollback => Capability::Transactions,
            Action::Copy(_) => Capability::Copy,
            Action::Vector(_) => Capability::Vectors,
            Action::Sleep { .. } | Action::Http(_) => continue,
        });
    }
    if sessions.len() > 1 {
        needs.push(Capability::Sessions);
    }
    needs.sort();
    needs.into_iter().find(|n| !has.contains(n))
}

fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::DbError;
    use crate::registry::ErrorExpect;

    fn server_failure(sqlstate: &str) -> Failure {
        Failure {
            server_error: Some(Box::new(DbError {
                sqlstate: Some(sqlstate.into()),
                ..DbError::default()
            })),
            step: std::num::NonZeroU32::new(2),
            ..Failure::new("boom")
        }
    }

    fn xfail(error: Option<&str>, step: Option<u32>) -> Xfail {
        Xfail {
            reason: "known gap".into(),
            label: "fakesnow".into(),
            timeout: false,
            error: error.map(|s| ErrorExpect {
                sqlstate: Some(s.into()),
                ..ErrorExpect::default()
            }),
            step,
        }
    }

    #[test]
    fn an_xfail_never_absorbs_infrastructure_failures() {
        let down = Failure::infrastructure("cannot connect to snowflake at 127.0.0.1:8443");
        assert!(matches!(
            verdict(Err(down), Some(&xfail(None, None))),
            Outcome::Failed(f) if f.message.contains("never an expected failure")
        ));
        assert!(matches!(
            verdict(
                Err(Failure::new("the result differs")),
                Some(&xfail(None, None))
            ),
            Outcome::ExpectedFailure { .. }
        ));
    }

    #[test]
    fn a_timeout_is_an_expected_failure_only_where_the_xfail_says_so() {
        let timed_out = || Failure::timeout("step timed out after 6s");
        assert!(matches!(
            verdict(Err(timed_out()), Some(&xfail(None, None))),
            Outcome::Failed(f) if f.message.contains("a timeout is not the expected failure")
        ));
        let expects_timeout = Xfail {
            timeout: true,
            ..xfail(None, None)
        };
        assert!(matches!(
            verdict(Err(timed_out()), Some(&expects_timeout)),
            Outcome::ExpectedFailure { .. }
        ));
        assert!(matches!(
            verdict(Err(Failure::new("the result differs")), Some(&expects_timeout)),
            Outcome::Failed(f) if f.message.contains("expected to time out")
        ));
    }

    #[test]
    fn an_xfail_that_states_its_error_holds_the_failure_to_it() {
        let x = xfail(Some("42601"), None);
        assert!(matches!(
            verdict(Err(server_failure("42601")), Some(&x)),
            Outcome::ExpectedFailure { .. }
        ));
        let Outcome::Failed(f) = verdict(Err(server_failure("42P01")), Some(&x)) else {
            panic!("a different error is a failure");
        };
        assert!(
            f.message.contains("SQLSTATE 42601") && f.message.contains("42P01"),
            "{}",
            f.message
        );
        assert!(matches!(
            verdict(Err(Failure::new("the result differs")), Some(&x)),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            verdict(Err(server_failure("42601")), Some(&xfail(None, Some(3)))),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            verdict(Err(server_failure("42601")), Some(&xfail(None, Some(2)))),
            Outcome::ExpectedFailure { .. }
        ));
        assert!(matches!(
            verdict(Ok(()), Some(&x)),
            Outcome::UnexpectedPass { .. }
        ));
    }
}
