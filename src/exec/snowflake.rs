//! Snowflake through the REST protocol its connectors speak.
//!
//! `POST /session/v1/login-request` (account, user, password, database, schema, warehouse
//! from the target URL) gives a token sent as `Authorization: Snowflake Token="…"`;
//! `POST /queries/v1/query-request` runs one statement with a `sequenceId` and typed
//! positional `bindings`; results come back as JSON (`rowset`) or as a base64 Arrow IPC
//! stream (`rowsetBase64`), decoded with the arrow crates, plus any further `chunks`;
//! errors are `success: false` with `code` and `data.sqlState`. `cancel_after` goes through
//! `POST /queries/v1/abort-request`, `copy` through array bindings (one statement, a list
//! of values per column), and sessions end with `POST /session?delete=true`.
//!
//! Target: `http://USER:PASSWORD@127.0.0.1:8443/DATABASE/SCHEMA?account=A&warehouse=W`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int8Type, Int16Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field};
use async_trait::async_trait;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value as Json, json};
use tokio::sync::Mutex;

use super::http::{self, HttpClient};
use super::tx::TxState;
use super::{
    Batches, Canceller, Capability, Column, DbError, Engine, ExecError, ResultSet, Row, Session,
    SessionOptions, undecodable,
};
use crate::plan::Param;
use crate::target::{Target, mask};
use crate::value::{Scalar, TypeClass, Value, format_float};

/// Rows per array-bound INSERT of a `copy`.
const COPY_ROWS: usize = 1_000;

/// Answer codes of a query that is still running (`333334`: detached); such an answer
/// carries `data.getResultUrl`, polled until the answer is the query's own.
const IN_PROGRESS: [&str; 2] = ["333333", "333334"];
/// Pauses between those polls: quick for short queries, then capped. No deadline of our
/// own: the runner's step timeout drops the future, and every wait here yields.
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(500);

/// Snowflake's largest scale (NUMBER(38, 37)). A scale feeds format widths and powers of
/// ten, so one from the server is checked against this before any use.
const MAX_SCALE: i64 = 37;

pub struct SnowflakeEngine {
    http: HttpClient,
    account: String,
    user: String,
    password: String,
    database: Option<String>,
    schema: Option<String>,
    warehouse: Option<String>,
}

/// The HTTP client of a Snowflake target. Its path names the database and schema (as the
/// connectors' URLs do), so a prefix in front of the API, if any, is `base-path=`.
pub fn api_client(target: &Target) -> Result<HttpClient, ExecError> {
    HttpClient::new(
        target,
        &http::query_param(target, "base-path").unwrap_or_default(),
    )
}

impl SnowflakeEngine {
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let (user, password) = http::credentials(target);
        let mut path = target.path_segments().into_iter();
        Ok(Self {
            http: api_client(target)?,
            account: http::query_param(target, "account").unwrap_or_else(|| "local".to_string()),
            user: user.unwrap_or_else(|| "test".to_string()),
            password: password.unwrap_or_default(),
            database: path
                .next()
                .or_else(|| http::query_param(target, "database")),
            schema: path.next().or_else(|| http::query_param(target, "schema")),
            warehouse: http::query_param(target, "warehouse"),
        })
    }
}

fn request_id() -> String {
    // Unique per process and call; the protocol only needs it to be unique per query.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-0000-4000-8000-{:012x}", std::process::id(), n)
}

/// The `code` of an answer, as text (`"001003"`; some answers carry it as a number).
fn answer_code(body: &Json) -> Option<String> {
    body.get("code").and_then(|c| {
        c.as_str()
            .map(str::to_string)
            .or_else(|| c.as_u64().map(|n| format!("{n:06}")))
    })
}

/// At most `limit` characters of a body that is not JSON (an HTML or XML error page), on
/// one line and masked.
fn excerpt(text: &str, limit: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = line.chars().take(limit).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    mask(&cut)
}

/// `success: false` answers (and non-2xx ones) as server errors.
fn api_error(status: u16, body: &Json) -> ExecError {
    let code = answer_code(body);
    let sqlstate = body
        .pointer("/data/sqlState")
        .and_then(Json::as_str)
        .map(str::to_string);
    let message = body
        .get("message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| match body {
            // Not JSON (a proxy's or a crashed handler's page): its text, not a JSON string.
            Json::String(text) => excerpt(text, 300),
            Json::Null => "(an empty answer)".to_string(),
            other => other.to_string(),
        });
    ExecError::Db(DbError {
        sqlstate,
        code,
        message: if (200..300).contains(&status) {
            message
        } else {
            format!("HTTP {status}: {message}")
        },
        exception: None,
    })
}

