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

mod arrow;
mod client;
mod json;
mod result;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value as Json, json};

use self::client::{Api, Login, SnowflakeCanceller};
use super::http::{self, HttpClient};
use super::tx::TxState;
use super::{
    Batches, Canceller, Capability, Engine, ExecError, ResultSet, Row, Session, SessionOptions,
};
use crate::step::Param;
use crate::target::Target;
use crate::value::{Scalar, Value, format_float};

/// Rows per array-bound INSERT of a `copy`.
const COPY_ROWS: usize = 1_000;

pub struct SnowflakeEngine {
    http: HttpClient,
    login: Login,
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
            login: Login {
                account: http::query_param(target, "account")
                    .unwrap_or_else(|| "local".to_string()),
                user: user.unwrap_or_else(|| "test".to_string()),
                password: password.unwrap_or_default(),
                database: path
                    .next()
                    .or_else(|| http::query_param(target, "database")),
                schema: path.next().or_else(|| http::query_param(target, "schema")),
                warehouse: http::query_param(target, "warehouse"),
            },
        })
    }
}

#[async_trait]
impl Engine for SnowflakeEngine {
    fn capabilities(&self) -> &[Capability] {
        &Capability::SQL
    }

    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        let api = Arc::new(Api::login(&self.http, &self.login, options.autocommit).await?);
        Ok(Box::new(SnowflakeSession {
            api: api.clone(),
            tx: TxState::server_side(options.autocommit),
            canceller: Arc::new(SnowflakeCanceller::new(api)),
        }))
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
