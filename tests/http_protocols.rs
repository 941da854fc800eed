//! Protocol paths the emulators cannot be made to produce: Databricks statements that
//! stay PENDING/RUNNING and results paged in chunks (minilake answers synchronously and
//! inline), and Snowflake results split into downloaded chunks, queries answered "in
//! progress" and polled, failing chunk downloads and abort-requests, and out-of-range
//! scales (fakesnow does none of these). A scripted HTTP peer on 127.0.0.1 plays the real
//! services' side of those exchanges.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value as Json, json};

/// One request as the peer received it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// The path without its query string.
    path: String,
    query: String,
    /// Header names lower-cased, in the order sent.
    headers: Vec<(String, String)>,
    body: Json,
    /// How many requests to this path the peer has seen, this one included.
    n: usize,
    /// The peer's own address, for answers that carry URLs back to it.
    peer: SocketAddr,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

/// What the peer answers: a status and a body sent as is.
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(body: Json) -> Result<Reply, String> {
        Ok(Reply {
            status: 200,
            body: body.to_string(),
        })
    }

    fn raw(status: u16, body: &str) -> Result<Reply, String> {
        Ok(Reply {
            status,
            body: body.to_string(),
        })
    }
}

/// `Err` when `got` is not `want`: a route's check that fails the test, not the server thread.
fn same(what: &str, got: &Json, want: Json) -> Result<(), String> {
    if *got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, expected {want}"))
    }
}

type Route = dyn Fn(&Request) -> Result<Reply, String> + Send + Sync;

/// Answers each request from `route`, each connection on its own thread (so a held answer
/// does not hold up an abort-request). Every request is recorded; a route's `Err` (or
/// panic) is recorded as a violation and answered with HTTP 500, and the test fails on it
/// through `assert_no_violations`, or at the latest when the peer is dropped.
struct Peer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    violations: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    fn start(route: impl Fn(&Request) -> Result<Reply, String> + Send + Sync + 'static) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let peer = Peer {
            addr,
            requests: Arc::default(),
            violations: Arc::default(),
        };
        let route: Arc<Route> = Arc::new(route);
        let (requests, violations) = (peer.requests.clone(), peer.violations.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (route, requests, violations) =
                    (route.clone(), requests.clone(), violations.clone());
                std::thread::spawn(move || {
                    serve(stream, addr, route.as_ref(), &requests, &violations);
                });
            }
        });
        peer
    }

    fn requests(&self, method: &str, path: &str) -> Vec<Request> {
        self.requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .cloned()
            .collect()
    }

    fn count(&self, path: &str) -> usize {
        self.requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    fn assert_no_violations(&self) {
        let v = std::mem::take(&mut *self.violations.lock().expect("lock"));
        assert!(v.is_empty(), "the peer recorded violations: {v:#?}");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_violations();
        }
    }
}

fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    route: &Route,
    requests: &Mutex<Vec<Request>>,
    violations: &Mutex<Vec<String>>,
) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let request = {
        let mut all = requests.lock().expect("lock");
        let request = Request {
            n: all.iter().filter(|r| r.path == path).count() + 1,
            method,
            path: path.to_string(),
            query: query.to_string(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Json::Null),
            peer,
        };
        all.push(request.clone());
        request
    };
    let reply = catch_unwind(AssertUnwindSafe(|| route(&request)))
        .unwrap_or_else(|_| Err("the route panicked".to_string()))
        .unwrap_or_else(|violation| {
            violations
                .lock()
                .expect("lock")
                .push(format!("{} {}: {violation}", request.method, request.path));
            Reply {
                status: 500,
                body: format!("test peer: {violation}"),
            }
        });
    let reason = match reply.status {
        200 => "OK",
        403 => "Forbidden",
        500 => "Internal Server Error",
        _ => "Whatever",
    };
    // The client may be gone (a cancelled query): nothing to do about a failed write.
    let _ = write!(
        stream,
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
}

fn run(specs: &std::path::Path, protocol: &str, target: &str) -> (i32, String) {
    run_with(specs, protocol, target, &[])
}

fn run_with(
    specs: &std::path::Path,
    protocol: &str,
    target: &str,
    extra: &[&std::ffi::OsStr],
) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_helios-matrix"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--no-progress",
            // One worker: a scripted peer answers exactly the requests its test expects,
            // not the schemas more workers would create.
            "--jobs",
            "1",
            "--gate",
            "p0,p1",
            "-p",
            protocol,
            "--specs",
        ])
        .arg(specs)
        .args(["--target", &format!("{protocol}={target}")])
        .args(extra)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn specs(suite: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("specs/matrix.yaml"),
        dir.path().join("matrix.yaml"),
    )
    .expect("registry");
    std::fs::write(dir.path().join("suite.yaml"), suite).expect("suite");
    dir
}

