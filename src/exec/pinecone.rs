//! Pinecone's REST API: the control plane (`/indexes`) on the target, the data plane at
//! the `host` each index reports. Index names, namespaces and ids are sent as given.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value as Json, json};

use super::http::{self, HttpClient};
use super::{
    Batches, Canceller, Capability, DbError, Engine, ExecError, ResultSet, Session, SessionOptions,
    VectorAnswer, VectorMatch,
};
use crate::plan::{Param, VectorOp, VectorRecord, VectorValues};
use crate::target::Target;
use crate::value::Scalar;

/// The API version the executor speaks (sent as `X-Pinecone-Api-Version`).
const API_VERSION: &str = "2024-07";
/// Vectors per upsert request (Pinecone's recommended batch size).
const UPSERT_BATCH: usize = 100;
/// How long a new index may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct PineconeEngine {
    http: HttpClient,
    api_key: String,
}

impl PineconeEngine {
    /// `http://127.0.0.1:8445`, the API key as the URL's password or `?api_key=`.
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let http = HttpClient::new(target)?;
        let api_key = http::credentials(target)
            .1
            .or_else(|| http::query_param(target, "api_key"))
            .unwrap_or_else(|| "helios-matrix".to_string());
        Ok(Self { http, api_key })
    }
}

#[async_trait]
impl Engine for PineconeEngine {
    fn capabilities(&self) -> &[Capability] {
        &[Capability::Vectors]
    }

    async fn open(&self, _options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        Ok(Box::new(PineconeSession {
            http: self.http.clone(),
            api_key: self.api_key.clone(),
        }))
    }
}

struct PineconeSession {
    http: HttpClient,
    api_key: String,
}

fn unsupported<T>(what: &str) -> Result<T, ExecError> {
    Err(ExecError::Unsupported(format!(
        "{what} on a vector database"
    )))
}

