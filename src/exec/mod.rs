//! Executors: the one seam a protocol plugs into.
//!
//! An [`Engine`] is a connected view of one target (a server URL, an embedded database);
//! it opens [`Session`]s, one per named session of a case. The runner drives sessions
//! through this trait only, so adding an executor is its row in [`crate::executor::ALL`]
//! (its name, workers, handshake, sqllogictest-rs engine), a file here that implements
//! both traits, and its arm in [`native_engine`], which names every executor.

pub mod bulk;
pub mod databricks;
pub mod drda;
pub mod driver;
pub mod http;
pub mod mysql;
pub mod pinecone;
pub mod postgres;
pub mod snowflake;
pub mod spare;
pub mod sqlite;
pub mod tds;
pub mod tx;
pub mod workspace;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::executor::Executor;
use crate::step::{Param, VectorOp};
use crate::target::Target;
use crate::value::{Scalar, TypeClass, Value};
use tx::TxState;

/// Rows as a server returned them.
pub type Row = Vec<Value>;

/// A result column: its name, and its type as the protocol's metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub class: TypeClass,
    /// The protocol's own type name (`INT4`, `VARCHAR`, `fixed(38,2)`), for messages.
    pub native: String,
}

impl Column {
    pub fn new(name: impl Into<String>, class: TypeClass, native: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            class,
            native: native.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// A result read through a cursor: its columns and the batches read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batches {
    pub columns: Vec<Column>,
    pub batches: Vec<Vec<Row>>,
}

impl ResultSet {
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}

/// What [`Session::query_partial`] read: the rows, and the error that ended them early.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialResult {
    /// The columns, and the rows produced before `interrupted` (all of them without it).
    pub result: ResultSet,
    /// The statement started (it was prepared and its first step ran), produced
    /// `result.rows`, then failed with this error.
    pub interrupted: Option<DbError>,
}

impl From<ResultSet> for PartialResult {
    fn from(result: ResultSet) -> Self {
        PartialResult {
            result,
            interrupted: None,
        }
    }
}

/// A client-side feature a step may need. Executors declare the ones they really have;
/// a case needing a missing one is skipped with that reason, never passed by construction.
/// A driver host's `hello` names them in snake case (docs/driver-host.md).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Named sessions are separate connections with their own state and visibility.
    Sessions,
    /// `begin` / `commit` / `rollback`.
    Transactions,
    /// `autocommit: false`: statements are invisible to others until committed.
    AutocommitOff,
    /// `fetch:` reads a result batch by batch.
    Cursors,
    /// `cancel_after:` stops a running statement through the protocol.
    Cancel,
    /// `copy` bulk-loads rows.
    Copy,
    /// `statement` / `query` steps.
    Sql,
    /// Vector-database steps.
    Vectors,
}

impl Capability {
    pub fn describe(self) -> &'static str {
        match self {
            Capability::Sessions => "separate sessions",
            Capability::Transactions => "transactions",
            Capability::AutocommitOff => "autocommit off",
            Capability::Cursors => "cursors (fetch in batches)",
            Capability::Cancel => "cancelling a running statement",
            Capability::Copy => "bulk copy",
            Capability::Sql => "SQL",
            Capability::Vectors => "vector operations",
        }
    }

    /// What an ordinary SQL executor offers.
    pub const SQL: [Capability; 7] = [
        Capability::Sql,
        Capability::Sessions,
        Capability::Transactions,
        Capability::AutocommitOff,
        Capability::Cursors,
        Capability::Cancel,
        Capability::Copy,
    ];
}

/// Rows an HTTP or driver answer carries as JSON arrays of cells, each cell decoded by
/// `cell(column index, cell)`. `None` or a non-list is no rows.
pub fn json_rows(
    rows: Option<&serde_json::Value>,
    cell: impl Fn(usize, &serde_json::Value) -> Result<Value, ExecError>,
) -> Result<Vec<Row>, ExecError> {
    let Some(rows) = rows.and_then(serde_json::Value::as_array) else {
        return Ok(Vec::new());
    };
    rows.iter()
        .map(|row| {
            let cells = row.as_array().map(Vec::as_slice).unwrap_or_default();
            cells.iter().enumerate().map(|(i, v)| cell(i, v)).collect()
        })
        .collect()
}

/// A value the executor could not decode: an error naming the column, its type and the
/// bytes, never a NULL or a guess that an expectation might accept.
pub fn undecodable(
    column: usize,
    name: &str,
    native: &str,
    detail: &dyn fmt::Display,
    bytes: Option<&[u8]>,
) -> ExecError {
    let shown = bytes.map_or_else(String::new, |b| {
        let mut hex = crate::value::hex_text(&b[..b.len().min(64)]);
        if b.len() > 64 {
            hex.push_str(&format!("… ({} bytes)", b.len()));
        }
        format!("; bytes {hex}")
    });
    ExecError::Client(format!(
        "cannot decode column {} `{name}` of type {native}: {detail}{shown}",
        column + 1
    ))
}

