//! A client driver (psycopg2, asyncpg, node-postgres, …) through its driver host.
//!
//! Each session is one host process at a time, started from the registry's command for the
//! driver and spoken to over stdin/stdout in the line-delimited JSON protocol of
//! `docs/driver-host.md`, whose messages are the types of [`protocol`]; `cancel` goes on a
//! third pipe of its own (the host's [`CANCEL_FD`]), so that the host can run each request
//! on the thread that read it and still hear a cancel while it runs. The host only
//! drives the driver: it answers with typed values, column classes and errors, and
//! everything else (comparison, labels, xfails, reports) stays here. The engine starts one
//! host when it is created to read its `hello`: the protocol version it speaks (another is
//! refused) and the driver's capabilities.
//!
//! Starting a host costs an interpreter and a driver import (~200 ms for CPython), far more
//! than a case. A host whose hello says `reconnect` closes a session's connection on
//! `disconnect` and makes a fresh adapter for the next `connect`: the engine keeps such
//! hosts between sessions, so a new session costs a connection, not a process. Only a
//! session that ended cleanly gives its host back; one that timed out or broke is killed.

mod pipeline;
pub mod protocol;
#[cfg(test)]
mod transcripts;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use super::{
    Batches, Call, Canceller, Capability, ExecError, Planned, ResultSet, Session, SessionOptions,
    VectorAnswer,
};
use crate::registry::{Driver, PlaceholderStyle};
use crate::secret::mask;
use crate::step::{Param, VectorOp};
use crate::target::Target;
use crate::value::Scalar;
use pipeline::{Ahead, Pipeline};
use protocol::{
    CANCEL_FD, CANCEL_FD_VAR, Counted, Envelope, Expect, Fetched, Hello, HelloRefused, HostError,
    Nothing, Op, PROTOCOL, Params, Queried, Refusal, Request, Vectored, Wire,
};

/// How long a host may take to say hello (a Python host imports its driver first).
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a host's stderr is kept for messages.
const STDERR_KEPT: usize = 4096;

pub struct DriverEngine {
    driver: Driver,
    target: Target,
    capabilities: Vec<Capability>,
    /// `node-postgres 8.13.1 on Node.js v20.20.2`, from the hello.
    description: String,
    /// Hosts between sessions, ready for a `connect`; `None` when the host cannot reconnect.
    idle: Option<IdleHosts>,
}

type IdleHosts = Arc<StdMutex<Vec<Host>>>;

/// Hosts started before an engine asked for them: a run that names its drivers starts
/// them first, so that starting an interpreter and importing a driver (~60 ms for
/// CPython) overlap the reading of its specs. Their hellos are read by the engine that
/// takes them.
static PRESTARTED: StdMutex<Vec<Host>> = StdMutex::new(Vec::new());

/// Starts a host for `driver` that the first engine of that driver takes.
pub async fn prestart(driver: &Driver) -> Result<(), ExecError> {
    let host = Host::spawn(driver).await?;
    if let Ok(mut hosts) = PRESTARTED.lock() {
        hosts.push(host);
    }
    Ok(())
}

fn take_prestarted(driver: &str) -> Option<Host> {
    let mut hosts = PRESTARTED.lock().ok()?;
    let at = hosts.iter().position(|h| h.driver == driver)?;
    Some(hosts.swap_remove(at))
}

/// Ends the hosts no engine took (their drivers' protocols were not selected, say).
pub async fn discard_prestarted() {
    let hosts = PRESTARTED
        .lock()
        .map(|mut hosts| std::mem::take(&mut *hosts))
        .unwrap_or_default();
    for mut host in hosts {
        host.shut().await;
    }
}

impl DriverEngine {
    /// Starts one host (or takes one [`prestart`] started) to learn what it speaks and can
    /// do; it serves the first session when it can reconnect, else it is let go.
    pub async fn start(driver: &Driver, target: &Target) -> Result<Self, ExecError> {
        let mut host = match take_prestarted(&driver.name) {
            Some(host) => host,
            None => Host::spawn(driver).await?,
        };
        let hello = host.hello().await?;
        let idle = if hello.reconnect {
            Some(Arc::new(StdMutex::new(vec![host])))
        } else {
            host.shut().await;
            None
        };
        Ok(Self {
            driver: driver.clone(),
            target: target.clone(),
            description: hello.description(),
            capabilities: hello.capabilities,
            idle,
        })
    }

