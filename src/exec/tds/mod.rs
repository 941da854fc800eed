//! SQL Server over TDS 7.4, through tiberius (pure Rust, driven over tokio through
//! tokio-util's compat layer).
//!
//! A session is one TDS connection, logged in with SQL Server authentication. Queries
//! without parameters go as SQL batches (SQL_BATCH), as a plain client sends them; with
//! parameters they are RPC calls of `sp_executesql` with typed `@P1…` parameters (integers
//! as `bigint`, floats as `float`, booleans as `bit`, text as `nvarchar`, NULL as an
//! `nvarchar` NULL). Statements are batches too, except that an INSERT, UPDATE, DELETE or
//! MERGE goes through `sp_executesql` even without parameters: tiberius reports a DONE
//! token's row count only for RPC calls, and `count:` needs it. (A batch's effects on the
//! session, `#temp` tables and `SET` options among them, would end with an
//! `sp_executesql` call's scope: only DML, which has none, takes that path.)
//!
//! Errors are the server's ERROR tokens: the SQL Server error number is [`DbError::code`]
//! (TDS carries no SQLSTATE; ODBC drivers derive theirs on the client). Transactions are
//! T-SQL batches (`BEGIN TRANSACTION`, `COMMIT TRANSACTION`, `ROLLBACK TRANSACTION`), not
//! TDS transaction-manager requests; with autocommit off the session sends `BEGIN
//! TRANSACTION` before its first statement and again after each commit or rollback, as
//! pymssql does. `fetch` reads rows off the wire as they are needed; a query's later result
//! sets are an error (a `query` step checks one). `copy` is multi-row INSERTs with
//! parameters in a transaction of their own unless one is open.
//!
//! A cancel is a TDS Attention on the session's own connection (TDS has no cancel from
//! another connection). `cancel_after` wakes the running call, which stops reading, sends
//! the Attention and reads up to the server's DONE with DONE_ATTN; that acknowledgement is
//! reported as error 3617, the number SQL Server records a cancelled request under (it
//! sends none to the client). A call a timeout cut off has left the connection free: the
//! canceller sends the Attention itself, so the server stops working on it, and closes the
//! connection, whose state is unknown. A server that does not acknowledge leaves the
//! connection closed too.
//!
//! Target: `mssql://USER:PASSWORD@HOST:1433/DATABASE` (or `sqlserver://`); no database
//! keeps the login's default. TLS is not built in (tiberius's TLS backends need aws-lc-rs
//! or OpenSSL beside the ring the project uses), so a target asking for it with
//! `?encrypt=true` is refused; the client offers ENCRYPT_NOT_SUP.
//!
//! Here: the engine and the session. `params.rs` types the parameters, `decode.rs` reads
//! columns and values, `cancel.rs` sends the Attention.

mod cancel;
mod decode;
mod params;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use tiberius::{AuthMethod, Config, EncryptionLevel, QueryItem};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Notify};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::bulk;
use super::spare::Spares;
use super::tx::{self, TxState};
use super::{
    Batches, Canceller, Capability, DbError, Engine, ExecError, ResultSet, Session, SessionOptions,
};
use crate::secret::mask;
use crate::step::Param;
use crate::target::Target;
use crate::value::Scalar;
use cancel::{Running, Shared, attended};
use decode::{columns, decode_row, read_result};
use params::{Bound, bound, references};

type Client = tiberius::Client<Compat<TcpStream>>;

/// SQL Server's port when the target names none.
const DEFAULT_PORT: u16 = 1433;

/// SQL Server takes at most 2,100 parameters per call and 1,000 rows per VALUES list.
const MAX_COPY_PARAMS: usize = 2_000;
const MAX_COPY_ROWS: usize = 1_000;

/// How long the engine's goodbye to each spare connection may take.
const GOODBYE: Duration = Duration::from_secs(2);

/// SQL Server's number for a request ended by an Attention (SYS_ATTN).
const CANCELLED: &str = "3617";

pub struct TdsEngine {
    /// Connections opening ahead of the cases that take them.
    spares: Spares<Client>,
}

impl TdsEngine {
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let login = Arc::new(login(target)?);
        let spares = Spares::new(super::SPARE_CONNECTIONS, move || {
            let login = login.clone();
            async move { connect(&login).await }
        });
        Ok(Self { spares })
    }
}