/// `{error: {code, message}}` (or any non-2xx answer) as a server error.
fn api_error(status: u16, body: &Json) -> ExecError {
    let error = body.get("error").unwrap_or(body);
    let code = error
        .get("code")
        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
        .unwrap_or_else(|| status.to_string());
    let message = error
        .get("message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.to_string());
    ExecError::Db(DbError {
        sqlstate: None,
        code: Some(code),
        message: format!("HTTP {status}: {message}"),
        ..DbError::default()
    })
}

fn number(s: &Scalar) -> Result<f64, ExecError> {
    match s {
        Scalar::Int(i) => Ok(*i as f64),
        Scalar::Float(f) => Ok(*f),
        other => Err(ExecError::Client(format!(
            "a vector value must be a number, found {}",
            other.type_name()
        ))),
    }
}

fn values(v: &VectorValues) -> Result<Vec<f64>, ExecError> {
    match v {
        VectorValues::List(items) => items.iter().map(number).collect(),
        VectorValues::Fill { fill, dim } => Ok(vec![number(fill)?; *dim as usize]),
    }
}

fn record(r: &VectorRecord) -> Result<Json, ExecError> {
    let mut v = json!({"id": r.id, "values": values(&r.values)?});
    if let Some(m) = &r.metadata {
        v["metadata"] = m.clone();
    }
    Ok(v)
}

impl PineconeSession {
    async fn call(&self, method: Method, url: &str, body: Option<Json>) -> Result<Json, ExecError> {
        let mut request = self
            .http
            .request(method, url)
            .header("Api-Key", &self.api_key)
            .header("X-Pinecone-Api-Version", API_VERSION)
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, body) = self.http.send(request).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(api_error(status, &body))
        }
    }

    async fn control(
        &self,
        method: Method,
        path: &str,
        body: Option<Json>,
    ) -> Result<Json, ExecError> {
        let url = self.http.url(path)?;
        self.call(method, &url, body).await
    }

    /// The data-plane base URL of an index and its metric, from its description.
    async fn describe(&self, index: &str) -> Result<(String, Option<String>), ExecError> {
        let described = self
            .control(Method::GET, &format!("/indexes/{index}"), None)
            .await?;
        let host = described
            .get("host")
            .and_then(Json::as_str)
            .ok_or_else(|| {
                ExecError::Client(format!(
                    "index `{index}` has no host in its description: {described}"
                ))
            })?;
        let metric = described
            .get("metric")
            .and_then(Json::as_str)
            .map(str::to_string);
        Ok((self.http.url(host.trim_end_matches('/'))?, metric))
    }

    async fn host(&self, index: &str) -> Result<String, ExecError> {
        self.describe(index).await.map(|(host, _)| host)
    }

    async fn data(
        &self,
        index: &str,
        method: Method,
        path: &str,
        body: Option<Json>,
    ) -> Result<Json, ExecError> {
        let host = self.host(index).await?;
        self.call(method, &format!("{host}{path}"), body).await
    }

    /// Polls a new index until it reports ready (real Pinecone takes a while).
    async fn wait_ready(&self, name: &str) -> Result<(), ExecError> {
        let started = Instant::now();
        loop {
            let d = self
                .control(Method::GET, &format!("/indexes/{name}"), None)
                .await?;
            // A description without the flag says nothing about readiness: keep waiting.
            if d.pointer("/status/ready").and_then(Json::as_bool) == Some(true) {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(ExecError::Client(format!(
                    "index `{name}` did not report `status.ready: true` within {READY_TIMEOUT:?}; last description: {d}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn with_namespace(mut body: Json, namespace: &Option<String>) -> Json {
    if let Some(ns) = namespace {
        body["namespace"] = json!(ns);
    }
    body
}

#[async_trait]
impl Session for PineconeSession {
    async fn execute(&mut self, _sql: &str, _params: &[Param]) -> Result<Option<u64>, ExecError> {
        unsupported("SQL")
    }

    async fn query(&mut self, _sql: &str, _params: &[Param]) -> Result<ResultSet, ExecError> {
        unsupported("SQL")
    }

    async fn fetch_batches(
        &mut self,
        _: &str,
        _: &[Param],
        _: usize,
        _: usize,
    ) -> Result<Batches, ExecError> {
        unsupported("SQL")
    }

    async fn copy_in(
        &mut self,
        _: &str,
        _: &[String],
        _: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        unsupported("copy")
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        None
    }

    async fn close(self: Box<Self>) -> Result<(), ExecError> {
        Ok(())
    }

    async fn vector(&mut self, op: &VectorOp) -> Result<VectorAnswer, ExecError> {
        match op {
            VectorOp::CreateIndex {
                name,
                dimension,
                metric,
            } => {
                let body = json!({
                    "name": name,
                    "dimension": dimension,
                    "metric": metric.as_deref().unwrap_or("cosine"),
                    "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
                });
                self.control(Method::POST, "/indexes", Some(body)).await?;
                self.wait_ready(name).await?;
                Ok(VectorAnswer::Done)
            }
            VectorOp::ListIndexes => {
                let listed = self.control(Method::GET, "/indexes", None).await?;
                let names = listed
                    .get("indexes")
                    .and_then(Json::as_array)
                    .ok_or_else(|| {
                        ExecError::Client(format!("`indexes` is not a list in {listed}"))
                    })?
                    .iter()
                    .filter_map(|i| i.get("name").and_then(Json::as_str).map(str::to_string))
                    .collect();
                Ok(VectorAnswer::Indexes(names))
            }
            VectorOp::DescribeIndex { name } => Ok(VectorAnswer::Json(
                self.control(Method::GET, &format!("/indexes/{name}"), None)
                    .await?,
            )),
            VectorOp::DeleteIndex { name } => {
                self.control(Method::DELETE, &format!("/indexes/{name}"), None)
                    .await?;
                Ok(VectorAnswer::Done)
            }
            VectorOp::Upsert {
                index,
                namespace,
                vectors,
            } => {
                let host = self.host(index).await?;
                let mut upserted = 0;
                for chunk in vectors.chunks(UPSERT_BATCH) {
                    let records: Vec<Json> = chunk.iter().map(record).collect::<Result<_, _>>()?;
                    let body = with_namespace(json!({"vectors": records}), namespace);
                    let answer = self
                        .call(Method::POST, &format!("{host}/vectors/upsert"), Some(body))
                        .await?;
                    // The count is the server's word; the number sent is not an answer.
                    upserted += answer
                        .get("upsertedCount")
                        .and_then(Json::as_u64)
                        .ok_or_else(|| {
                            ExecError::Client(format!(
                                "the upsert answer has no `upsertedCount`: {answer}"
                            ))
                        })?;
                }
                Ok(VectorAnswer::Upserted(upserted))
            }
            VectorOp::VectorQuery {
                index,
                namespace,
                vector,
                id,
                top_k,
                filter,
                include_metadata,
            } => {
                let mut body = json!({"topK": top_k, "includeMetadata": include_metadata, "includeValues": false});
                if let Some(v) = vector {
                    body["vector"] = json!(values(v)?);
                }
                if let Some(id) = id {
                    body["id"] = json!(id);
                }
                if let Some(f) = filter {
                    body["filter"] = f.clone();
                }
                let (host, metric) = self.describe(index).await?;
                let answer = self
                    .call(
                        Method::POST,
                        &format!("{host}/query"),
                        Some(with_namespace(body, namespace)),
                    )
                    .await?;
                let matches = answer
                    .get("matches")
                    .and_then(Json::as_array)
                    .ok_or_else(|| ExecError::Client(format!("no `matches` in {answer}")))?
                    .iter()
                    .map(|m| {
                        let field = |name: &str| {
                            ExecError::Client(format!("a match without a valid `{name}`: {m}"))
                        };
                        Ok(VectorMatch {
                            id: m
                                .get("id")
                                .and_then(Json::as_str)
                                .ok_or_else(|| field("id"))?
                                .to_string(),
                            score: m
                                .get("score")
                                .and_then(Json::as_f64)
                                .ok_or_else(|| field("score"))?,
                            metadata: m.get("metadata").cloned(),
                        })
                    })
                    .collect::<Result<_, ExecError>>()?;
                Ok(VectorAnswer::Matches { matches, metric })
            }
            VectorOp::FetchVectors {
                index,
                namespace,
                ids,
            } => {
                let mut query: Vec<(&str, &str)> =
                    ids.iter().map(|id| ("ids", id.as_str())).collect();
                if let Some(ns) = namespace {
                    query.push(("namespace", ns));
                }
                let host = self.host(index).await?;
                let url = reqwest::Url::parse_with_params(&format!("{host}/vectors/fetch"), &query)
                    .map_err(|e| ExecError::Client(e.to_string()))?;
                let answer = self.call(Method::GET, url.as_str(), None).await?;
                let mut found: Vec<String> = answer
                    .get("vectors")
                    .and_then(Json::as_object)
                    .map(|v| v.keys().cloned().collect())
                    .unwrap_or_default();
                found.sort();
                Ok(VectorAnswer::Vectors(found))
            }
            VectorOp::DeleteVectors {
                index,
                namespace,
                ids,
                delete_all,
                filter,
            } => {
                let mut body = json!({});
                if !ids.is_empty() {
                    body["ids"] = json!(ids);
                }
                if *delete_all {
                    body["deleteAll"] = json!(true);
                }
                if let Some(f) = filter {
                    body["filter"] = f.clone();
                }
                self.data(
                    index,
                    Method::POST,
                    "/vectors/delete",
                    Some(with_namespace(body, namespace)),
                )
                .await?;
                Ok(VectorAnswer::Done)
            }
            VectorOp::DescribeIndexStats { index } => Ok(VectorAnswer::Json(
                self.data(
                    index,
                    Method::POST,
                    "/describe_index_stats",
                    Some(json!({})),
                )
                .await?,
            )),
        }
    }
}