#[test]
fn databricks_polls_pending_statements_and_follows_result_chunks() {
    let peer = Peer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/2.0/sql/warehouses") => {
            Reply::json(json!({"warehouses": [{"id": "w1", "name": "helios-matrix"}]}))
        }
        ("POST", "/api/2.0/sql/statements") if r.body["statement"] == "SELCT 1" => {
            Reply::json(json!({
                "statement_id": "bad",
                "status": {"state": "FAILED", "error": {"error_code": "PARSE_SYNTAX_ERROR", "message": "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELCT'. SQLSTATE: 42601"}}
            }))
        }
        ("POST", "/api/2.0/sql/statements") => {
            same("warehouse_id", &r.body["warehouse_id"], json!("w1"))?;
            same(
                "parameters",
                &r.body["parameters"],
                json!([{"name": "p1", "value": "7", "type": "BIGINT"}]),
            )?;
            Reply::json(json!({"statement_id": "s1", "status": {"state": "PENDING"}}))
        }
        // RUNNING twice, then done: the first page inline, a second one to fetch.
        ("GET", "/api/2.0/sql/statements/s1") if r.n < 3 => {
            Reply::json(json!({"statement_id": "s1", "status": {"state": "RUNNING"}}))
        }
        ("GET", "/api/2.0/sql/statements/s1") => Reply::json(json!({
            "statement_id": "s1",
            "status": {"state": "SUCCEEDED"},
            "manifest": {"schema": {"columns": [{"name": "n", "type_name": "INT"}, {"name": "d", "type_name": "DECIMAL"}]}, "total_chunk_count": 2},
            "result": {"chunk_index": 0, "data_array": [["1", "0.50"], ["2", null]], "next_chunk_index": 1}
        })),
        ("GET", "/api/2.0/sql/statements/s1/result/chunks/1") => {
            Reply::json(json!({"chunk_index": 1, "data_array": [["3", "1.50"]]}))
        }
        (method, path) => Err(format!("unexpected request {method} {path}")),
    });
    let dir = specs(
        r#"
suite: chunks
protocols: [databricks]
cases:
  - id: DBX-1
    name: Polled and paged
    steps:
      - query: SELECT n, d FROM t WHERE n < ?
        params: [7]
        rows: [[1, 0.5], [2, null], [3, 1.5]]
  - id: DBX-2
    name: A FAILED state is a server error with its SQLSTATE
    steps:
      - query: SELCT 1
        error: syntax_error
"#,
    );
    let (code, stdout) = run(
        dir.path(),
        "databricks",
        &format!("http://token:secret@{}", peer.addr),
    );
    peer.assert_no_violations();
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        peer.count("/api/2.0/sql/statements/s1"),
        3,
        "polled until SUCCEEDED"
    );
    assert_eq!(peer.count("/api/2.0/sql/statements/s1/result/chunks/1"), 1);
}

/// The Snowflake login every scripted session starts with, checked; `None` for other paths.
fn snowflake_session(r: &Request) -> Option<Result<Reply, String>> {
    match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/session/v1/login-request") => Some(
            same("LOGIN_NAME", &r.body["data"]["LOGIN_NAME"], json!("u"))
                .and_then(|()| same("PASSWORD", &r.body["data"]["PASSWORD"], json!("secret")))
                .and_then(|()| Reply::json(json!({"success": true, "data": {"token": "t0k"}}))),
        ),
        ("POST", "/session") => Some(Reply::json(json!({"success": true}))),
        _ => None,
    }
}

const TOKEN: &str = "Snowflake Token=\"t0k\"";

fn snowflake_target(peer: &Peer) -> String {
    format!("http://u:secret@{}/db/sch", peer.addr)
}

#[test]
fn snowflake_downloads_result_chunks_with_their_headers() {
    let peer = Peer::start(|r| {
        if let Some(reply) = snowflake_session(r) {
            return reply;
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/queries/v1/query-request") => {
                same(
                    "bindings",
                    &r.body["bindings"],
                    json!({"1": {"type": "FIXED", "value": "5"}}),
                )?;
                Reply::json(json!({"success": true, "data": {
                    "rowtype": [{"name": "N", "type": "fixed", "scale": 0}, {"name": "X", "type": "fixed", "scale": 2}],
                    "queryResultFormat": "json",
                    "rowset": [["1", "0.50"]],
                    "chunks": [{"url": format!("http://{}/chunk/0", r.peer), "rowCount": 2}],
                    "chunkHeaders": {"x-amz-server-side-encryption-customer-key": "k"}
                }}))
            }
            // A JSON chunk is rows without the enclosing brackets.
            ("GET", "/chunk/0") => Reply::raw(200, r#"["2", null], ["3", "1.25"]"#),
            (method, path) => Err(format!("unexpected request {method} {path}")),
        }
    });
    let dir = specs(
        r#"
suite: chunks
protocols: [snowflake]
cases:
  - id: SFX-1
    name: Inline rows then a downloaded chunk
    steps:
      - query: SELECT n, x FROM t WHERE n < ?
        params: [5]
        rows: [[1, 0.5], [2, null], [3, 1.25]]
"#,
    );
    let (code, stdout) = run(dir.path(), "snowflake", &snowflake_target(&peer));
    peer.assert_no_violations();
    assert_eq!(code, 0, "{stdout}");
    let chunks = peer.requests("GET", "/chunk/0");
    assert_eq!(chunks.len(), 1);
    assert_eq!(
        chunks[0].header("x-amz-server-side-encryption-customer-key"),
        Some("k"),
        "the chunk download carries chunkHeaders: {:?}",
        chunks[0].headers
    );
    let queries = peer.requests("POST", "/queries/v1/query-request");
    assert_eq!(queries.len(), 1);
    assert!(
        queries
            .iter()
            .all(|q| q.header("authorization") == Some(TOKEN)),
        "query-requests carry the session token: {queries:?}"
    );
    assert!(
        queries.iter().all(|q| q.param("requestId").is_some()),
        "{queries:?}"
    );
    assert!(!stdout.contains("secret"), "{stdout}");
}

