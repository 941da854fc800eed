//! The driver host transcripts (tests/fixtures/driver-host/README.md), replayed from this
//! side: a stand-in host plays the transcript's host lines, and helios-matrix, driven
//! through the session call each request stands for, must write exactly the transcript's
//! request lines and read every answer into its typed results, succeeding or failing as
//! the answer says. The Python and Node hosts replay the same files against the reference
//! PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::task::JoinHandle;

use super::protocol::{
    Envelope, ErrorKind, Expect, Op, PROTOCOL, Params, Refusal, Request, Tagged, Wire,
};
use super::{DriverSession, Host, IdleHosts};
use crate::exec::{Call, Capability, ExecError, Planned, Session};
use crate::registry::PlaceholderStyle;
use crate::step::Param;
use crate::value::Scalar;

/// A transcript's first line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    /// What it shows, for its reader.
    transcript: String,
    /// The parameter style its SQL is written in; `None`: no statement has parameters.
    placeholder: Option<String>,
}

fn transcripts() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/driver-host");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/driver-host is there")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no transcripts in {}", dir.display());
    found
}

/// Requests are the lines with an `op`; the rest (the hello, answers) are the host's.
fn is_request(line: &str) -> bool {
    serde_json::from_str::<Json>(line).is_ok_and(|json| json.get("op").is_some())
}

/// Why the stand-in host stopped before the transcript's end.
#[derive(Debug)]
pub(super) enum Stopped {
    /// helios-matrix wrote another request than the transcript's: the cause of whatever
    /// went wrong after it.
    Unlike(String),
    /// helios-matrix stopped writing, or a pipe failed: an effect of something else.
    Cut(String),
}

/// A host that writes the transcript's host lines in turn, and checks that each request
/// line helios-matrix writes is the transcript's, byte for byte. `Ok` once every line was
/// played; it stops at the first difference (and closes its side, so helios-matrix does not
/// wait for it).
pub(super) fn stand_in(lines: Vec<String>) -> (Host, JoinHandle<Result<(), Stopped>>) {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (our_output, our_input) = tokio::io::split(ours);
    let (requests, answers) = tokio::io::split(theirs);
    let player = tokio::spawn(play(lines, requests, answers));
    (Host::over(our_output, our_input, "transcript"), player)
}

async fn play(
    lines: Vec<String>,
    requests: impl AsyncRead + Unpin,
    mut answers: impl AsyncWrite + Unpin,
) -> Result<(), Stopped> {
    let mut requests = BufReader::new(requests).lines();
    for line in lines {
        if is_request(&line) {
            let written = requests
                .next_line()
                .await
                .map_err(|e| Stopped::Cut(e.to_string()))?
                .ok_or_else(|| {
                    Stopped::Cut(format!(
                        "helios-matrix wrote nothing where it should write\n  {line}"
                    ))
                })?;
            if written != line {
                return Err(Stopped::Unlike(format!(
                    "helios-matrix wrote\n  {written}\nwhere the transcript has\n  {line}"
                )));
            }
        } else {
            let written = async {
                answers.write_all(line.as_bytes()).await?;
                answers.write_all(b"\n").await
            };
            written.await.map_err(|e| Stopped::Cut(e.to_string()))?;
        }
    }
    Ok(())
}

/// A request's parameters as the spec values helios-matrix binds.
fn spec_params(params: Params) -> Vec<Param> {
    match params {
        Params::Positional(values) => values
            .into_iter()
            .map(|value| Param {
                name: None,
                value: spec_value(value),
            })
            .collect(),
        Params::Named(values) => values
            .into_iter()
            .map(|(name, value)| Param {
                name: Some(name),
                value: spec_value(value),
            })
            .collect(),
    }
}

/// A value helios-matrix sends: a spec's scalar (a float NaN or infinite is tagged).
fn spec_value(value: Wire) -> Scalar {
    match value {
        Wire::Null => Scalar::Null,
        Wire::Bool(b) => Scalar::Bool(b),
        Wire::Int(i) => Scalar::Int(i),
        Wire::Float(f) => Scalar::Float(f),
        Wire::Text(s) => Scalar::Text(s),
        Wire::Tagged(Tagged::Float(special)) => Scalar::Float(special.value()),
        other => panic!("helios-matrix sends no such value: {other:?}"),
    }
}

