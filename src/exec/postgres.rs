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

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use sqlx::postgres::types::{Oid, PgInterval};
use sqlx::postgres::{
    PgArguments, PgConnectOptions, PgConnection, PgRow, PgTypeInfo, PgValueFormat, PgValueRef,
};
use sqlx::types::BigDecimal;
use sqlx::{
    Arguments, AssertSqlSafe, Column as _, Connection, Either, Executor, Row as _, SqlSafeStr,
    Statement, TypeInfo, ValueRef,
};

use super::spare::Spares;
use super::tx::TxState;
use super::{
    Batches, Canceller, Capability, Column, DbError, Engine, ExecError, ResultSet, Row, Session,
    SessionOptions, undecodable,
};
use crate::plan::Param;
use crate::target::Target;
use crate::value::{Scalar, TypeClass, Value, format_float};

/// The cursor `fetch` steps read through.
const CURSOR: &str = "helios_matrix_cursor";

/// COPY data is sent in chunks of about this many bytes.
const COPY_CHUNK: usize = 64 * 1024;

/// The SQL-level statement name the parameter look-up prepares and deallocates at once.
const DESCRIBE: &str = "helios_matrix_params";

/// Connections whose sessions ended and were reset.
type ResetPool = Arc<Mutex<Vec<PgConnection>>>;

/// The application name a session gives when the target names none (libpq's clients give
/// their program's name, psql `psql`).
const APPLICATION_NAME: &str = "helios-matrix";

/// The code of a CancelRequest (PostgreSQL's protocol, "CancelRequest").
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

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
                crate::target::mask(&e.to_string())
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
        .map_err(|e| ExecError::Connect(crate::target::mask(&e.to_string())))
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
            canceller: Arc::new(PgCanceller {
                options: self.options.clone(),
                pid,
                key,
            }),
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