    /// An idle host, or a new one once it said hello.
    async fn host(&self) -> Result<Host, ExecError> {
        let idle = self
            .idle
            .as_ref()
            .and_then(|idle| idle.lock().ok().and_then(|mut hosts| hosts.pop()));
        match idle {
            Some(host) => Ok(host),
            None => {
                let mut host = Host::spawn(&self.driver).await?;
                host.hello().await?;
                Ok(host)
            }
        }
    }
}

#[async_trait]
impl super::Engine for DriverEngine {
    fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    fn description(&self) -> Option<String> {
        Some(self.description.clone())
    }

    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        let mut host = self.host().await?;
        host.connect(self.target.expose_url(), options.autocommit)
            .await?;
        let cancels = self.capabilities.contains(&Capability::Cancel);
        Ok(Box::new(DriverSession::new(
            host,
            cancels,
            self.driver.placeholder,
            self.idle.clone(),
        )))
    }

    async fn close(&self) {
        let hosts = self
            .idle
            .as_ref()
            .and_then(|idle| {
                idle.lock()
                    .ok()
                    .map(|mut hosts| std::mem::take(&mut *hosts))
            })
            .unwrap_or_default();
        for mut host in hosts {
            host.shut().await;
        }
    }
}

/// Where lines to a host go: its stdin, or its cancel channel.
type HostInput = Arc<Mutex<Box<dyn AsyncWrite + Send + Unpin>>>;

/// One running host: a process, or (in tests) anything that reads requests and writes
/// answers.
struct Host {
    /// `None` for a host that is not a process of ours.
    child: Option<Child>,
    stdin: HostInput,
    /// The cancel channel, which the session's canceller writes `cancel` to; `None` where
    /// the host has none (one that is not a process of ours, or not on Unix).
    cancel: Option<HostInput>,
    stdout: tokio::io::Lines<BufReader<Box<dyn AsyncRead + Send + Unpin>>>,
    stderr: Arc<StdMutex<VecDeque<u8>>>,
    ids: Arc<AtomicU64>,
    driver: String,
}

