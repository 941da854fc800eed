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

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use futures_util::TryStreamExt;
use tiberius::{AuthMethod, ColumnData, ColumnType, Config, EncryptionLevel, QueryItem};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Notify};
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::bulk;
use super::spare::Spares;
use super::tx::TxState;
use super::{
    Batches, Canceller, Capability, Column, DbError, Engine, ExecError, ResultSet, Row, Session,
    SessionOptions, undecodable,
};
use crate::secret::mask;
use crate::step::Param;
use crate::target::Target;
use crate::value::{Scalar, TypeClass, Value};

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

/// A session's connection, shared with its canceller: an Attention goes on the
/// connection whose request it stops.
struct Shared {
    /// `None` once the connection broke or went out of step: every later call says so.
    /// A call holds the lock while it runs.
    client: Mutex<Option<Client>>,
    /// Tells the running call to stop reading and send the Attention itself.
    notify: Notify,
    /// A call is running and listening for `notify`.
    running: AtomicBool,
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
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Runs `op` on the connection; if the session is cancelled meanwhile (`notified`),
/// stops reading its answer, sends an Attention and waits for the server's acknowledgement.
async fn attended<T>(
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

/// A parameter as tiberius binds it.
struct Bound(ColumnData<'static>);

impl tiberius::ToSql for Bound {
    fn to_sql(&self) -> ColumnData<'_> {
        self.0.clone()
    }
}

fn bound(params: &[Param]) -> Vec<Bound> {
    params
        .iter()
        .map(|p| {
            Bound(match &p.value {
                // Untyped NULL: nvarchar converts implicitly to every type but the binary ones.
                Scalar::Null => ColumnData::String(None),
                Scalar::Bool(b) => ColumnData::Bit(Some(*b)),
                Scalar::Int(i) => ColumnData::I64(Some(*i)),
                Scalar::Float(f) => ColumnData::F64(Some(*f)),
                Scalar::Text(s) => ColumnData::String(Some(Cow::Owned(s.clone()))),
            })
        })
        .collect()
}

fn references(bound: &[Bound]) -> Vec<&dyn tiberius::ToSql> {
    bound.iter().map(|b| b as &dyn tiberius::ToSql).collect()
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

/// A TDS column type's portable class and SQL Server name.
fn describe_type(ty: ColumnType) -> (TypeClass, &'static str) {
    use ColumnType as T;
    match ty {
        T::Bit | T::Bitn => (TypeClass::Boolean, "bit"),
        T::Int1 => (TypeClass::Integer, "tinyint"),
        T::Int2 => (TypeClass::Integer, "smallint"),
        T::Int4 => (TypeClass::Integer, "int"),
        T::Int8 => (TypeClass::Integer, "bigint"),
        T::Intn => (TypeClass::Integer, "int"),
        T::Float4 => (TypeClass::Float, "real"),
        T::Float8 | T::Floatn => (TypeClass::Float, "float"),
        T::Money => (TypeClass::Decimal, "money"),
        T::Money4 => (TypeClass::Decimal, "smallmoney"),
        T::Decimaln => (TypeClass::Decimal, "decimal"),
        T::Numericn => (TypeClass::Decimal, "numeric"),
        T::Guid => (TypeClass::Uuid, "uniqueidentifier"),
        T::Datetime4 => (TypeClass::Timestamp, "smalldatetime"),
        T::Datetime | T::Datetimen => (TypeClass::Timestamp, "datetime"),
        T::Datetime2 => (TypeClass::Timestamp, "datetime2"),
        T::DatetimeOffsetn => (TypeClass::Timestamp, "datetimeoffset"),
        T::Daten => (TypeClass::Date, "date"),
        T::Timen => (TypeClass::Time, "time"),
        T::BigVarChar => (TypeClass::Text, "varchar"),
        T::BigChar => (TypeClass::Text, "char"),
        T::NVarchar => (TypeClass::Text, "nvarchar"),
        T::NChar => (TypeClass::Text, "nchar"),
        T::Text => (TypeClass::Text, "text"),
        T::NText => (TypeClass::Text, "ntext"),
        T::BigVarBin => (TypeClass::Bytes, "varbinary"),
        T::BigBinary => (TypeClass::Bytes, "binary"),
        T::Image => (TypeClass::Bytes, "image"),
        T::Xml => (TypeClass::Other, "xml"),
        T::Udt => (TypeClass::Other, "udt"),
        T::SSVariant => (TypeClass::Other, "sql_variant"),
        T::Null => (TypeClass::Other, "null"),
    }
}

fn columns(meta: &[tiberius::Column]) -> Vec<Column> {
    meta.iter()
        .map(|c| {
            let (class, native) = describe_type(c.column_type());
            Column::new(c.name(), class, native)
        })
        .collect()
}

/// A numeric in its exact text form (`12.50`, `-0.75`, `42`).
fn numeric_text(n: tiberius::numeric::Numeric) -> String {
    let scale = u32::from(n.scale());
    let digits = n.value().unsigned_abs().to_string();
    let sign = if n.value() < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let width = scale as usize + 1;
    let padded = format!("{digits:0>width$}");
    let (int, frac) = padded.split_at(padded.len() - scale as usize);
    format!("{sign}{int}.{frac}")
}

/// One cell as its column's type says.
fn decode(data: &ColumnData<'static>, ty: ColumnType) -> Result<Value, String> {
    let other = |class: TypeClass, text: String| Value::Other { class, text };
    Ok(match data {
        ColumnData::U8(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I16(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I32(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I64(v) => v.map_or(Value::Null, Value::Int),
        // Through its shortest text, so a REAL's 0.1 stays 0.1.
        ColumnData::F32(v) => match v {
            None => Value::Null,
            Some(f) => Value::Float(f.to_string().parse().map_err(|e| format!("{e}"))?),
        },
        // MONEY travels as a scaled integer that tiberius hands over as f64: four places.
        ColumnData::F64(Some(f)) if matches!(ty, ColumnType::Money | ColumnType::Money4) => {
            Value::Decimal(format!("{f:.4}"))
        }
        ColumnData::F64(v) => v.map_or(Value::Null, Value::Float),
        ColumnData::Bit(v) => v.map_or(Value::Null, Value::Bool),
        ColumnData::String(v) => v
            .as_ref()
            .map_or(Value::Null, |s| Value::Text(s.to_string())),
        ColumnData::Guid(v) => v.map_or(Value::Null, |u| {
            // SQL Server's own text form of a uniqueidentifier is upper case.
            other(TypeClass::Uuid, u.to_string().to_uppercase())
        }),
        ColumnData::Binary(v) => v.as_ref().map_or(Value::Null, |b| Value::Bytes(b.to_vec())),
        ColumnData::Numeric(v) => v.map_or(Value::Null, |n| Value::Decimal(numeric_text(n))),
        ColumnData::Xml(v) => v
            .as_ref()
            .map_or(Value::Null, |x| other(TypeClass::Other, x.to_string())),
        ColumnData::DateTime(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            // Days since 1900-01-01 and 1/300 s ticks; SQL Server shows milliseconds.
            let ticks = t.seconds_fragments();
            let (seconds, rest) = (ticks / 300, ticks % 300);
            let nanos = (rest * 10 + 1) / 3 * 1_000_000;
            let at = day(1900, i64::from(t.days()))?.and_time(time_of_day(
                u64::from(seconds) * 1_000_000_000 + u64::from(nanos),
            )?);
            Ok(other(TypeClass::Timestamp, timestamp_text(at, 3)))
        })?,
        ColumnData::SmallDateTime(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            let at = day(1900, i64::from(t.days()))?.and_time(time_of_day(
                u64::from(t.seconds_fragments()) * 60_000_000_000,
            )?);
            Ok(other(TypeClass::Timestamp, timestamp_text(at, 0)))
        })?,
        ColumnData::Date(v) => v.map_or(Ok::<_, String>(Value::Null), |d| {
            let date = day(1, i64::from(d.days()))?;
            Ok(other(TypeClass::Date, date.format("%Y-%m-%d").to_string()))
        })?,
        ColumnData::Time(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            let time = time_of_day(nanos(t)?)?;
            Ok(other(TypeClass::Time, time_text(time, t.scale())))
        })?,
        ColumnData::DateTime2(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            let at = datetime2(t)?;
            Ok(other(
                TypeClass::Timestamp,
                timestamp_text(at, t.time().scale()),
            ))
        })?,
        ColumnData::DateTimeOffset(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            // The wire holds the UTC time and the offset; SQL Server shows the local time.
            let minutes = i64::from(t.offset());
            let local = datetime2(t.datetime2())?
                .checked_add_signed(chrono::TimeDelta::minutes(minutes))
                .ok_or_else(|| format!("offset {minutes} min puts the value out of range"))?;
            let sign = if minutes < 0 { '-' } else { '+' };
            let (h, m) = (minutes.abs() / 60, minutes.abs() % 60);
            let scale = t.datetime2().time().scale();
            Ok(other(
                TypeClass::Timestamp,
                format!("{} {sign}{h:02}:{m:02}", timestamp_text(local, scale)),
            ))
        })?,
    })
}

/// The day `days` after January 1st of `year` (1900 for DATETIME, 1 for DATE).
fn day(year: i32, days: i64) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|start| start.checked_add_signed(chrono::TimeDelta::days(days)))
        .ok_or_else(|| format!("{days} days after {year}-01-01 is not a date"))
}