#[test]
fn snowflake_polls_queries_in_progress_through_their_result_url() {
    let aborted = Arc::new(AtomicBool::new(false));
    let abort_seen = aborted.clone();
    let peer = Peer::start(move |r| {
        if let Some(reply) = snowflake_session(r) {
            return reply;
        }
        let in_progress = |code: &str, id: &str| {
            Reply::json(
                json!({"success": true, "code": code, "message": "in progress",
                "data": {"queryId": id, "getResultUrl": format!("/queries/{id}/result")}}),
            )
        };
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/queries/v1/query-request") if r.body["sqlText"] == "SELECT slow" => {
                in_progress("333333", "q-slow")
            }
            // Still running twice, the second time detached (333334), then done.
            ("GET", "/queries/q-slow/result") if r.n == 1 => in_progress("333333", "q-slow"),
            ("GET", "/queries/q-slow/result") if r.n == 2 => in_progress("333334", "q-slow"),
            ("GET", "/queries/q-slow/result") => Reply::json(json!({"success": true, "data": {
                "rowtype": [{"name": "N", "type": "fixed", "scale": 0}, {"name": "X", "type": "fixed", "scale": 2}],
                "queryResultFormat": "json",
                "rowset": [["1", "0.50"], ["2", "1.25"]]
            }})),
            // Running until aborted: the abort must get through while polling.
            ("POST", "/queries/v1/query-request") if r.body["sqlText"] == "SELECT forever" => {
                in_progress("333333", "q-forever")
            }
            ("POST", "/queries/v1/abort-request") => {
                same("sqlText", &r.body["sqlText"], json!("SELECT forever"))?;
                abort_seen.store(true, Ordering::SeqCst);
                Reply::json(json!({"success": true}))
            }
            ("GET", "/queries/q-forever/result") if abort_seen.load(Ordering::SeqCst) => {
                Reply::json(
                    json!({"success": false, "code": "000604", "message": "SQL execution canceled", "data": {"sqlState": "57014"}}),
                )
            }
            ("GET", "/queries/q-forever/result") => in_progress("333333", "q-forever"),
            (method, path) => Err(format!("unexpected request {method} {path}")),
        }
    });
    let dir = specs(
        r#"
suite: polling
protocols: [snowflake]
cases:
  - id: SFX-POLL
    name: An in-progress answer is polled until the result arrives
    steps:
      - query: SELECT slow
        rows: [[1, 0.5], [2, 1.25]]
  - id: SFX-POLL-CANCEL
    name: A query being polled can still be aborted
    steps:
      - query: SELECT forever
        cancel_after: 50ms
        error: query_canceled
"#,
    );
    let (code, stdout) = run(dir.path(), "snowflake", &snowflake_target(&peer));
    peer.assert_no_violations();
    assert_eq!(code, 0, "{stdout}");
    let polls = peer.requests("GET", "/queries/q-slow/result");
    assert_eq!(polls.len(), 3, "polled until no longer in progress");
    for poll in &polls {
        assert_eq!(poll.header("authorization"), Some(TOKEN), "{poll:?}");
        assert_eq!(
            poll.header("accept"),
            Some("application/snowflake"),
            "{poll:?}"
        );
    }
    let aborts = peer.requests("POST", "/queries/v1/abort-request");
    assert_eq!(aborts.len(), 1);
    let forever = peer
        .requests("POST", "/queries/v1/query-request")
        .into_iter()
        .find(|q| q.body["sqlText"] == "SELECT forever")
        .expect("the query was sent");
    assert_eq!(
        aborts[0].body["requestId"].as_str(),
        forever.param("requestId"),
        "the abort names the running query-request"
    );
    assert!(aborted.load(Ordering::SeqCst));
    assert!(
        peer.requests("GET", "/queries/q-forever/result").len() >= 2,
        "polled before and after the abort"
    );
}

