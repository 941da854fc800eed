//! MySQL and MariaDB over the MySQL wire protocol, through sqlx.
//!
//! Statements without parameters go over the text protocol (COM_QUERY); statements with
//! parameters are server-side prepared statements (binary protocol). Autocommit is the
//! server's own switch (`SET autocommit = 0`, as a DB-API client starts), every named
//! session is its own connection, `fetch` reads the result incrementally off the wire,
//! `copy` is multi-row INSERT batches, and `cancel_after` is `KILL QUERY` from a second
//! connection. TLS follows the target URL (`?ssl-mode=required`).
//!
//! Sessions start as a plain client's do, with the server's defaults, and nothing is sent
//! before the first step: sqlx's own session settings (`PIPES_AS_CONCAT` and
//! `NO_ENGINE_SUBSTITUTION` in `sql_mode`, `time_zone = '+00:00'`, `SET NAMES`) are
//! switched off, the vendored sqlx-mysql does not ask for `IGNORE_SPACE` in its handshake
//! (so `'a' || 'b'` means here what it means to PyMySQL), and the connection id a cancel
//! names comes from the server's handshake, not from a query.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::mysql::{
    MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow,
};
use sqlx::{AssertSqlSafe, Column as _, Connection, Row as _, SqlSafeStr, TypeInfo, ValueRef};

use super::bulk;
use super::spare::Spares;
use super::tx::{self, TxState};
use super::{
    Batches, Canceller, Capability, Column, DbError, Engine, ExecError, ResultSet, Row, Session,
    SessionOptions, undecodable,
};
use crate::secret::mask;
use crate::step::Param;
use crate::target::Target;
use crate::value::{Scalar, TypeClass, Value};

/// MySQL's limit on placeholders per prepared statement is 65,535.
const MAX_COPY_PARAMS: usize = 60_000;
const MAX_COPY_ROWS: usize = 1_000;

pub struct MySqlEngine {
    options: MySqlConnectOptions,
    /// Connections opening ahead of the cases that take them.
    spares: Spares<MySqlConnection>,
}

impl MySqlEngine {
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let options = MySqlConnectOptions::from_str(target.expose_url())
            .map_err(|e| ExecError::Connect(format!("invalid target: {}", mask(&e.to_string()))))?
            .pipes_as_concat(false)
            .no_engine_substitution(false)
            .timezone(None)
            // The handshake already names utf8mb4 as the connection's character set.
            .set_names(false);
        let spares = {
            let options = options.clone();
            Spares::new(super::SPARE_CONNECTIONS, move || {
                let options = options.clone();
                async move { connect(&options).await }
            })
        };
        Ok(Self { options, spares })
    }
}

async fn connect(options: &MySqlConnectOptions) -> Result<MySqlConnection, ExecError> {
    MySqlConnection::connect_with(options)
        .await
        .map_err(|e| ExecError::Connect(mask(&e.to_string())))
}

#[async_trait]
impl Engine for MySqlEngine {
    fn capabilities(&self) -> &[Capability] {
        &Capability::SQL
    }

    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        let mut conn = self.spares.take().await?;
        let id = conn.connection_id();
        if !options.autocommit {
            sqlx::raw_sql("SET autocommit = 0")
                .execute(&mut conn)
                .await
                .map_err(map_error)?;
        }
        Ok(Box::new(MySqlSession {
            conn: Some(conn),
            tx: TxState::server_side(options.autocommit),
            canceller: Arc::new(MySqlCanceller {
                options: self.options.clone(),
                id,
            }),
        }))
    }

    async fn close(&self) {
        for conn in self.spares.drain().await {
            let _ = conn.close().await;
        }
    }
}

struct MySqlCanceller {
    options: MySqlConnectOptions,
    /// The connection id from the session's handshake.
    id: u32,
}

#[async_trait]
impl Canceller for MySqlCanceller {
    async fn cancel(&self) -> Result<(), ExecError> {
        let mut conn = connect(&self.options).await?;
        sqlx::raw_sql(sql_str(&format!("KILL QUERY {}", self.id)))
            .execute(&mut conn)
            .await
            .map_err(map_error)?;
        conn.close().await.map_err(map_error)
    }
}

struct MySqlSession {
    conn: Option<MySqlConnection>,
    tx: TxState,
    canceller: Arc<MySqlCanceller>,
}

fn sql_str(sql: &str) -> sqlx::SqlStr {
    AssertSqlSafe(sql.to_string()).into_sql_str()
}