/// An error the server reported: what `error:` expectations match against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbError {
    pub sqlstate: Option<String>,
    /// The native error number or code, as text (`1062`, `001003`).
    pub code: Option<String>,
    pub message: String,
    /// The client driver's exception class, when a driver host reported the error
    /// (`psycopg2.errors.UniqueViolation`).
    pub exception: Option<String>,
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

/// A sqlx error of a networked executor that is not the server's SQL error: a broken or
/// refused connection is lost; an answer the protocol does not allow is the server's
/// failure (a client-side error of the case), not the network's.
pub fn wire_error(e: sqlx::Error) -> ExecError {
    match e {
        sqlx::Error::Io(io) => ExecError::Lost(io.to_string()),
        sqlx::Error::Tls(t) => ExecError::Lost(t.to_string()),
        sqlx::Error::Protocol(p) => {
            ExecError::Client(format!("the server broke the protocol: {p}"))
        }
        other => ExecError::Client(other.to_string()),
    }
}

/// Connections a SQL engine keeps opening ahead of need ([`spare::Spares`]): a case opens
/// two (its fixtures' and its own) more often than not.
pub const SPARE_CONNECTIONS: usize = 2;

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
    /// What this executor's sessions really do; see [`Capability`].
    fn capabilities(&self) -> &[Capability];

    /// What runs the cases, when there is more to say than the executor's name (a client
    /// driver and its version).
    fn description(&self) -> Option<String> {
        None
    }

    /// Opens a session (a connection).
    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError>;

    /// Whether the target accepts a connection now (`run --wait` polls it): by default a
    /// session opens and closes; engines whose sessions connect lazily ask the server.
    async fn ready(&self) -> Result<(), ExecError> {
        let options = SessionOptions {
            case_key: "helios-matrix-ready".to_string(),
            autocommit: true,
        };
        let closed = self.open(&options).await?.close().await;
        self.end_case(&options.case_key).await;
        closed
    }

    /// Called after a case's sessions are closed; engines that keep per-case state (the
    /// scratch SQLite database) drop it here.
    async fn end_case(&self, _case_key: &str) {}

    /// Called once the engine's last case ended: closes whatever it keeps open.
    async fn close(&self) {}
}

/// Stops a running call from another task, through the protocol's own cancel path.
#[async_trait]
pub trait Canceller: Send + Sync {
    async fn cancel(&self) -> Result<(), ExecError>;
}

/// One connection of a case.
#[async_trait]
pub trait Session: Send {
    /// Runs a statement; returns the affected row count, or `None` when the protocol's
    /// answer does not say (an executor never invents one).
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError>;

    /// Runs a query and reads its whole result.
    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError>;

    /// Runs a query as [`Session::query`] does, but tells an error that stopped the
    /// statement from starting (it did not prepare) from one raised while its rows were
    /// being produced: the latter comes back as [`PartialResult::interrupted`] with the rows
    /// read before it. The SQLite corpus needs this: its runner ends the rows at such an
    /// error (`SELECT sum(x)` overflowing returns no rows) and fails only a statement that
    /// does not prepare.
    ///
    /// By default this is `query`'s answer, every error a plain error: executors that
    /// cannot tell the two apart keep it (all but SQLite's, today).
    async fn query_partial(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<PartialResult, ExecError> {
        self.query(sql, params).await.map(PartialResult::from)
    }

    /// Reads a result through a cursor in batches of `batch` rows, stopping after
    /// `max_batches` batches (or at the end). Each returned vector is one batch.
    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError>;

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

    /// The calls the case will make next on this session, in order, as far as it knows
    /// them. A session may send them ahead, before it is asked (a driver host pipelines
    /// them), as long as each call is answered with what the server said to that very
    /// call, and none sent ahead runs after one that ended otherwise than
    /// [`Planned::expect_error`] says. The plan is only a forecast: a call the session is
    /// asked for that is not the next planned one drops what is left of it. By default
    /// it is ignored.
    fn plan(&mut self, _calls: Vec<Planned>) {}

    /// Closes the session, rolling back anything still open.
    async fn close(self: Box<Self>) -> Result<(), ExecError>;
}

/// A call a case will make on a session if every step before it goes as the spec says
/// ([`Session::plan`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub call: Call,
    /// The spec expects the server to refuse it (the step has an `error:` expectation).
    pub expect_error: bool,
}