/// How many rows (or batches) a call read, where it reads some, to hold against the
/// transcript's answer.
type Read = Option<usize>;

/// helios-matrix's side of one conversation: the session each request goes through.
struct Replay {
    /// `None` once `close` ended it.
    session: Option<DriverSession>,
    /// Where `disconnect` puts the host for the next session.
    idle: IdleHosts,
    style: PlaceholderStyle,
    cancels: bool,
}

impl Replay {
    /// Runs a request through the session call that makes it.
    async fn call(&mut self, op: Op<'_>) -> Result<Read, ExecError> {
        let Some(session) = self.session.as_mut() else {
            panic!("a request after `close`");
        };
        match op {
            Op::Connect { target, autocommit } => {
                session.host.connect(&target, autocommit).await?;
                Ok(None)
            }
            Op::Execute { sql, params } => {
                session.execute(&sql, &spec_params(params)).await?;
                Ok(None)
            }
            Op::Query { sql, params } => {
                let result = session.query(&sql, &spec_params(params)).await?;
                Ok(Some(result.rows.len()))
            }
            Op::Fetch {
                sql,
                params,
                batch,
                max_batches,
            } => {
                let batch = usize::try_from(batch).expect("a batch size");
                let max_batches = usize::try_from(max_batches).expect("a batch count");
                let read = session
                    .fetch_batches(&sql, &spec_params(params), batch, max_batches)
                    .await?;
                Ok(Some(read.batches.len()))
            }
            Op::Begin => session.begin().await.map(|()| None),
            Op::Commit => session.commit().await.map(|()| None),
            Op::Rollback => session.rollback().await.map(|()| None),
            Op::Copy {
                table,
                columns,
                rows,
            } => {
                let mut rows = rows
                    .into_iter()
                    .map(|row| Ok(row.into_iter().map(spec_value).collect()));
                session.copy_in(&table, &columns, &mut rows).await?;
                Ok(None)
            }
            Op::Vector { operation } => {
                session.vector(&operation).await?;
                Ok(None)
            }
            Op::Cancel => panic!("`cancel` is not replayed: the order of its answer is the host's"),
            Op::Disconnect => {
                let ending = self.session.take().expect("a session");
                Box::new(ending).close().await?;
                // The session gave its host back; the next session takes it.
                let host = self
                    .idle
                    .lock()
                    .expect("the idle hosts")
                    .pop()
                    .expect("the host given back");
                self.session = Some(self.session_on(host));
                Ok(None)
            }
            Op::Close => {
                let mut ending = self.session.take().expect("a session");
                // `close`, not `disconnect`: the host is not kept.
                ending.idle = None;
                Box::new(ending).close().await.map(|()| None)
            }
        }
    }

    fn session_on(&self, host: Host) -> DriverSession {
        DriverSession::new(host, self.cancels, self.style, Some(self.idle.clone()))
    }
}

/// The session call a pipelined request stands for, as a case plans it.
fn planned(request: &Request<'_>) -> Planned {
    let call = match &request.op {
        Op::Execute { sql, params } => Call::Execute {
            sql: sql.to_string(),
            params: spec_params(params.clone()),
        },
        Op::Query { sql, params } => Call::Query {
            sql: sql.to_string(),
            params: spec_params(params.clone()),
        },
        Op::Begin => Call::Begin,
        Op::Commit => Call::Commit,
        Op::Rollback => Call::Rollback,
        other => panic!("`{}` is never pipelined", other.name()),
    };
    Planned {
        call,
        expect_error: request.expect == Some(Expect::Error),
    }
}

/// The kind of error an answer names that becomes this executor error.
fn kind(error: &ExecError) -> ErrorKind {
    match error {
        ExecError::Db(_) => ErrorKind::Db,
        ExecError::Connect(_) => ErrorKind::Connect,
        ExecError::Lost(_) => ErrorKind::Lost,
        ExecError::Unsupported(_) => ErrorKind::Unsupported,
        ExecError::Client(_) => ErrorKind::Client,
    }
}

