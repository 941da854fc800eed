//! SQLite, embedded through sqlx: the zero-setup reference target.
//!
//! `sqlite::memory:` gives every case a fresh, private database that all of the case's
//! sessions share and that disappears when the case ends. It lives in a temporary file rather
//! than in SQLite's in-memory VFSes because only a file in rollback-journal mode gives two
//! sessions real isolation (a reader sees the last committed state while another session
//! writes); shared-cache and `memdb` databases answer "database is locked" instead. Any other
//! target (`sqlite:path/to/db`) is that file, shared by every case.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Column as _, Connection, Executor, Row as _, TypeInfo, ValueRef};

use super::bulk;
use super::tx::{self, TxState};
use super::{
    Batches, Canceller, Capability, Column, DbError, Engine, ExecError, PartialResult, ResultSet,
    Row, Session, SessionOptions, undecodable,
};
use crate::step::Param;
use crate::target::Target;
use crate::value::{Scalar, TypeClass, Value};

/// How many SQLite VM steps run between checks of the cancel flag.
const PROGRESS_STEPS: i32 = 1000;

/// SQLite's limit on bound variables per statement is 32766; stay below it.
const MAX_COPY_VARIABLES: usize = 30_000;

/// The file a `sqlite:` target names (with any `?query`), or `None` for `sqlite::memory:`,
/// which gives every case a scratch database of its own.
pub fn target_file(target: &Target) -> Result<Option<&str>, ExecError> {
    let url = target.expose_url();
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            ExecError::Connect(format!(
                "cannot connect to sqlite at {target}: the target must start with `sqlite:`"
            ))
        })?;
    Ok((!matches!(rest, ":memory:" | ":memory" | "")).then_some(rest))
}

pub struct SqliteEngine {
    location: Location,
}

enum Location {
    /// One database file per case in this directory, removed with the engine.
    PerCase(tempfile::TempDir),
    File(String),
}

impl SqliteEngine {
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let location = match target_file(target)? {
            None => Location::PerCase(
                tempfile::Builder::new()
                    .prefix("helios-matrix-sqlite-")
                    .tempdir()
                    .map_err(|e| {
                        ExecError::Connect(format!(
                            "cannot create a scratch directory for sqlite: {e}"
                        ))
                    })?,
            ),
            Some(path) => Location::File(path.to_string()),
        };
        Ok(Self { location })
    }

    fn case_file(dir: &tempfile::TempDir, case_key: &str) -> std::path::PathBuf {
        dir.path().join(format!("{case_key}.db"))
    }

    fn options(&self, case_key: &str) -> Result<SqliteConnectOptions, ExecError> {
        let options = match &self.location {
            Location::PerCase(dir) => SqliteConnectOptions::new()
                .filename(Self::case_file(dir, case_key))
                .journal_mode(SqliteJournalMode::Delete)
                // A throwaway database: durability buys nothing.
                .synchronous(SqliteSynchronous::Off),
            Location::File(path) => SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
                .map_err(|e| {
                    ExecError::Connect(format!("cannot open sqlite database `{path}`: {e}"))
                })?,
        };
        Ok(options
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(2)))
    }
}

#[async_trait]
impl Engine for SqliteEngine {
    fn capabilities(&self) -> &[Capability] {
        &Capability::SQL
    }

    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        let mut conn = SqliteConnection::connect_with(&self.options(&options.case_key)?)
            .await
            .map_err(|e| ExecError::Connect(format!("cannot open the database: {e}")))?;
        let cancel = Arc::new(SqliteCanceller::default());
        {
            let flag = cancel.flag.clone();
            let mut handle = conn
                .lock_handle()
                .await
                .map_err(|e| ExecError::Client(e.to_string()))?;
            // SQLite's own cancel path: a progress handler that interrupts when asked to.
            handle.set_progress_handler(PROGRESS_STEPS, move || !flag.load(Ordering::Relaxed));
        }
        Ok(Box::new(SqliteSession {
            conn: Some(conn),
            tx: TxState::new(options.autocommit),
            cancel,
        }))
    }

    async fn end_case(&self, case_key: &str) {
        if let Location::PerCase(dir) = &self.location {
            let file = Self::case_file(dir, case_key);
            let _ = std::fs::remove_file(&file);
            let _ = std::fs::remove_file(file.with_extension("db-journal"));
        }
    }
}

#[derive(Default)]
struct SqliteCanceller {
    flag: Arc<AtomicBool>,
}

#[async_trait]
impl Canceller for SqliteCanceller {
    async fn cancel(&self) -> Result<(), ExecError> {
        self.flag.store(true, Ordering::Relaxed);
        Ok(())
    }
}

