//! A client driver (psycopg2, asyncpg, node-postgres, …) through its driver host.
//!
//! Each session is one host process at a time, started from the registry's command for the
//! driver and spoken to over stdin/stdout in the line-delimited JSON protocol of
//! `docs/driver-host.md`. The host only drives the driver: it answers with typed values,
//! column classes and errors, and everything else (comparison, labels, xfails, reports)
//! stays here. The engine starts one host when it is created to read its `hello`: the
//! protocol version it speaks (another is refused) and the driver's capabilities.
//!
//! Starting a host costs an interpreter and a driver import (~200 ms for CPython), far more
//! than a case. A host whose hello says `reconnect` closes a session's connection on
//! `disconnect` and makes a fresh adapter for the next `connect`: the engine keeps such
//! hosts between sessions, so a new session costs a connection, not a process. Only a
//! session that ended cleanly gives its host back; one that timed out or broke is killed.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

use super::{
    Batches, Canceller, Capability, Column, DbError, Engine, ExecError, ResultSet, Row, Session,
    SessionOptions, VectorAnswer, VectorMatch,
};
use crate::plan::{Param, VectorOp};
use crate::registry::{Driver, PlaceholderStyle};
use crate::target::{Target, mask};
use crate::value::{Scalar, TypeClass, Value};

/// The protocol version this helios-matrix speaks.
pub const PROTOCOL: u64 = 1;

/// How long a host may take to say hello (a Python host imports its driver first).
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a host's stderr is kept for messages.
const STDERR_KEPT: usize = 4096;

pub struct DriverEngine {
    driver: Driver,
    target: Target,
    capabilities: Vec<Capability>,
    /// `node-postgres 8.13.1 on Node.js v20.20.2`, from the hello.
    description: String,
    /// Hosts between sessions, ready for a `connect`; `None` when the host cannot reconnect.
    idle: Option<IdleHosts>,
}

type IdleHosts = Arc<StdMutex<Vec<Host>>>;

/// What a host says first.
struct Hello {
    capabilities: Vec<Capability>,
    description: String,
    /// After `disconnect` the host takes another `connect`.
    reconnect: bool,
}

impl DriverEngine {
    /// Starts one host to learn what it speaks and can do; it serves the first session
    /// when it can reconnect, else it is let go.
    pub async fn start(driver: &Driver, target: &Target) -> Result<Self, ExecError> {
        let mut host = Host::spawn(driver).await?;
        let hello = host.hello(driver).await?;
        let idle = if hello.reconnect {
            Some(Arc::new(StdMutex::new(vec![host])))
        } else {
            host.shut().await;
            None
        };
        Ok(Self {
            driver: driver.clone(),
            target: target.clone(),
            capabilities: hello.capabilities,
            description: hello.description,
            idle,
        })
    }

    /// An idle host, or a new one once it said hello.
    async fn host(&self) -> Result<Host, ExecError> {
        let idle = self
            .idle
            .as_ref()
            .and_then(|idle| idle.lock().ok().and_then(|mut hosts| hosts.pop()));
        match idle {
            Some(host) => Ok(host),
            None => {
                let mut host = Host::spawn(&self.driver).await?;
                host.hello(&self.driver).await?;
                Ok(host)
            }
        }
    }
}

#[async_trait]
impl Engine for DriverEngine {
    fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    fn description(&self) -> Option<String> {
        Some(self.description.clone())
    }

    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        let mut host = self.host().await?;
        host.call(
            "connect",
            json!({"target": self.target.expose_url(), "autocommit": options.autocommit}),
        )
        .await
        .map_err(|e| match e {
            ExecError::Db(db) => ExecError::Connect(db.to_string()),
            other => other,
        })?;
        let canceller = self.capabilities.contains(&Capability::Cancel).then(|| {
            Arc::new(HostCanceller {
                stdin: host.stdin.clone(),
                ids: host.ids.clone(),
            })
        });
        Ok(Box::new(DriverSession {
            host,
            canceller,
            style: self.driver.placeholder,
            idle: self.idle.clone(),
        }))
    }

    async fn close(&self) {
        let hosts = self
            .idle
            .as_ref()
            .and_then(|idle| {
                idle.lock()
                    .ok()
                    .map(|mut hosts| std::mem::take(&mut *hosts))
            })
            .unwrap_or_default();
        for mut host in hosts {
            host.shut().await;
        }
    }
}