/// Whether what a call did is what the transcript's answer says: success with as many rows
/// or batches, or an error of its kind.
fn agrees(done: &Result<Read, ExecError>, answer: &str) -> Result<(), String> {
    let json: Json = serde_json::from_str(answer).map_err(|e| e.to_string())?;
    let envelope = Envelope::deserialize(&json).map_err(|e| e.to_string())?;
    match done {
        Ok(read) if envelope.ok => {
            let listed = json
                .get("rows")
                .or_else(|| json.get("batches"))
                .and_then(Json::as_array)
                .map(Vec::len);
            if *read == listed {
                Ok(())
            } else {
                Err(format!(
                    "read {read:?} rows or batches where the answer has {listed:?}"
                ))
            }
        }
        Err(e) if !envelope.ok => {
            let refusal = Refusal::deserialize(&json).map_err(|e| e.to_string())?;
            if refusal.error.kind == kind(e) {
                Ok(())
            } else {
                Err(format!(
                    "failed with {e:?} where the answer's error is {:?}",
                    refusal.error.kind
                ))
            }
        }
        other => Err(format!("{other:?} where the answer is {answer}")),
    }
}

/// Replays one transcript; `Err` says where it went another way.
async fn replay(lines: &[String]) -> Result<(), String> {
    let header: Header = serde_json::from_str(&lines[0]).map_err(|e| format!("line 1: {e}"))?;
    if header.transcript.trim().is_empty() {
        return Err("line 1: the header does not say what the transcript shows".to_string());
    }
    let style = match header.placeholder.as_deref() {
        // No statement has parameters: any style writes the same requests.
        None => PlaceholderStyle::Dollar,
        Some(style) => PlaceholderStyle::parse(style).ok_or(format!("line 1: no style {style}"))?,
    };
    let (mut host, player) = stand_in(lines[1..].to_vec());
    let driven = async {
        let hello = host.hello().await.map_err(|e| format!("line 2: {e}"))?;
        let mut replay = Replay {
            session: None,
            idle: Arc::default(),
            style,
            cancels: hello.capabilities.contains(&Capability::Cancel),
        };
        replay.session = Some(replay.session_on(host));
        let mut exchanges = Vec::new();
        let mut numbered = lines.iter().enumerate().skip(2).map(|(i, l)| (i + 1, l));
        while let Some((number, line)) = numbered.next() {
            let request: Request =
                serde_json::from_str(line).map_err(|e| format!("line {number}: {e}"))?;
            let (number, answer) = numbered
                .next()
                .ok_or(format!("line {number}: a request without its answer"))?;
            exchanges.push((request, number, answer));
        }
        for (at, (request, number, answer)) in exchanges.iter().enumerate() {
            // A request that says how it should end, with the pipelined ones after it: the
            // case's plan that makes helios-matrix write them in one go.
            if request.expect.is_some() && !request.pipelined {
                let run = exchanges[at + 1..]
                    .iter()
                    .take_while(|(r, ..)| r.pipelined)
                    .count();
                let plan = exchanges[at..=at + run]
                    .iter()
                    .map(|(r, ..)| planned(r))
                    .collect();
                if let Some(session) = replay.session.as_mut() {
                    session.plan(plan);
                }
            }
            let done = replay.call(request.op.clone()).await;
            agrees(&done, answer).map_err(|e| format!("line {number}: {e}"))?;
        }
        Ok::<(), String>(())
    };
    let driven = tokio::time::timeout(Duration::from_secs(30), driven)
        .await
        .map_err(|_| "no end within 30 s".to_string())?;
    match (player.await.map_err(|e| e.to_string())?, driven) {
        (Err(Stopped::Unlike(e)), _) | (_, Err(e)) | (Err(Stopped::Cut(e)), Ok(())) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

#[tokio::test]
async fn helios_matrix_writes_and_reads_every_transcript() {
    for path in transcripts() {
        let text = std::fs::read_to_string(&path).expect("a transcript");
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if let Err(e) = replay(&lines).await {
            panic!("{}: {e}", path.display());
        }
    }
}

/// The replay notices a request helios-matrix would write otherwise, and an answer it
/// cannot read as the answer says: it can fail.
#[tokio::test]
async fn a_transcript_unlike_what_helios_matrix_does_fails_its_replay() {
    let path = transcripts()
        .into_iter()
        .find(|p| p.ends_with("session.jsonl"));
    let text = std::fs::read_to_string(path.expect("session.jsonl")).expect("a transcript");
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let edited = |from: &str, to: &str| -> Vec<String> {
        let text = lines.join("\n");
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, 1)
            .lines()
            .map(str::to_string)
            .collect()
    };
    // Another key order than helios-matrix writes.
    let reordered = edited(r#"{"id":1,"op":"connect","#, r#"{"op":"connect","id":1,"#);
    let e = replay(&reordered).await.expect_err("another line");
    assert!(e.contains("helios-matrix wrote"), "{e}");
    // An answer that says it succeeded but that helios-matrix cannot read.
    let e = replay(&edited(
        r#"{"id":3,"ok":true,"rowcount":3}"#,
        r#"{"id":3,"ok":true}"#,
    ))
    .await
    .expect_err("an answer without its rowcount");
    assert!(
        e.contains("line 8") && e.contains("missing field `rowcount`"),
        "{e}"
    );
}

/// Answers without the results their request needs fail the call with the host's line,
/// never read as an empty result.
#[tokio::test]
async fn answers_missing_their_results_fail_the_call() {
    let hello = format!(
        r#"{{"hello":"helios-matrix-driver-host","protocol":{PROTOCOL},"driver":"d","driver_version":"1","runtime":"r","capabilities":["sql","cursors","copy"]}}"#
    );
    let cases = [
        (
            r#"{"id":1,"op":"query","sql":"q","params":[]}"#,
            r#"{"id":1,"ok":true,"columns":[]}"#,
            "missing field `rows`",
        ),
        (
            r#"{"id":1,"op":"fetch","sql":"q","params":[],"batch":1,"max_batches":1}"#,
            r#"{"id":1,"ok":true,"columns":[]}"#,
            "missing field `batches`",
        ),
        (
            r#"{"id":1,"op":"execute","sql":"q","params":[]}"#,
            r#"{"id":1,"ok":true}"#,
            "missing field `rowcount`",
        ),
        (
            r#"{"id":1,"op":"query","sql":"q","params":[]}"#,
            r#"{"id":1,"ok":true,"columns":[{"name":"n","class":"integer","native":"int4"}],"rows":[[{"mystery":"1"}]]}"#,
            "cannot decode column 1 `n` of type int4",
        ),
        (
            r#"{"id":1,"op":"query","sql":"q","params":[]}"#,
            r#"{"id":1,"ok":false}"#,
            "missing field `error`",
        ),
        (
            r#"{"id":1,"op":"query","sql":"q","params":[]}"#,
            r#"{"id":1,"rows":[]}"#,
            "missing field `ok`",
        ),
    ];
    for (request, answer, why) in cases {
        let lines = vec![hello.clone(), request.to_string(), answer.to_string()];
        let (mut host, player) = stand_in(lines);
        host.hello().await.expect("a hello");
        let mut session = DriverSession::new(host, false, PlaceholderStyle::Dollar, None);
        let op: Request = serde_json::from_str(request).expect("a request");
        let failed = match op.op {
            Op::Query { .. } => session.query("q", &[]).await.map(drop),
            Op::Fetch { .. } => session.fetch_batches("q", &[], 1, 1).await.map(drop),
            _ => session.execute("q", &[]).await.map(drop),
        };
        let Err(ExecError::Client(message)) = failed else {
            panic!("{answer}: {failed:?}");
        };
        assert!(message.contains(why), "{message}");
        assert!(
            message.contains(answer) || why.starts_with("cannot decode"),
            "the line is shown: {message}"
        );
        let played = player.await.expect("played");
        assert!(played.is_ok(), "{played:?}");
    }
}
