//! Executors: the one seam a protocol plugs into.
//!
//! An [`Engine`] is a connected view of one target (a server URL, an embedded database);
//! it opens [`Session`]s, one per named session of a case. The runner drives sessions
//! through this trait only, so adding a protocol is adding a file here that implements
//! both traits, and one line in [`engine_for`].

pub mod bulk;
pub mod databricks;
pub mod http;
pub mod mysql;
pub mod pinecone;
pub mod postgres;
pub mod snowflake;
pub mod sqlite;
pub mod tx;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::plan::{Param, VectorOp};
use crate::target::Target;
use crate::value::{Scalar, Value};
use tx::TxState;

/// Rows as a server returned them.
pub type Row = Vec<Value>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// An error the server reported: what `error:` expectations match against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbError {
    pub sqlstate: Option<String>,
    /// The native error number or code, as text (`1062`, `001003`).
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.sqlstate, &self.code) {
            (Some(s), Some(c)) => write!(f, "[SQLSTATE {s}, code {c}] {}", self.message),
            (Some(s), None) => write!(f, "[SQLSTATE {s}] {}", self.message),
            (None, Some(c)) => write!(f, "[code {c}] {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Why an executor call did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecError {
    /// The server answered with an error.
    Db(DbError),
    /// The target could not be reached or refused the login.
    Connect(String),
    /// The connection broke during a call; the session is unusable.
    Lost(String),
    /// The executor does not implement this operation.
    Unsupported(String),
    /// Anything else on the client side (decoding, protocol violations).
    Client(String),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Db(e) => write!(f, "server error: {e}"),
            ExecError::Connect(m) => f.write_str(m),
            ExecError::Lost(m) => write!(f, "connection lost: {m}"),
            ExecError::Unsupported(m) => write!(f, "not supported by this executor: {m}"),
            ExecError::Client(m) => write!(f, "client error: {m}"),
        }
    }
}

impl std::error::Error for ExecError {}

/// What the runner tells an engine about the session it opens.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// A key unique to the running case; engines that create a database per case (the
    /// in-memory SQLite default) share it between the case's sessions.
    pub case_key: String,
    /// `false`: the session starts transactions implicitly, DB-API style.
    pub autocommit: bool,
}

/// A connected target.
#[async_trait]
pub trait Engine: Send + Sync {
    /// Opens a session (a connection).
    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError>;

    /// Called after a case's sessions are closed; engines that keep per-case state (the
    /// scratch SQLite database) drop it here.
    async fn end_case(&self, _case_key: &str) {}
}

/// Stops a running call from another task, through the protocol's own cancel path.
#[async_trait]
pub trait Canceller: Send + Sync {
    async fn cancel(&self) -> Result<(), ExecError>;
}

/// One connection of a case.
#[async_trait]
pub trait Session: Send {
    /// Runs a statement; returns the affected row count.
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, ExecError>;

    /// Runs a query and reads its whole result.
    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError>;

    /// Reads a result through a cursor in batches of `batch` rows, stopping after
    /// `max_batches` batches (or at the end). Each returned vector is one batch.
    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Vec<Vec<Row>>, ExecError>;

    /// The session's transaction bookkeeping; `None` when the protocol has no transactions.
    fn transactions(&mut self) -> Option<&mut TxState> {
        None
    }

    /// Sends `BEGIN`, `COMMIT` or `ROLLBACK` the way the protocol does.
    async fn send_control(&mut self, sql: &'static str) -> Result<(), ExecError> {
        Err(ExecError::Unsupported(format!("transactions ({sql})")))
    }

    async fn begin(&mut self) -> Result<(), ExecError> {
        control(self, TxState::begin).await
    }

    async fn commit(&mut self) -> Result<(), ExecError> {
        control(self, TxState::commit).await
    }

    async fn rollback(&mut self) -> Result<(), ExecError> {
        control(self, TxState::rollback).await
    }

    /// Bulk-loads rows through the protocol's fastest path; returns rows loaded.
    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError>;

    /// A handle that cancels this session's running call, when the protocol can.
    fn canceller(&self) -> Option<Arc<dyn Canceller>>;

    /// Runs a vector-database operation.
    async fn vector(&mut self, op: &VectorOp) -> Result<VectorAnswer, ExecError> {
        Err(ExecError::Unsupported(format!(
            "vector operation `{}`",
            op.name()
        )))
    }