struct SqliteSession {
    /// `None` once closed.
    conn: Option<SqliteConnection>,
    tx: TxState,
    cancel: Arc<SqliteCanceller>,
}

fn arguments(params: &[Param]) -> Result<SqliteArguments, ExecError> {
    super::bind_as_written::<sqlx::Sqlite>(params)
}

fn map_error(e: sqlx::Error) -> ExecError {
    match e {
        sqlx::Error::Database(db) => ExecError::Db(DbError {
            sqlstate: None,
            code: db.code().map(|c| c.into_owned()),
            message: db.message().to_string(),
            ..DbError::default()
        }),
        sqlx::Error::Io(io) => ExecError::Lost(io.to_string()),
        sqlx::Error::WorkerCrashed => {
            ExecError::Lost("the sqlite worker thread stopped".to_string())
        }
        other => ExecError::Client(other.to_string()),
    }
}

/// A declared column type's class by SQLite's affinity rules; `None` for NUMERIC affinity
/// (and undeclared expressions), whose values keep whatever storage class they got.
fn declared_class(declared: &str) -> Option<TypeClass> {
    let d = declared.to_ascii_uppercase();
    Some(if d.starts_with("BOOL") {
        TypeClass::Boolean
    } else if d.contains("INT") {
        TypeClass::Integer
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        TypeClass::Text
    } else if d.contains("BLOB") {
        TypeClass::Bytes
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        TypeClass::Float
    } else {
        return None;
    })
}

/// Values carry SQLite's storage class (INTEGER, REAL, TEXT, BLOB), as Python's sqlite3
/// returns them; a column declared BOOLEAN reads its integers as booleans.
fn decode_row(row: &SqliteRow) -> Result<Row, ExecError> {
    (0..row.len())
        .map(|i| {
            let column = row.column(i);
            let declared = column.type_info().name().to_ascii_uppercase();
            let raw = row
                .try_get_raw(i)
                .map_err(|e| undecodable(i, column.name(), &declared, &e, None))?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            let storage = raw.type_info().name().to_ascii_uppercase();
            let fail = |e: sqlx::Error| {
                let bytes = row.try_get_unchecked::<Vec<u8>, _>(i).ok();
                undecodable(i, column.name(), &storage, &e, bytes.as_deref())
            };
            Ok(match storage.as_str() {
                "INTEGER" | "INT8" | "BIGINT" | "INT" | "BOOLEAN" => {
                    let v = row.try_get_unchecked::<i64, _>(i).map_err(fail)?;
                    if declared_class(&declared) == Some(TypeClass::Boolean) {
                        Value::Bool(v != 0)
                    } else {
                        Value::Int(v)
                    }
                }
                "REAL" => Value::Float(row.try_get_unchecked::<f64, _>(i).map_err(fail)?),
                "BLOB" => Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i).map_err(fail)?),
                _ => Value::Text(row.try_get_unchecked::<String, _>(i).map_err(fail)?),
            })
        })
        .collect()
}

/// The result's columns: a declared type's affinity, else the class of the first value the
/// column holds (SQLite types values, not columns).
fn result_columns(described: Vec<Column>, rows: &[Row]) -> Vec<Column> {
    described
        .into_iter()
        .enumerate()
        .map(|(i, mut column)| {
            if let Some(class) = declared_class(&column.native) {
                column.class = class;
                return column;
            }
            column.class = rows
                .iter()
                .find_map(|r| r.get(i).and_then(Value::class))
                .unwrap_or(TypeClass::Other);
            // No declared type to show: the storage class the values came in.
            column.native = match column.class {
                TypeClass::Integer | TypeClass::Boolean => "INTEGER",
                TypeClass::Float => "REAL",
                TypeClass::Bytes => "BLOB",
                TypeClass::Text => "TEXT",
                _ => "NULL",
            }
            .to_string();
            column
        })
        .collect()
}

fn describe(row: &SqliteRow) -> Vec<Column> {
    super::sqlx_columns(row.columns(), |_| TypeClass::Other)
}

impl SqliteSession {
    fn conn(&mut self) -> Result<&mut SqliteConnection, ExecError> {
        self.conn
            .as_mut()
            .ok_or_else(|| ExecError::Lost("the session is closed".to_string()))
    }

    /// Starts the implicit transaction of an autocommit-off session, DB-API style.
    async fn before_statement(&mut self) -> Result<(), ExecError> {
        self.cancel.flag.store(false, Ordering::Relaxed);
        tx::begin_implicitly(self).await
    }

    async fn simple(&mut self, sql: &'static str) -> Result<(), ExecError> {
        self.cancel.flag.store(false, Ordering::Relaxed);
        self.conn()?
            .execute(sql)
            .await
            .map_err(map_error)
            .map(|_| ())
    }
}

