//! What the HTTP executors (Snowflake, Databricks SQL, Pinecone) share: a client that
//! talks only to loopback (unless the user allows remote hosts), over HTTP or HTTPS, JSON
//! requests, and error mapping.

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use serde_json::Value as Json;

use super::ExecError;
use crate::secret::mask;
use crate::target::{CA_FILE_PARAM, Target, percent_decode};

/// A JSON-over-HTTP client for one target.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// `https://127.0.0.1:8443/pinecone`: scheme, host, port and base path, without
    /// credentials or a trailing slash. Every API path is joined to it.
    pub base: String,
    /// `https` or `http`, for hosts a server names without a scheme.
    scheme: String,
    /// Whether URLs the server hands back may lead off loopback (see `Target`).
    remote_allowed: bool,
}

impl HttpClient {
    /// A client for `target` whose API paths start at `base_path` (`/pinecone`, or empty).
    pub fn new(target: &Target, base_path: &str) -> Result<Self, ExecError> {
        let url = reqwest::Url::parse(target.expose_url())
            .map_err(|e| ExecError::Connect(format!("invalid target {target}: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let base = format!(
            "{}://{}:{port}{}",
            url.scheme(),
            if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_string()
            },
            base_path.trim_end_matches('/'),
        );
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Never follow a redirect off the target.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(file) = query_param(target, CA_FILE_PARAM) {
            builder = builder.tls_certs_only(trusted_certificates(Path::new(&file))?);
        }
        install_crypto_provider();
        let client = builder
            .build()
            .map_err(|e| ExecError::Connect(format!("cannot set up HTTP for {target}: {e}")))?;
        Ok(Self {
            client,
            base,
            scheme: url.scheme().to_string(),
            remote_allowed: target.remote_allowed(),
        })
    }

    /// A client whose API paths start at the target URL's own path
    /// (`https://127.0.0.1:8443/pinecone` → `/pinecone/indexes`).
    pub fn at_target_path(target: &Target) -> Result<Self, ExecError> {
        let path = target.path_segments();
        let base: String = path.iter().map(|s| format!("/{s}")).collect();
        Self::new(target, &base)
    }

    /// `path` (starting with `/`) under this target's base, or a full URL (or a
    /// scheme-less `host:port/path`, as Pinecone names index hosts) that must be allowed.
    pub fn url(&self, path: &str) -> Result<String, ExecError> {
        if path.starts_with('/') {
            return Ok(format!("{}{path}", self.base));
        }
        let full = if path.contains("://") {
            path.to_string()
        } else {
            format!("{}://{path}", self.scheme)
        };
        let mut named = Target::new(full.clone());
        if self.remote_allowed {
            named = named.allowing_remote();
        }
        named.ensure_allowed().map_err(ExecError::Client)?;
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
    if let Some(tls) = tls_failure(&e) {
        let at = e
            .url()
            .map(|u| u.authority().to_string())
            .unwrap_or_default();
        return ExecError::Connect(mask(&format!(
            "TLS handshake with {at} failed: {tls} (for a self-signed certificate, name it \
             with the target's `{CA_FILE_PARAM}=FILE` or --ca-file)"
        )));
    }
    let text = mask(&e.to_string());
    if e.is_connect() {
        ExecError::Connect(text)
    } else {
        ExecError::Lost(text)
    }
}

/// The TLS error under a request error, if the handshake or verification is what failed.
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // An io::Error's `source` skips the error it wraps: step into that one instead.
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner),
            None => err.source(),
        };
    }
    None
}

/// The certificates of a PEM file, to trust instead of the system's.
fn trusted_certificates(file: &Path) -> Result<Vec<reqwest::Certificate>, ExecError> {
    let pem = std::fs::read(file).map_err(|e| {
        ExecError::Connect(format!("TLS: cannot read CA file {}: {e}", file.display()))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        ExecError::Connect(format!(
            "TLS: CA file {} is not PEM certificates: {e}",
            file.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(ExecError::Connect(format!(
            "TLS: CA file {} holds no certificate",
            file.display()
        )));
    }
    Ok(certs)
}

/// reqwest is built without a crypto provider of its own: it uses the process default,
/// which is ring's, as sqlx's TLS is (installing fails only when one is already there).
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
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