/// One running host process.
struct Host {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<StdMutex<VecDeque<u8>>>,
    ids: Arc<AtomicU64>,
    driver: String,
}

impl Host {
    async fn spawn(driver: &Driver) -> Result<Host, ExecError> {
        let (program, args) = driver.command.split_first().ok_or_else(|| {
            ExecError::Connect(format!("driver `{}` has no host command", driver.name))
        })?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                ExecError::Connect(format!(
                    "cannot start the {} driver host `{}`: {e} (`just drivers` installs the drivers)",
                    driver.name,
                    driver.command.join(" ")
                ))
            })?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ExecError::Client(
                "the host's pipes are missing".to_string(),
            ));
        };
        // The host's stderr (a traceback, say) is kept for messages, never left to fill
        // its pipe.
        let kept: Arc<StdMutex<VecDeque<u8>>> = Arc::default();
        let sink = kept.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut k) = sink.lock() {
                    k.extend(&buf[..n]);
                    let excess = k.len().saturating_sub(STDERR_KEPT);
                    k.drain(..excess);
                }
            }
        });
        Ok(Host {
            child,
            stdin: Arc::new(Mutex::new(stdin)),
            stdout: BufReader::new(stdout).lines(),
            stderr: kept,
            ids: Arc::new(AtomicU64::new(1)),
            driver: driver.name.clone(),
        })
    }

    fn forget_stderr(&self) {
        if let Ok(mut kept) = self.stderr.lock() {
            kept.clear();
        }
    }

    /// The host's stderr so far, for a message.
    fn stderr_tail(&self) -> String {
        let bytes: Vec<u8> = self
            .stderr
            .lock()
            .map(|k| k.iter().copied().collect())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let text = mask(text.trim());
        if text.is_empty() {
            String::new()
        } else {
            format!("\n  host stderr:\n    {}", text.replace('\n', "\n    "))
        }
    }

    /// The next line from the host; its end is a lost connection, with its stderr.
    async fn line(&mut self) -> Result<String, ExecError> {
        match self.stdout.next_line().await {
            Ok(Some(line)) => Ok(line),
            Ok(None) => {
                let status = self.child.wait().await.map(|s| s.to_string());
                Err(ExecError::Lost(format!(
                    "the {} driver host exited ({}){}",
                    self.driver,
                    status.unwrap_or_else(|e| e.to_string()),
                    self.stderr_tail()
                )))
            }
            Err(e) => Err(ExecError::Lost(format!(
                "cannot read from the {} driver host: {e}",
                self.driver
            ))),
        }
    }

    async fn hello(&mut self, driver: &Driver) -> Result<Hello, ExecError> {
        let line = match tokio::time::timeout(HELLO_TIMEOUT, self.line()).await {
            Ok(line) => line.map_err(|e| match e {
                ExecError::Lost(m) => ExecError::Connect(m),
                other => other,
            })?,
            Err(_) => {
                return Err(ExecError::Connect(format!(
                    "the {} driver host said nothing within {HELLO_TIMEOUT:?}{}",
                    driver.name,
                    self.stderr_tail()
                )));
            }
        };
        parse_hello(&line, &driver.name)
    }

    /// Sends a request and waits for its response; `Ok` holds the response's results.
    async fn call(&mut self, op: &str, args: Json) -> Result<Json, ExecError> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let mut request = match args {
            Json::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        request.insert("id".into(), json!(id));
        request.insert("op".into(), json!(op));
        write_line(&self.stdin, &Json::Object(request), &self.driver).await?;
        loop {
            let line = self.line().await?;
            let response: Json = serde_json::from_str(&line).map_err(|e| {
                ExecError::Client(format!(
                    "the {} driver host answered something that is not JSON ({e}): {}",
                    self.driver,
                    excerpt(&line)
                ))
            })?;
            // A cancel's own answer may arrive first; it says nothing about this call.
            if response.get("id").and_then(Json::as_u64) != Some(id) {
                continue;
            }
            return if response.get("ok").and_then(Json::as_bool) == Some(true) {
                Ok(response)
            } else {
                Err(host_error(response.get("error").unwrap_or(&Json::Null)))
            };
        }
    }

    /// Asks the host to close, and makes sure it is gone.
    async fn shut(&mut self) {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let _ = write_line(&self.stdin, &json!({"id": id, "op": "close"}), &self.driver).await;
        self.reap().await;
    }

    /// Waits a little for a host that was told to close to exit, then kills it.
    async fn reap(&mut self) {
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

async fn write_line(
    stdin: &Mutex<ChildStdin>,
    message: &Json,
    driver: &str,
) -> Result<(), ExecError> {
    let mut line = message.to_string();
    line.push('\n');
    let mut stdin = stdin.lock().await;
    let written = async {
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await
    };
    written
        .await
        .map_err(|e| ExecError::Lost(format!("cannot write to the {driver} driver host: {e}")))
}

fn excerpt(text: &str) -> String {
    let cut: String = text.chars().take(200).collect();
    mask(&cut)
}

fn parse_hello(line: &str, driver: &str) -> Result<Hello, ExecError> {
    let refuse = |why: String| {
        Err(ExecError::Connect(format!(
            "the {driver} driver host {why}"
        )))
    };
    let Ok(hello) = serde_json::from_str::<Json>(line) else {
        return refuse(format!("did not say hello: {}", excerpt(line)));
    };
    if hello.get("hello").and_then(Json::as_str) != Some("helios-matrix-driver-host") {
        return refuse(format!("did not say hello: {}", excerpt(line)));
    }
    match hello.get("protocol").and_then(Json::as_u64) {
        Some(PROTOCOL) => {}
        Some(other) => {
            return refuse(format!(
                "speaks driver host protocol {other}; this helios-matrix speaks {PROTOCOL}"
            ));
        }
        None => return refuse("names no protocol version".to_string()),
    }
    let capabilities = hello
        .get("capabilities")
        .and_then(Json::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Json::as_str)
                .filter_map(Capability::parse)
                .collect()
        })
        .unwrap_or_default();
    let field = |k: &str| {
        hello
            .get(k)
            .and_then(Json::as_str)
            .unwrap_or("?")
            .to_string()
    };
    Ok(Hello {
        capabilities,
        reconnect: hello.get("reconnect").and_then(Json::as_bool) == Some(true),
        description: format!(
            "{} {} on {}",
            field("driver"),
            field("driver_version"),
            field("runtime")
        ),
    })
}