/// A session call that can be planned: a statement, a query read whole, or a transaction
/// control.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Execute { sql: String, params: Vec<Param> },
    Query { sql: String, params: Vec<Param> },
    Begin,
    Commit,
    Rollback,
}

/// Reads a row stream into batches of `batch` rows, stopping after `max_batches`: the rows
/// after that are never pulled, which is what makes a lazily read stream a cursor.
pub async fn read_batches<S, R, E>(
    mut stream: S,
    batch: usize,
    max_batches: usize,
    decode: impl Fn(&R) -> Result<Row, ExecError>,
    columns: impl Fn(&R) -> Vec<Column>,
    map_error: impl Fn(E) -> ExecError,
) -> Result<Batches, ExecError>
where
    S: futures_util::Stream<Item = Result<R, E>> + Unpin,
{
    use futures_util::TryStreamExt;
    let batch = batch.max(1);
    let mut batches = Vec::new();
    let mut current = Vec::with_capacity(batch);
    let mut described = Vec::new();
    while batches.len() < max_batches {
        match stream.try_next().await.map_err(&map_error)? {
            Some(row) => {
                if described.is_empty() {
                    described = columns(&row);
                }
                current.push(decode(&row)?);
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
    Ok(Batches {
        columns: described,
        batches,
    })
}

/// The columns of a prepared statement: how a query that returned no rows (so no row to
/// read them from) still reports its columns and their types.
pub fn statement_columns<S: sqlx::Statement>(
    statement: &S,
    class: impl Fn(&str) -> TypeClass,
) -> Vec<Column> {
    sqlx_columns(statement.columns(), class)
}

/// sqlx column descriptions as [`Column`]s, classed by the executor's type mapping.
pub fn sqlx_columns<C: sqlx::Column>(
    columns: &[C],
    class: impl Fn(&str) -> TypeClass,
) -> Vec<Column> {
    use sqlx::TypeInfo as _;
    columns
        .iter()
        .map(|c| {
            let native = c.type_info().name().to_string();
            Column::new(c.name(), class(&native), native)
        })
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
    step: fn(&mut TxState) -> tx::Control,
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
    /// Ranked matches of a query, and the index's similarity metric when the executor
    /// knows it (it decides which way scores must be ordered).
    Matches {
        matches: Vec<VectorMatch>,
        metric: Option<String>,
    },
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

/// The engine for a protocol: the client driver's host when the protocol runs through
/// one, else the executor the registry names.
pub async fn engine_for(
    protocol: &crate::registry::Protocol,
    target: &Target,
) -> Result<Arc<dyn Engine>, ExecError> {
    match &protocol.driver {
        Some(driver) => Ok(Arc::new(driver::DriverEngine::start(driver, target).await?)),
        None => native_engine(protocol.executor, target),
    }
}

/// The built-in engine of an executor. Every executor is named here, so a new one must
/// say whether it has an engine; one without says so (its row's `built_in` is false).
pub fn native_engine(executor: Executor, target: &Target) -> Result<Arc<dyn Engine>, ExecError> {
    match executor {
        Executor::Sqlite => Ok(Arc::new(sqlite::SqliteEngine::new(target)?)),
        Executor::Postgres => Ok(Arc::new(postgres::PostgresEngine::new(target)?)),
        Executor::Mysql => Ok(Arc::new(mysql::MySqlEngine::new(target)?)),
        Executor::Pinecone => Ok(Arc::new(pinecone::PineconeEngine::new(target)?)),
        Executor::Databricks => Ok(Arc::new(databricks::DatabricksEngine::new(target)?)),
        Executor::Snowflake => Ok(Arc::new(snowflake::SnowflakeEngine::new(target)?)),
        Executor::Drda => Ok(Arc::new(drda::DrdaEngine::new(target)?)),
        Executor::Tds => Ok(Arc::new(tds::TdsEngine::new(target)?)),
        Executor::Tns => Err(ExecError::Unsupported(format!(
            "executor `{executor}` is not built into this version of helios-matrix"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An executor's row says it has a built-in engine exactly when `native_engine` has one.
    #[tokio::test]
    async fn the_table_says_which_executors_have_an_engine() {
        for row in &crate::executor::ALL {
            let built = native_engine(row.executor, &Target::new("sqlite::memory:"));
            let unsupported = matches!(&built, Err(ExecError::Unsupported(_)));
            assert_eq!(unsupported, !row.built_in, "{}", row.name);
            if let Err(ExecError::Unsupported(m)) = &built {
                assert_eq!(
                    m,
                    &format!(
                        "executor `{}` is not built into this version of helios-matrix",
                        row.name
                    )
                );
            }
        }
    }
}
