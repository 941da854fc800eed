//! What the HTTP executors (Snowflake, Databricks SQL, Pinecone) share: a client that
//! talks only to loopback, JSON requests, and error mapping.

use std::time::Duration;

use serde_json::Value as Json;

use super::ExecError;
use crate::target::{Target, mask, percent_decode};

/// A JSON-over-HTTP client for one target.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// `http://127.0.0.1:8443`, without credentials or path.
    pub base: String,
}

impl HttpClient {
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let url = reqwest::Url::parse(target.expose_url())
            .map_err(|e| ExecError::Connect(format!("invalid target {target}: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let base = format!(
            "{}://{}:{port}",
            url.scheme(),
            if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_string()
            }
        );
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Never follow a redirect off loopback.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| ExecError::Connect(e.to_string()))?;
        Ok(Self { client, base })
    }

    /// `path` (starting with `/`) on this target, or a full URL that must be loopback.
    pub fn url(&self, path: &str) -> Result<String, ExecError> {
        if path.starts_with('/') {
            return Ok(format!("{}{path}", self.base));
        }
        let full = if path.contains("://") {
            path.to_string()
        } else {
            format!("http://{path}")
        };
        Target::new(full.clone())
            .ensure_loopback()
            .map_err(ExecError::Client)?;
        Ok(full)
    }

    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends a request; the status and the JSON body (`Null` when empty or not JSON).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Json), ExecError> {
        let response = request.send().await.map_err(map_error)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(map_error)?;
        let body = if bytes.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, body))
    }
}

fn map_error(e: reqwest::Error) -> ExecError {
    let text = mask(&e.to_string());
    if e.is_connect() {
        ExecError::Connect(text)
    } else {
        ExecError::Lost(text)
    }
}

/// `key=value` from a target URL's query string.
pub fn query_param(target: &Target, key: &str) -> Option<String> {
    let url = reqwest::Url::parse(target.expose_url()).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The user and password of a target URL, percent-decoded.
pub fn credentials(target: &Target) -> (Option<String>, Option<String>) {
    let Ok(url) = reqwest::Url::parse(target.expose_url()) else {
        return (None, None);
    };
    let user = (!url.username().is_empty()).then(|| percent_decode(url.username()));
    (user, url.password().map(percent_decode))
}