#[test]
fn snowflake_chunk_download_errors_name_the_chunk_and_status() {
    let peer = Peer::start(|r| {
        if let Some(reply) = snowflake_session(r) {
            return reply;
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/queries/v1/query-request") if r.body["sqlText"] == "SELECT 1" => {
                Reply::json(json!({"success": true, "data": {
                    "rowtype": [{"name": "N", "type": "fixed", "scale": 0}],
                    "queryResultFormat": "json",
                    "rowset": [["1"]]
                }}))
            }
            ("POST", "/queries/v1/query-request") => {
                let chunk = |i: u32| json!({"url": format!("http://{}/chunk/{i}?X-Amz-Signature=s1gn", r.peer), "rowCount": 1});
                Reply::json(json!({"success": true, "data": {
                    "rowtype": [{"name": "N", "type": "fixed", "scale": 0}],
                    "queryResultFormat": "json",
                    "rowset": [["1"]],
                    "chunks": [chunk(0), chunk(1), chunk(2)]
                }}))
            }
            ("GET", "/chunk/0") => Reply::raw(200, r#"["2"]"#),
            // S3's answer to an expired presigned URL; rows these are not.
            ("GET", "/chunk/1") => Reply::raw(
                403,
                "<?xml version=\"1.0\"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
            ),
            (method, path) => Err(format!("unexpected request {method} {path}")),
        }
    });
    let dir = specs(
        r#"
suite: chunks
protocols: [snowflake]
cases:
  - id: SFX-403
    name: A refused chunk download fails the case
    steps:
      - query: SELECT n FROM t
        rows: [[1], [2], [3], [4]]
  - id: SFX-AFTER
    name: The run goes on
    steps:
      - query: SELECT 1
        rows: [[1]]
"#,
    );
    let report = dir.path().join("junit.xml");
    let (code, stdout) = run_with(
        dir.path(),
        "snowflake",
        &snowflake_target(&peer),
        &["--junit".as_ref(), report.as_os_str()],
    );
    peer.assert_no_violations();
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("result chunk 2 of 3: HTTP 403 Forbidden"),
        "{stdout}"
    );
    assert!(stdout.contains("AccessDenied"), "{stdout}");
    assert!(
        !stdout.contains("s1gn"),
        "the presigned query is not shown: {stdout}"
    );
    assert_eq!(peer.count("/chunk/2"), 0, "no chunk after the failed one");
    let junit = std::fs::read_to_string(&report).expect("the JUnit report is written");
    assert!(junit.contains("HTTP 403"), "{junit}");
    assert!(junit.contains("SFX-AFTER"), "{junit}");
}

#[test]
fn snowflake_abort_request_errors_are_reported() {
    let peer = Peer::start(|r| {
        if let Some(reply) = snowflake_session(r) {
            return reply;
        }
        match (r.method.as_str(), r.path.as_str()) {
            // Held long past the cancel: an answer that is no cancel's doing.
            ("POST", "/queries/v1/query-request") => {
                std::thread::sleep(Duration::from_millis(800));
                Reply::json(json!({"success": true, "data": {
                    "rowtype": [{"name": "N", "type": "fixed", "scale": 0}],
                    "queryResultFormat": "json",
                    "rowset": [["1"]]
                }}))
            }
            ("POST", "/queries/v1/abort-request") if r.body["sqlText"] == "SELECT 500" => {
                Reply::raw(500, "<html><body>upstream exploded</body></html>")
            }
            ("POST", "/queries/v1/abort-request") => Reply::json(json!({
                "success": false, "code": "000605",
                "message": "Identified SQL statement is not currently executing.",
                "data": {"sqlState": "01000"}
            })),
            (method, path) => Err(format!("unexpected request {method} {path}")),
        }
    });
    let dir = specs(
        r#"
suite: cancel
protocols: [snowflake]
cases:
  - id: SFX-ABORT-500
    name: An abort-request answered with HTTP 500
    steps:
      - query: SELECT 500
        cancel_after: 50ms
        error: query_canceled
  - id: SFX-ABORT-REFUSED
    name: An abort-request answered with success false
    steps:
      - query: SELECT refused
        cancel_after: 50ms
        error: query_canceled
"#,
    );
    let (code, stdout) = run(dir.path(), "snowflake", &snowflake_target(&peer));
    peer.assert_no_violations();
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("abort-request failed: HTTP 500: <html><body>upstream exploded"),
        "{stdout}"
    );
    assert!(
        stdout.contains("abort-request failed: Identified SQL statement"),
        "{stdout}"
    );
    assert!(!stdout.contains("the query succeeded"), "{stdout}");
    assert_eq!(peer.count("/queries/v1/abort-request"), 2);
}

#[test]
fn snowflake_out_of_range_scales_are_errors_not_allocations() {
    let peer = Peer::start(|r| {
        if let Some(reply) = snowflake_session(r) {
            return reply;
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/queries/v1/query-request") => Reply::json(json!({"success": true, "data": {
                "rowtype": [{"name": "N", "type": "fixed", "scale": 0}, {"name": "HUGE", "type": "fixed", "scale": 1_000_000_000_000_i64}],
                "queryResultFormat": "json",
                "rowset": [["1", "1.5"]]
            }})),
            (method, path) => Err(format!("unexpected request {method} {path}")),
        }
    });
    let dir = specs(
        r#"
suite: scale
protocols: [snowflake]
cases:
  - id: SFX-SCALE
    name: A scale no Snowflake column has
    steps:
      - query: SELECT n, huge FROM t
        rows: [[1, 1.5]]
"#,
    );
    let (code, stdout) = run(dir.path(), "snowflake", &snowflake_target(&peer));
    peer.assert_no_violations();
    assert_eq!(
        code, 1,
        "a failed case, not a crash (101 is a panic): {stdout}"
    );
    assert!(
        stdout.contains("column `HUGE`: the server sent scale 1000000000000"),
        "{stdout}"
    );
}

