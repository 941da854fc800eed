//! The REST API a session speaks: `login-request`, `query-request` (followed to its final
//! answer), `abort-request`, the session's delete, the download of a result's further
//! chunks, and the errors its answers carry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value as Json, json};
use tokio::sync::Mutex;

use crate::exec::http::HttpClient;
use crate::exec::{Canceller, DbError, ExecError};
use crate::secret::mask;

/// Answer codes of a query that is still running (`333334`: detached); such an answer
/// carries `data.getResultUrl`, polled until the answer is the query's own.
const IN_PROGRESS: [&str; 2] = ["333333", "333334"];
/// Pauses between those polls: quick for short queries, then capped. No deadline of our
/// own: the runner's step timeout drops the future, and every wait here yields.
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(500);

/// What a session logs in with, from the target URL.
pub(super) struct Login {
    pub(super) account: String,
    pub(super) user: String,
    pub(super) password: String,
    pub(super) database: Option<String>,
    pub(super) schema: Option<String>,
    pub(super) warehouse: Option<String>,
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

/// One logged-in session's protocol state.
pub(super) struct Api {
    http: HttpClient,
    token: String,
    sequence: AtomicU64,
    /// The request id and SQL of the query in flight, for abort-request.
    running: Mutex<Option<(String, String)>>,
}

impl Api {
    /// Logs in (`login-request`): the new session's protocol state, its token in it.
    pub(super) async fn login(
        http: &HttpClient,
        login: &Login,
        autocommit: bool,
    ) -> Result<Api, ExecError> {
        let mut query: Vec<(&str, String)> = vec![("request_id", request_id())];
        if let Some(d) = &login.database {
            query.push(("databaseName", d.clone()));
        }
        if let Some(s) = &login.schema {
            query.push(("schemaName", s.clone()));
        }
        if let Some(w) = &login.warehouse {
            query.push(("warehouse", w.clone()));
        }
        let url = reqwest::Url::parse_with_params(&http.url("/session/v1/login-request")?, &query)
            .map_err(|e| ExecError::Connect(e.to_string()))?;
        let body = json!({"data": {
            "CLIENT_APP_ID": "helios-matrix",
            "CLIENT_APP_VERSION": env!("CARGO_PKG_VERSION"),
            "ACCOUNT_NAME": login.account,
            "LOGIN_NAME": login.user,
            "PASSWORD": login.password,
            "SESSION_PARAMETERS": {"AUTOCOMMIT": autocommit},
        }});
        let (status, answer) = http
            .send(
                http.request(Method::POST, url.as_str())
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
        Ok(Api {
            http: http.clone(),
            token,
            sequence: AtomicU64::new(0),
            running: Mutex::new(None),
        })
    }

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
    pub(super) async fn query(&self, sql: &str, bindings: Option<Json>) -> Result<Json, ExecError> {
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

    pub(super) async fn close(&self) -> Result<(), ExecError> {
        let url = self.http.url("/session?delete=true")?;
        self.http
            .send(self.post(&url, &json!({})))
            .await
            .map(|_| ())
    }

    /// One further chunk of a result, from its URL (presigned, so never shown whole) with
    /// the answer's `chunkHeaders`; `which` names it in errors.
    pub(super) async fn chunk(
        &self,
        url: &str,
        headers: &serde_json::Map<String, Json>,
        which: &str,
    ) -> Result<Vec<u8>, ExecError> {
        let url = self.http.url(url)?;
        // Chunk URLs are presigned: their query string is a credential, never shown.
        let shown = mask(url.split(['?', '#']).next().unwrap_or_default());
        let mut request = self.http.request(Method::GET, &url);
        for (k, v) in headers {
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
        Ok(bytes.into())
    }
}

/// Aborts a session's query in flight (`abort-request`).
pub(super) struct SnowflakeCanceller {
    api: Arc<Api>,
}

impl SnowflakeCanceller {
    pub(super) fn new(api: Arc<Api>) -> Self {
        Self { api }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn non_json_error_bodies_read_as_text() {
        let e = api_error(500, &Json::String("<html>\n  oops  </html>".into()));
        assert_eq!(e.to_string(), "server error: HTTP 500: <html> oops </html>");
    }
}
