//! The runner: drives selected cases through executors and emits [`Event`]s.
//!
//! Protocols run concurrently (they are independent servers); the cases of one protocol run
//! one after another, because they share that server's state. Nothing here formats output.

mod case;
pub mod check;
pub mod events;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::mpsc;

pub use events::{CaseInfo, Event, Failure, Outcome};

use crate::exec::{Engine, engine_for};
use crate::plan::{CasePlan, ProtocolPlan, SuitePlan};
use crate::target::Target;

/// Knobs of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Longest a single step (one statement, one iteration of a repeat) may take.
    pub step_timeout: Duration,
    /// Stop at the first failure; the rest is reported as not run.
    pub fail_fast: bool,
}

/// The cases to run on one protocol, and where.
pub struct Selected<'p> {
    pub protocol: &'p ProtocolPlan,
    /// `None`: no target is configured, so every case fails with that reason.
    pub target: Option<Target>,
    pub cases: Vec<(&'p SuitePlan, &'p CasePlan)>,
}

/// Runs the selection, sending every event to `sink` in order of occurrence.
pub async fn run(selection: &[Selected<'_>], config: &RunConfig, mut sink: impl FnMut(Event)) {
    sink(Event::RunStarted {
        protocols: selection
            .iter()
            .map(|s| (s.protocol.protocol.name.clone(), s.cases.len()))
            .collect(),
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = AtomicBool::new(false);
    let protocols = join_all(
        selection
            .iter()
            .map(|s| run_protocol(s, config, &stop, tx.clone())),
    );
    drop(tx);
    let drain = async {
        while let Some(event) = rx.recv().await {
            sink(event);
        }
    };
    tokio::join!(protocols, drain);
    sink(Event::RunFinished);
}

async fn run_protocol(
    selected: &Selected<'_>,
    config: &RunConfig,
    stop: &AtomicBool,
    tx: mpsc::UnboundedSender<Event>,
) {
    let protocol = &selected.protocol.protocol;
    let send = |e: Event| {
        // The receiver lives until every protocol finished; a send cannot fail before.
        let _ = tx.send(e);
    };
    send(Event::ProtocolStarted {
        protocol: protocol.name.clone(),
        target: selected.target.as_ref().map(ToString::to_string),
    });
    let engine: Result<Arc<dyn Engine>, String> = match &selected.target {
        None => Err(format!(
            "no target configured for {}: set it in matrix.yaml, {} or --target {}=URL",
            protocol.name,
            crate::target::env_var(&protocol.name),
            protocol.name
        )),
        Some(target) => match target.ensure_loopback() {
            Err(e) => Err(e),
            Ok(()) => engine_for(&protocol.executor, target)
                .await
                .map_err(|e| e.to_string()),
        },
    };
    for (n, (suite, case)) in selected.cases.iter().enumerate() {
        let info = Arc::new(CaseInfo {
            protocol: protocol.name.clone(),
            tier: protocol.tier,
            suite: suite.name.clone(),
            source: suite.source.clone(),
            id: case.id.clone(),
            name: case.name.clone(),
            line: case.line,
            priority: case.priority,
        });
        let started = Instant::now();
        let outcome = if let Some(reason) = &case.skip {
            Outcome::Skipped(reason.clone())
        } else if config.fail_fast && stop.load(Ordering::Relaxed) {
            Outcome::Skipped("not run: --fail-fast stopped the run after a failure".to_string())
        } else {
            let result = match &engine {
                Err(e) => Err(Failure {
                    message: e.clone(),
                    location: Some(info.location()),
                    ..Failure::default()
                }),
                Ok(engine) => {
                    let key = format!("{}-{n}", sanitize(&case.id));
                    case::run_case(
                        engine.as_ref(),
                        &protocol.name,
                        suite,
                        case,
                        &key,
                        selected.target.as_ref(),
                        config,
                    )
                    .await
                }
            };
            match (result, &case.xfail) {
                (Ok(()), None) => Outcome::Passed,
                (Err(f), None) => Outcome::Failed(f),
                (Ok(()), Some(reason)) => Outcome::UnexpectedPass {
                    reason: reason.clone(),
                },
                (Err(failure), Some(reason)) => Outcome::ExpectedFailure {
                    reason: reason.clone(),
                    failure,
                },
            }
        };
        if outcome.is_failure() {
            stop.store(true, Ordering::Relaxed);
        }
        send(Event::CaseFinished {
            case: info,
            outcome,
            duration: started.elapsed(),
        });
    }
    send(Event::ProtocolFinished {
        protocol: protocol.name.clone(),
    });
}

fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