/// Nanoseconds since midnight as a time of day.
fn time_of_day(nanos: u64) -> Result<NaiveTime, String> {
    let seconds = u32::try_from(nanos / 1_000_000_000).map_err(|e| e.to_string())?;
    let rest = u32::try_from(nanos % 1_000_000_000).map_err(|e| e.to_string())?;
    NaiveTime::from_num_seconds_from_midnight_opt(seconds, rest)
        .ok_or_else(|| format!("{nanos} ns is not a time of day"))
}

/// A TIME's increments (of 10^-scale s) in nanoseconds.
fn nanos(t: tiberius::time::Time) -> Result<u64, String> {
    let scale = u32::from(t.scale());
    10u64
        .checked_pow(9u32.checked_sub(scale).ok_or("a time scale over 9")?)
        .and_then(|unit| t.increments().checked_mul(unit))
        .ok_or_else(|| format!("{} increments of scale {scale} overflow", t.increments()))
}

fn datetime2(t: tiberius::time::DateTime2) -> Result<NaiveDateTime, String> {
    Ok(day(1, i64::from(t.date().days()))?.and_time(time_of_day(nanos(t.time())?)?))
}

/// `hh:mm:ss` and as many fractional digits as the type's scale, as SQL Server shows it.
fn time_text(t: NaiveTime, scale: u8) -> String {
    let mut text = t.format("%H:%M:%S").to_string();
    let digits = usize::from(scale.min(9));
    if digits > 0 {
        let fraction = format!("{:09}", t.nanosecond() % 1_000_000_000);
        text.push('.');
        text.push_str(&fraction[..digits]);
    }
    text
}

