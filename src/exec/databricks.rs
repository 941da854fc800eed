//! Databricks SQL through the Statement Execution API 2.0.
//!
//! Each statement is submitted (`POST /api/2.0/sql/statements`, `wait_timeout: 0s`, so its
//! id is known at once and it can be cancelled), polled while PENDING/RUNNING, and its
//! result read chunk by chunk through `next_chunk_index`. Parameters are named markers
//! (`:p1` or `:name`, which the compiler writes) sent as typed `parameters`. Errors come
//! from a FAILED state or an HTTP error body. The API is stateless: there are no
//! transactions, and named sessions would share the warehouse, so the executor declares
//! neither and cases that need them are skipped. Affected-row counts come from the DML
//! answer's `num_affected_rows` (or `num_inserted_rows`) column; an answer without one
//! leaves the count unknown. The warehouse is the one named `helios-matrix` (`?warehouse=`
//! in the target overrides), created when missing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use regex::Regex;
use reqwest::Method;
use serde_json::{Value as Json, json};
use tokio::sync::{Mutex, OnceCell};

use super::http::{self, HttpClient};
use super::{
    Batches, Canceller, Capability, Column, DbError, Engine, ExecError, ResultSet, Row, Session,
    SessionOptions, undecodable,
};
use crate::step::Param;
use crate::target::Target;
use crate::value::{Scalar, TypeClass, Value, format_float};

const STATEMENTS: &str = "/api/2.0/sql/statements";
const WAREHOUSES: &str = "/api/2.0/sql/warehouses";
const WAREHOUSE_NAME: &str = "helios-matrix";
/// Rows per INSERT of a `copy` (values are inlined: they are data, not parameters).
const COPY_ROWS: usize = 500;

pub struct DatabricksEngine {
    api: Arc<Api>,
}

struct Api {
    http: HttpClient,
    token: Option<String>,
    /// `?warehouse=ID` from the target, or found/created by name on first use.
    warehouse: OnceCell<String>,
    configured_warehouse: Option<String>,
    catalog: Option<String>,
    schema: Option<String>,
}

impl DatabricksEngine {
    /// `http://token:<PAT>@127.0.0.1:8444/?warehouse=ID&catalog=C&schema=S`
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let (_, token) = http::credentials(target);
        Ok(Self {
            api: Arc::new(Api {
                http: HttpClient::at_target_path(target)?,
                token: token.or_else(|| http::query_param(target, "token")),
                warehouse: OnceCell::new(),
                configured_warehouse: http::query_param(target, "warehouse"),
                catalog: http::query_param(target, "catalog"),
                schema: http::query_param(target, "schema"),
            }),
        })
    }
}

#[async_trait]
impl Engine for DatabricksEngine {
    fn capabilities(&self) -> &[Capability] {
        &[
            Capability::Sql,
            Capability::Cursors,
            Capability::Cancel,
            Capability::Copy,
        ]
    }

    async fn open(&self, _options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        self.api.warehouse().await?;
        Ok(Box::new(DatabricksSession {
            api: self.api.clone(),
            canceller: Arc::new(DatabricksCanceller {
                api: self.api.clone(),
                running: Mutex::new(Running::default()),
            }),
        }))
    }
}

/// The statement in flight, for the canceller.
#[derive(Default)]
struct Running {
    id: Option<String>,
    /// A cancel arrived before the statement had an id.
    cancel_requested: bool,
}

struct DatabricksCanceller {
    api: Arc<Api>,
    running: Mutex<Running>,
}

#[async_trait]
impl Canceller for DatabricksCanceller {
    async fn cancel(&self) -> Result<(), ExecError> {
        let id = {
            let mut running = self.running.lock().await;
            running.cancel_requested = true;
            running.id.clone()
        };
        match id {
            Some(id) => self.api.cancel(&id).await,
            None => Ok(()),
        }
    }
}

struct DatabricksSession {
    api: Arc<Api>,
    canceller: Arc<DatabricksCanceller>,
}