#[test]
fn databricks_reads_affected_rows_from_the_dml_answer_and_never_invents_them() {
    let peer = Peer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/2.0/sql/warehouses") => {
            Reply::json(json!({"warehouses": [{"id": "w1", "name": "helios-matrix"}]}))
        }
        // The real service's INSERT answer: both counts as the result's single row.
        ("POST", "/api/2.0/sql/statements")
            if r.body["statement"] == "INSERT INTO t VALUES (1), (2), (3)" =>
        {
            Reply::json(json!({
                "statement_id": "i1",
                "status": {"state": "SUCCEEDED"},
                "manifest": {"schema": {"columns": [
                    {"name": "num_affected_rows", "type_name": "LONG"},
                    {"name": "num_inserted_rows", "type_name": "LONG"}
                ]}, "total_row_count": 1},
                "result": {"data_array": [["3", "3"]]}
            }))
        }
        // An answer that carries no count: one result row, as a SELECT's would be.
        ("POST", "/api/2.0/sql/statements") => Reply::json(json!({
            "statement_id": "u1",
            "status": {"state": "SUCCEEDED"},
            "manifest": {"schema": {"columns": [{"name": "x", "type_name": "INT"}]}, "total_row_count": 1},
            "result": {"data_array": [["1"]]}
        })),
        (method, path) => Err(format!("unexpected request {method} {path}")),
    });
    let dir = specs(
        r#"
suite: counts
protocols: [databricks]
priority: p0
cases:
  - id: DBC-1
    name: three rows inserted
    steps:
      - statement: INSERT INTO t VALUES (1), (2), (3)
        count: 3
  - id: DBC-2
    name: the wrong count fails
    steps:
      - statement: INSERT INTO t VALUES (1), (2), (3)
        count: 1
  - id: DBC-3
    name: an answer without a count cannot satisfy one
    steps:
      - statement: UPDATE t SET x = 1 WHERE x > 100
        count: 1
"#,
    );
    let (code, stdout) = run(
        dir.path(),
        "databricks",
        &format!("http://token:secret@{}", peer.addr),
    );
    peer.assert_no_violations();
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("PASS  databricks  DBC-1"), "{stdout}");
    assert!(
        stdout.contains("the statement affected 3 row(s), expected 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("does not say how many rows the statement affected"),
        "{stdout}"
    );
}

#[test]
fn an_http_target_path_is_the_base_of_every_api_path() {
    // As behind the seed's gateway: Pinecone under /pinecone, and an index host named
    // without a scheme (as Pinecone's are), reached with the target's scheme.
    let peer = Peer::start(|r| {
        let index = json!({
            "name": "idx", "dimension": 2, "metric": "cosine",
            "host": format!("{}/pinecone/data/idx", r.peer),
            "status": {"ready": true}
        });
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/pinecone/indexes") | ("GET", "/pinecone/indexes/idx") => Reply::json(index),
            ("POST", "/pinecone/data/idx/vectors/upsert") => {
                Reply::json(json!({"upsertedCount": 1}))
            }
            (method, path) => Err(format!("unexpected request {method} {path}")),
        }
    });
    let dir = specs(
        r#"
suite: vectors
protocols: [pinecone]
priority: p0
cases:
  - id: PCB-1
    name: under a base path
    steps:
      - create_index: {name: idx, dimension: 2, metric: cosine}
      - upsert: {index: idx, vectors: [{id: a, values: [0.1, 0.2]}]}
        count: 1
"#,
    );
    let (code, stdout) = run(
        dir.path(),
        "pinecone",
        &format!("http://{}/pinecone?api_key=secret", peer.addr),
    );
    peer.assert_no_violations();
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        peer.count("/pinecone/data/idx/vectors/upsert"),
        1,
        "{stdout}"
    );
}