fn timestamp_text(t: NaiveDateTime, scale: u8) -> String {
    format!("{} {}", t.format("%Y-%m-%d"), time_text(t.time(), scale))
}

fn decode_row(row: tiberius::Row, described: &[Column]) -> Result<Row, ExecError> {
    let types: Vec<ColumnType> = row.columns().iter().map(|c| c.column_type()).collect();
    row.into_iter()
        .enumerate()
        .map(|(i, data)| {
            let ty = types.get(i).copied().unwrap_or(ColumnType::Null);
            decode(&data, ty).map_err(|e| {
                let name = described.get(i).map_or("", |c| c.name.as_str());
                undecodable(i, name, describe_type(ty).1, &e, None)
            })
        })
        .collect()
}

/// Reads a query's answer: its one result set (a later one is an error), or no columns
/// and no rows when it has none.
async fn read_result(mut stream: tiberius::QueryStream<'_>) -> Result<ResultSet, Fail> {
    let mut result = ResultSet::default();
    let mut sets = 0usize;
    while let Some(item) = stream.try_next().await? {
        match item {
            QueryItem::Metadata(meta) => {
                sets += 1;
                if sets == 1 {
                    result.columns = columns(meta.columns());
                }
            }
            QueryItem::Row(row) if sets <= 1 => {
                result.rows.push(decode_row(row, &result.columns)?);
            }
            QueryItem::Row(_) => {}
        }
    }
    if sets > 1 {
        return Err(Fail::Exec(ExecError::Client(format!(
            "the batch returned {sets} result sets; a query step checks one (give each SELECT its own step)"
        ))));
    }
    Ok(result)
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
        let sent = match self.tx.before_statement().sql() {
            Some(sql) => self.send_control(sql).await,
            None => Ok(()),
        };
        if sent.is_err() {
            self.tx.forget();
        }
        sent
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
            let stream = if bound.is_empty() {
                client.simple_query(sql).await
            } else {
                let refs = references(&bound);
                client.query(sql, &refs).await
            }?;
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
            let stream = if bound.is_empty() {
                client.simple_query(sql).await
            } else {
                let refs = references(&bound);
                client.query(sql, &refs).await
            }?;
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
        let own_tx = !self.tx.is_open();
        if own_tx {
            self.batch("BEGIN TRANSACTION").await?;
        }
        let mut loaded = 0u64;
        let mut result = Ok(());
        for batch in
            bulk::insert_batches(table, columns, rows, MAX_COPY_ROWS, MAX_COPY_PARAMS, |n| {
                format!("@P{n}")
            })
        {
            let step = match batch {
                Err(e) => Err(ExecError::Client(e)),
                // The statement succeeded, so its rows are in (the count is the batch's,
                // not a DONE count a server might leave out).
                Ok(batch) => self
                    .rpc_execute(&batch.sql, &batch.params)
                    .await
                    .map(|_| loaded += batch.rows as u64),
            };
            if let Err(e) = step {
                result = Err(e);
                break;
            }
        }
        if own_tx && self.connected().await {
            let end = if result.is_ok() {
                "COMMIT TRANSACTION"
            } else {
                "ROLLBACK TRANSACTION"
            };
            let ended = self.batch(end).await;
            if result.is_ok() {
                ended?;
            }
        }
        result.map(|()| loaded)
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
    fn numerics_keep_their_scale() {
        use tiberius::numeric::Numeric;
        let n = |v, s| numeric_text(Numeric::new_with_scale(v, s));
        assert_eq!(n(1250, 2), "12.50");
        assert_eq!(n(-75, 2), "-0.75");
        assert_eq!(n(42, 0), "42");
        assert_eq!(n(5, 3), "0.005");
        assert_eq!(n(i128::MIN, 0), i128::MIN.to_string());
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

    #[test]
    fn values_decode_as_their_column_types_say() {
        let money = decode(&ColumnData::F64(Some(12.5)), ColumnType::Money).unwrap();
        assert_eq!(money, Value::Decimal("12.5000".to_string()));
        let real = decode(&ColumnData::F32(Some(0.1)), ColumnType::Float4).unwrap();
        assert_eq!(real, Value::Float(0.1));
        let text = |data: ColumnData<'static>, ty| match decode(&data, ty).unwrap() {
            Value::Other { text, .. } => text,
            other => panic!("{other:?}"),
        };
        use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};
        // 2024-01-02 is 45291 days after 1900-01-01 and 738886 after 0001-01-01.
        let days = (NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()
            - NaiveDate::from_ymd_opt(1, 1, 1).unwrap())
        .num_days() as u32;
        assert_eq!(days, 738_886);
        // DATETIME ticks are 1/300 s, shown as milliseconds: 2 ticks are .007.
        let dt = DateTime::new(45291, (3 * 3600 + 4 * 60 + 5) * 300 + 2);
        assert_eq!(
            text(ColumnData::DateTime(Some(dt)), ColumnType::Datetimen),
            "2024-01-02 03:04:05.007"
        );
        let sdt = SmallDateTime::new(45291, 3 * 60 + 4);
        assert_eq!(
            text(ColumnData::SmallDateTime(Some(sdt)), ColumnType::Datetime4),
            "2024-01-02 03:04:00"
        );
        assert_eq!(
            text(ColumnData::Date(Some(Date::new(days))), ColumnType::Daten),
            "2024-01-02"
        );
        let t = Time::new(((3 * 3600 + 4 * 60 + 5) * 10 + 5) * 100, 3);
        assert_eq!(
            text(ColumnData::Time(Some(t)), ColumnType::Timen),
            "03:04:05.500"
        );
        let t7 = Time::new((3 * 3600 + 4 * 60 + 5) * 10_000_000 + 1_234_567, 7);
        let dt2 = DateTime2::new(Date::new(days), t7);
        assert_eq!(
            text(ColumnData::DateTime2(Some(dt2)), ColumnType::Datetime2),
            "2024-01-02 03:04:05.1234567"
        );
        // 02:04:05 UTC at +01:00 is 03:04:05 there.
        let utc = DateTime2::new(Date::new(days), Time::new(2 * 3600 + 4 * 60 + 5, 0));
        let dto = DateTimeOffset::new(utc, 60);
        assert_eq!(
            text(
                ColumnData::DateTimeOffset(Some(dto)),
                ColumnType::DatetimeOffsetn
            ),
            "2024-01-02 03:04:05 +01:00"
        );
        let west = DateTimeOffset::new(utc, -150);
        assert_eq!(
            text(
                ColumnData::DateTimeOffset(Some(west)),
                ColumnType::DatetimeOffsetn
            ),
            "2024-01-01 23:34:05 -02:30"
        );
        // What the server controls never panics: an impossible time is an error.
        assert!(
            decode(
                &ColumnData::Time(Some(Time::new(u64::MAX, 7))),
                ColumnType::Timen
            )
            .is_err()
        );
        assert!(decode(&ColumnData::Time(Some(Time::new(1, 12))), ColumnType::Timen).is_err());
        let far = ColumnData::Date(Some(Date::new(0xFF_FFFF)));
        assert!(decode(&far, ColumnType::Daten).is_ok());
        let guid = ColumnData::Guid(Some(tiberius::Uuid::nil()));
        assert!(matches!(
            decode(&guid, ColumnType::Guid).unwrap(),
            Value::Other {
                class: TypeClass::Uuid,
                ..
            }
        ));
        assert_eq!(
            decode(&ColumnData::I32(None), ColumnType::Intn).unwrap(),
            Value::Null
        );
    }
}
