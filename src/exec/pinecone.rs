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
use crate::step::{Param, VectorOp, VectorRecord, VectorValues};
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
    /// `index-suffix=-w2`: a worker's indexes carry it on the server (see `exec::workspace`).
    index_suffix: String,
}

impl PineconeEngine {
    /// `http://127.0.0.1:8445`, the API key as the URL's password or `?api_key=`.
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let http = HttpClient::at_target_path(target)?;
        let api_key = http::credentials(target)
            .1
            .or_else(|| http::query_param(target, "api_key"))
            .unwrap_or_else(|| "helios-matrix".to_string());
        let index_suffix = http::query_param(target, "index-suffix").unwrap_or_default();
        Ok(Self {
            http,
            api_key,
            index_suffix,
        })
    }
}

#[async_trait]
impl Engine for PineconeEngine {
    fn capabilities(&self) -> &[Capability] {
        &[Capability::Vectors]
    }

    async fn open(&self, _options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        Ok(Box::new(self.session()))
    }

    /// Sessions are requests, made when a step needs one: ask for the index list.
    async fn ready(&self) -> Result<(), ExecError> {
        self.session()
            .control(Method::GET, "/indexes", None)
            .await
            .map(drop)
    }
}

struct PineconeSession {
    http: HttpClient,
    api_key: String,
    index_suffix: String,
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

impl PineconeEngine {
    fn session(&self) -> PineconeSession {
        PineconeSession {
            http: self.http.clone(),
            api_key: self.api_key.clone(),
            index_suffix: self.index_suffix.clone(),
        }
    }
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
        if self.index_suffix.is_empty() {
            return self.run(op).await;
        }
        // A worker's indexes carry its suffix on the server; the case sees its own names.
        let mut renamed = op.clone();
        if let Some(index) = renamed.index_mut() {
            index.push_str(&self.index_suffix);
        }
        let answer = self.run(&renamed).await?;
        Ok(unsuffixed(answer, &self.index_suffix))
    }
}

/// An answer with a worker's index suffix taken off the names it reports; a listing keeps
/// only the worker's own indexes.
fn unsuffixed(answer: VectorAnswer, suffix: &str) -> VectorAnswer {
    match answer {
        VectorAnswer::Indexes(names) => VectorAnswer::Indexes(
            names
                .iter()
                .filter_map(|n| n.strip_suffix(suffix).map(str::to_string))
                .collect(),
        ),
        VectorAnswer::Json(mut described) => {
            if let Some(name) = described.get("name").and_then(Json::as_str)
                && let Some(own) = name.strip_suffix(suffix)
            {
                described["name"] = json!(own);
            }
            VectorAnswer::Json(described)
        }
        other => other,
    }
}

impl PineconeSession {
    async fn run(&self, op: &VectorOp) -> Result<VectorAnswer, ExecError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workers_index_suffix_comes_off_what_the_server_reports() {
        let listed = VectorAnswer::Indexes(vec!["docs-w1".into(), "docs-w2".into(), "x".into()]);
        assert_eq!(
            unsuffixed(listed, "-w1"),
            VectorAnswer::Indexes(vec!["docs".into()])
        );
        let described = VectorAnswer::Json(json!({"name": "docs-w1", "dimension": 3}));
        assert_eq!(
            unsuffixed(described, "-w1"),
            VectorAnswer::Json(json!({"name": "docs", "dimension": 3}))
        );
        let mut op = VectorOp::DescribeIndexStats {
            index: "docs".into(),
        };
        if let Some(index) = op.index_mut() {
            index.push_str("-w1");
        }
        assert_eq!(
            op,
            VectorOp::DescribeIndexStats {
                index: "docs-w1".into()
            }
        );
        assert!(VectorOp::ListIndexes.index_mut().is_none());
    }
}