#[async_trait]
impl Engine for SnowflakeEngine {
    fn capabilities(&self) -> &[Capability] {
        &Capability::SQL
    }

    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        let mut query: Vec<(&str, String)> = vec![("request_id", request_id())];
        if let Some(d) = &self.database {
            query.push(("databaseName", d.clone()));
        }
        if let Some(s) = &self.schema {
            query.push(("schemaName", s.clone()));
        }
        if let Some(w) = &self.warehouse {
            query.push(("warehouse", w.clone()));
        }
        let url =
            reqwest::Url::parse_with_params(&self.http.url("/session/v1/login-request")?, &query)
                .map_err(|e| ExecError::Connect(e.to_string()))?;
        let body = json!({"data": {
            "CLIENT_APP_ID": "helios-matrix",
            "CLIENT_APP_VERSION": env!("CARGO_PKG_VERSION"),
            "ACCOUNT_NAME": self.account,
            "LOGIN_NAME": self.user,
            "PASSWORD": self.password,
            "SESSION_PARAMETERS": {"AUTOCOMMIT": options.autocommit},
        }});
        let (status, answer) = self
            .http
            .send(
                self.http
                    .request(Method::POST, url.as_str())
                    .header("Accept", "application/json")
                    .json(&body),
            )
            .await
            .map_err(|e| match e {
                ExecError::Lost(m) => ExecError::Connect(m),
                other => other,
            })?;
        if answer.get("success").and_then(Json::as_bool) != Some(true) {
            let reason = match api_error(status, &answer) {
                ExecError::Db(db) => db.to_string(),
                other => other.to_string(),
            };
            return Err(ExecError::Connect(format!("login refused: {reason}")));
        }
        let token = answer
            .pointer("/data/token")
            .and_then(Json::as_str)
            .ok_or_else(|| ExecError::Connect(format!("the login answer has no token: {answer}")))?
            .to_string();
        let api = Arc::new(Api {
            http: self.http.clone(),
            token,
            sequence: AtomicU64::new(0),
            running: Mutex::new(None),
        });
        Ok(Box::new(SnowflakeSession {
            api: api.clone(),
            tx: TxState::server_side(options.autocommit),
            canceller: Arc::new(SnowflakeCanceller { api }),
        }))
    }
}

/// One logged-in session's protocol state.
struct Api {
    http: HttpClient,
    token: String,
    sequence: AtomicU64,
    /// The request id and SQL of the query in flight, for abort-request.
    running: Mutex<Option<(String, String)>>,
}

impl Api {
    fn authorized(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header(
                "Authorization",
                format!("Snowflake Token=\"{}\"", self.token),
            )
            .header("Accept", "application/snowflake")
    }

    fn post(&self, url: &str, body: &Json) -> reqwest::RequestBuilder {
        self.authorized(Method::POST, url).json(body)
    }

    /// The final answer to a query-request: an in-progress answer is followed through its
    /// `getResultUrl` until the query has finished (`running` stays set meanwhile, so the
    /// query can still be aborted).
    async fn final_answer(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Json), ExecError> {
        let mut answer = self.http.send(request).await?;
        let mut pause = POLL_FIRST;
        while let Some(code) = answer_code(&answer.1).filter(|c| IN_PROGRESS.contains(&c.as_str()))
        {
            let path = answer
                .1
                .pointer("/data/getResultUrl")
                .and_then(Json::as_str)
                .ok_or_else(|| {
                    ExecError::Client(format!(
                        "the query is still running (code {code}) but the answer has no data.getResultUrl"
                    ))
                })?;
            let url = self.http.url(path)?;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
            answer = self.http.send(self.authorized(Method::GET, &url)).await?;
        }
        Ok(answer)
    }