fn map_error(e: sqlx::Error) -> ExecError {
    match e {
        sqlx::Error::Database(db) => {
            let number = db
                .try_downcast_ref::<MySqlDatabaseError>()
                .map(|m| m.number().to_string());
            ExecError::Db(DbError {
                sqlstate: db.code().map(|c| c.into_owned()),
                code: number,
                message: db.message().to_string(),
                ..DbError::default()
            })
        }
        other => super::wire_error(other),
    }
}

fn arguments(params: &[Param]) -> Result<MySqlArguments, ExecError> {
    super::bind_as_written::<sqlx::MySql>(params)
}

/// Which protocol a row came back in: the text protocol sends every value as text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    Text,
    Binary,
}

/// A MySQL column type's portable class. MySQL has no boolean: `BOOLEAN` (TINYINT(1)) is
/// an integer, as DB-API drivers return it.
fn class_of(ty: &str) -> TypeClass {
    match ty.split(' ').next().unwrap_or(ty) {
        t if is_integer(t) => TypeClass::Integer,
        "FLOAT" | "DOUBLE" => TypeClass::Float,
        "DECIMAL" => TypeClass::Decimal,
        "VARCHAR" | "CHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
            TypeClass::Text
        }
        t if is_binary_string(t) => TypeClass::Bytes,
        "DATE" => TypeClass::Date,
        "TIME" => TypeClass::Time,
        "DATETIME" | "TIMESTAMP" => TypeClass::Timestamp,
        "JSON" => TypeClass::Json,
        _ => TypeClass::Other,
    }
}

fn decode_row(row: &MySqlRow, wire: Wire) -> Result<Row, ExecError> {
    (0..row.len())
        .map(|i| {
            let column = row.column(i);
            let raw = row
                .try_get_raw(i)
                .map_err(|e| undecodable(i, column.name(), column.type_info().name(), &e, None))?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            let ty = raw.type_info().name().to_string();
            let decoded = match wire {
                Wire::Text => row
                    .try_get_unchecked::<Vec<u8>, _>(i)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| from_text(&ty, bytes)),
                Wire::Binary => from_binary(&ty, row, i),
            };
            decoded.map_err(|e| {
                let bytes = row.try_get_unchecked::<Vec<u8>, _>(i).ok();
                undecodable(i, column.name(), &ty, &e, bytes.as_deref())
            })
        })
        .collect()
}

fn is_binary_string(ty: &str) -> bool {
    matches!(
        ty,
        "BINARY"
            | "VARBINARY"
            | "TINYBLOB"
            | "BLOB"
            | "MEDIUMBLOB"
            | "LONGBLOB"
            | "BIT"
            | "GEOMETRY"
    )
}

fn is_integer(ty: &str) -> bool {
    matches!(
        ty.split(' ').next(),
        Some("BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR")
    )
}

/// A text-protocol value, read as its column's type says.
fn from_text(ty: &str, bytes: Vec<u8>) -> Result<Value, String> {
    let class = class_of(ty);
    if class == TypeClass::Bytes {
        return Ok(Value::Bytes(bytes));
    }
    let text = String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let bad = |e: &dyn std::fmt::Display| format!("`{text}`: {e}");
    Ok(match class {
        TypeClass::Integer if ty.ends_with("UNSIGNED") => {
            let v: u64 = text.parse().map_err(|e| bad(&e))?;
            i64::try_from(v).map_or_else(|_| Value::Decimal(v.to_string()), Value::Int)
        }
        TypeClass::Integer => Value::Int(text.parse().map_err(|e| bad(&e))?),
        TypeClass::Float => Value::Float(text.parse().map_err(|e| bad(&e))?),
        TypeClass::Decimal => Value::Decimal(text),
        TypeClass::Text => Value::Text(text),
        class => Value::Other { class, text },
    })
}

