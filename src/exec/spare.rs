//! Connections opened ahead of need.
//!
//! A case opens fresh connections (a fixture session, a default session, named ones) and
//! closes them when it ends, so no session state can leak from one case to the next. Over
//! TLS a connection costs a handshake and an authentication exchange, several round trips
//! that once dominated a case. [`Spares`] keeps a few connections being opened in the
//! background while cases run, so a case takes one that is ready and each case still gets
//! connections no other case has used: isolation stays structural, with no reset to trust.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::JoinHandle;

use super::ExecError;

type Connecting<C> = Pin<Box<dyn Future<Output = Result<C, ExecError>> + Send>>;

/// Up to `depth` connections of type `C` opening in the background.
pub struct Spares<C> {
    depth: usize,
    connect: Arc<dyn Fn() -> Connecting<C> + Send + Sync>,
    pending: Mutex<VecDeque<JoinHandle<Result<C, ExecError>>>>,
}

impl<C: Send + 'static> Spares<C> {
    /// `connect` opens one connection; `depth` 0 opens each on demand.
    pub fn new<F, Fut>(depth: usize, connect: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C, ExecError>> + Send + 'static,
    {
        Self {
            depth,
            connect: Arc::new(move || Box::pin(connect())),
            pending: Mutex::new(VecDeque::new()),
        }
    }

    /// The oldest spare (or a new connection), starting another in its place. A spare that
    /// failed to open reports its error here, as a connection opened now would.
    pub async fn take(&self) -> Result<C, ExecError> {
        let next = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            // One for this call, `depth` for the calls after it; the oldest goes first.
            while pending.len() <= self.depth {
                pending.push_back(tokio::spawn((self.connect)()));
            }
            pending.pop_front()
        };
        let Some(connecting) = next else {
            return (self.connect)().await;
        };
        connecting
            .await
            .map_err(|e| ExecError::Connect(format!("opening a connection was interrupted: {e}")))?
    }

    /// Stops refilling and hands back the spares that have opened, for a graceful goodbye.
    /// A spare still opening is abandoned, not waited for: a server that accepts one
    /// connection at a time, or none, must not hold the end of a run.
    pub async fn drain(&self) -> Vec<C> {
        let pending: Vec<_> = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        let mut opened = Vec::new();
        for connecting in pending {
            if !connecting.is_finished() {
                connecting.abort();
                continue;
            }
            if let Ok(Ok(c)) = connecting.await {
                opened.push(c);
            }
        }
        opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(depth: usize) -> (Spares<usize>, Arc<AtomicUsize>) {
        let opened = Arc::new(AtomicUsize::new(0));
        let counter = opened.clone();
        let spares = Spares::new(depth, move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move { Ok(n) }
        });
        (spares, opened)
    }

    #[tokio::test]
    async fn every_take_gets_a_connection_no_one_else_got() {
        let (spares, _) = counting(2);
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(spares.take().await.unwrap());
        }
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
        // Two more were opened ahead (once their tasks ran) and come back for closing.
        tokio::task::yield_now().await;
        assert_eq!(spares.drain().await, vec![5, 6]);
        assert!(spares.drain().await.is_empty());
    }

    #[tokio::test]
    async fn depth_zero_opens_on_demand_only() {
        let (spares, opened) = counting(0);
        assert_eq!(spares.take().await.unwrap(), 0);
        assert_eq!(opened.load(Ordering::SeqCst), 1);
        assert!(spares.drain().await.is_empty());
    }

    #[tokio::test]
    async fn draining_never_waits_on_a_connection_that_does_not_open() {
        let spares: Spares<()> = Spares::new(1, std::future::pending::<Result<(), ExecError>>);
        // Nothing was taken, so nothing is opening yet; a take that times out leaves one
        // spare (and the one it waited on) opening forever.
        let taken = tokio::time::timeout(std::time::Duration::from_millis(20), spares.take()).await;
        assert!(
            taken.is_err(),
            "a connection that never opens is never taken"
        );
        let drained = tokio::time::timeout(std::time::Duration::from_secs(1), spares.drain()).await;
        assert_eq!(
            drained.map(|d| d.len()),
            Ok(0),
            "drain returned at once, empty"
        );
    }

    #[tokio::test]
    async fn a_spare_that_failed_reports_its_error_when_taken() {
        let spares: Spares<()> = Spares::new(1, || async {
            Err(ExecError::Connect("connection refused".into()))
        });
        assert!(matches!(spares.take().await, Err(ExecError::Connect(m)) if m.contains("refused")));
    }
}