#[async_trait]
impl Session for SqliteSession {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError> {
        self.before_statement().await?;
        let args = arguments(params)?;
        let conn = self.conn()?;
        let result = sqlx::query_with(AssertSqlSafe(sql.to_string()), args)
            .execute(&mut *conn)
            .await
            .map_err(map_error)?;
        Ok(Some(result.rows_affected()))
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        self.before_statement().await?;
        let args = arguments(params)?;
        let conn = self.conn()?;
        let rows: Vec<SqliteRow> = sqlx::query_with(AssertSqlSafe(sql.to_string()), args)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_error)?;
        let described = match rows.first() {
            Some(row) => describe(row),
            // No rows: ask the prepared statement for its columns.
            None => conn
                .prepare(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(
                    sql.to_string(),
                )))
                .await
                .map(|s| super::statement_columns(&s, |_| TypeClass::Other))
                .unwrap_or_default(),
        };
        let rows = rows.iter().map(decode_row).collect::<Result<Vec<_>, _>>()?;
        Ok(ResultSet {
            columns: result_columns(described, &rows),
            rows,
        })
    }

    async fn query_partial(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<PartialResult, ExecError> {
        use futures_util::TryStreamExt as _;
        self.before_statement().await?;
        let args = arguments(params)?;
        let conn = self.conn()?;
        // sqlite3_prepare first, as the SQLite project's runner does: an error there means
        // the statement never started; an error from a later step only ends the rows.
        let statement = conn
            .prepare(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(
                sql.to_string(),
            )))
            .await
            .map_err(map_error)?;
        let mut described = super::statement_columns(&statement, |_| TypeClass::Other);
        // The prepared statement is cached, so this runs it rather than compiling it again.
        let mut stream = sqlx::query_with(AssertSqlSafe(sql.to_string()), args).fetch(&mut *conn);
        let mut rows = Vec::new();
        let mut interrupted = None;
        loop {
            match stream.try_next().await {
                Ok(Some(row)) => {
                    if rows.is_empty() {
                        described = describe(&row);
                    }
                    rows.push(decode_row(&row)?);
                }
                Ok(None) => break,
                Err(e) => match map_error(e) {
                    ExecError::Db(db) => {
                        interrupted = Some(db);
                        break;
                    }
                    other => return Err(other),
                },
            }
        }
        Ok(PartialResult {
            result: ResultSet {
                columns: result_columns(described, &rows),
                rows,
            },
            interrupted,
        })
    }

    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError> {
        self.before_statement().await?;
        let args = arguments(params)?;
        let conn = self.conn()?;
        // SQLite steps a statement row by row: reading the stream lazily is its cursor.
        let stream = sqlx::query_with(AssertSqlSafe(sql.to_string()), args).fetch(&mut *conn);
        let mut read =
            super::read_batches(stream, batch, max_batches, decode_row, describe, map_error)
                .await?;
        let first = read.batches.first().cloned().unwrap_or_default();
        read.columns = result_columns(std::mem::take(&mut read.columns), &first);
        Ok(read)
    }

    fn transactions(&mut self) -> Option<&mut TxState> {
        Some(&mut self.tx)
    }

    async fn send_control(&mut self, sql: &'static str) -> Result<(), ExecError> {
        self.simple(sql).await
    }

    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        self.before_statement().await?;
        tx::in_own_transaction(self, async |s: &mut Self| {
            copy_rows(s.conn()?, table, columns, rows).await
        })
        .await
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        Some(self.cancel.clone())
    }

    async fn close(mut self: Box<Self>) -> Result<(), ExecError> {
        if self.tx.is_open() {
            let _ = self.rollback().await;
        }
        match self.conn.take() {
            Some(conn) => conn.close().await.map_err(map_error),
            None => Ok(()),
        }
    }
}

/// Multi-row INSERTs inside one transaction: SQLite's fastest bulk path from a client.
async fn copy_rows(
    conn: &mut SqliteConnection,
    table: &str,
    columns: &[String],
    rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
) -> Result<u64, ExecError> {
    let mut loaded = 0u64;
    for batch in bulk::insert_batches(table, columns, rows, 500, MAX_COPY_VARIABLES, |n| {
        format!("?{n}")
    }) {
        let batch = batch.map_err(ExecError::Client)?;
        let args = arguments(&batch.params)?;
        let done = sqlx::query_with(AssertSqlSafe(batch.sql), args)
            .execute(&mut *conn)
            .await
            .map_err(map_error)?;
        loaded += done.rows_affected();
    }
    Ok(loaded)
}