#[test]
fn pinecone_never_assumes_what_the_server_did_not_say() {
    let peer = Peer::start(|r| {
        let index = |status: Json| {
            Reply::json(json!({
                "name": "idx", "dimension": 2, "metric": "cosine",
                "host": format!("http://{}/data/idx", r.peer),
                "status": status
            }))
        };
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/indexes") => index(json!({"ready": false})),
            // No `ready` flag twice, then not ready, then ready: the executor must wait.
            ("GET", "/indexes/idx") if r.n <= 2 => index(json!({"state": "Initializing"})),
            ("GET", "/indexes/idx") if r.n == 3 => index(json!({"ready": false})),
            ("GET", "/indexes/idx") => index(json!({"ready": true})),
            // An upsert answer without its count.
            ("POST", "/data/idx/vectors/upsert") => Reply::json(json!({})),
            // Cosine scores must fall; these rise.
            ("POST", "/data/idx/query") => Reply::json(json!({"matches": [
                {"id": "a", "score": 0.1, "metadata": {"c": "A"}},
                {"id": "b", "score": 0.9, "metadata": {"c": "A"}}
            ]})),
            (method, path) => Err(format!("unexpected request {method} {path}")),
        }
    });
    let dir = specs(
        r#"
suite: vectors
protocols: [pinecone]
priority: p0
cases:
  - id: PCX-1
    name: a new index is used only once it says it is ready
    steps:
      - create_index: {name: idx, dimension: 2, metric: cosine}
  - id: PCX-2
    name: an upsert answer without a count is not a count
    steps:
      - upsert: {index: idx, vectors: [{id: a, values: [0.1, 0.2]}]}
        count: 1
  - id: PCX-3
    name: matches out of the metric's order fail
    steps:
      - vector_query: {index: idx, vector: [0.1, 0.2], top_k: 2}
        each_match: {metadata: {c: A}}
"#,
    );
    let (code, stdout) = run(
        dir.path(),
        "pinecone",
        &format!("http://{}?api_key=secret", peer.addr),
    );
    peer.assert_no_violations();
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("PASS  pinecone    PCX-1"), "{stdout}");
    assert!(
        peer.count("/indexes/idx") >= 4,
        "it stopped waiting before `ready: true`: {stdout}"
    );
    assert!(
        stdout.contains("the upsert answer has no `upsertedCount`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("matches are not ranked by the cosine metric"),
        "{stdout}"
    );
    assert!(!stdout.contains("secret"), "{stdout}");
}

// `http` steps: requests the runner sends itself, to a protocol's own target or a named
// endpoint of the registry, checked by status and by a JSON subset of the answer.

/// A spec directory whose registry (the project's) gains `endpoints`, given as YAML.
fn specs_with_endpoints(suite: &str, endpoints: &str) -> tempfile::TempDir {
    let dir = specs(suite);
    let registry = dir.path().join("matrix.yaml");
    let mut text = std::fs::read_to_string(&registry).expect("registry");
    text.push_str("endpoints:\n");
    text.push_str(endpoints);
    std::fs::write(&registry, text).expect("registry");
    dir
}

/// Runs the binary with `args` and extra environment variables; exit code and stdout.
fn helios(args: &[&str], env: &[(&str, String)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_helios-matrix"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The verdict word (PASS, FAIL, ERROR, XFAIL, …) of case `id` in a run's output.
fn verdict<'a>(stdout: &'a str, id: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            let (word, _cell, case) = (words.next()?, words.next()?, words.next()?);
            (case == id).then_some(word)
        })
        .unwrap_or("missing")
}

#[test]
fn http_steps_check_the_status_and_a_json_subset_of_the_answer() {
    let peer = Peer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/api/admin/ddl") => {
            same("body", &r.body, json!({"sql": "CREATE TABLE t (id INT)"}))?;
            // The registry's header, the step's own, and basic auth from the target URL.
            same("role", &json!(r.header("x-admin-role")), json!("ddl"))?;
            same("step header", &json!(r.header("x-step")), json!("1"))?;
            same(
                "content type",
                &json!(r.header("content-type")),
                json!("application/json"),
            )?;
            same(
                "auth",
                &json!(r.header("authorization")),
                json!("Basic YWRtaW46czNjcmV0"),
            )?;
            Reply::json(json!({"ok": true, "result": {"rows": [[1]]}, "extra": "ignored"}))
        }
        ("GET", "/api/things") => Reply::raw(404, r#"{"error": "no such thing"}"#),
        ("GET", "/api/status") => {
            Reply::json(json!({"ok": true, "items": [{"id": 1, "x": 9}, {"id": 2}]}))
        }
        ("DELETE", "/api/things/1") => Reply::raw(202, ""),
        ("POST", path) if path.starts_with("/api/items/") => {
            // Rendered templates keep their YAML type: `"{{ i }}"` is a number.
            if !r.body["id"].is_i64() {
                return Err(format!("id is not a number: {}", r.body));
            }
            Reply::json(r.body.clone())
        }
        (method, path) => Err(format!("unexpected request {method} {path}")),
    });
    let dir = specs_with_endpoints(
        r#"
suite: http_checks
protocols: [sqlite]
priority: p0
cases:
  - id: HT-1
    name: a POST whose answer contains the subset
    steps:
      - http:
          method: POST
          target: admin
          url: /admin/ddl
          json: {sql: "CREATE TABLE t (id INT)"}
          headers: {X-Step: 1}
          status: 200
          expect: {ok: true, result: {rows: [[1]]}}
  - id: HT-2
    name: any 2xx by default
    steps:
      - http: {target: admin, url: /things}
  - id: HT-3
    name: a status given is the status expected
    steps:
      - http: {target: admin, url: /things, status: [200, 404]}
  - id: HT-4
    name: arrays item by item
    steps:
      - http: {target: admin, url: /status, expect: {items: [{id: 1}, {id: 2}]}}
  - id: HT-5
    name: arrays in their order
    steps:
      - http: {target: admin, url: /status, expect: {items: [{id: 2}, {id: 1}]}}
  - id: HT-6
    name: the status is checked before the body
    steps:
      - http: {target: admin, url: /status, status: 201, expect: {ok: false}}
  - id: HT-7
    name: an empty 202 passes
    steps:
      - http: {method: DELETE, target: admin, url: /things/1}
  - id: HT-8
    name: repeated, with templates
    steps:
      - http: {method: POST, target: admin, url: "/items/{{ i }}", json: {id: "{{ i }}"}, expect: {id: "{{ i }}"}}
        repeat: {var: i, from: 0, to: 2}
"#,
        "  admin: {headers: {X-Admin-Role: ddl}}\n",
    );
    let target = format!("admin=http://admin:s3cret@{}/api", peer.addr);
    let (code, stdout) = run_with(
        dir.path(),
        "sqlite",
        "sqlite::memory:",
        &["--target".as_ref(), target.as_ref()],
    );
    peer.assert_no_violations();
    assert_eq!(code, 1, "{stdout}");
    for (id, want) in [
        ("HT-1", "PASS"),
        ("HT-2", "FAIL"),
        ("HT-3", "PASS"),
        ("HT-4", "PASS"),
        ("HT-5", "FAIL"),
        ("HT-6", "FAIL"),
        ("HT-7", "PASS"),
        ("HT-8", "PASS"),
    ] {
        assert_eq!(verdict(&stdout, id), want, "{id}:\n{stdout}");
    }
    let at = format!("http://{}/api", peer.addr);
    for message in [
        format!("GET {at}/things answered status 404, expected a 2xx status"),
        "the answer: {\"error\":\"no such thing\"}".to_string(),
        format!("the answer to GET {at}/status differs at `items[0].id`: expected 2, got 1"),
        "-      \"id\": 2".to_string(),
        "+      \"id\": 1".to_string(),
        format!("GET {at}/status answered status 200, expected 201"),
    ] {
        assert!(
            stdout.contains(&message),
            "missing `{message}` in\n{stdout}"
        );
    }
    assert_eq!(peer.requests("POST", "/api/items/1").len(), 1, "{stdout}");
    assert!(!stdout.contains("s3cret"), "{stdout}");
}