    /// Runs one statement; the `data` of a successful answer.
    async fn query(&self, sql: &str, bindings: Option<Json>) -> Result<Json, ExecError> {
        let id = request_id();
        let url = reqwest::Url::parse_with_params(
            &self.http.url("/queries/v1/query-request")?,
            &[("requestId", id.as_str())],
        )
        .map_err(|e| ExecError::Client(e.to_string()))?;
        let mut body = json!({
            "sqlText": sql,
            "asyncExec": false,
            "sequenceId": self.sequence.fetch_add(1, Ordering::Relaxed) + 1,
            "querySubmissionTime": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0),
        });
        if let Some(b) = bindings {
            body["bindings"] = b;
        }
        *self.running.lock().await = Some((id, sql.to_string()));
        let result = self.final_answer(self.post(url.as_str(), &body)).await;
        *self.running.lock().await = None;
        let (status, answer) = result?;
        if answer.get("success").and_then(Json::as_bool) == Some(true) {
            Ok(answer.get("data").cloned().unwrap_or(Json::Null))
        } else {
            Err(api_error(status, &answer))
        }
    }

    async fn close(&self) -> Result<(), ExecError> {
        let url = self.http.url("/session?delete=true")?;
        self.http
            .send(self.post(&url, &json!({})))
            .await
            .map(|_| ())
    }
}

struct SnowflakeCanceller {
    api: Arc<Api>,
}

#[async_trait]
impl Canceller for SnowflakeCanceller {
    async fn cancel(&self) -> Result<(), ExecError> {
        let Some((id, sql)) = self.api.running.lock().await.clone() else {
            return Ok(());
        };
        let url = self.api.http.url("/queries/v1/abort-request")?;
        let (status, answer) = self
            .api
            .http
            .send(
                self.api
                    .post(&url, &json!({"sqlText": sql, "requestId": id})),
            )
            .await?;
        // Only an acknowledged abort is a cancel: an HTTP error (whatever its body) or a
        // refusal means the query may run on, which the step must report.
        let acknowledged = (200..300).contains(&status)
            && answer.get("success").and_then(Json::as_bool) == Some(true);
        if acknowledged {
            return Ok(());
        }
        Err(match api_error(status, &answer) {
            ExecError::Db(mut db) => {
                db.message = format!("abort-request failed: {}", db.message);
                ExecError::Db(db)
            }
            other => other,
        })
    }
}

struct SnowflakeSession {
    api: Arc<Api>,
    tx: TxState,
    canceller: Arc<SnowflakeCanceller>,
}

/// The binding type and text of a value, as the connectors send them.
fn binding(value: &Scalar) -> (&'static str, Json) {
    match value {
        Scalar::Null => ("ANY", Json::Null),
        Scalar::Bool(b) => ("BOOLEAN", json!(b.to_string())),
        Scalar::Int(i) => ("FIXED", json!(i.to_string())),
        Scalar::Float(f) => ("REAL", json!(format_float(*f))),
        Scalar::Text(s) => ("TEXT", json!(s)),
    }
}

fn bindings(params: &[Param]) -> Option<Json> {
    if params.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, Json> = params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (ty, value) = binding(&p.value);
            ((i + 1).to_string(), json!({"type": ty, "value": value}))
        })
        .collect();
    Some(Json::Object(map))
}

/// Column names and (logical type, scale) from `rowtype`; a scale outside Snowflake's range
/// is an error naming its column.
fn rowtype(data: &Json) -> Result<Vec<(String, String, i64)>, ExecError> {
    let Some(cols) = data.get("rowtype").and_then(Json::as_array) else {
        return Ok(Vec::new());
    };
    cols.iter()
        .map(|c| {
            let name = c
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
            let scale = match c.get("scale") {
                None | Some(Json::Null) => 0,
                Some(s) => s
                    .as_i64()
                    .filter(|n| (0..=MAX_SCALE).contains(n))
                    .ok_or_else(|| bad_scale(&name, s))?,
            };
            let ty = c
                .get("type")
                .and_then(Json::as_str)
                .unwrap_or("text")
                .to_ascii_uppercase();
            Ok((name, ty, scale))
        })
        .collect()
}

fn bad_scale(column: &str, scale: &dyn std::fmt::Display) -> ExecError {
    ExecError::Client(format!(
        "column `{column}`: the server sent scale {scale}, outside Snowflake's 0..={MAX_SCALE}"
    ))
}

/// A scaled integer (`FIXED` with a scale) as exact decimal text. `scale` is a format width:
/// callers pass one checked by `rowtype`/`field_scale`, or an Arrow decimal's (an `i8`).
fn scaled(n: i128, scale: i64) -> Value {
    if scale <= 0 {
        return i64::try_from(n).map_or_else(|_| Value::Decimal(n.to_string()), Value::Int);
    }
    let digits = n.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    Value::Decimal(format!("{}{int}.{frac}", if n < 0 { "-" } else { "" }))
}