impl Host {
    async fn spawn(driver: &Driver) -> Result<Host, ExecError> {
        let (program, args) = driver.command.split_first().ok_or_else(|| {
            ExecError::Connect(format!("driver `{}` has no host command", driver.name))
        })?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let cancels = CancelChannel::open(&mut command)
            .map_err(|e| ExecError::Client(format!("cannot make a cancel channel: {e}")))?;
        let mut child = command.spawn().map_err(|e| {
            ExecError::Connect(format!(
                "cannot start the {} driver host `{}`: {e} (`just drivers` installs the drivers)",
                driver.name,
                driver.command.join(" ")
            ))
        })?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ExecError::Client(
                "the host's pipes are missing".to_string(),
            ));
        };
        let mut host = Host::over(stdout, stdin, &driver.name);
        host.child = Some(child);
        host.cancel = cancels
            .into_sender()
            .map_err(|e| ExecError::Client(format!("cannot use the cancel channel: {e}")))?;
        // The host's stderr (a traceback, say) is kept for messages, never left to fill
        // its pipe.
        let sink = host.stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut k) = sink.lock() {
                    k.extend(&buf[..n]);
                    let excess = k.len().saturating_sub(STDERR_KEPT);
                    k.drain(..excess);
                }
            }
        });
        Ok(host)
    }

    /// A host that answers on `output` what it reads from `input`.
    fn over(
        output: impl AsyncRead + Send + Unpin + 'static,
        input: impl AsyncWrite + Send + Unpin + 'static,
        driver: &str,
    ) -> Host {
        let output: Box<dyn AsyncRead + Send + Unpin> = Box::new(output);
        Host {
            child: None,
            stdin: Arc::new(Mutex::new(Box::new(input))),
            cancel: None,
            stdout: BufReader::new(output).lines(),
            stderr: Arc::default(),
            ids: Arc::new(AtomicU64::new(1)),
            driver: driver.to_string(),
        }
    }

    fn forget_stderr(&self) {
        if let Ok(mut kept) = self.stderr.lock() {
            kept.clear();
        }
    }

    /// The host's stderr so far, for a message.
    fn stderr_tail(&self) -> String {
        let bytes: Vec<u8> = self
            .stderr
            .lock()
            .map(|k| k.iter().copied().collect())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let text = mask(text.trim());
        if text.is_empty() {
            String::new()
        } else {
            format!("\n  host stderr:\n    {}", text.replace('\n', "\n    "))
        }
    }

    /// The next line from the host; its end is a lost connection, with its stderr.
    async fn line(&mut self) -> Result<String, ExecError> {
        match self.stdout.next_line().await {
            Ok(Some(line)) => Ok(line),
            Ok(None) => {
                let status = match &mut self.child {
                    Some(child) => child
                        .wait()
                        .await
                        .map_or_else(|e| e.to_string(), |s| s.to_string()),
                    None => "its output ended".to_string(),
                };
                Err(ExecError::Lost(format!(
                    "the {} driver host exited ({status}){}",
                    self.driver,
                    self.stderr_tail()
                )))
            }
            Err(e) => Err(ExecError::Lost(format!(
                "cannot read from the {} driver host: {e}",
                self.driver
            ))),
        }
    }

    async fn hello(&mut self) -> Result<Hello, ExecError> {
        let line = match tokio::time::timeout(HELLO_TIMEOUT, self.line()).await {
            Ok(line) => line.map_err(|e| match e {
                ExecError::Lost(m) => ExecError::Connect(m),
                other => other,
            })?,
            Err(_) => {
                return Err(ExecError::Connect(format!(
                    "the {} driver host said nothing within {HELLO_TIMEOUT:?}{}",
                    self.driver,
                    self.stderr_tail()
                )));
            }
        };
        Hello::parse(&line).map_err(|refused| {
            let why = match refused {
                HelloRefused::NoHello => format!("did not say hello: {}", excerpt(&line)),
                HelloRefused::NoVersion => "names no protocol version".to_string(),
                HelloRefused::OtherVersion(other) => format!(
                    "speaks driver host protocol {other}; this helios-matrix speaks {PROTOCOL}"
                ),
                HelloRefused::Malformed(e) => {
                    format!(
                        "said a hello protocol {PROTOCOL} does not allow ({e}): {}",
                        excerpt(&line)
                    )
                }
            };
            ExecError::Connect(format!("the {} driver host {why}", self.driver))
        })
    }

    /// Opens the session's connection; a failure of any kind is a failure to connect.
    async fn connect(&mut self, target: &str, autocommit: bool) -> Result<(), ExecError> {
        let op = Op::Connect {
            target: target.into(),
            autocommit,
        };
        self.call::<Nothing>(op)
            .await
            .map(drop)
            .map_err(|e| match e {
                ExecError::Db(db) => ExecError::Connect(db.to_string()),
                other => other,
            })
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a request on its own and waits for its response; `Ok` holds the response's
    /// results, read as `A`, which the request's op decides.
    async fn call<A: DeserializeOwned>(&mut self, op: Op<'_>) -> Result<A, ExecError> {
        let (id, name) = (self.next_id(), op.name());
        let line = encode(&Request::new(id, op))?;
        write_lines(&self.stdin, &line, &self.driver).await?;
        self.answer(id, name).await?.map_err(ExecError::from)
    }

    /// Reads the response to request `id` (an `op` request): its results read as `A`, or
    /// the host's error. Answers come in the order of the requests; a cancel's answer may
    /// come between them, and says nothing about this one.
    async fn answer<A: DeserializeOwned>(
        &mut self,
        id: u64,
        op: &str,
    ) -> Result<Result<A, HostError>, ExecError> {
        loop {
            let line = self.line().await?;
            let unfit = |e: &dyn std::fmt::Display| {
                ExecError::Client(format!(
                    "the {} driver host's answer to `{op}` does not fit the protocol ({e}): {}",
                    self.driver,
                    excerpt(&line)
                ))
            };
            let response: Json = serde_json::from_str(&line).map_err(|e| unfit(&e))?;
            let envelope = Envelope::deserialize(&response).map_err(|e| unfit(&e))?;
            if envelope.id != Some(id) {
                continue;
            }
            return if envelope.ok {
                A::deserialize(response).map(Ok).map_err(|e| unfit(&e))
            } else {
                let refusal = Refusal::deserialize(response).map_err(|e| unfit(&e))?;
                Ok(Err(refusal.error))
            };
        }
    }

    /// Asks the host to close, and makes sure it is gone.
    async fn shut(&mut self) {
        if let Ok(line) = encode(&Request::new(self.next_id(), Op::Close)) {
            let _ = write_lines(&self.stdin, &line, &self.driver).await;
        }
        self.reap().await;
    }

    /// Waits a little for a host that was told to close to exit, then kills it.
    async fn reap(&mut self) {
        let Some(child) = &mut self.child else {
            return;
        };
        if tokio::time::timeout(Duration::from_secs(2), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

/// A request as its line, newline included.
fn encode(request: &Request<'_>) -> Result<String, ExecError> {
    let mut line = serde_json::to_string(request)
        .map_err(|e| ExecError::Client(format!("cannot encode a request: {e}")))?;
    line.push('\n');
    Ok(line)
}

/// Writes whole request lines in one go.
async fn write_lines(
    stdin: &Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    lines: &str,
    driver: &str,
) -> Result<(), ExecError> {
    let mut stdin = stdin.lock().await;
    let written = async {
        stdin.write_all(lines.as_bytes()).await?;
        stdin.flush().await
    };
    written
        .await
        .map_err(|e| ExecError::Lost(format!("cannot write to the {driver} driver host: {e}")))
}

fn excerpt(text: &str) -> String {
    let cut: String = text.chars().take(200).collect();
    mask(&cut)
}

struct DriverSession {
    host: Host,
    canceller: Option<Arc<HostCanceller>>,
    /// How the driver's SQL binds parameters: by name or by position.
    style: PlaceholderStyle,
    /// Where the host goes after a clean `disconnect`, when it can reconnect.
    idle: Option<IdleHosts>,
    /// Requests sent ahead; every request goes through it.
    pipeline: Pipeline,
}

impl DriverSession {
    /// A session on a connected host; `cancels`: the host said it can cancel.
    fn new(
        host: Host,
        cancels: bool,
        style: PlaceholderStyle,
        idle: Option<IdleHosts>,
    ) -> DriverSession {
        let canceller = host.cancel.clone().filter(|_| cancels).map(|channel| {
            Arc::new(HostCanceller {
                channel,
                ids: host.ids.clone(),
            })
        });
        DriverSession {
            host,
            canceller,
            style,
            idle,
            pipeline: Pipeline::default(),
        }
    }

    fn params(&self, params: &[Param]) -> Params {
        Params::new(params, self.style)
    }

    async fn ask<A: DeserializeOwned>(&mut self, op: Op<'_>) -> Result<A, ExecError> {
        self.pipeline.ask(&mut self.host, op).await
    }
}

/// Sends `cancel` on the host's cancel channel while a request runs; the host answers it
/// on stdout at once, before or after the answer of the request it cancelled.
struct HostCanceller {
    channel: HostInput,
    ids: Arc<AtomicU64>,
}

#[async_trait]
impl Canceller for HostCanceller {
    async fn cancel(&self) -> Result<(), ExecError> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let cancel = encode(&Request::new(id, Op::Cancel))?;
        write_lines(&self.channel, &cancel, "cancelling").await
    }
}

/// The pipe a host reads `cancel` from: its read end becomes the host's [`CANCEL_FD`]
/// (named by [`CANCEL_FD_VAR`]); helios-matrix keeps the write end.
#[cfg(unix)]
struct CancelChannel {
    /// Open until the host is started, so that its child can take it over.
    host_end: std::io::PipeReader,
    our_end: std::io::PipeWriter,
}

#[cfg(unix)]
impl CancelChannel {
    /// A new pipe, handed to the host `command` starts as its [`CANCEL_FD`].
    fn open(command: &mut Command) -> std::io::Result<CancelChannel> {
        use std::os::fd::AsRawFd;
        let (host_end, our_end) = std::io::pipe()?;
        let fd = host_end.as_raw_fd();
        command.env(CANCEL_FD_VAR, CANCEL_FD.to_string());
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are sound: it makes one dup2 or fcntl call and allocates
        // nothing. `fd` stays open in the parent until the child is started (`host_end`
        // is dropped only after `spawn`).
        unsafe {
            command.pre_exec(move || {
                // Both ends are close-on-exec. dup2 makes a copy that is not; a descriptor
                // that already is CANCEL_FD has the flag cleared instead.
                let done = if fd == CANCEL_FD {
                    libc::fcntl(fd, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, CANCEL_FD)
                };
                if done == -1 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
        }
        Ok(CancelChannel { host_end, our_end })
    }

    /// Our end, once the host is started: the host holds its own copy of the other.
    fn into_sender(self) -> std::io::Result<Option<HostInput>> {
        drop(self.host_end);
        let sender = tokio::net::unix::pipe::Sender::from_owned_fd(std::os::fd::OwnedFd::from(
            self.our_end,
        ))?;
        Ok(Some(Arc::new(Mutex::new(Box::new(sender)))))
    }
}

/// Without Unix descriptors to hand over, a host has no cancel channel: it cannot be
/// cancelled.
#[cfg(not(unix))]
struct CancelChannel;

#[cfg(not(unix))]
impl CancelChannel {
    fn open(_: &mut Command) -> std::io::Result<CancelChannel> {
        Ok(CancelChannel)
    }

    fn into_sender(self) -> std::io::Result<Option<HostInput>> {
        Ok(None)
    }
}

#[async_trait]
impl Session for DriverSession {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError> {
        let op = Op::Execute {
            sql: sql.into(),
            params: self.params(params),
        };
        let counted: Counted = self.ask(op).await?;
        Ok(counted.rowcount)
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        let op = Op::Query {
            sql: sql.into(),
            params: self.params(params),
        };
        let answer: Queried = self.ask(op).await?;
        let columns: Vec<_> = answer.columns.into_iter().map(Into::into).collect();
        let rows = protocol::decode_rows(&answer.rows, &columns)?;
        Ok(ResultSet { columns, rows })
    }

    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError> {
        let op = Op::Fetch {
            sql: sql.into(),
            params: self.params(params),
            batch: batch as u64,
            max_batches: max_batches as u64,
        };
        let answer: Fetched = self.ask(op).await?;
        let columns: Vec<_> = answer.columns.into_iter().map(Into::into).collect();
        let batches = answer
            .batches
            .iter()
            .map(|rows| protocol::decode_rows(rows, &columns))
            .collect::<Result<_, _>>()?;
        Ok(Batches { columns, batches })
    }

    async fn begin(&mut self) -> Result<(), ExecError> {
        self.ask::<Nothing>(Op::Begin).await.map(drop)
    }

    async fn commit(&mut self) -> Result<(), ExecError> {
        self.ask::<Nothing>(Op::Commit).await.map(drop)
    }

    async fn rollback(&mut self) -> Result<(), ExecError> {
        self.ask::<Nothing>(Op::Rollback).await.map(drop)
    }

    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        let rows = rows
            .map(|r| r.map(|r| r.iter().map(Wire::from).collect()))
            .collect::<Result<_, _>>()
            .map_err(ExecError::Client)?;
        let op = Op::Copy {
            table: table.into(),
            columns: Cow::Borrowed(columns),
            rows,
        };
        let counted: Counted = self.ask(op).await?;
        Ok(counted.rowcount.unwrap_or(0))
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        self.canceller.clone().map(|c| c as Arc<dyn Canceller>)
    }

    async fn vector(&mut self, op: &VectorOp) -> Result<VectorAnswer, ExecError> {
        let op = Op::Vector {
            operation: Cow::Borrowed(op),
        };
        let answer: Vectored = self.ask(op).await?;
        Ok(answer.answer.into())
    }

    fn plan(&mut self, calls: Vec<Planned>) {
        let style = self.style;
        let ops = calls.into_iter().map(|planned| Ahead {
            op: match planned.call {
                Call::Execute { sql, params } => Op::Execute {
                    sql: sql.into(),
                    params: Params::new(&params, style),
                },
                Call::Query { sql, params } => Op::Query {
                    sql: sql.into(),
                    params: Params::new(&params, style),
                },
                Call::Begin => Op::Begin,
                Call::Commit => Op::Commit,
                Call::Rollback => Op::Rollback,
            },
            expect: if planned.expect_error {
                Expect::Error
            } else {
                Expect::Ok
            },
        });
        self.pipeline.plan(ops);
    }

    async fn close(mut self: Box<Self>) -> Result<(), ExecError> {
        if let Some(idle) = self.idle.take() {
            let disconnected = self.ask::<Nothing>(Op::Disconnect).await.map(drop);
            if disconnected.is_ok() {
                // What it printed belongs to the session that ended.
                self.host.forget_stderr();
                if let Ok(mut hosts) = idle.lock() {
                    hosts.push(self.host);
                }
                return Ok(());
            }
            self.host.shut().await;
            return disconnected;
        }
        let closed = self.ask::<Nothing>(Op::Close).await.map(drop);
        // Told once already: a second `close` would only meet a closed pipe.
        self.host.reap().await;
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(host: Host, cancels: bool) -> DriverSession {
        DriverSession::new(host, cancels, PlaceholderStyle::Dollar, None)
    }

    #[tokio::test]
    async fn cancel_goes_on_the_cancel_channel_not_on_stdin() {
        let (requests, host_stdin) = tokio::io::duplex(1024);
        let (channel, host_cancels) = tokio::io::duplex(1024);
        let mut host = Host::over(tokio::io::empty(), requests, "stand-in");
        host.cancel = Some(Arc::new(Mutex::new(Box::new(channel))));
        let session = session(host, true);
        let canceller = session
            .canceller()
            .expect("a host with a channel can cancel");
        canceller.cancel().await.expect("written");
        let mut cancels = BufReader::new(host_cancels).lines();
        let line = cancels.next_line().await.expect("read").expect("a line");
        assert_eq!(line, r#"{"id":1,"op":"cancel"}"#);
        // Nothing went to stdin: the host may be busy running a request there.
        drop(session);
        let mut stdin = BufReader::new(host_stdin).lines();
        assert_eq!(stdin.next_line().await.expect("read"), None);
    }

    #[tokio::test]
    async fn without_a_channel_or_the_capability_nothing_cancels() {
        let host = Host::over(tokio::io::empty(), tokio::io::sink(), "stand-in");
        assert!(session(host, true).canceller().is_none());
        let mut host = Host::over(tokio::io::empty(), tokio::io::sink(), "stand-in");
        host.cancel = Some(Arc::new(Mutex::new(Box::new(tokio::io::sink()))));
        assert!(session(host, false).canceller().is_none());
    }

    /// A host started before its engine (while the specs load) is the one the engine
    /// uses; one no engine takes is ended with the run.
    #[cfg(unix)]
    #[tokio::test]
    async fn an_engine_takes_the_host_started_for_its_driver() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let starts = dir.path().join("starts");
        let driver = |name: &str| {
            let hello = format!(
                r#"{{"hello":"{}","protocol":{PROTOCOL},"driver":"{name}","driver_version":"1","runtime":"sh","capabilities":["sql"]}}"#,
                protocol::GREETING
            );
            // Says hello, counts its start, and exits after reading a line (`close`).
            let script = format!(
                "echo '{hello}'; echo {name} >> '{}'; read -r line",
                starts.display()
            );
            Driver {
                name: name.to_string(),
                command: vec!["sh".to_string(), "-c".to_string(), script],
                placeholder: PlaceholderStyle::Dollar,
                skip: None,
                conformance: None,
            }
        };
        let (taken, left) = (driver("prestarted-a"), driver("prestarted-b"));
        prestart(&taken).await.expect("started");
        prestart(&left).await.expect("started");
        let engine = DriverEngine::start(&taken, &Target::new("postgres://127.0.0.1/x"))
            .await
            .expect("an engine on the prestarted host");
        assert_eq!(engine.description, "prestarted-a 1 on sh");
        assert!(
            take_prestarted("prestarted-a").is_none(),
            "the engine took it"
        );
        discard_prestarted().await;
        assert!(
            take_prestarted("prestarted-b").is_none(),
            "ended with the run"
        );
        // One start each: the engine did not start another host.
        let counted = std::fs::read_to_string(&starts).expect("the starts");
        let mut lines: Vec<&str> = counted.lines().collect();
        lines.sort_unstable();
        assert_eq!(lines, ["prestarted-a", "prestarted-b"]);
    }

    /// A real process gets the channel as the descriptor the variable names: this one
    /// says hello, then copies the first line it reads there to its stdout.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_started_host_reads_cancel_from_the_descriptor_it_is_named() {
        let hello = format!(
            r#"{{"hello":"{}","protocol":{PROTOCOL},"driver":"sh","driver_version":"1","runtime":"sh","capabilities":["cancel"]}}"#,
            protocol::GREETING
        );
        let script = format!(
            "echo '{hello}'; [ \"${CANCEL_FD_VAR}\" = {CANCEL_FD} ] || exit 3; read -r line <&{CANCEL_FD}; echo \"$line\""
        );
        let driver = Driver {
            name: "sh".to_string(),
            command: vec!["sh".to_string(), "-c".to_string(), script],
            placeholder: PlaceholderStyle::Dollar,
            skip: None,
            conformance: None,
        };
        let mut host = Host::spawn(&driver).await.expect("started");
        let said = host.hello().await.expect("a hello");
        assert_eq!(said.capabilities, vec![Capability::Cancel]);
        let session = session(host, true);
        let canceller = session.canceller().expect("a canceller");
        canceller.cancel().await.expect("written");
        let mut host = session.host;
        assert_eq!(
            host.line().await.expect("the line it read"),
            r#"{"id":1,"op":"cancel"}"#
        );
        host.reap().await;
    }
}