/// Sends a session's CancelRequest: the backend's process id and secret key, on a new
/// connection that carries nothing else, as libpq's `PQcancel` does.
struct PgCanceller {
    options: PgConnectOptions,
    pid: u32,
    key: u32,
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
        let sent = match self.tx.before_statement().sql() {
            Some(sql) => self.send_control(sql).await,
            None => Ok(()),
        };
        if sent.is_err() {
            self.tx.forget();
        }
        sent
    }

    /// The types the server infers for a statement's parameters. Without the statement
    /// cache, one simple-query message prepares the statement under a SQL-level name, reads
    /// its parameter types and deallocates it: a pooler keeps a single message on one server
    /// connection, and a statement that cannot be prepared fails here with the same error
    /// its execution would give. Statements `PREPARE` does not take bind as written.
    async fn parameter_types(&mut self, sql: &str) -> Result<Vec<ParamType>, ExecError> {
        if self.named_statements {
            let conn = self.conn()?;
            return match conn.prepare(sql_str(sql)).await {
                Ok(statement) => Ok(match statement.parameters() {
                    Some(Either::Left(types)) => types
                        .iter()
                        .map(|t| ParamType {
                            name: t.name().to_string(),
                            oid: t.oid().map(|o| o.0),
                        })
                        .collect(),
                    _ => Vec::new(),
                }),
                // 42P18: the server cannot infer a parameter's type (`$1 IS NULL`).
                Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P18") => {
                    Ok(Vec::new())
                }
                Err(e) => Err(map_error(e)),
            };
        }
        if !preparable(sql) {
            return Ok(Vec::new());
        }
        if let Some(last) = &mut self.described
            && last.sql == sql
            && last.call + 1 == self.call
        {
            last.call = self.call;
            return Ok(last.types.clone());
        }
        // Inside a transaction a failed PREPARE would abort it: a savepoint keeps the
        // look-up from touching the transaction, fail or not.
        let guarded = self.tx.is_open() || self.pinning;
        let (open, close) = if guarded {
            (
                format!("SAVEPOINT {DESCRIBE};\n"),
                format!(";\nRELEASE SAVEPOINT {DESCRIBE}"),
            )
        } else {
            (String::new(), String::new())
        };
        let describe = format!(
            "{open}PREPARE {DESCRIBE} AS {sql};\n\
             SELECT upper(t.typname::text), p.oid::int8 \
             FROM pg_prepared_statements s \
             CROSS JOIN LATERAL unnest(s.parameter_types) WITH ORDINALITY AS p(oid, n) \
             JOIN pg_type t ON t.oid = p.oid WHERE s.name = '{DESCRIBE}' ORDER BY p.n;\n\
             DEALLOCATE {DESCRIBE}{close}"
        );
        let conn = self.conn()?;
        match sqlx::raw_sql(sql_str(&describe))
            .fetch_all(&mut *conn)
            .await
        {
            Ok(rows) => {
                let types = rows
                    .iter()
                    .map(|r| {
                        Ok(ParamType {
                            name: r.try_get::<String, _>(0)?,
                            oid: u32::try_from(r.try_get::<i64, _>(1)?).ok(),
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(map_error)?;
                self.described = Some(Described {
                    sql: sql.to_string(),
                    call: self.call,
                    types: types.clone(),
                });
                Ok(types)
            }
            // The statement cannot be prepared alone (a syntax error, a parameter whose
            // type cannot be inferred, …): bind as written and let it fail, or not, itself.
            Err(sqlx::Error::Database(_)) => {
                if guarded {
                    let undo =
                        format!("ROLLBACK TO SAVEPOINT {DESCRIBE}; RELEASE SAVEPOINT {DESCRIBE}");
                    // In a transaction that was already failed, the statement fails anyway.
                    let _ = sqlx::raw_sql(sql_str(&undo)).execute(&mut *conn).await;
                }
                Ok(Vec::new())
            }
            Err(e) => Err(map_error(e)),
        }
    }

    /// Binds `params` as the types the server inferred for the statement's placeholders,
    /// as asyncpg does, so `NULL` or a string bind to whatever column they meet.
    async fn arguments(&mut self, sql: &str, params: &[Param]) -> Result<PgArguments, ExecError> {
        let types = self.parameter_types(sql).await?;
        let mut args = PgArguments::default();
        for (index, param) in params.iter().enumerate() {
            let ty = types.get(index);
            let added = match (&param.value, ty.and_then(|t| t.oid)) {
                // An unnamed statement declares its parameters' types when parsed: a NULL
                // must carry the one the server inferred, or it would declare text.
                (Scalar::Null, Some(oid)) => args
                    .add(TypedNull(PgTypeInfo::with_oid(Oid(oid))))
                    .map_err(|e| e.to_string()),
                (value, _) => encode(&mut args, value, ty.map_or("UNKNOWN", |t| t.name.as_str())),
            };
            let ty = ty.map_or("UNKNOWN", |t| t.name.as_str());
            added.map_err(|e| {
                ExecError::Client(format!(
                    "parameter ${} ({}): {e}",
                    index + 1,
                    ty.to_lowercase()
                ))
            })?;
        }
        Ok(args)
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

/// The parameter types of the statement a session described last, and the number of the
/// call that did. A repeated statement (a `repeat:` loop) reuses them only while no other
/// call ran on any of the worker's sessions since, so no DDL can have changed them.
struct Described {
    sql: String,
    call: u64,
    types: Vec<ParamType>,
}

/// A parameter type the server inferred: sqlx's name for it and its OID.
#[derive(Clone)]
struct ParamType {
    name: String,
    oid: Option<u32>,
}

/// A NULL parameter of a given type.
struct TypedNull(PgTypeInfo);

impl sqlx::Type<sqlx::Postgres> for TypedNull {
    fn type_info() -> PgTypeInfo {
        // Only a fallback: `produces` names the real type of each value.
        PgTypeInfo::with_name("text")
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for TypedNull {
    fn encode_by_ref(
        &self,
        _: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.0.clone())
    }
}

/// Statements SQL `PREPARE` accepts.
fn preparable(sql: &str) -> bool {
    let first = sql
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "VALUES" | "WITH" | "MERGE" | "TABLE"
    )
}

/// Encodes one parameter as the PostgreSQL type the server expects.
fn encode(args: &mut PgArguments, value: &Scalar, ty: &str) -> Result<(), String> {
    let added = match (value, ty) {
        // A NULL carries no bytes, so any declared type binds.
        (Scalar::Null, _) => args.add(Option::<String>::None),
        (Scalar::Bool(b), "BOOL" | "UNKNOWN") => args.add(*b),
        (Scalar::Int(i), "INT2") => {
            args.add(i16::try_from(*i).map_err(|_| format!("{i} does not fit int2"))?)
        }
        (Scalar::Int(i), "INT4") => {
            args.add(i32::try_from(*i).map_err(|_| format!("{i} does not fit int4"))?)
        }
        (Scalar::Int(i), "INT8" | "UNKNOWN") => args.add(*i),
        (Scalar::Int(i), "OID") => args.add(Oid(
            u32::try_from(*i).map_err(|_| format!("{i} is not an oid"))?
        )),
        (Scalar::Int(i), "FLOAT4") => args.add(*i as f32),
        (Scalar::Int(i), "FLOAT8") => args.add(*i as f64),
        (Scalar::Int(i), "NUMERIC") => args.add(BigDecimal::from(*i)),
        (Scalar::Int(i), "BOOL") => args.add(*i != 0),
        (Scalar::Float(f), "FLOAT4") => args.add(*f as f32),
        (Scalar::Float(f), "FLOAT8" | "UNKNOWN") => args.add(*f),
        (Scalar::Float(f), "NUMERIC") => {
            args.add(BigDecimal::from_str(&format_float(*f)).map_err(|e| e.to_string())?)
        }
        (Scalar::Float(f), "INT2" | "INT4" | "INT8") if f.fract() == 0.0 => {
            return encode(args, &Scalar::Int(*f as i64), ty);
        }
        (Scalar::Text(s), _) => return encode_text(args, s, ty),
        (other, text) if is_text_type(text) => args.add(other.display_text()),
        (other, _) => return Err(format!("cannot bind {} here", other.type_name())),
    };
    added.map_err(|e| e.to_string())
}

fn is_text_type(ty: &str) -> bool {
    matches!(
        ty,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN"
    )
}

/// A string parameter read as the type the server expects, as a literal would be.
fn encode_text(args: &mut PgArguments, s: &str, ty: &str) -> Result<(), String> {
    use sqlx::types::chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
    let bad =
        |e: &dyn std::fmt::Display| format!("`{s}` is not a valid {}: {e}", ty.to_lowercase());
    let added = match ty {
        t if is_text_type(t) => args.add(s.to_string()),
        "INT2" => args.add(s.trim().parse::<i16>().map_err(|e| bad(&e))?),
        "INT4" => args.add(s.trim().parse::<i32>().map_err(|e| bad(&e))?),
        "INT8" => args.add(s.trim().parse::<i64>().map_err(|e| bad(&e))?),
        "FLOAT4" => args.add(s.trim().parse::<f32>().map_err(|e| bad(&e))?),
        "FLOAT8" => args.add(s.trim().parse::<f64>().map_err(|e| bad(&e))?),
        "NUMERIC" => args.add(BigDecimal::from_str(s.trim()).map_err(|e| bad(&e))?),
        "BOOL" => args.add(match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "on" | "1" => true,
            "f" | "false" | "no" | "off" | "0" => false,
            _ => return Err(bad(&"expected true or false")),
        }),
        "DATE" => args.add(NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|e| bad(&e))?),
        "TIME" => {
            args.add(NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f").map_err(|e| bad(&e))?)
        }
        "TIMESTAMP" => args.add(
            NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f"))
                .map_err(|e| bad(&e))?,
        ),
        "TIMESTAMPTZ" => args.add(
            DateTime::parse_from_rfc3339(s.trim())
                .or_else(|_| DateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f%#z"))
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| bad(&e))?,
        ),
        "UUID" => args.add(sqlx::types::Uuid::parse_str(s.trim()).map_err(|e| bad(&e))?),
        "JSON" | "JSONB" => args.add(sqlx::types::Json(
            serde_json::from_str::<serde_json::Value>(s).map_err(|e| bad(&e))?,
        )),
        "BYTEA" => args.add(match s.strip_prefix("\\x") {
            Some(hex) => decode_hex(hex).ok_or_else(|| bad(&"bad hex"))?,
            None => s.as_bytes().to_vec(),
        }),
        other => {
            return Err(format!(
                "cannot bind a string to a parameter of type {}",
                other.to_lowercase()
            ));
        }
    };
    added.map_err(|e| e.to_string())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A PostgreSQL type's portable class, from the name sqlx gives its OID.
fn class_of(ty: &str) -> TypeClass {
    match ty {
        "INT2" | "INT4" | "INT8" | "OID" => TypeClass::Integer,
        "FLOAT4" | "FLOAT8" => TypeClass::Float,
        "NUMERIC" => TypeClass::Decimal,
        "BOOL" => TypeClass::Boolean,
        "BYTEA" => TypeClass::Bytes,
        "DATE" => TypeClass::Date,
        "TIME" | "TIMETZ" => TypeClass::Time,
        "TIMESTAMP" | "TIMESTAMPTZ" => TypeClass::Timestamp,
        "INTERVAL" => TypeClass::Interval,
        "JSON" | "JSONB" => TypeClass::Json,
        "UUID" => TypeClass::Uuid,
        "VECTOR" => TypeClass::Vector,
        t if t.ends_with("[]") => TypeClass::Array,
        t if is_text_type(t) => TypeClass::Text,
        _ => TypeClass::Other,
    }
}

fn decode_row(row: &PgRow) -> Result<Row, ExecError> {
    (0..row.len())
        .map(|i| {
            let column = row.column(i);
            let fail = |e: &dyn std::fmt::Display, bytes: Option<&[u8]>| {
                undecodable(i, column.name(), column.type_info().name(), e, bytes)
            };
            let raw = row.try_get_raw(i).map_err(|e| fail(&e, None))?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            let ty = raw.type_info().name().to_string();
            let decoded = match raw.format() {
                PgValueFormat::Text => match raw.as_str() {
                    Ok(s) => from_text(&ty, s),
                    Err(e) => Err(e.to_string()),
                },
                PgValueFormat::Binary => from_binary(&ty, row, i, &raw),
            };
            decoded.map_err(|e| fail(&e, raw.as_bytes().ok()))
        })
        .collect()
}

/// A value in PostgreSQL's text format (simple-protocol results, FETCH).
fn from_text(ty: &str, s: &str) -> Result<Value, String> {
    let bad = |e: &dyn std::fmt::Display| format!("`{s}`: {e}");
    Ok(match class_of(ty) {
        TypeClass::Integer => Value::Int(s.parse().map_err(|e| bad(&e))?),
        TypeClass::Float => Value::Float(s.parse().map_err(|e| bad(&e))?),
        TypeClass::Decimal => Value::Decimal(s.to_string()),
        TypeClass::Boolean => match s {
            "t" => Value::Bool(true),
            "f" => Value::Bool(false),
            _ => return Err(bad(&"not t or f")),
        },
        TypeClass::Bytes => Value::Bytes(
            s.strip_prefix("\\x")
                .and_then(decode_hex)
                .ok_or_else(|| bad(&"not \\x hex"))?,
        ),
        TypeClass::Text => Value::Text(s.to_string()),
        class => Value::Other {
            class,
            text: s.to_string(),
        },
    })
}

fn fmt_time(t: sqlx::types::chrono::NaiveTime) -> String {
    use chrono::Timelike;
    let base = t.format("%H:%M:%S").to_string();
    let micros = t.nanosecond() / 1000;
    if micros == 0 {
        base
    } else {
        format!("{base}.{}", format!("{micros:06}").trim_end_matches('0'))
    }
}

/// PostgreSQL's default (`postgres`) interval style: `1 year 2 mons 3 days 04:05:06`.
fn fmt_interval(i: &PgInterval) -> String {
    let mut parts = Vec::new();
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let (years, months) = (i64::from(i.months / 12), i64::from(i.months % 12));
    if years != 0 {
        parts.push(unit(years, "year", "years"));
    }
    if months != 0 {
        parts.push(unit(months, "mon", "mons"));
    }
    if i.days != 0 {
        parts.push(unit(i64::from(i.days), "day", "days"));
    }
    if i.microseconds != 0 || parts.is_empty() {
        let negative_before = i.months < 0 || i.days < 0;
        let sign = if i.microseconds < 0 {
            "-"
        } else if negative_before {
            "+"
        } else {
            ""
        };
        let total = i.microseconds.unsigned_abs();
        let (secs, micros) = (total / 1_000_000, total % 1_000_000);
        let mut time = format!(
            "{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if micros != 0 {
            time.push_str(&format!(
                ".{}",
                format!("{micros:06}").trim_end_matches('0')
            ));
        }
        parts.push(time);
    }
    parts.join(" ")
}

/// PostgreSQL's array text form: `{1,2,NULL}`, `{"a b",c}`.
fn fmt_array<T>(items: Vec<Option<T>>, text: impl Fn(T) -> String, quote: bool) -> String {
    let cells: Vec<String> = items
        .into_iter()
        .map(|item| match item {
            None => "NULL".to_string(),
            Some(v) => {
                let s = text(v);
                let needs = quote
                    && (s.is_empty()
                        || s.eq_ignore_ascii_case("null")
                        || s.chars()
                            .any(|c| c.is_whitespace() || "{},\"\\".contains(c)));
                if needs {
                    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                } else {
                    s
                }
            }
        })
        .collect();
    format!("{{{}}}", cells.join(","))
}

/// A value in PostgreSQL's binary format (extended-protocol results), rendered the way
/// the server's text output would show it.
fn from_binary(ty: &str, row: &PgRow, i: usize, raw: &PgValueRef<'_>) -> Result<Value, String> {
    use sqlx::types::chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
    let class = class_of(ty);
    let other = |text: String| Value::Other { class, text };
    let decoded: Result<Value, sqlx::Error> = (|| {
        Ok(match ty {
            "INT2" => Value::Int(row.try_get_unchecked::<i16, _>(i)?.into()),
            "INT4" => Value::Int(row.try_get_unchecked::<i32, _>(i)?.into()),
            "INT8" => Value::Int(row.try_get_unchecked::<i64, _>(i)?),
            "OID" => Value::Int(row.try_get_unchecked::<Oid, _>(i)?.0.into()),
            // Through its shortest text, so a real's 0.1 stays 0.1 and not 0.10000000149.
            "FLOAT4" => Value::Float(
                row.try_get_unchecked::<f32, _>(i)?
                    .to_string()
                    .parse()
                    .unwrap_or(f64::NAN),
            ),
            "FLOAT8" => Value::Float(row.try_get_unchecked::<f64, _>(i)?),
            "NUMERIC" => match numeric_text(raw.as_bytes().unwrap_or_default()) {
                Some(text) => Value::Decimal(text),
                None => {
                    return Err(sqlx::Error::Decode("a malformed numeric".into()));
                }
            },
            "BOOL" => Value::Bool(row.try_get_unchecked::<bool, _>(i)?),
            "BYTEA" => Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i)?),
            "DATE" => other(
                row.try_get_unchecked::<NaiveDate, _>(i)?
                    .format("%Y-%m-%d")
                    .to_string(),
            ),
            "TIME" => other(fmt_time(row.try_get_unchecked::<NaiveTime, _>(i)?)),
            "TIMESTAMP" => {
                let t = row.try_get_unchecked::<NaiveDateTime, _>(i)?;
                other(format!("{} {}", t.format("%Y-%m-%d"), fmt_time(t.time())))
            }
            "TIMESTAMPTZ" => {
                let t = row.try_get_unchecked::<DateTime<Utc>, _>(i)?;
                other(format!(
                    "{} {}+00",
                    t.format("%Y-%m-%d"),
                    fmt_time(t.time())
                ))
            }
            "INTERVAL" => other(fmt_interval(&row.try_get_unchecked::<PgInterval, _>(i)?)),
            "UUID" => other(
                row.try_get_unchecked::<sqlx::types::Uuid, _>(i)?
                    .to_string(),
            ),
            // json's binary form is its text; jsonb's is a version byte then the text.
            "JSON" => {
                other(String::from_utf8_lossy(raw.as_bytes().unwrap_or_default()).into_owned())
            }
            "JSONB" => other(
                String::from_utf8_lossy(
                    raw.as_bytes()
                        .unwrap_or_default()
                        .get(1..)
                        .unwrap_or_default(),
                )
                .into_owned(),
            ),
            "INT2[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<i16>>, _>(i)?,
                |v| v.to_string(),
                false,
            )),
            "INT4[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<i32>>, _>(i)?,
                |v| v.to_string(),
                false,
            )),
            "INT8[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<i64>>, _>(i)?,
                |v| v.to_string(),
                false,
            )),
            "FLOAT8[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<f64>>, _>(i)?,
                format_float,
                false,
            )),
            "BOOL[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<bool>>, _>(i)?,
                |b| if b { "t" } else { "f" }.to_string(),
                false,
            )),
            "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" | "NAME[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<String>>, _>(i)?,
                |s| s,
                true,
            )),
            t if is_text_type(t) => Value::Text(row.try_get_unchecked::<String, _>(i)?),
            // No decoder: the raw bytes, marked as such, rather than a guess.
            _ => {
                let bytes = raw.as_bytes().unwrap_or_default();
                other(format!(
                    "binary:{}",
                    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ))
            }
        })
    })();
    decoded.map_err(|e| e.to_string())
}

