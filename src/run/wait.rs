//! `run --wait`: before the first case, each selected target is polled until it accepts a
//! connection (a session its executor can open), so CI can start a server and run at once.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::Selected;
use crate::exec::native_engine;
use crate::executor::Executor;
use crate::target::Target;

/// Pause between two attempts on a target that is not ready yet.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How waiting for one target ended.
#[derive(Debug)]
pub struct Readiness {
    pub protocol: String,
    /// `host:port` (credentials never appear).
    pub address: String,
    /// How long it took to accept a connection, or why it did not within the time given.
    pub outcome: Result<Duration, String>,
}

/// Polls every distinct target of the selection at once, each until it is ready or
/// `within` has passed. A protocol's driver cells share its target: polled once, through
/// the protocol's own executor.
pub async fn wait_for_targets(selection: &[Selected<'_>], within: Duration) -> Vec<Readiness> {
    let mut targets: Vec<(&str, Executor, &Target)> = Vec::new();
    for s in selection {
        let protocol = &s.protocol.protocol;
        if let Some(target) = &s.target
            && !targets.iter().any(|(_, _, t)| *t == target)
        {
            targets.push((&protocol.name, protocol.executor, target));
        }
    }
    join_all(
        targets
            .into_iter()
            .map(|(protocol, executor, target)| async move {
                Readiness {
                    protocol: protocol.to_string(),
                    address: target.address(),
                    outcome: wait_for(executor, target, within).await,
                }
            }),
    )
    .await
}

/// Tries `executor` on `target` until it accepts a connection or `within` has passed.
async fn wait_for(
    executor: Executor,
    target: &Target,
    within: Duration,
) -> Result<Duration, String> {
    target.ensure_allowed()?;
    let start = Instant::now();
    let deadline = start + within;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = tokio::time::timeout(remaining, attempt(executor, target)).await;
        let last = match attempt {
            Ok(Ok(())) => return Ok(start.elapsed()),
            Ok(Err(e)) => e,
            Err(_) => "no answer".to_string(),
        };
        if Instant::now() + POLL_INTERVAL >= deadline {
            return Err(format!(
                "not ready after {}: {last}",
                humantime::format_duration(within)
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn attempt(executor: Executor, target: &Target) -> Result<(), String> {
    let engine = native_engine(executor, target).map_err(|e| e.to_string())?;
    let ready = engine.ready().await.map_err(|e| e.to_string());
    engine.close().await;
    ready
}