/// A Snowflake logical type's portable class (`FIXED` with a scale is a decimal).
fn class_of(logical: &str, scale: i64) -> TypeClass {
    match logical {
        "FIXED" if scale == 0 => TypeClass::Integer,
        "FIXED" | "DECFLOAT" => TypeClass::Decimal,
        "REAL" => TypeClass::Float,
        "TEXT" | "" => TypeClass::Text,
        "BOOLEAN" => TypeClass::Boolean,
        "DATE" => TypeClass::Date,
        "TIME" => TypeClass::Time,
        l if l.starts_with("TIMESTAMP") => TypeClass::Timestamp,
        "BINARY" => TypeClass::Bytes,
        "VARIANT" | "OBJECT" => TypeClass::Json,
        "ARRAY" => TypeClass::Array,
        "VECTOR" => TypeClass::Vector,
        _ => TypeClass::Other,
    }
}

/// The answer's columns, from its `rowtype`.
fn columns_of(types: &[(String, String, i64)]) -> Vec<Column> {
    types
        .iter()
        .map(|(name, ty, scale)| {
            let native = if *scale > 0 {
                format!("{}({scale})", ty.to_lowercase())
            } else {
                ty.to_lowercase()
            };
            Column::new(name, class_of(ty, *scale), native)
        })
        .collect()
}

/// A JSON-format cell (`rowset`): always text, typed by the rowtype.
fn json_cell(value: &Json, ty: &str, scale: i64) -> Result<Value, String> {
    let Some(text) = value
        .as_str()
        .map(str::to_string)
        .or_else(|| (!value.is_null()).then(|| value.to_string()))
    else {
        return Ok(Value::Null);
    };
    let bad = |e: &dyn std::fmt::Display| format!("`{text}`: {e}");
    Ok(match class_of(ty, scale) {
        TypeClass::Integer => match text.parse() {
            Ok(n) => Value::Int(n),
            // NUMBER(38,0) past i64 stays exact.
            Err(e) => {
                text.parse::<i128>().map_err(|_| bad(&e))?;
                Value::Decimal(text)
            }
        },
        TypeClass::Decimal => {
            text.parse::<f64>().map_err(|e| bad(&e))?;
            Value::Decimal(text)
        }
        TypeClass::Float => Value::Float(text.parse().map_err(|e| bad(&e))?),
        TypeClass::Boolean => match text.as_str() {
            "1" | "true" | "TRUE" => Value::Bool(true),
            "0" | "false" | "FALSE" => Value::Bool(false),
            _ => return Err(bad(&"not a boolean")),
        },
        TypeClass::Text => Value::Text(text),
        class => Value::Other { class, text },
    })
}

/// The `scale` of an Arrow field's Snowflake metadata (0 when absent), checked like a
/// rowtype's.
fn field_scale(field: &Field) -> Result<i64, ExecError> {
    let Some(text) = field.metadata().get("scale") else {
        return Ok(0);
    };
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (0..=MAX_SCALE).contains(n))
        .ok_or_else(|| bad_scale(field.name(), text))
}