/// NUMERIC's binary form as the server prints it, keeping its display scale (`1.50`, not
/// the `1.5000` a decimal type would give back).
fn numeric_text(bytes: &[u8]) -> Option<String> {
    let word = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign, dscale) = (
        word(0)? as usize,
        word(2)? as i16,
        word(4)?,
        word(6)? as usize,
    );
    match sign {
        0xC000 => return Some("NaN".to_string()),
        0xD000 => return Some("Infinity".to_string()),
        0xF000 => return Some("-Infinity".to_string()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|k| word(8 + 2 * k))
        .collect::<Option<_>>()?;
    // digits[k] is the base-10000 group of weight `weight - k`.
    let group = |k: i32| {
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k).copied())
            .unwrap_or(0)
    };
    let weight = i32::from(weight);
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for k in 0..=weight {
            if k == 0 {
                text.push_str(&group(k).to_string());
            } else {
                text.push_str(&format!("{:04}", group(k)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut k = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", group(k)));
            k += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

fn describe(row: &PgRow) -> Vec<Column> {
    super::sqlx_columns(row.columns(), class_of)
}

fn result_set(rows: &[PgRow]) -> Result<ResultSet, ExecError> {
    Ok(ResultSet {
        columns: rows.first().map(describe).unwrap_or_default(),
        rows: rows.iter().map(decode_row).collect::<Result<_, _>>()?,
    })
}

/// One COPY text-format field.
fn copy_field(out: &mut Vec<u8>, value: &Scalar) {
    match value {
        Scalar::Null => out.extend_from_slice(b"\\N"),
        Scalar::Bool(b) => out.extend_from_slice(if *b { b"t" } else { b"f" }),
        Scalar::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Scalar::Float(f) => out.extend_from_slice(format_float(*f).as_bytes()),
        Scalar::Text(s) => {
            for c in s.bytes() {
                match c {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    other => out.push(other),
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_like_postgres() {
        let i = |months, days, microseconds| PgInterval {
            months,
            days,
            microseconds,
        };
        assert_eq!(
            fmt_interval(&i(14, 3, 4 * 3_600_000_000 + 5 * 60_000_000 + 6_500_000)),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(fmt_interval(&i(0, 1, 0)), "1 day");
        assert_eq!(fmt_interval(&i(0, 0, 0)), "00:00:00");
        assert_eq!(fmt_interval(&i(0, -1, 7_200_000_000)), "-1 days +02:00:00");
    }

    #[test]
    fn arrays_and_copy_fields_escape() {
        assert_eq!(
            fmt_array(vec![Some(1), None, Some(3)], |v: i32| v.to_string(), false),
            "{1,NULL,3}"
        );
        assert_eq!(
            fmt_array(vec![Some("a b".to_string()), Some("c".into())], |s| s, true),
            "{\"a b\",c}"
        );
        let mut out = Vec::new();
        copy_field(&mut out, &Scalar::Text("a\tb\\c\nd".into()));
        assert_eq!(out, b"a\\tb\\\\c\\nd");
    }

    #[test]
    fn numerics_keep_their_display_scale() {
        let numeric = |ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]| {
            let mut b = Vec::new();
            for w in [ndigits, weight as u16, sign, dscale] {
                b.extend_from_slice(&w.to_be_bytes());
            }
            for d in digits {
                b.extend_from_slice(&d.to_be_bytes());
            }
            numeric_text(&b)
        };
        assert_eq!(numeric(2, 0, 0, 2, &[1, 5000]).as_deref(), Some("1.50"));
        assert_eq!(
            numeric(2, 1, 0x4000, 0, &[12, 3456]).as_deref(),
            Some("-123456")
        );
        assert_eq!(numeric(1, -1, 0, 5, &[123]).as_deref(), Some("0.01230"));
        assert_eq!(numeric(0, 0, 0, 3, &[]).as_deref(), Some("0.000"));
        assert_eq!(numeric(0, 0, 0xC000, 0, &[]).as_deref(), Some("NaN"));
    }

    #[test]
    fn text_results_decode_by_type() {
        assert_eq!(from_text("INT4", "42"), Ok(Value::Int(42)));
        assert_eq!(from_text("BOOL", "t"), Ok(Value::Bool(true)));
        assert_eq!(
            from_text("NUMERIC", "10.50"),
            Ok(Value::Decimal("10.50".into()))
        );
        assert_eq!(
            from_text("BYTEA", "\\x0aff"),
            Ok(Value::Bytes(vec![10, 255]))
        );
        assert_eq!(
            from_text("DATE", "2024-01-02"),
            Ok(Value::Other {
                class: TypeClass::Date,
                text: "2024-01-02".into()
            })
        );
        // A value that does not read as its type is an error, never a guess.
        assert!(from_text("INT4", "forty-two").is_err());
        assert!(from_text("BOOL", "yes").is_err());
    }

    #[test]
    fn only_preparable_statements_are_described() {
        assert!(preparable("SELECT $1"));
        assert!(preparable("  with x as (select 1) select * from x"));
        assert!(preparable("(SELECT 1)"));
        assert!(!preparable("CREATE TABLE t (a int)"));
        assert!(!preparable("SET x = 1"));
    }
}
