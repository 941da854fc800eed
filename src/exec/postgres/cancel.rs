//! Cancelling a session's running statement the way libpq's `PQcancel` does: a
//! CancelRequest with the backend's process id and secret key (from the start-up's
//! BackendKeyData), on a connection of its own that carries nothing else.

use async_trait::async_trait;
use sqlx::postgres::PgConnectOptions;

use crate::exec::{Canceller, ExecError};

/// The code of a CancelRequest (PostgreSQL's protocol, "CancelRequest").
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

/// Sends a session's CancelRequest: the backend's process id and secret key, on a new
/// connection that carries nothing else, as libpq's `PQcancel` does.
pub(super) struct PgCanceller {
    options: PgConnectOptions,
    pid: u32,
    key: u32,
}

impl PgCanceller {
    pub(super) fn new(options: PgConnectOptions, pid: u32, key: u32) -> Self {
        Self { options, pid, key }
    }
}

#[async_trait]
impl Canceller for PgCanceller {
    async fn cancel(&self) -> Result<(), ExecError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut request = Vec::with_capacity(16);
        for word in [16, CANCEL_REQUEST_CODE, self.pid, self.key] {
            request.extend_from_slice(&word.to_be_bytes());
        }
        let unreachable =
            |e: std::io::Error| ExecError::Connect(format!("cannot send the cancel: {e}"));
        let mut stream: Box<dyn CancelStream> = match self.options.get_socket() {
            Some(dir) => {
                #[cfg(unix)]
                {
                    let path = dir.join(format!(".s.PGSQL.{}", self.options.get_port()));
                    Box::new(
                        tokio::net::UnixStream::connect(path)
                            .await
                            .map_err(unreachable)?,
                    )
                }
                #[cfg(not(unix))]
                {
                    let _ = dir;
                    return Err(ExecError::Unsupported("cancel over a Unix socket".into()));
                }
            }
            None => Box::new(
                tokio::net::TcpStream::connect((self.options.get_host(), self.options.get_port()))
                    .await
                    .map_err(unreachable)?,
            ),
        };
        stream.write_all(&request).await.map_err(unreachable)?;
        // The server closes the connection once it has taken the request; libpq waits for
        // that too, so the cancel has arrived when this returns.
        let mut rest = [0u8; 1];
        let _ = stream.read(&mut rest).await;
        Ok(())
    }
}

/// The stream a CancelRequest goes over (TCP, or the server's Unix socket).
trait CancelStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> CancelStream for T {}