/// Where a session connects and how it logs in.
struct Login {
    host: String,
    port: u16,
    config: Config,
}

/// The login a target URL describes.
fn login(target: &Target) -> Result<Login, ExecError> {
    let invalid = |why: &str| ExecError::Connect(format!("invalid target {target}: {why}"));
    let url = reqwest::Url::parse(target.expose_url()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "mssql" | "sqlserver") {
        return Err(invalid(
            "a SQL Server target is mssql://USER:PASSWORD@HOST:PORT/DATABASE",
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| invalid("it names no host"))?
        .trim_matches(['[', ']'])
        .to_string();
    let (user, password) = super::http::credentials(target);
    let user = user.ok_or_else(|| invalid("it names no user (SQL Server authentication)"))?;
    let port = url.port().unwrap_or(DEFAULT_PORT);
    let mut config = Config::new();
    config.host(&host);
    config.port(port);
    config.authentication(AuthMethod::sql_server(user, password.unwrap_or_default()));
    if let Some(database) = target.path_segments().into_iter().next() {
        config.database(database);
    }
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("encrypt", "false" | "no" | "off") => {}
            ("encrypt", _) => {
                return Err(invalid(
                    "TLS is not built into the tds executor (tiberius's TLS backends need aws-lc-rs or OpenSSL); use a plain-TCP target",
                ));
            }
            (other, _) => {
                return Err(invalid(&format!(
                    "unknown parameter `{other}` (the tds executor takes `encrypt=false`)"
                )));
            }
        }
    }
    // No TLS feature: the only level tiberius offers then, and the one a server without
    // TLS (ENCRYPT_NOT_SUP) accepts.
    config.encryption(EncryptionLevel::NotSupported);
    config.application_name("helios-matrix");
    // The runner bounds every call (step and case timeouts, the cancel grace); a bound of
    // tiberius's own would cut a long step short and leave the connection out of step.
    config.command_timeout(None);
    Ok(Login { host, port, config })
}

async fn connect(login: &Login) -> Result<Client, ExecError> {
    let tcp = TcpStream::connect((login.host.as_str(), login.port))
        .await
        .map_err(|e| ExecError::Connect(format!("cannot connect: {e}")))?;
    // Small request/response exchanges: no Nagle delay.
    let _ = tcp.set_nodelay(true);
    Client::connect(login.config.clone(), tcp.compat_write())
        .await
        .map_err(|e| match e {
            tiberius::error::Error::Server(token) => ExecError::Connect(mask(&format!(
                "the server refused the login: [code {}] {}",
                token.code(),
                token.message()
            ))),
            other => ExecError::Connect(mask(&other.to_string())),
        })
}

#[async_trait]
impl Engine for TdsEngine {
    fn capabilities(&self) -> &[Capability] {
        &Capability::SQL
    }

    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        let client = self.spares.take().await?;
        Ok(Box::new(TdsSession {
            shared: Arc::new(Shared {
                client: Mutex::new(Some(client)),
                notify: Notify::new(),
                running: AtomicBool::new(false),
            }),
            tx: TxState::new(options.autocommit),
        }))
    }

    async fn close(&self) {
        for client in self.spares.drain().await {
            let _ = tokio::time::timeout(GOODBYE, client.close()).await;
        }
    }
}

pub struct TdsSession {
    shared: Arc<Shared>,
    tx: TxState,
}

/// Why a call on the connection failed: tiberius's error, or one of the executor's own.
enum Fail {
    Tds(tiberius::error::Error),
    Exec(ExecError),
}

impl From<tiberius::error::Error> for Fail {
    fn from(e: tiberius::error::Error) -> Self {
        Fail::Tds(e)
    }
}

impl From<ExecError> for Fail {
    fn from(e: ExecError) -> Self {
        Fail::Exec(e)
    }
}

impl Fail {
    /// Whether the connection is still in step with the server after this: a server
    /// error is, and so is a value the executor could not decode (tiberius skips the rest
    /// of an answer before the next request); a broken connection is not, nor one whose
    /// answer tiberius could not read.
    fn keeps_connection(&self) -> bool {
        match self {
            Fail::Tds(tiberius::error::Error::Server(_)) => true,
            Fail::Tds(_) => false,
            Fail::Exec(e) => !matches!(e, ExecError::Lost(_)),
        }
    }