#[test]
fn http_steps_go_to_the_protocols_target_or_a_named_endpoint_with_its_credentials() {
    let peer = Peer::start(|r| {
        let auth = (r.header("authorization"), r.header("api-key"));
        match (r.method.as_str(), r.path.as_str()) {
            // The protocol's own target: its path is the base, its api_key a header.
            ("GET", "/pc/indexes") if auth == (None, Some("k3y")) => {
                Reply::json(json!({"indexes": []}))
            }
            // A named endpoint from the environment: `token=` is a bearer token.
            ("GET", "/ops/health") if auth == (Some("Bearer t0k"), None) => {
                Reply::json(json!({"status": "up"}))
            }
            // A full URL carries no one's credentials.
            ("GET", "/full") if auth == (None, None) => Reply::json(json!({"full": true})),
            ("GET", "/ops/fail") => Reply::raw(500, r#"{"error": "boom"}"#),
            (method, path) => Err(format!("unexpected request {method} {path} with {auth:?}")),
        }
    });
    let dir = specs_with_endpoints(
        &format!(
            r#"
suite: http_targets
protocols: [pinecone]
priority: p0
cases:
  - id: HT-10
    name: the protocol's own target
    steps:
      - http: {{url: /indexes, expect: {{indexes: []}}}}
  - id: HT-11
    name: a named endpoint
    steps:
      - http: {{target: ops, url: /health, expect: {{status: up}}}}
  - id: HT-12
    name: a full URL
    steps:
      - http: {{url: "http://{}/full", expect: {{full: true}}}}
  - id: HT-13
    name: a failure names the URL without its credentials
    steps:
      - http: {{target: ops, url: /fail}}
"#,
            peer.addr
        ),
        "  ops: {target: \"http://127.0.0.1:9/unused\", headers: {X-Ops-Key: hidden-value}}\n",
    );
    let specs = dir.path().to_str().expect("utf8");
    let own = format!("pinecone=http://{}/pc?api_key=k3y", peer.addr);
    let env = [(
        "HELIOS_MATRIX_TARGET_OPS",
        format!("http://{}/ops?token=t0k", peer.addr),
    )];
    let (code, stdout) = helios(
        &[
            "run",
            "--no-progress",
            "--jobs",
            "1",
            "--gate",
            "p0",
            "-p",
            "pinecone",
            "--specs",
            specs,
            "--target",
            &own,
        ],
        &env,
    );
    peer.assert_no_violations();
    assert_eq!(code, 1, "{stdout}");
    for (id, want) in [
        ("HT-10", "PASS"),
        ("HT-11", "PASS"),
        ("HT-12", "PASS"),
        ("HT-13", "FAIL"),
    ] {
        assert_eq!(verdict(&stdout, id), want, "{id}:\n{stdout}");
    }
    assert!(
        stdout.contains(&format!(
            "GET http://{}/ops/fail answered status 500",
            peer.addr
        )),
        "{stdout}"
    );
    // `list` shows the endpoints in force, masked, and their headers by name only.
    let (code, listed) = helios(&["list", "-p", "pinecone", "--specs", specs], &env);
    assert_eq!(code, 0, "{listed}");
    assert!(
        listed.contains(&format!(
            "endpoint ops (http://{}/ops?token=**** from environment)",
            peer.addr
        )),
        "{listed}"
    );
    assert!(
        listed.contains("headers: X-Ops-Key (values not shown)"),
        "{listed}"
    );
    for secret in ["k3y", "t0k", "hidden-value"] {
        assert!(!stdout.contains(secret), "{secret} in\n{stdout}");
        assert!(!listed.contains(secret), "{secret} in\n{listed}");
    }
}

#[test]
fn an_http_step_that_cannot_connect_is_an_error_never_an_expected_failure() {
    // A port nobody listens on: bound, then closed.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let dir = specs_with_endpoints(
        r#"
suite: http_down
protocols: [sqlite]
priority: p0
fixtures:
  remote:
    setup:
      - http: {method: POST, target: admin, url: /admin/ddl, json: {sql: CREATE TABLE t (id INT)}}
cases:
  - id: HT-20
    name: a step whose endpoint is down
    xfail: {sqlite: "an xfail does not excuse infrastructure"}
    steps:
      - http: {target: admin, url: /admin/health}
  - id: HT-21
    name: a fixture whose endpoint is down
    fixtures: [remote]
    steps:
      - query: SELECT 1
        rows: [[1]]
"#,
        "  admin: {}\n",
    );
    let target = format!("admin=http://admin:s3cret@{closed}");
    let (code, stdout) = run_with(
        dir.path(),
        "sqlite",
        "sqlite::memory:",
        &["--target".as_ref(), target.as_ref()],
    );
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(verdict(&stdout, "HT-20"), "ERROR", "{stdout}");
    assert_eq!(verdict(&stdout, "HT-21"), "ERROR", "{stdout}");
    for message in [
        format!("cannot connect to send GET http://{closed}/admin/health"),
        "an infrastructure failure is never an expected failure".to_string(),
        "fixture `remote` setup failed: cannot connect to send POST".to_string(),
    ] {
        assert!(
            stdout.contains(&message),
            "missing `{message}` in\n{stdout}"
        );
    }
    assert!(!stdout.contains("s3cret"), "{stdout}");
}