/// For decoding cells, after `arrow_rows` has rejected every field whose scale is not
/// Snowflake's (so the fallback never hides a bad one).
fn metadata_scale(field: &Field) -> i64 {
    field_scale(field).unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]` from seconds and nanoseconds since the epoch.
fn timestamp_text(epoch: i64, nanos: i64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp(epoch, u32::try_from(nanos).ok()?)?.naive_utc();
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    Some(if nanos == 0 {
        base
    } else {
        format!("{base}.{}", format!("{nanos:09}").trim_end_matches('0'))
    })
}

/// An Arrow cell, read by the column's Snowflake logical type.
fn arrow_cell(column: &ArrayRef, field: &Field, row: usize) -> Value {
    if column.is_null(row) {
        return Value::Null;
    }
    let logical = field
        .metadata()
        .get("logicalType")
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_default();
    let scale = metadata_scale(field);
    let int = |c: &ArrayRef| -> Option<i128> {
        Some(match c.data_type() {
            DataType::Int8 => c.as_primitive::<Int8Type>().value(row).into(),
            DataType::Int16 => c.as_primitive::<Int16Type>().value(row).into(),
            DataType::Int32 => c.as_primitive::<Int32Type>().value(row).into(),
            DataType::Int64 => c.as_primitive::<Int64Type>().value(row).into(),
            _ => return None,
        })
    };
    let display = || {
        arrow_cast::display::ArrayFormatter::try_new(
            column.as_ref(),
            &arrow_cast::display::FormatOptions::default(),
        )
        .map(|f| f.value(row).to_string())
        .unwrap_or_default()
    };
    let class = class_of(&logical, scale);
    let other = |text: String| Value::Other { class, text };
    match (logical.as_str(), column.data_type()) {
        ("FIXED", DataType::Decimal128(_, s)) => {
            let v = column
                .as_primitive::<arrow_array::types::Decimal128Type>()
                .value(row);
            scaled(v, i64::from(*s))
        }
        ("FIXED", _) => int(column).map_or_else(|| Value::Decimal(display()), |n| scaled(n, scale)),
        (_, DataType::Boolean) => Value::Bool(column.as_boolean().value(row)),
        (_, DataType::Float32 | DataType::Float64) => display()
            .parse()
            .map_or_else(|_| other(display()), Value::Float),
        (_, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            if logical == "TEXT" || logical.is_empty() =>
        {
            Value::Text(display())
        }
        (_, DataType::Binary) => Value::Bytes(column.as_binary::<i32>().value(row).to_vec()),
        (_, DataType::LargeBinary) => Value::Bytes(column.as_binary::<i64>().value(row).to_vec()),
        ("DATE", DataType::Date32) => {
            let days = column.as_primitive::<Date32Type>().value(row);
            chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0).map_or_else(
                || other(display()),
                |d| other(d.format("%Y-%m-%d").to_string()),
            )
        }
        (l, DataType::Struct(_)) if l.starts_with("TIMESTAMP") => {
            let s: &StructArray = column.as_struct();
            // A NULL timestamp may come as a valid struct whose fields are null (fakesnow).
            if s.columns().iter().any(|c| c.is_null(row)) {
                return Value::Null;
            }
            let epoch = s
                .column_by_name("epoch")
                .and_then(|c| c.as_primitive_opt::<Int64Type>())
                .map(|c| c.value(row));
            let fraction = s
                .column_by_name("fraction")
                .and_then(|c| c.as_primitive_opt::<Int32Type>())
                .map(|c| c.value(row));
            match (epoch, fraction) {
                (Some(e), Some(f)) => {
                    timestamp_text(e, i64::from(f)).map_or_else(|| other(display()), other)
                }
                _ => other(display()),
            }
        }
        (l, _) if l.starts_with("TIMESTAMP") => match int(column) {
            // Scaled: seconds * 10^scale.
            Some(v) => {
                let unit = 10i128.pow(u32::try_from(scale.clamp(0, 9)).unwrap_or(0));
                let (secs, frac) = (v.div_euclid(unit), v.rem_euclid(unit));
                let nanos = frac * 10i128.pow(9 - u32::try_from(scale.clamp(0, 9)).unwrap_or(0));
                timestamp_text(secs as i64, nanos as i64).map_or_else(|| other(display()), other)
            }
            None => other(display()),
        },
        ("TIME", _) => match int(column) {
            Some(v) => {
                let nanos_per = 10i128.pow(9 - u32::try_from(scale.clamp(0, 9)).unwrap_or(0));
                let total = v * nanos_per;
                let secs = (total / 1_000_000_000) as i64;
                let nanos = (total % 1_000_000_000) as i64;
                let base = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
                other(if nanos == 0 {
                    base
                } else {
                    format!("{base}.{}", format!("{nanos:09}").trim_end_matches('0'))
                })
            }
            None => other(display()),
        },
        _ => other(display()),
    }
}

fn arrow_rows(bytes: &[u8]) -> Result<Vec<Row>, ExecError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| ExecError::Client(format!("bad Arrow result: {e}")))?;
    let schema = reader.schema();
    for field in schema.fields() {
        field_scale(field)?;
    }
    let mut rows = Vec::new();
    for batch in reader {
        let batch: RecordBatch =
            batch.map_err(|e| ExecError::Client(format!("bad Arrow batch: {e}")))?;
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(column, field)| arrow_cell(column, field, row))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

impl SnowflakeSession {
    /// All rows of an answer: the inline rowset and any further chunks, read in order until
    /// `limit` rows are in.
    async fn rows(&self, data: &Json, limit: usize) -> Result<(Vec<Column>, Vec<Row>), ExecError> {
        let types = rowtype(data)?;
        let columns = columns_of(&types);
        let format = data
            .get("queryResultFormat")
            .and_then(Json::as_str)
            .unwrap_or("json");
        let mut rows = if format.eq_ignore_ascii_case("arrow") {
            let b64 = data
                .get("rowsetBase64")
                .and_then(Json::as_str)
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| ExecError::Client(format!("bad rowsetBase64: {e}")))?;
            arrow_rows(&bytes)?
        } else {
            json_rows(data.get("rowset"), &types)?
        };
        if let Some(chunks) = data.get("chunks").and_then(Json::as_array) {
            let headers = data
                .get("chunkHeaders")
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default();
            for (i, chunk) in chunks.iter().enumerate() {
                if rows.len() >= limit {
                    break;
                }
                let url = chunk
                    .get("url")
                    .and_then(Json::as_str)
                    .ok_or_else(|| ExecError::Client(format!("a chunk without url: {chunk}")))?;
                let url = self.api.http.url(url)?;
                // Chunk URLs are presigned: their query string is a credential, never shown.
                let shown = mask(url.split(['?', '#']).next().unwrap_or_default());
                let which = format!("result chunk {} of {}", i + 1, chunks.len());
                let mut request = self.api.http.request(Method::GET, &url);
                for (k, v) in &headers {
                    if let Some(v) = v.as_str() {
                        request = request.header(k.as_str(), v);
                    }
                }
                let lost = |e: reqwest::Error| {
                    ExecError::Lost(format!("{which} from {shown}: {}", e.without_url()))
                };
                let response = request.send().await.map_err(lost)?;
                let status = response.status();
                let bytes = response.bytes().await.map_err(lost)?;
                // An error page (S3's XML, a proxy's HTML) is not rows.
                if !status.is_success() {
                    return Err(ExecError::Db(DbError {
                        message: format!(
                            "{which}: HTTP {status} from {shown}: {}",
                            excerpt(&String::from_utf8_lossy(&bytes), 200)
                        ),
                        ..DbError::default()
                    }));
                }
                if format.eq_ignore_ascii_case("arrow") {
                    rows.extend(arrow_rows(&bytes)?);
                } else {
                    // JSON chunks are rows without the enclosing brackets.
                    let text = format!("[{}]", String::from_utf8_lossy(&bytes));
                    let parsed: Json = serde_json::from_str(&text)
                        .map_err(|e| ExecError::Client(format!("bad JSON chunk: {e}")))?;
                    rows.extend(json_rows(Some(&parsed), &types)?);
                }
            }
        }
        rows.truncate(limit);
        Ok((columns, rows))
    }
}

fn json_rows(
    rowset: Option<&Json>,
    types: &[(String, String, i64)],
) -> Result<Vec<Row>, ExecError> {
    super::json_rows(rowset, |i, v| {
        let (name, ty, scale) = types
            .get(i)
            .map_or(("", "TEXT", 0), |t| (t.0.as_str(), t.1.as_str(), t.2));
        json_cell(v, ty, scale).map_err(|e| undecodable(i, name, ty, &e, None))
    })
}

#[async_trait]
impl Session for SnowflakeSession {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError> {
        let data = self.api.query(sql, bindings(params)).await?;
        let is_dml = data
            .get("statementTypeId")
            .and_then(Json::as_u64)
            .is_some_and(|t| (0x3000..0x4000).contains(&t));
        if !is_dml {
            // DDL and the like touch no rows.
            return Ok(Some(0));
        }
        // DML answers carry their counts as the first row ("number of rows inserted", …).
        let (_, rows) = self.rows(&data, 1).await?;
        Ok(rows.first().and_then(|r| {
            r.iter().find_map(|v| match v {
                Value::Int(n) => u64::try_from(*n).ok(),
                _ => None,
            })
        }))
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        let data = self.api.query(sql, bindings(params)).await?;
        let (columns, rows) = self.rows(&data, usize::MAX).await?;
        Ok(ResultSet { columns, rows })
    }

    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError> {
        // The first rows arrive with the answer; further chunks are read only as needed.
        let data = self.api.query(sql, bindings(params)).await?;
        let (columns, rows) = self.rows(&data, batch.saturating_mul(max_batches)).await?;
        Ok(Batches {
            columns,
            batches: rows.chunks(batch.max(1)).map(<[Row]>::to_vec).collect(),
        })
    }

    fn transactions(&mut self) -> Option<&mut TxState> {
        Some(&mut self.tx)
    }

    async fn send_control(&mut self, sql: &'static str) -> Result<(), ExecError> {
        self.api.query(sql, None).await.map(|_| ())
    }

    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            columns.join(", "),
            vec!["?"; columns.len()].join(", ")
        );
        let mut loaded = 0u64;
        let mut batch: Vec<Vec<Scalar>> = Vec::with_capacity(COPY_ROWS);
        let mut rows = rows.peekable();
        while let Some(row) = rows.next() {
            let row = row.map_err(ExecError::Client)?;
            if row.len() != columns.len() {
                return Err(ExecError::Client(format!(
                    "a copy row has {} values for {} columns",
                    row.len(),
                    columns.len()
                )));
            }
            batch.push(row);
            if batch.len() == COPY_ROWS || rows.peek().is_none() {
                // Array binding: one list of values per placeholder, typed by the column.
                let mut map = serde_json::Map::new();
                for col in 0..columns.len() {
                    let ty = batch
                        .iter()
                        .map(|r| binding(&r[col]).0)
                        .find(|t| *t != "ANY")
                        .unwrap_or("TEXT");
                    let values: Vec<Json> = batch.iter().map(|r| binding(&r[col]).1).collect();
                    map.insert((col + 1).to_string(), json!({"type": ty, "value": values}));
                }
                self.api.query(&sql, Some(Json::Object(map))).await?;
                loaded += batch.len() as u64;
                batch.clear();
            }
        }
        Ok(loaded)
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        Some(self.canceller.clone())
    }

    async fn close(mut self: Box<Self>) -> Result<(), ExecError> {
        if self.tx.is_open() {
            let _ = self.rollback().await;
        }
        self.api.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_integers_are_exact_decimals() {
        assert_eq!(scaled(250, 2), Value::Decimal("2.50".into()));
        assert_eq!(scaled(-5, 3), Value::Decimal("-0.005".into()));
        assert_eq!(scaled(42, 0), Value::Int(42));
    }

    #[test]
    fn json_cells_follow_the_rowtype() {
        assert_eq!(json_cell(&json!("1"), "FIXED", 0), Ok(Value::Int(1)));
        assert_eq!(
            json_cell(&json!("1.50"), "FIXED", 2),
            Ok(Value::Decimal("1.50".into()))
        );
        assert_eq!(json_cell(&json!("1"), "BOOLEAN", 0), Ok(Value::Bool(true)));
        assert_eq!(json_cell(&Json::Null, "TEXT", 0), Ok(Value::Null));
        // What does not read as its type is an error, never a guess.
        assert!(json_cell(&json!("yes"), "BOOLEAN", 0).is_err());
        assert!(json_cell(&json!("x"), "REAL", 0).is_err());
        assert!(json_cell(&json!("x"), "FIXED", 0).is_err());
    }

    #[test]
    fn errors_keep_code_and_sqlstate() {
        let e = api_error(
            200,
            &json!({"success": false, "code": "001003", "message": "SQL compilation error", "data": {"sqlState": "42000"}}),
        );
        assert!(
            matches!(e, ExecError::Db(DbError { ref code, ref sqlstate, .. }) if code.as_deref() == Some("001003") && sqlstate.as_deref() == Some("42000"))
        );
    }

    #[test]
    fn arrow_results_decode_by_logical_type() {
        use std::collections::HashMap;

        use arrow_array::{
            BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
            Int64Array, LargeBinaryArray, StringArray,
        };
        use arrow_schema::Schema;

        let field = |name: &str, ty: DataType, logical: &str, scale: &str| {
            Field::new(name, ty, true).with_metadata(HashMap::from([
                ("logicalType".to_string(), logical.to_string()),
                ("scale".to_string(), scale.to_string()),
            ]))
        };
        let ts_fields = vec![
            Field::new("epoch", DataType::Int64, true),
            Field::new("fraction", DataType::Int32, true),
        ];
        let timestamps = StructArray::new(
            ts_fields.clone().into(),
            vec![
                Arc::new(Int64Array::from(vec![Some(1_704_164_645), None])),
                Arc::new(Int32Array::from(vec![Some(500_000_000), None])),
            ],
            None,
        );
        let schema = Arc::new(Schema::new(vec![
            field("scaled", DataType::Int64, "FIXED", "2"),
            field("dec", DataType::Decimal128(5, 2), "FIXED", "2"),
            field("int", DataType::Int64, "FIXED", "0"),
            field("flag", DataType::Boolean, "BOOLEAN", "0"),
            field("real", DataType::Float64, "REAL", "0"),
            field("text", DataType::Utf8, "TEXT", "0"),
            field("bin", DataType::Binary, "BINARY", "0"),
            field("big", DataType::LargeBinary, "BINARY", "0"),
            field("day", DataType::Date32, "DATE", "0"),
            field(
                "ts",
                DataType::Struct(ts_fields.into()),
                "TIMESTAMP_NTZ",
                "9",
            ),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(250), None])),
            Arc::new(
                Decimal128Array::from(vec![Some(-5), None])
                    .with_precision_and_scale(5, 2)
                    .expect("decimal"),
            ),
            Arc::new(Int64Array::from(vec![Some(42), None])),
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(Float64Array::from(vec![Some(0.5), None])),
            Arc::new(StringArray::from(vec![Some("héllo"), None])),
            Arc::new(BinaryArray::from(vec![Some(&[1u8, 2][..]), None])),
            Arc::new(LargeBinaryArray::from(vec![Some(&[3u8][..]), None])),
            Arc::new(Date32Array::from(vec![Some(19_724), None])),
            Arc::new(timestamps),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
        let mut bytes = Vec::new();
        {
            let mut writer =
                arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &schema).expect("writer");
            writer.write(&batch).expect("write");
            writer.finish().expect("finish");
        }
        let rows = arrow_rows(&bytes).expect("decodes");
        let other = |class: TypeClass, s: &str| Value::Other {
            class,
            text: s.into(),
        };
        assert_eq!(
            rows[0],
            vec![
                Value::Decimal("2.50".into()),
                Value::Decimal("-0.05".into()),
                Value::Int(42),
                Value::Bool(true),
                Value::Float(0.5),
                Value::Text("héllo".into()),
                Value::Bytes(vec![1, 2]),
                Value::Bytes(vec![3]),
                other(TypeClass::Date, "2024-01-02"),
                other(TypeClass::Timestamp, "2024-01-02 03:04:05.5"),
            ]
        );
        assert!(rows[1].iter().all(|v| *v == Value::Null), "{:?}", rows[1]);
    }

    #[test]
    fn scales_outside_snowflakes_range_are_errors_naming_the_column() {
        let data =
            |scale: Json| json!({"rowtype": [{"name": "X", "type": "fixed", "scale": scale}]});
        for bad in [
            json!(1_000_000_000_000_i64),
            json!(-1),
            json!(38),
            json!(1e30),
            json!("2"),
        ] {
            let e = rowtype(&data(bad.clone())).expect_err("rejected");
            assert!(
                matches!(&e, ExecError::Client(m) if m.contains("`X`") && m.contains("0..=37")),
                "{bad}: {e}"
            );
        }
        assert_eq!(rowtype(&data(json!(37))).expect("ok")[0].2, 37);
        assert_eq!(rowtype(&data(Json::Null)).expect("ok")[0].2, 0);
        assert_eq!(
            scaled(5, 37),
            Value::Decimal(format!("0.{}5", "0".repeat(36)))
        );
    }

    #[test]
    fn arrow_fields_with_a_huge_scale_are_rejected_before_decoding() {
        use std::collections::HashMap;

        use arrow_array::Int64Array;
        use arrow_schema::Schema;

        let schema = Arc::new(Schema::new(vec![
            Field::new("N", DataType::Int64, true).with_metadata(HashMap::from([
                ("logicalType".to_string(), "FIXED".to_string()),
                ("scale".to_string(), "1000000000000".to_string()),
            ])),
        ]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1]))])
            .expect("batch");
        let mut bytes = Vec::new();
        {
            let mut writer =
                arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &schema).expect("writer");
            writer.write(&batch).expect("write");
            writer.finish().expect("finish");
        }
        let e = arrow_rows(&bytes).expect_err("rejected");
        assert!(e.to_string().contains("`N`"), "{e}");
        assert!(e.to_string().contains("1000000000000"), "{e}");
    }

    #[test]
    fn non_json_error_bodies_read_as_text() {
        let e = api_error(500, &Json::String("<html>\n  oops  </html>".into()));
        assert_eq!(e.to_string(), "server error: HTTP 500: <html> oops </html>");
    }

    #[test]
    fn timestamps_read_like_snowflake() {
        assert_eq!(
            timestamp_text(1_704_164_645, 500_000_000).as_deref(),
            Some("2024-01-02 03:04:05.5")
        );
    }
}