    fn into_exec(self) -> ExecError {
        use tiberius::error::Error;
        match self {
            Fail::Exec(e) => e,
            Fail::Tds(Error::Server(token)) => ExecError::Db(DbError {
                code: Some(token.code().to_string()),
                message: token.message().to_string(),
                ..DbError::default()
            }),
            Fail::Tds(Error::Io { message, .. }) => ExecError::Lost(message),
            Fail::Tds(Error::Tls(m)) => ExecError::Lost(m),
            Fail::Tds(Error::Protocol(m)) => ExecError::Client(format!(
                "the server broke the protocol: {m}; the connection was closed"
            )),
            Fail::Tds(other) => ExecError::Client(format!("{other}; the connection was closed")),
        }
    }
}
/// Sends a query: a SQL batch without parameters, an `sp_executesql` call with them.
async fn send_query<'a>(
    client: &'a mut Client,
    sql: &'a str,
    bound: &'a [Bound],
) -> Result<tiberius::QueryStream<'a>, tiberius::error::Error> {
    if bound.is_empty() {
        client.simple_query(sql).await
    } else {
        let refs = references(bound);
        client.query(sql, &refs).await
    }
}

/// Whether a statement is DML, whose row count only an RPC call reports (the first
/// keyword, after blanks, comments and opening parentheses).
fn is_dml(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(line) = rest.strip_prefix("--") {
            rest = line.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(block) = rest.strip_prefix("/*") {
            rest = block.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    ["INSERT", "UPDATE", "DELETE", "MERGE"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

impl TdsSession {
    /// Runs `op` on the connection, cancellable through its [`Shared`] canceller. A
    /// broken or out-of-step connection is closed, so the session reports it rather than
    /// reuse it.
    async fn call<T>(
        &mut self,
        op: impl AsyncFnOnce(&mut Client) -> Result<T, Fail>,
    ) -> Result<T, ExecError> {
        let shared = self.shared.clone();
        // Listening before the call takes the connection: a cancel from then on reaches it.
        let notified = shared.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        shared.running.store(true, Ordering::SeqCst);
        let _running = Running(&shared.running);
        let mut guard = shared.client.lock().await;
        let client = guard.as_mut().ok_or_else(|| {
            ExecError::Lost(
                "the connection broke, or went out of step with the server, earlier in this session"
                    .to_string(),
            )
        })?;
        match attended(client, notified, op).await {
            Ok(value) => Ok(value),
            Err(fail) => {
                if !fail.keeps_connection() {
                    *guard = None;
                }
                Err(fail.into_exec())
            }
        }
    }

    /// Whether the session still has its connection.
    async fn connected(&self) -> bool {
        self.shared.client.lock().await.is_some()
    }

    /// A SQL batch whose answer is read to its end (an error in it included) and dropped.
    async fn batch(&mut self, sql: &str) -> Result<(), ExecError> {
        self.call(async |client| {
            let mut stream = client.simple_query(sql).await?;
            while stream.try_next().await?.is_some() {}
            Ok(())
        })
        .await
    }

    /// An `sp_executesql` call; the rows it affected, by the server's DONE counts.
    async fn rpc_execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, ExecError> {
        let bound = bound(params);
        self.call(async |client| {
            let refs = references(&bound);
            let done = client.execute(sql, &refs).await?;
            Ok(done.total())
        })
        .await
    }

    async fn before_statement(&mut self) -> Result<(), ExecError> {
        tx::begin_implicitly(self).await
    }
}

#[async_trait]
impl Session for TdsSession {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError> {
        self.before_statement().await?;
        if params.is_empty() && !is_dml(sql) {
            // tiberius hands over no row count for a batch.
            return self.batch(sql).await.map(|()| None);
        }
        self.rpc_execute(sql, params).await.map(Some)
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        self.before_statement().await?;
        let bound = bound(params);
        self.call(async |client| {
            let stream = send_query(client, sql, &bound).await?;
            read_result(stream).await
        })
        .await
    }

    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError> {
        self.before_statement().await?;
        let bound = bound(params);
        self.call(async |client| {
            let stream = send_query(client, sql, &bound).await?;
            // Rows are read off the socket as they are needed; what the server sent beyond
            // the last batch is skipped before the connection's next request.
            let batch = batch.max(1);
            let mut out = Batches::default();
            let mut current = Vec::with_capacity(batch);
            let mut stream = stream;
            while out.batches.len() < max_batches {
                match stream.try_next().await? {
                    Some(QueryItem::Metadata(meta)) if meta.result_index() == 0 => {
                        out.columns = columns(meta.columns());
                    }
                    Some(QueryItem::Metadata(_)) => {
                        return Err(Fail::Exec(ExecError::Client(
                            "the batch returned more than one result set; a fetch reads one"
                                .to_string(),
                        )));
                    }
                    Some(QueryItem::Row(row)) => {
                        current.push(decode_row(row, &out.columns)?);
                        if current.len() == batch {
                            out.batches.push(std::mem::take(&mut current));
                        }
                    }
                    None => {
                        if !current.is_empty() {
                            out.batches.push(current);
                        }
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    fn transactions(&mut self) -> Option<&mut TxState> {
        Some(&mut self.tx)
    }

    async fn send_control(&mut self, sql: &'static str) -> Result<(), ExecError> {
        // T-SQL's `BEGIN` opens a block, not a transaction.
        let tsql = match sql {
            "BEGIN" => "BEGIN TRANSACTION",
            "COMMIT" => "COMMIT TRANSACTION",
            "ROLLBACK" => "ROLLBACK TRANSACTION",
            other => other,
        };
        self.batch(tsql).await
    }

    /// Multi-row INSERTs with parameters, in a transaction of their own unless one is open.
    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        self.before_statement().await?;
        tx::in_own_transaction(self, async |s: &mut Self| {
            let mut loaded = 0u64;
            for batch in
                bulk::insert_batches(table, columns, rows, MAX_COPY_ROWS, MAX_COPY_PARAMS, |n| {
                    format!("@P{n}")
                })
            {
                let batch = batch.map_err(ExecError::Client)?;
                s.rpc_execute(&batch.sql, &batch.params).await?;
                // The statement succeeded, so its rows are in (the count is the batch's,
                // not a DONE count a server might leave out).
                loaded += batch.rows as u64;
            }
            Ok(loaded)
        })
        .await
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        Some(self.shared.clone())
    }

    async fn close(mut self: Box<Self>) -> Result<(), ExecError> {
        if self.tx.is_open() && self.connected().await {
            let _ = self.rollback().await;
        }
        let client = self.shared.client.lock().await.take();
        match client {
            Some(client) => client.close().await.map_err(|e| Fail::Tds(e).into_exec()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dml_goes_through_sp_executesql_and_the_rest_as_batches() {
        for dml in [
            "INSERT INTO t VALUES (1)",
            "  update t SET a = 1",
            "-- why\nDELETE FROM t",
            "/* c */ (MERGE INTO t USING s ON 1 = 1 WHEN MATCHED THEN DELETE;)",
        ] {
            assert!(is_dml(dml), "{dml}");
        }
        for other in [
            "CREATE TABLE #t (a INT)",
            "SET NOCOUNT ON",
            "BEGIN TRANSACTION",
            "SELECT 1",
            "INSERTED",
            "",
            "/* unterminated",
        ] {
            assert!(!is_dml(other), "{other}");
        }
    }

    #[test]
    fn targets_say_what_is_wrong_without_the_password() {
        let err = |url: &str| match login(&Target::new(url)) {
            Err(ExecError::Connect(m)) => m,
            Ok(_) => panic!("{url} was accepted"),
            Err(other) => panic!("{url}: {other}"),
        };
        assert!(err("mssql://sa:secret@127.0.0.1:1433/db?encrypt=true").contains("TLS"));
        assert!(err("mssql://sa:secret@127.0.0.1/db?trust=1").contains("unknown parameter"));
        assert!(err("postgres://sa:secret@127.0.0.1/db").contains("mssql://"));
        assert!(err("mssql://127.0.0.1/db").contains("no user"));
        for url in [
            "mssql://sa:secret@127.0.0.1/db?encrypt=true",
            "tds://sa:secret@h/d",
        ] {
            assert!(!err(url).contains("secret"), "{url}");
        }
        let login = login(&Target::new("sqlserver://sa:secret@[::1]/db?encrypt=false"))
            .expect("a plain target");
        assert_eq!((login.host.as_str(), login.port), ("::1", 1433));
    }
}
