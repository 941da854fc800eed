//! Cancelling a TDS request: an Attention on the request's own connection.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tokio::sync::{Mutex, Notify};

use super::{CANCELLED, Client, Fail};
use crate::exec::{Canceller, DbError, ExecError};

/// A session's connection, shared with its canceller: an Attention goes on the
/// connection whose request it stops.
pub(super) struct Shared {
    /// `None` once the connection broke or went out of step: every later call says so.
    /// A call holds the lock while it runs.
    pub(super) client: Mutex<Option<Client>>,
    /// Tells the running call to stop reading and send the Attention itself.
    pub(super) notify: Notify,
    /// A call is running and listening for `notify`.
    pub(super) running: AtomicBool,
}

#[async_trait]
impl Canceller for Shared {
    /// A running call (`cancel_after`) is told to send the Attention: it holds the
    /// connection, and it is the one waiting for the answer. A call that was cut off (a
    /// step's timeout dropped it) left the connection free and the server perhaps still at
    /// work: the Attention goes out from here, and the connection, whose state is unknown,
    /// is closed.
    async fn cancel(&self) -> Result<(), ExecError> {
        if self.running.load(Ordering::SeqCst) {
            self.notify.notify_waiters();
            return Ok(());
        }
        let Ok(mut client) = self.client.try_lock() else {
            return Err(ExecError::Client(
                "the connection is held by a call that is not listening for a cancel".to_string(),
            ));
        };
        let Some(mut connection) = client.take() else {
            return Err(ExecError::Lost(
                "the connection was already closed, so no Attention can be sent".to_string(),
            ));
        };
        connection.cancel_query().await.map_err(|e| {
            ExecError::Lost(format!(
                "the server did not acknowledge the Attention as TDS says it must: {e}"
            ))
        })
    }
}

/// Marks a call as running while it lives.
pub(super) struct Running<'a>(pub(super) &'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Runs `op` on the connection; if the session is cancelled meanwhile (`notified`),
/// stops reading its answer, sends an Attention and waits for the server's acknowledgement.
pub(super) async fn attended<T>(
    client: &mut Client,
    mut notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
    op: impl AsyncFnOnce(&mut Client) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let finished = tokio::select! {
        biased;
        result = op(&mut *client) => Some(result),
        () = notified.as_mut() => None,
    };
    match finished {
        Some(result) => result,
        None => Err(match client.cancel_query().await {
            Ok(()) => Fail::Exec(ExecError::Db(DbError {
                code: Some(CANCELLED.to_string()),
                message:
                    "the request was cancelled: the server acknowledged the Attention (DONE_ATTN)"
                        .to_string(),
                ..DbError::default()
            })),
            Err(e) => Fail::Exec(ExecError::Lost(format!(
                "the server did not acknowledge the Attention as TDS says it must: {e}"
            ))),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_with_no_connection_says_so() {
        let shared = Shared {
            client: Mutex::new(None),
            notify: Notify::new(),
            running: AtomicBool::new(false),
        };
        let cancelled = shared.cancel().await;
        assert!(matches!(cancelled, Err(ExecError::Lost(m)) if m.contains("already closed")));
    }
}
