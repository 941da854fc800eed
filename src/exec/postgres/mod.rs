//! PostgreSQL over its own wire protocol, through sqlx.
//!
//! Statements without parameters go over the simple query protocol (one round trip, text
//! results); statements with parameters over the extended protocol, with the parameters
//! typed the way the server inferred them (as asyncpg does), so `NULL` or a string bind to
//! whatever column they meet. `fetch` reads through a real server-side cursor (`DECLARE` /
//! `FETCH n`), `copy` through `COPY … FROM STDIN`, and `cancel_after` through the
//! protocol's own CancelRequest on a connection of its own, as libpq's `PQcancel` sends it
//! (the backend key comes from the start-up's BackendKeyData).
//!
//! Sessions start as a plain client's do: the start-up packet carries what libpq's does
//! (user, database, `client_encoding`, `application_name`, the target's `options`; the
//! vendored sqlx-postgres leaves out sqlx's `DateStyle` and `TimeZone`), nothing is sent
//! before the first step, no `extra_float_digits`, no `SET` of our own, and statements are
//! unnamed, so a transaction-pooling proxy (PgBouncer) or a server that
//! scopes statement names differently never sees our statement names collide. A statement's
//! parameter types come from one simple-query message (`PREPARE`, a look at
//! `pg_prepared_statements`, `DEALLOCATE`), which a pooler keeps on one server connection.
//! A target with `statement-cache-capacity=N` opts into sqlx's named, cached statements.
//! sqlx parses and binds a statement in two round trips; a target with
//! `pooler=transaction` (a transaction-pooling proxy, which may send the two to different
//! server connections) runs a statement with parameters outside a transaction inside one.

mod cancel;
mod decode;
mod encode;
mod param_types;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{AssertSqlSafe, Connection, Executor, SqlSafeStr};

use self::cancel::PgCanceller;
use self::decode::{class_of, result_set};
use self::encode::copy_field;
use self::param_types::Described;
use super::spare::Spares;
use super::tx::{self, TxState};
use super::{
    Batches, Canceller, Capability, DbError, Engine, ExecError, ResultSet, Session, SessionOptions,
};
use crate::step::Param;
use crate::target::Target;
use crate::value::Scalar;

/// The cursor `fetch` steps read through.
const CURSOR: &str = "helios_matrix_cursor";

/// COPY data is sent in chunks of about this many bytes.
const COPY_CHUNK: usize = 64 * 1024;

/// Connections whose sessions ended and were reset.
type ResetPool = Arc<Mutex<Vec<PgConnection>>>;

/// The application name a session gives when the target names none (libpq's clients give
/// their program's name, psql `psql`).
const APPLICATION_NAME: &str = "helios-matrix";

pub struct PostgresEngine {
    options: PgConnectOptions,
    /// Connections opening ahead of the cases that take them.
    spares: Spares<PgConnection>,
    /// Connections of ended sessions, reset by `DISCARD ALL`; `None` where none is reused.
    reset: Option<ResetPool>,
    /// Calls on all of the engine's sessions, numbered (see [`Described`]).
    calls: Arc<AtomicU64>,
    /// The target asked for sqlx's named, cached statements (`statement-cache-capacity`).
    named_statements: bool,
    /// The target is a transaction-pooling proxy (`pooler=transaction`).
    transaction_pooler: bool,
}

impl PostgresEngine {
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let options = PgConnectOptions::from_str(target.expose_url()).map_err(|e| {
            ExecError::Connect(format!(
                "invalid target: {}",
                crate::secret::mask(&e.to_string())
            ))
        })?;
        let named_statements =
            super::http::query_param(target, "statement-cache-capacity").is_some();
        let transaction_pooler = transaction_pooler(target)?;
        let options = options.extra_float_digits(None);
        let options = match options.get_application_name() {
            Some(_) => options,
            None => options.application_name(APPLICATION_NAME),
        };
        let options = if named_statements {
            options
        } else {
            options.statement_cache_capacity(0)
        };
        let spares = {
            let options = options.clone();
            Spares::new(super::SPARE_CONNECTIONS, move || {
                let options = options.clone();
                async move { connect(&options).await }
            })
        };
        // sqlx's named statements would outlive DISCARD ALL in its cache, and a pooler's
        // server connections are not the session's: reuse only plain, direct connections.
        let reset = (!named_statements && !transaction_pooler).then(Default::default);
        Ok(Self {
            options,
            spares,
            reset,
            calls: Arc::default(),
            named_statements,
            transaction_pooler,
        })
    }
}