/// A host's `error` object as an executor error.
fn host_error(error: &Json) -> ExecError {
    let text = |k: &str| error.get(k).and_then(Json::as_str).map(str::to_string);
    let message = mask(&text("message").unwrap_or_else(|| error.to_string()));
    match text("kind").as_deref() {
        Some("db") => ExecError::Db(DbError {
            sqlstate: text("sqlstate"),
            code: text("code"),
            message,
            exception: text("exception"),
        }),
        Some("connect") => ExecError::Connect(message),
        Some("lost") => ExecError::Lost(message),
        Some("unsupported") => ExecError::Unsupported(message),
        _ => ExecError::Client(match text("exception") {
            Some(e) => format!("{e}: {message}"),
            None => message,
        }),
    }
}

/// Parameters as the protocol sends them: an object for the styles that bind by name
/// (`:name`, `%(name)s`), else a list in binding order (`$1`, `?`, `%s`).
fn params_json(params: &[Param], style: PlaceholderStyle) -> Json {
    let by_name = match style {
        PlaceholderStyle::ColonNamed | PlaceholderStyle::Format => {
            params.iter().any(|p| p.name.is_some())
        }
        _ => false,
    };
    if by_name {
        Json::Object(
            params
                .iter()
                .map(|p| (p.name.clone().unwrap_or_default(), scalar_json(&p.value)))
                .collect(),
        )
    } else {
        Json::Array(params.iter().map(|p| scalar_json(&p.value)).collect())
    }
}