/// A failed statement as a server error; the SQLSTATE from the answer or its message.
fn statement_error(status: Option<u16>, error: &Json, sql_state: Option<&str>) -> ExecError {
    let code = error
        .get("error_code")
        .and_then(Json::as_str)
        .map(str::to_string);
    let message = error
        .get("message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| error.to_string());
    let sqlstate = sql_state
        .map(str::to_string)
        .or_else(|| {
            error
                .get("sql_state")
                .and_then(Json::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            Regex::new(r"SQLSTATE:?\s*([0-9A-Z]{5})")
                .ok()
                .and_then(|re| re.captures(&message).map(|c| c[1].to_string()))
        });
    ExecError::Db(DbError {
        sqlstate,
        code,
        message: match status {
            Some(s) => format!("HTTP {s}: {message}"),
            None => message,
        },
        ..DbError::default()
    })
}

/// `{name, value, type}` for each named parameter; NULL has no value.
fn parameters(params: &[Param]) -> Json {
    Json::Array(
        params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let name = p.name.clone().unwrap_or_else(|| format!("p{}", i + 1));
                let (value, ty) = match &p.value {
                    Scalar::Null => (None, "VOID"),
                    Scalar::Bool(b) => (Some(b.to_string()), "BOOLEAN"),
                    Scalar::Int(i) => (Some(i.to_string()), "BIGINT"),
                    Scalar::Float(f) => (Some(format_float(*f)), "DOUBLE"),
                    Scalar::Text(s) => (Some(s.clone()), "STRING"),
                };
                match value {
                    Some(v) => json!({"name": name, "value": v, "type": ty}),
                    None => json!({"name": name, "type": ty}),
                }
            })
            .collect(),
    )
}

/// A Databricks SQL type name (`DECIMAL(5,2)`, `"STRING"`) without its arguments.
fn base_type(type_name: &str) -> String {
    type_name
        .split(['(', '<'])
        .next()
        .unwrap_or(type_name)
        .trim()
        .trim_matches('"')
        .to_ascii_uppercase()
}

/// A Databricks SQL type's portable class.
fn class_of(type_name: &str) -> TypeClass {
    match base_type(type_name).as_str() {
        "INT" | "INTEGER" | "BIGINT" | "LONG" | "SMALLINT" | "SHORT" | "TINYINT" | "BYTE"
        | "HUGEINT" | "UBIGINT" | "UINTEGER" => TypeClass::Integer,
        "FLOAT" | "DOUBLE" | "REAL" => TypeClass::Float,
        "DECIMAL" | "NUMERIC" | "DEC" => TypeClass::Decimal,
        "BOOLEAN" | "BOOL" => TypeClass::Boolean,
        "STRING" | "VARCHAR" | "CHAR" | "TEXT" => TypeClass::Text,
        "DATE" => TypeClass::Date,
        "TIMESTAMP" | "TIMESTAMP_NTZ" => TypeClass::Timestamp,
        "INTERVAL" => TypeClass::Interval,
        "BINARY" => TypeClass::Bytes,
        "ARRAY" => TypeClass::Array,
        "MAP" | "STRUCT" | "VARIANT" => TypeClass::Json,
        _ => TypeClass::Other,
    }
}

/// A cell by its column's type; the real service sends strings, emulators sometimes JSON
/// numbers and booleans, and both read the same here.
fn cell(value: &Json, type_name: &str) -> Result<Value, String> {
    let text = match value {
        Json::Null => return Ok(Value::Null),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    let bad = |e: &dyn std::fmt::Display| format!("`{text}`: {e}");
    Ok(match class_of(type_name) {
        TypeClass::Integer => text
            .parse()
            .map(Value::Int)
            // HUGEINT and unsigned 64-bit values past i64 stay exact.
            .or_else(|_| {
                text.parse::<i128>()
                    .map(|_| Value::Decimal(text.clone()))
                    .map_err(|e| bad(&e))
            })?,
        TypeClass::Float => Value::Float(text.parse().map_err(|e| bad(&e))?),
        TypeClass::Decimal => Value::Decimal(text),
        TypeClass::Boolean => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad(&"not true or false")),
        },
        TypeClass::Text => Value::Text(text),
        _ if matches!(base_type(type_name).as_str(), "NULL" | "VOID") => {
            return Err(bad(&"a value in a column of type VOID"));
        }
        class => Value::Other { class, text },
    })
}