/// Whether the target is a transaction-pooling proxy (`pooler=transaction`).
pub fn transaction_pooler(target: &Target) -> Result<bool, ExecError> {
    match super::http::query_param(target, "pooler").as_deref() {
        None => Ok(false),
        Some("transaction") => Ok(true),
        Some(other) => Err(ExecError::Connect(format!(
            "invalid target: `pooler={other}` (the one value is `transaction`)"
        ))),
    }
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, ExecError> {
    PgConnection::connect_with(options)
        .await
        .map_err(|e| ExecError::Connect(crate::secret::mask(&e.to_string())))
}

#[async_trait]
impl Engine for PostgresEngine {
    fn capabilities(&self) -> &[Capability] {
        &Capability::SQL
    }

    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        let reused = self
            .reset
            .as_ref()
            .and_then(|idle| idle.lock().unwrap_or_else(PoisonError::into_inner).pop());
        let conn = match reused {
            Some(reset) => reset,
            None => self.spares.take().await?,
        };
        let (pid, key) = conn.backend_key();
        Ok(Box::new(PgSession {
            conn: Some(conn),
            reset: self.reset.clone(),
            calls: self.calls.clone(),
            call: 0,
            described: None,
            named_statements: self.named_statements,
            transaction_pooler: self.transaction_pooler,
            pinning: false,
            tx: TxState::new(options.autocommit),
            canceller: Arc::new(PgCanceller::new(self.options.clone(), pid, key)),
        }))
    }

    async fn close(&self) {
        let reset = self.reset.as_ref().map_or_else(Vec::new, |idle| {
            std::mem::take(&mut *idle.lock().unwrap_or_else(PoisonError::into_inner))
        });
        for conn in self.spares.drain().await.into_iter().chain(reset) {
            let _ = conn.close().await;
        }
    }
}

struct PgSession {
    conn: Option<PgConnection>,
    /// Where the connection goes after a clean reset, for a later session to reuse.
    reset: Option<ResetPool>,
    /// Calls made on any session of the engine, and the number of this session's latest.
    calls: Arc<AtomicU64>,
    call: u64,
    described: Option<Described>,
    named_statements: bool,
    transaction_pooler: bool,
    /// Inside the transaction [`PgSession::pinned`] opened.
    pinning: bool,
    tx: TxState,
    canceller: Arc<PgCanceller>,
}

fn map_error(e: sqlx::Error) -> ExecError {
    match e {
        sqlx::Error::Database(db) => {
            let sqlstate = db.code().map(|c| c.into_owned());
            let mut message = db.message().to_string();
            // 42P05 / 26000 on one of sqlx's own statement names: our cache, not the server.
            if matches!(sqlstate.as_deref(), Some("42P05" | "26000")) && message.contains("sqlx_s_")
            {
                message.push_str(
                    " (hint: this is helios-matrix's own named statement; a transaction-pooling proxy in front of the server does not keep statement names per client: drop `statement-cache-capacity` from the target to use unnamed statements)",
                );
            }
            ExecError::Db(DbError {
                sqlstate,
                code: None,
                message,
                ..DbError::default()
            })
        }
        other => super::wire_error(other),
    }
}

fn sql_str(sql: &str) -> sqlx::SqlStr {
    AssertSqlSafe(sql.to_string()).into_sql_str()
}

impl PgSession {
    /// Numbers the call starting now among all calls on the engine's sessions.
    fn tick(&mut self) {
        self.call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
    }

    fn conn(&mut self) -> Result<&mut PgConnection, ExecError> {
        self.conn
            .as_mut()
            .ok_or_else(|| ExecError::Lost("the session is closed".to_string()))
    }

    async fn simple(&mut self, sql: &str) -> Result<u64, ExecError> {
        let conn = self.conn()?;
        let done = sqlx::raw_sql(sql_str(sql))
            .execute(&mut *conn)
            .await
            .map_err(map_error)?;
        Ok(done.rows_affected())
    }

    async fn before_statement(&mut self) -> Result<(), ExecError> {
        self.tick();
        tx::begin_implicitly(self).await
    }

    /// Runs `call` on one server connection even through a transaction pooler: sqlx's
    /// parse and bind are two round trips, which a pooler may otherwise send to two
    /// servers, so outside a transaction a statement with parameters gets its own.
    async fn pinned<T>(
        &mut self,
        params: &[Param],
        call: impl AsyncFnOnce(&mut Self) -> Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        if !self.transaction_pooler || params.is_empty() || self.tx.is_open() {
            return call(self).await;
        }
        self.simple("BEGIN").await?;
        self.pinning = true;
        let result = call(self).await;
        self.pinning = false;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.simple(end).await;
        if result.is_ok() {
            ended?;
        }
        result
    }

    async fn rows(&mut self, sql: &str, params: &[Param]) -> Result<Vec<PgRow>, ExecError> {
        if params.is_empty() {
            let conn = self.conn()?;
            return sqlx::raw_sql(sql_str(sql))
                .fetch_all(&mut *conn)
                .await
                .map_err(map_error);
        }
        let args = self.arguments(sql, params).await?;
        let persistent = self.named_statements;
        let conn = self.conn()?;
        sqlx::query_with(sql_str(sql), args)
            .persistent(persistent)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_error)
    }
}