fn scalar_json(value: &Scalar) -> Json {
    match value {
        Scalar::Null => Json::Null,
        Scalar::Bool(b) => json!(b),
        Scalar::Int(i) => json!(i),
        Scalar::Float(f) if f.is_finite() => json!(f),
        Scalar::Float(f) => json!({"float": crate::value::format_float(*f)}),
        Scalar::Text(s) => json!(s),
    }
}

/// A value from the host, by its JSON form (docs/driver-host.md, Values).
fn value(json: &Json) -> Result<Value, String> {
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.is_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, true) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            // An integer past i64 stays exact.
            (None, false) => Value::Decimal(n.to_string()),
        },
        Json::String(s) => Value::Text(s.clone()),
        Json::Object(map) if map.len() == 1 => {
            let (tag, inner) = map.iter().next().ok_or("an empty tagged value")?;
            let text = inner
                .as_str()
                .ok_or_else(|| format!("`{tag}` must hold text, found {inner}"))?;
            let other = |class| Value::Other {
                class,
                text: text.to_string(),
            };
            match tag.as_str() {
                "decimal" => Value::Decimal(text.to_string()),
                "float" => Value::Float(match text {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    other => return Err(format!("`{other}` is not a float")),
                }),
                "bytes" => Value::Bytes(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|e| format!("bad base64: {e}"))?,
                ),
                "date" => other(TypeClass::Date),
                "time" => other(TypeClass::Time),
                "timestamp" => other(TypeClass::Timestamp),
                "interval" => other(TypeClass::Interval),
                "json" => other(TypeClass::Json),
                "uuid" => other(TypeClass::Uuid),
                "array" => other(TypeClass::Array),
                "other" => other(TypeClass::Other),
                unknown => return Err(format!("unknown value tag `{unknown}`")),
            }
        }
        other => return Err(format!("not a value: {other}")),
    })
}