fn from_binary(ty: &str, row: &MySqlRow, i: usize) -> Result<Value, String> {
    use sqlx::types::chrono::{NaiveDate, NaiveDateTime, NaiveTime};
    let class = class_of(ty);
    let other = |text: String| Ok(Value::Other { class, text });
    let e = |e: sqlx::Error| e.to_string();
    match ty {
        t if is_integer(t) && t.ends_with("UNSIGNED") => {
            let v = row.try_get_unchecked::<u64, _>(i).map_err(e)?;
            Ok(i64::try_from(v).map_or_else(|_| Value::Decimal(v.to_string()), Value::Int))
        }
        t if is_integer(t) => Ok(Value::Int(row.try_get_unchecked::<i64, _>(i).map_err(e)?)),
        // Through its shortest text, so a FLOAT's 0.1 stays 0.1.
        "FLOAT" => row
            .try_get_unchecked::<f32, _>(i)
            .map_err(e)?
            .to_string()
            .parse()
            .map(Value::Float)
            .map_err(|err: std::num::ParseFloatError| err.to_string()),
        "DOUBLE" => Ok(Value::Float(row.try_get_unchecked::<f64, _>(i).map_err(e)?)),
        "DATE" => other(
            row.try_get_unchecked::<NaiveDate, _>(i)
                .map_err(e)?
                .format("%Y-%m-%d")
                .to_string(),
        ),
        "DATETIME" | "TIMESTAMP" => other(
            row.try_get_unchecked::<NaiveDateTime, _>(i)
                .map_err(e)?
                .format("%Y-%m-%d %H:%M:%S%.f")
                .to_string(),
        ),
        "TIME" => other(
            row.try_get_unchecked::<NaiveTime, _>(i)
                .map_err(e)?
                .format("%H:%M:%S%.f")
                .to_string(),
        ),
        // DECIMAL, strings and JSON travel as text even in the binary protocol.
        t => from_text(t, row.try_get_unchecked::<Vec<u8>, _>(i).map_err(e)?),
    }
}

fn describe(row: &MySqlRow) -> Vec<Column> {
    super::sqlx_columns(row.columns(), class_of)
}

impl MySqlSession {
    fn conn(&mut self) -> Result<&mut MySqlConnection, ExecError> {
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
}

#[async_trait]
impl Session for MySqlSession {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError> {
        if params.is_empty() {
            return self.simple(sql).await.map(Some);
        }
        let args = arguments(params)?;
        let conn = self.conn()?;
        let done = sqlx::query_with(sql_str(sql), args)
            .execute(&mut *conn)
            .await
            .map_err(map_error)?;
        Ok(Some(done.rows_affected()))
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        let (rows, wire) = if params.is_empty() {
            let conn = self.conn()?;
            (
                sqlx::raw_sql(sql_str(sql))
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(map_error)?,
                Wire::Text,
            )
        } else {
            let args = arguments(params)?;
            let conn = self.conn()?;
            (
                sqlx::query_with(sql_str(sql), args)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(map_error)?,
                Wire::Binary,
            )
        };
        let mut result = ResultSet {
            columns: rows.first().map(describe).unwrap_or_default(),
            rows: rows
                .iter()
                .map(|r| decode_row(r, wire))
                .collect::<Result<_, _>>()?,
        };
        if rows.is_empty() {
            let conn = self.conn()?;
            // No rows to read columns from: ask the prepared statement.
            result.columns = sqlx::Executor::prepare(&mut *conn, sql_str(sql))
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
        let args = if params.is_empty() {
            None
        } else {
            Some(arguments(params)?)
        };
        let conn = self.conn()?;
        // Rows are read off the socket as the stream is polled: fetchmany on the wire.
        match args {
            None => {
                let stream = sqlx::raw_sql(sql_str(sql)).fetch(&mut *conn);
                super::read_batches(
                    stream,
                    batch,
                    max_batches,
                    |r| decode_row(r, Wire::Text),
                    describe,
                    map_error,
                )
                .await
            }
            Some(args) => {
                let stream = sqlx::query_with(sql_str(sql), args).fetch(&mut *conn);
                super::read_batches(
                    stream,
                    batch,
                    max_batches,
                    |r| decode_row(r, Wire::Binary),
                    describe,
                    map_error,
                )
                .await
            }
        }
    }

    fn transactions(&mut self) -> Option<&mut TxState> {
        Some(&mut self.tx)
    }

    async fn send_control(&mut self, sql: &'static str) -> Result<(), ExecError> {
        self.simple(sql).await.map(|_| ())
    }

    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        tx::in_own_transaction(self, async |s: &mut Self| {
            let mut loaded = 0u64;
            for batch in
                bulk::insert_batches(table, columns, rows, MAX_COPY_ROWS, MAX_COPY_PARAMS, |_| {
                    "?".to_string()
                })
            {
                let batch = batch.map_err(ExecError::Client)?;
                let args = arguments(&batch.params)?;
                let conn = s.conn()?;
                let done = sqlx::query_with(sql_str(&batch.sql), args)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_error)?;
                loaded += done.rows_affected();
            }
            Ok(loaded)
        })
        .await
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        Some(self.canceller.clone())
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