    /// Closes the session, rolling back anything still open.
    async fn close(self: Box<Self>) -> Result<(), ExecError>;
}

/// Reads a row stream into batches of `batch` rows, stopping after `max_batches`: the rows
/// after that are never pulled, which is what makes a lazily read stream a cursor.
pub async fn read_batches<S, R, E>(
    mut stream: S,
    batch: usize,
    max_batches: usize,
    decode: impl Fn(&R) -> Row,
    map_error: impl Fn(E) -> ExecError,
) -> Result<Vec<Vec<Row>>, ExecError>
where
    S: futures_util::Stream<Item = Result<R, E>> + Unpin,
{
    use futures_util::TryStreamExt;
    let batch = batch.max(1);
    let mut batches = Vec::new();
    let mut current = Vec::with_capacity(batch);
    while batches.len() < max_batches {
        match stream.try_next().await.map_err(&map_error)? {
            Some(row) => {
                current.push(decode(&row));
                if current.len() == batch {
                    batches.push(std::mem::take(&mut current));
                }
            }
            None => {
                if !current.is_empty() {
                    batches.push(current);
                }
                break;
            }
        }
    }
    Ok(batches)
}

/// Column names of a prepared statement: how a query that returned no rows (so no row to
/// read them from) still reports its columns.
pub fn statement_columns<S: sqlx::Statement>(statement: &S) -> Vec<String> {
    use sqlx::Column as _;
    statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect()
}

/// Binds parameters as the types they were written with (integer, float, boolean, text;
/// NULL as untyped text), for sqlx drivers whose servers convert on their side.
pub fn bind_as_written<DB: sqlx::Database>(
    params: &[Param],
) -> Result<<DB as sqlx::Database>::Arguments, ExecError>
where
    <DB as sqlx::Database>::Arguments: Default,
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    use sqlx::Arguments as _;
    let mut args = <DB as sqlx::Database>::Arguments::default();
    for p in params {
        let added = match &p.value {
            Scalar::Null => args.add(Option::<String>::None),
            Scalar::Bool(b) => args.add(*b),
            Scalar::Int(i) => args.add(*i),
            Scalar::Float(f) => args.add(*f),
            Scalar::Text(s) => args.add(s.clone()),
        };
        added.map_err(|e| ExecError::Client(format!("cannot bind parameter: {e}")))?;
    }
    Ok(args)
}

/// A transaction-control step through the session's bookkeeping.
async fn control<S: Session + ?Sized>(
    session: &mut S,
    step: fn(&mut TxState) -> tx::Send,
) -> Result<(), ExecError> {
    let Some(state) = session.transactions() else {
        return Err(ExecError::Unsupported("transactions".to_string()));
    };
    match step(state).sql() {
        Some(sql) => session.send_control(sql).await,
        None => Ok(()),
    }
}

/// The answer to a vector operation, in the shape the checks need.
#[derive(Debug, Clone, PartialEq)]
pub enum VectorAnswer {
    Done,
    Indexes(Vec<String>),
    /// Ranked matches of a query.
    Matches(Vec<VectorMatch>),
    /// Ids returned by a fetch.
    Vectors(Vec<String>),
    /// Upserted count.
    Upserted(u64),
    /// A described object (index description, stats).
    Json(serde_json::Value),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatch {
    pub id: String,
    pub score: f64,
    pub metadata: Option<serde_json::Value>,
}

/// The engine for an executor name from the registry.
pub async fn engine_for(executor: &str, target: &Target) -> Result<Arc<dyn Engine>, ExecError> {
    match executor {
        "sqlite" => Ok(Arc::new(sqlite::SqliteEngine::new(target)?)),
        "postgres" => Ok(Arc::new(postgres::PostgresEngine::new(target)?)),
        "mysql" => Ok(Arc::new(mysql::MySqlEngine::new(target)?)),
        "pinecone" => Ok(Arc::new(pinecone::PineconeEngine::new(target)?)),
        "databricks" => Ok(Arc::new(databricks::DatabricksEngine::new(target)?)),
        "snowflake" => Ok(Arc::new(snowflake::SnowflakeEngine::new(target)?)),
        other => Err(ExecError::Unsupported(format!(
            "executor `{other}` is not built into this version of helios-matrix"
        ))),
    }
}