fn columns(response: &Json) -> Vec<Column> {
    response
        .get("columns")
        .and_then(Json::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    let text = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or_default();
                    Column::new(
                        text("name"),
                        TypeClass::parse(text("class")).unwrap_or(TypeClass::Other),
                        text("native"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn rows(rows: Option<&Json>, columns: &[Column]) -> Result<Vec<Row>, ExecError> {
    super::json_rows(rows, |i, v| {
        value(v).map_err(|e| {
            let (name, native) = columns
                .get(i)
                .map_or(("", "?"), |c| (c.name.as_str(), c.native.as_str()));
            super::undecodable(i, name, native, &e, None)
        })
    })
}

struct DriverSession {
    host: Host,
    canceller: Option<Arc<HostCanceller>>,
    /// How the driver's SQL binds parameters: by name or by position.
    style: PlaceholderStyle,
    /// Where the host goes after a clean `disconnect`, when it can reconnect.
    idle: Option<IdleHosts>,
}

/// Sends `cancel` beside the request in flight; the host answers it at once.
struct HostCanceller {
    stdin: Arc<Mutex<ChildStdin>>,
    ids: Arc<AtomicU64>,
}

#[async_trait]
impl Canceller for HostCanceller {
    async fn cancel(&self) -> Result<(), ExecError> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        write_line(
            &self.stdin,
            &json!({"id": id, "op": "cancel"}),
            "cancelling",
        )
        .await
    }
}

fn rowcount(response: &Json) -> Option<u64> {
    response.get("rowcount").and_then(Json::as_u64)
}

#[async_trait]
impl Session for DriverSession {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError> {
        let answer = self
            .host
            .call(
                "execute",
                json!({"sql": sql, "params": params_json(params, self.style)}),
            )
            .await?;
        Ok(rowcount(&answer))
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        let answer = self
            .host
            .call(
                "query",
                json!({"sql": sql, "params": params_json(params, self.style)}),
            )
            .await?;
        let columns = columns(&answer);
        let rows = rows(answer.get("rows"), &columns)?;
        Ok(ResultSet { columns, rows })
    }

    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError> {
        let answer = self
            .host
            .call(
                "fetch",
                json!({"sql": sql, "params": params_json(params, self.style), "batch": batch, "max_batches": max_batches}),
            )
            .await?;
        let columns = columns(&answer);
        let batches = answer
            .get("batches")
            .and_then(Json::as_array)
            .map(|list| list.iter().map(|b| rows(Some(b), &columns)).collect())
            .unwrap_or(Ok(Vec::new()))?;
        Ok(Batches { columns, batches })
    }

    async fn begin(&mut self) -> Result<(), ExecError> {
        self.host.call("begin", json!({})).await.map(|_| ())
    }

    async fn commit(&mut self) -> Result<(), ExecError> {
        self.host.call("commit", json!({})).await.map(|_| ())
    }

    async fn rollback(&mut self) -> Result<(), ExecError> {
        self.host.call("rollback", json!({})).await.map(|_| ())
    }

    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        let rows: Vec<Json> = rows
            .map(|r| r.map(|r| Json::Array(r.iter().map(scalar_json).collect())))
            .collect::<Result<_, _>>()
            .map_err(ExecError::Client)?;
        let answer = self
            .host
            .call(
                "copy",
                json!({"table": table, "columns": columns, "rows": rows}),
            )
            .await?;
        Ok(rowcount(&answer).unwrap_or(0))
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        self.canceller.clone().map(|c| c as Arc<dyn Canceller>)
    }

    async fn vector(&mut self, op: &VectorOp) -> Result<VectorAnswer, ExecError> {
        let operation = serde_json::to_value(op).map_err(|e| ExecError::Client(e.to_string()))?;
        let answer = self
            .host
            .call("vector", json!({"operation": operation}))
            .await?;
        vector_answer(answer.get("answer").unwrap_or(&Json::Null))
    }

    async fn close(mut self: Box<Self>) -> Result<(), ExecError> {
        if let Some(idle) = self.idle.take() {
            let disconnected = self.host.call("disconnect", json!({})).await.map(|_| ());
            if disconnected.is_ok() {
                // What it printed belongs to the session that ended.
                self.host.forget_stderr();
                if let Ok(mut hosts) = idle.lock() {
                    hosts.push(self.host);
                }
                return Ok(());
            }
            self.host.shut().await;
            return disconnected;
        }
        let closed = self.host.call("close", json!({})).await.map(|_| ());
        // Told once already: a second `close` would only meet a closed pipe.
        self.host.reap().await;
        closed
    }
}

/// A vector answer (docs/driver-host.md, Vector operations).
fn vector_answer(answer: &Json) -> Result<VectorAnswer, ExecError> {
    let strings = |v: &Json| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(names) = answer.get("indexes") {
        return Ok(VectorAnswer::Indexes(strings(names)));
    }
    if let Some(ids) = answer.get("ids") {
        let mut ids = strings(ids);
        ids.sort();
        return Ok(VectorAnswer::Vectors(ids));
    }
    if let Some(n) = answer.get("upserted") {
        return n
            .as_u64()
            .map(VectorAnswer::Upserted)
            .ok_or_else(|| ExecError::Client(format!("`upserted` is not a count: {n}")));
    }
    if let Some(found) = answer.get("matches").and_then(Json::as_array) {
        let matches = found
            .iter()
            .map(|m| {
                Ok(VectorMatch {
                    id: m
                        .get("id")
                        .and_then(Json::as_str)
                        .ok_or_else(|| ExecError::Client(format!("a match without an id: {m}")))?
                        .to_string(),
                    score: m.get("score").and_then(Json::as_f64).ok_or_else(|| {
                        ExecError::Client(format!("a match without a score: {m}"))
                    })?,
                    metadata: m.get("metadata").cloned().filter(|m| !m.is_null()),
                })
            })
            .collect::<Result<_, ExecError>>()?;
        let metric = answer
            .get("metric")
            .and_then(Json::as_str)
            .map(str::to_string);
        return Ok(VectorAnswer::Matches { matches, metric });
    }
    if let Some(described) = answer.get("json") {
        return Ok(VectorAnswer::Json(described.clone()));
    }
    if answer.get("done").is_some() {
        return Ok(VectorAnswer::Done);
    }
    Err(ExecError::Client(format!(
        "an answer of no known shape: {answer}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_decode_by_their_json_form() {
        assert_eq!(value(&json!(42)), Ok(Value::Int(42)));
        assert_eq!(value(&json!(0.5)), Ok(Value::Float(0.5)));
        assert_eq!(
            value(&json!(18446744073709551615u64)),
            Ok(Value::Decimal("18446744073709551615".into()))
        );
        assert_eq!(value(&json!("x")), Ok(Value::Text("x".into())));
        assert_eq!(
            value(&json!({"decimal": "1.50"})),
            Ok(Value::Decimal("1.50".into()))
        );
        assert_eq!(
            value(&json!({"bytes": "CgD/"})),
            Ok(Value::Bytes(vec![10, 0, 255]))
        );
        assert_eq!(
            value(&json!({"date": "2024-01-02"})),
            Ok(Value::Other {
                class: TypeClass::Date,
                text: "2024-01-02".into()
            })
        );
        assert!(matches!(value(&json!({"float": "NaN"})), Ok(Value::Float(f)) if f.is_nan()));
        assert!(value(&json!({"mystery": "x"})).is_err());
        assert!(value(&json!([1])).is_err());
    }

    #[test]
    fn hellos_are_checked() {
        let ok = r#"{"hello": "helios-matrix-driver-host", "protocol": 1, "driver": "pg", "driver_version": "8", "runtime": "Node.js v20", "capabilities": ["sql", "cancel", "teleport"]}"#;
        let hello = parse_hello(ok, "pg").expect("accepted");
        assert_eq!(
            hello.capabilities,
            vec![Capability::Sql, Capability::Cancel]
        );
        assert_eq!(hello.description, "pg 8 on Node.js v20");
        let newer = ok.replace("\"protocol\": 1", "\"protocol\": 2");
        let Err(ExecError::Connect(m)) = parse_hello(&newer, "pg") else {
            panic!("another version is refused");
        };
        assert!(
            m.contains("speaks driver host protocol 2; this helios-matrix speaks 1"),
            "{m}"
        );
        assert!(parse_hello("Traceback (most recent call last):", "pg").is_err());
    }

    #[test]
    fn host_errors_keep_their_codes_and_exception() {
        let e = host_error(
            &json!({"kind": "db", "message": "duplicate key", "sqlstate": "23505", "code": null, "exception": "psycopg2.errors.UniqueViolation"}),
        );
        assert_eq!(
            e,
            ExecError::Db(DbError {
                sqlstate: Some("23505".into()),
                code: None,
                message: "duplicate key".into(),
                exception: Some("psycopg2.errors.UniqueViolation".into()),
            })
        );
        assert!(matches!(
            host_error(&json!({"kind": "lost", "message": "gone"})),
            ExecError::Lost(_)
        ));
        assert!(matches!(
            host_error(&json!({"kind": "connect", "message": "refused"})),
            ExecError::Connect(_)
        ));
    }

    #[test]
    fn parameters_go_as_a_list_or_by_name() {
        let positional = [Param {
            name: None,
            value: Scalar::Int(1),
        }];
        assert_eq!(
            params_json(&positional, PlaceholderStyle::Dollar),
            json!([1])
        );
        let named = [Param {
            name: Some("id".into()),
            value: Scalar::Float(f64::INFINITY),
        }];
        assert_eq!(
            params_json(&named, PlaceholderStyle::ColonNamed),
            json!({"id": {"float": "Infinity"}})
        );
        // `$1` binds by position even when the spec named the value.
        assert_eq!(
            params_json(&named, PlaceholderStyle::Dollar),
            json!([{"float": "Infinity"}])
        );
    }
}