/// Columns from an answer's manifest.
fn schema(answer: &Json) -> Vec<Column> {
    answer
        .pointer("/manifest/schema/columns")
        .and_then(Json::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    let name = c.get("name").and_then(Json::as_str).unwrap_or_default();
                    let ty = c
                        .get("type_text")
                        .or_else(|| c.get("type_name"))
                        .and_then(Json::as_str)
                        .unwrap_or("STRING");
                    Column::new(name, class_of(ty), ty)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn rows_of(chunk: &Json, columns: &[Column]) -> Result<Vec<Row>, ExecError> {
    super::json_rows(chunk.get("data_array"), |i, v| {
        let (name, native) = columns
            .get(i)
            .map_or(("", "STRING"), |c| (c.name.as_str(), c.native.as_str()));
        cell(v, native).map_err(|e| undecodable(i, name, native, &e, None))
    })
}

/// The affected-row count of a DML answer: its `num_affected_rows` column, else its
/// `num_inserted_rows` (the real service's two forms), else a lone `Count` column (the
/// DuckDB answer minilake passes through). `None` when the answer carries none of them.
fn affected_rows(columns: &[Column], rows: &[Row]) -> Option<u64> {
    let at = |name: &str| {
        columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    };
    let index = at("num_affected_rows")
        .or_else(|| at("num_inserted_rows"))
        .or_else(|| (columns.len() == 1).then(|| at("count")).flatten())?;
    match rows {
        [] => Some(0),
        [row] => match row.get(index) {
            Some(Value::Int(n)) => u64::try_from(*n).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// A SQL literal, for `copy` rows inlined into INSERTs (Spark SQL string escapes).
fn literal(value: &Scalar) -> String {
    match value {
        Scalar::Null => "NULL".to_string(),
        Scalar::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) if f.is_finite() => format!("CAST({} AS DOUBLE)", format_float(*f)),
        Scalar::Float(f) => format!("CAST('{}' AS DOUBLE)", format_float(*f)),
        Scalar::Text(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Json>,
    ) -> Result<(u16, Json), ExecError> {
        let mut request = self
            .http
            .request(method, &self.http.url(path)?)
            .header("Accept", "application/json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.http.send(request).await
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Json>) -> Result<Json, ExecError> {
        let (status, answer) = self.call(method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(answer)
        } else {
            Err(statement_error(Some(status), &answer, None))
        }
    }

    async fn warehouse(&self) -> Result<String, ExecError> {
        self.warehouse
            .get_or_try_init(|| async {
                if let Some(id) = &self.configured_warehouse {
                    return Ok(id.clone());
                }
                let listed = self.ok(Method::GET, WAREHOUSES, None).await?;
                let found = listed
                    .get("warehouses")
                    .and_then(Json::as_array)
                    .and_then(|ws| ws.iter().find(|w| w.get("name").and_then(Json::as_str) == Some(WAREHOUSE_NAME)))
                    .and_then(|w| w.get("id").and_then(Json::as_str))
                    .map(str::to_string);
                match found {
                    Some(id) => Ok(id),
                    None => {
                        let created = self
                            .ok(Method::POST, WAREHOUSES, Some(json!({"name": WAREHOUSE_NAME, "cluster_size": "2X-Small", "max_num_clusters": 1})))
                            .await?;
                        created
                            .get("id")
                            .and_then(Json::as_str)
                            .map(str::to_string)
                            .ok_or_else(|| ExecError::Connect(format!("creating a warehouse answered {created}")))
                    }
                }
            })
            .await
            .cloned()
    }

    async fn cancel(&self, id: &str) -> Result<(), ExecError> {
        self.ok(
            Method::POST,
            &format!("{STATEMENTS}/{id}/cancel"),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    /// Submits a statement and waits for a final state; the answer of a SUCCEEDED one.
    async fn execute(
        &self,
        sql: &str,
        params: &[Param],
        running: &Mutex<Running>,
    ) -> Result<Json, ExecError> {
        let mut body = json!({
            "statement": sql,
            "warehouse_id": self.warehouse().await?,
            "wait_timeout": "0s",
            "on_wait_timeout": "CONTINUE",
            "format": "JSON_ARRAY",
            "disposition": "INLINE",
        });
        if !params.is_empty() {
            body["parameters"] = parameters(params);
        }
        if let Some(c) = &self.catalog {
            body["catalog"] = json!(c);
        }
        if let Some(s) = &self.schema {
            body["schema"] = json!(s);
        }
        {
            let mut r = running.lock().await;
            *r = Running::default();
        }
        let mut answer = self.ok(Method::POST, STATEMENTS, Some(body)).await?;
        let id = answer
            .get("statement_id")
            .and_then(Json::as_str)
            .map(str::to_string);
        if let Some(id) = &id {
            let cancel_now = {
                let mut r = running.lock().await;
                r.id = Some(id.clone());
                r.cancel_requested
            };
            if cancel_now {
                self.cancel(id).await?;
            }
        }
        let mut delay = Duration::from_millis(5);
        loop {
            let state = answer
                .pointer("/status/state")
                .and_then(Json::as_str)
                .unwrap_or("SUCCEEDED")
                .to_string();
            match state.as_str() {
                "PENDING" | "RUNNING" => {
                    let Some(id) = &id else {
                        return Err(ExecError::Client(format!(
                            "a {state} statement without an id: {answer}"
                        )));
                    };
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(250));
                    answer = self
                        .ok(Method::GET, &format!("{STATEMENTS}/{id}"), None)
                        .await?;
                }
                "SUCCEEDED" => return Ok(answer),
                "CANCELED" | "CLOSED" => {
                    return Err(ExecError::Db(DbError {
                        sqlstate: Some("57014".to_string()),
                        code: Some(state.clone()),
                        message: format!("the statement was {}", state.to_lowercase()),
                        ..DbError::default()
                    }));
                }
                _ => {
                    let error = answer
                        .pointer("/status/error")
                        .cloned()
                        .unwrap_or(Json::Null);
                    let sql_state = answer.pointer("/status/sql_state").and_then(Json::as_str);
                    return Err(statement_error(None, &error, sql_state));
                }
            }
        }
    }

    /// The next chunk of a result, or `None` after the last.
    async fn next_chunk(&self, id: &str, current: &Json) -> Result<Option<Json>, ExecError> {
        let Some(next) = current.get("next_chunk_index").and_then(Json::as_u64) else {
            return Ok(None);
        };
        self.ok(
            Method::GET,
            &format!("{STATEMENTS}/{id}/result/chunks/{next}"),
            None,
        )
        .await
        .map(Some)
    }
}

impl DatabricksSession {
    /// Runs a statement and reads at most `limit` rows of its result, chunk by chunk.
    async fn rows(
        &self,
        sql: &str,
        params: &[Param],
        limit: usize,
    ) -> Result<(Vec<Column>, Vec<Row>), ExecError> {
        let answer = self
            .api
            .execute(sql, params, &self.canceller.running)
            .await?;
        let columns = schema(&answer);
        let id = answer
            .get("statement_id")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let mut rows = Vec::new();
        let mut chunk = answer.get("result").cloned().unwrap_or(Json::Null);
        loop {
            rows.extend(rows_of(&chunk, &columns)?);
            if rows.len() >= limit {
                rows.truncate(limit);
                break;
            }
            match self.api.next_chunk(&id, &chunk).await? {
                Some(next) => chunk = next,
                None => break,
            }
        }
        Ok((columns, rows))
    }
}

#[async_trait]
impl Session for DatabricksSession {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError> {
        let (columns, rows) = self.rows(sql, params, 2).await?;
        Ok(affected_rows(&columns, &rows))
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        let (columns, rows) = self.rows(sql, params, usize::MAX).await?;
        Ok(ResultSet { columns, rows })
    }

    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError> {
        // Chunks are read only until the listed batches are filled.
        let (columns, rows) = self
            .rows(sql, params, batch.saturating_mul(max_batches))
            .await?;
        Ok(Batches {
            columns,
            batches: rows.chunks(batch.max(1)).map(<[Row]>::to_vec).collect(),
        })
    }

    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        let head = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut loaded = 0u64;
        let mut tuples: Vec<String> = Vec::with_capacity(COPY_ROWS);
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
            tuples.push(format!(
                "({})",
                row.iter().map(literal).collect::<Vec<_>>().join(", ")
            ));
            if tuples.len() == COPY_ROWS || rows.peek().is_none() {
                let sql = format!("{head}{}", tuples.join(", "));
                self.api.execute(&sql, &[], &self.canceller.running).await?;
                loaded += tuples.len() as u64;
                tuples.clear();
            }
        }
        Ok(loaded)
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        Some(self.canceller.clone())
    }

    async fn close(self: Box<Self>) -> Result<(), ExecError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_strings_and_json_alike() {
        assert_eq!(cell(&json!("42"), "INT"), Ok(Value::Int(42)));
        assert_eq!(cell(&json!(42), "INTEGER"), Ok(Value::Int(42)));
        assert_eq!(
            cell(&json!("2.50"), "DECIMAL(5,2)"),
            Ok(Value::Decimal("2.50".into()))
        );
        assert_eq!(cell(&json!(true), "BOOLEAN"), Ok(Value::Bool(true)));
        assert_eq!(cell(&json!("true"), "BOOLEAN"), Ok(Value::Bool(true)));
        assert_eq!(cell(&Json::Null, "STRING"), Ok(Value::Null));
        assert!(cell(&json!("x"), "INT").is_err(), "never a guess");
        assert!(cell(&json!("maybe"), "BOOLEAN").is_err());
    }

    #[test]
    fn affected_rows_come_from_the_dml_answer() {
        let int = |name: &str| Column::new(name, TypeClass::Integer, "BIGINT");
        let one = |n: i64| vec![vec![Value::Int(n)]];
        // The real service's INSERT answer: both columns; the affected count wins.
        let insert = [int("num_affected_rows"), int("num_inserted_rows")];
        assert_eq!(
            affected_rows(&insert, &[vec![Value::Int(3), Value::Int(3)]]),
            Some(3)
        );
        assert_eq!(affected_rows(&[int("num_inserted_rows")], &one(2)), Some(2));
        assert_eq!(affected_rows(&[int("Count")], &one(0)), Some(0));
        // A result of one row that is not a count: unknown, never "1 row".
        assert_eq!(affected_rows(&[int("id")], &one(7)), None);
        assert_eq!(
            affected_rows(
                &[int("Count"), int("other")],
                &[vec![Value::Int(1), Value::Int(1)]]
            ),
            None
        );
    }

    #[test]
    fn errors_carry_their_sqlstate() {
        let e = statement_error(
            None,
            &json!({"error_code": "BAD_REQUEST", "message": "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELCT'. SQLSTATE: 42601"}),
            None,
        );
        assert!(matches!(e, ExecError::Db(DbError { sqlstate: Some(ref s), .. }) if s == "42601"));
    }

    #[test]
    fn literals_escape_spark_strings() {
        assert_eq!(
            literal(&Scalar::Text("it's a \\ test".into())),
            "'it\\'s a \\\\ test'"
        );
        assert_eq!(literal(&Scalar::Null), "NULL");
        assert_eq!(literal(&Scalar::Float(0.5)), "CAST(0.5 AS DOUBLE)");
    }
}
