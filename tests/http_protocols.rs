//! Protocol paths the emulators cannot be made to produce: Databricks statements that
//! stay PENDING/RUNNING and results paged in chunks (minilake answers synchronously and
//! inline), and Snowflake results split into downloaded chunks (fakesnow never chunks).
//! A scripted HTTP peer on 127.0.0.1 plays the real services' side of those exchanges.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};

/// Answers each request from `route(method, path, body)`; counts the requests per path.
struct Peer {
    addr: SocketAddr,
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

impl Peer {
    fn start(route: impl Fn(&str, &str, &Json, usize) -> Json + Send + 'static) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counts = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or("").to_string(),
                    parts.next().unwrap_or("").to_string(),
                );
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
                let route_key = path.split('?').next().unwrap_or_default().to_string();
                let n = {
                    let mut c = counts.lock().expect("lock");
                    let e = c.entry(route_key.clone()).or_default();
                    *e += 1;
                    *e
                };
                let answer = route(&method, &route_key, &body, n);
                let text = match &answer {
                    Json::String(raw) => raw.clone(),
                    other => other.to_string(),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        Peer { addr, seen }
    }

    fn count(&self, path: &str) -> usize {
        self.seen
            .lock()
            .expect("lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

fn run(specs: &std::path::Path, protocol: &str, target: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_helios-matrix"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--no-progress",
            "--gate",
            "p0,p1",
            "-p",
            protocol,
            "--specs",
        ])
        .arg(specs)
        .args(["--target", &format!("{protocol}={target}")])
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
    let peer = Peer::start(|method, path, body, n| match (method, path) {
        ("GET", "/api/2.0/sql/warehouses") => {
            json!({"warehouses": [{"id": "w1", "name": "helios-matrix"}]})
        }
        ("POST", "/api/2.0/sql/statements") if body["statement"] == "SELCT 1" => json!({
            "statement_id": "bad",
            "status": {"state": "FAILED", "error": {"error_code": "PARSE_SYNTAX_ERROR", "message": "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELCT'. SQLSTATE: 42601"}}
        }),
        ("POST", "/api/2.0/sql/statements") => {
            assert_eq!(body["warehouse_id"], "w1");
            assert_eq!(
                body["parameters"],
                json!([{"name": "p1", "value": "7", "type": "BIGINT"}])
            );
            json!({"statement_id": "s1", "status": {"state": "PENDING"}})
        }
        // RUNNING twice, then done: the first page inline, a second one to fetch.
        ("GET", "/api/2.0/sql/statements/s1") if n < 3 => {
            json!({"statement_id": "s1", "status": {"state": "RUNNING"}})
        }
        ("GET", "/api/2.0/sql/statements/s1") => json!({
            "statement_id": "s1",
            "status": {"state": "SUCCEEDED"},
            "manifest": {"schema": {"columns": [{"name": "n", "type_name": "INT"}, {"name": "d", "type_name": "DECIMAL"}]}, "total_chunk_count": 2},
            "result": {"chunk_index": 0, "data_array": [["1", "0.50"], ["2", null]], "next_chunk_index": 1}
        }),
        ("GET", "/api/2.0/sql/statements/s1/result/chunks/1") => {
            json!({"chunk_index": 1, "data_array": [["3", "1.50"]]})
        }
        other => panic!("unexpected request {other:?}"),
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
        rows: [[1, "0.50"], [2, null], [3, "1.50"]]
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
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        peer.count("/api/2.0/sql/statements/s1"),
        3,
        "polled until SUCCEEDED"
    );
    assert_eq!(peer.count("/api/2.0/sql/statements/s1/result/chunks/1"), 1);
}

#[test]
fn snowflake_downloads_result_chunks_with_their_headers() {
    let peer = Arc::new(Mutex::new(None::<SocketAddr>));
    let addr_for_route = peer.clone();
    let server = Peer::start(move |method, path, body, _| match (method, path) {
        ("POST", "/session/v1/login-request") => {
            assert_eq!(body["data"]["LOGIN_NAME"], "u");
            assert_eq!(body["data"]["PASSWORD"], "secret");
            json!({"success": true, "data": {"token": "t0k"}})
        }
        ("POST", "/queries/v1/query-request") => {
            let addr = addr_for_route.lock().expect("lock").expect("address set");
            assert_eq!(
                body["bindings"],
                json!({"1": {"type": "FIXED", "value": "5"}})
            );
            json!({"success": true, "data": {
                "rowtype": [{"name": "N", "type": "fixed", "scale": 0}, {"name": "X", "type": "fixed", "scale": 2}],
                "queryResultFormat": "json",
                "rowset": [["1", "0.50"]],
                "chunks": [{"url": format!("http://{addr}/chunk/0"), "rowCount": 2}],
                "chunkHeaders": {"x-amz-server-side-encryption-customer-key": "k"}
            }})
        }
        // A JSON chunk is rows without the enclosing brackets.
        ("GET", "/chunk/0") => Json::String(r#"["2", null], ["3", "1.25"]"#.to_string()),
        ("POST", "/session") => json!({"success": true}),
        other => panic!("unexpected request {other:?}"),
    });
    *peer.lock().expect("lock") = Some(server.addr);
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
        rows: [[1, "0.50"], [2, null], [3, "1.25"]]
"#,
    );
    let (code, stdout) = run(
        dir.path(),
        "snowflake",
        &format!("http://u:secret@{}/db/sch", server.addr),
    );
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(server.count("/chunk/0"), 1);
    assert!(!stdout.contains("secret"), "{stdout}");
}