#[test]
fn fixtures_set_up_and_tear_down_through_http() {
    let peer = Peer::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/admin/ddl") if r.body["sql"] == "CREATE BROKEN" => {
            Reply::raw(500, r#"{"error": "cannot"}"#)
        }
        ("POST", "/admin/ddl") => Reply::json(json!({"ok": true})),
        ("GET", "/admin/tables/t") => Reply::json(json!({"name": "t", "columns": 1})),
        (method, path) => Err(format!("unexpected request {method} {path}")),
    });
    let dir = specs_with_endpoints(
        r#"
suite: http_fixtures
protocols: [sqlite]
priority: p0
fixtures:
  table:
    setup:
      - http: {method: POST, target: admin, url: /admin/ddl, json: {sql: CREATE t}}
    teardown:
      - http: {method: POST, target: admin, url: /admin/ddl, json: {sql: DROP t}}
  broken:
    setup:
      - http: {method: POST, target: admin, url: /admin/ddl, json: {sql: CREATE BROKEN}}
    teardown:
      - http: {method: POST, target: admin, url: /admin/ddl, json: {sql: DROP BROKEN}}
cases:
  - id: FX-1
    name: the fixture's table, then SQL on the protocol
    fixtures: [table]
    steps:
      - http: {target: admin, url: /admin/tables/t, expect: {name: t}}
      - query: SELECT 1
        rows: [[1]]
  - id: FX-2
    name: a failing case is still torn down
    fixtures: [table]
    steps:
      - http: {target: admin, url: /admin/tables/t, expect: {columns: 2}}
  - id: FX-3
    name: a setup that fails is an error, and is torn down
    fixtures: [broken]
    steps:
      - query: SELECT 1
"#,
        "  admin: {}\n",
    );
    let target = format!("admin=http://{}", peer.addr);
    let (code, stdout) = run_with(
        dir.path(),
        "sqlite",
        "sqlite::memory:",
        &["--target".as_ref(), target.as_ref()],
    );
    peer.assert_no_violations();
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(verdict(&stdout, "FX-1"), "PASS", "{stdout}");
    assert_eq!(verdict(&stdout, "FX-2"), "FAIL", "{stdout}");
    assert_eq!(verdict(&stdout, "FX-3"), "ERROR", "{stdout}");
    assert!(
        stdout.contains("fixture `broken` setup failed: POST")
            && stdout.contains("answered status 500, expected a 2xx status"),
        "{stdout}"
    );
    let sequence: Vec<String> = peer
        .requests
        .lock()
        .expect("lock")
        .iter()
        .map(|r| match r.body["sql"].as_str() {
            Some(sql) => sql.to_string(),
            None => format!("{} {}", r.method, r.path),
        })
        .collect();
    assert_eq!(
        sequence,
        [
            "CREATE t",
            "GET /admin/tables/t",
            "DROP t",
            "CREATE t",
            "GET /admin/tables/t",
            "DROP t",
            "CREATE BROKEN",
            "DROP BROKEN",
        ],
        "{stdout}"
    );
}