#[async_trait]
impl Session for PgSession {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError> {
        self.before_statement().await?;
        if params.is_empty() {
            return self.simple(sql).await.map(Some);
        }
        self.pinned(params, async |s| {
            let args = s.arguments(sql, params).await?;
            let persistent = s.named_statements;
            let conn = s.conn()?;
            let done = sqlx::query_with(sql_str(sql), args)
                .persistent(persistent)
                .execute(&mut *conn)
                .await
                .map_err(map_error)?;
            Ok(Some(done.rows_affected()))
        })
        .await
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        self.before_statement().await?;
        let rows = self
            .pinned(params, async |s| s.rows(sql, params).await)
            .await?;
        let mut result = result_set(&rows)?;
        // No rows to read columns from: only a described statement knows them, and
        // describing one names it, which only the statement cache does.
        if rows.is_empty() && self.named_statements {
            let conn = self.conn()?;
            result.columns = conn
                .prepare(sql_str(sql))
                .await
                .map(|s| super::statement_columns(&s, class_of))
                .unwrap_or_default();
        }
        Ok(result)
    }

    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError> {
        self.before_statement().await?;
        // A cursor lives in a transaction: borrow the open one, or open one for it.
        let own_tx = !self.tx.is_open();
        if own_tx {
            self.simple("BEGIN").await?;
        }
        let result = self.read_cursor(sql, params, batch, max_batches).await;
        if own_tx {
            let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
            let ended = self.simple(end).await;
            if result.is_ok() {
                ended?;
            }
        }
        result
    }

    fn transactions(&mut self) -> Option<&mut TxState> {
        Some(&mut self.tx)
    }

    async fn send_control(&mut self, sql: &'static str) -> Result<(), ExecError> {
        self.tick();
        self.simple(sql).await.map(|_| ())
    }

    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        self.before_statement().await?;
        let statement = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
        let conn = self.conn()?;
        let mut copy = conn.copy_in_raw(&statement).await.map_err(map_error)?;
        let mut buf = Vec::with_capacity(COPY_CHUNK + 1024);
        for row in rows {
            let row = match row {
                Ok(r) if r.len() == columns.len() => r,
                Ok(r) => {
                    let message = format!(
                        "a copy row has {} values for {} columns",
                        r.len(),
                        columns.len()
                    );
                    let _ = copy.abort(message.clone()).await;
                    return Err(ExecError::Client(message));
                }
                Err(e) => {
                    let _ = copy.abort(e.clone()).await;
                    return Err(ExecError::Client(e));
                }
            };
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    buf.push(b'\t');
                }
                copy_field(&mut buf, value);
            }
            buf.push(b'\n');
            if buf.len() >= COPY_CHUNK {
                copy.send(std::mem::take(&mut buf))
                    .await
                    .map_err(map_error)?;
                buf.reserve(COPY_CHUNK + 1024);
            }
        }
        if !buf.is_empty() {
            copy.send(buf).await.map_err(map_error)?;
        }
        copy.finish().await.map_err(map_error)
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        Some(self.canceller.clone())
    }

    async fn close(mut self: Box<Self>) -> Result<(), ExecError> {
        if self.tx.is_open() {
            let _ = self.rollback().await;
        }
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        // DISCARD ALL returns the session to its state at connection start: temporary
        // tables, settings, prepared statements, cursors, advisory locks, LISTENs. It
        // refuses to run inside a transaction, so a session that left one open (a plain
        // `BEGIN` statement) is closed rather than reused.
        if let Some(idle) = &self.reset
            && sqlx::raw_sql(sql_str("DISCARD ALL"))
                .execute(&mut conn)
                .await
                .is_ok()
        {
            idle.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            return Ok(());
        }
        conn.close().await.map_err(map_error)
    }
}

impl PgSession {
    async fn read_cursor(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError> {
        let declare = format!("DECLARE {CURSOR} NO SCROLL CURSOR FOR {sql}");
        if params.is_empty() {
            self.simple(&declare).await?;
        } else {
            // The cursor's parameters are its query's.
            let args = self.arguments(sql, params).await?;
            let persistent = self.named_statements;
            let conn = self.conn()?;
            sqlx::query_with(sql_str(&declare), args)
                .persistent(persistent)
                .execute(&mut *conn)
                .await
                .map_err(map_error)?;
        }
        let fetch = format!("FETCH FORWARD {batch} FROM {CURSOR}");
        let mut read = Batches::default();
        while read.batches.len() < max_batches {
            let conn = self.conn()?;
            let rows = sqlx::raw_sql(sql_str(&fetch))
                .fetch_all(&mut *conn)
                .await
                .map_err(map_error)?;
            if rows.is_empty() {
                break;
            }
            let full = rows.len() == batch;
            let set = result_set(&rows)?;
            if read.columns.is_empty() {
                read.columns = set.columns;
            }
            read.batches.push(set.rows);
            if !full {
                break;
            }
        }
        self.simple(&format!("CLOSE {CURSOR}")).await?;
        Ok(read)
    }
}
