//! Running one case: fixtures, sessions, steps, cleanup.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::check;
use super::events::{Answer, Key, Observed};
use super::http::HttpTargets;
use super::sqllogictest::{self, Letter};
use super::{Failure, FailureKind, RunConfig};
use crate::exec::{Canceller, Engine, ExecError, ResultSet, Session, SessionOptions, VectorAnswer};
use crate::plan::template::{Expander, values};
use crate::plan::{
    Action, CasePlan, CopyRows, ErrorExpect, HttpStep, Query, Statement, Step, SuitePlan,
    VectorStep,
};
use crate::target::{Target, mask};
use crate::value::{Compare, Comparison, DEFAULT_TOLERANCE, Scalar};

/// The session fixtures run on: autocommit, separate from the case's own sessions.
const FIXTURE_SESSION: &str = "\u{0}fixtures";
const DEFAULT_SESSION: &str = "default";

/// Where a case runs: its worker's engine and target, and where its `http` steps go.
pub(super) struct Place<'a> {
    pub engine: &'a dyn Engine,
    pub protocol: &'a str,
    pub target: Option<&'a Target>,
    pub http: &'a HttpTargets<'a>,
    /// When the run's time limit (`--run-timeout`) runs out, if it has one.
    pub run_deadline: Option<Instant>,
}

pub(super) async fn run_case(
    place: Place<'_>,
    suite: &SuitePlan,
    case: &CasePlan,
    case_key: &str,
    config: &RunConfig,
) -> (Result<(), Failure>, Vec<Observed>) {
    let Place {
        engine,
        protocol,
        target,
        http,
        run_deadline,
    } = place;
    let mut run = CaseRun {
        engine,
        http,
        suite,
        case_key: case_key.to_string(),
        autocommit: case.autocommit,
        sessions: BTreeMap::new(),
        step_timeout: case.timeout.unwrap_or(config.step_timeout),
        expander: Expander::new(),
        target: format!(
            "{protocol} at {} ({})",
            target.map(Target::address).unwrap_or_default(),
            target.map(ToString::to_string).unwrap_or_default()
        ),
        fixtures_started: 0,
        fixtures_torn_down: 0,
        cancel_grace: config.cancel_grace,
        keep_going: config.keep_going,
        observed: Vec::new(),
    };
    let fixtures: Vec<_> = case
        .fixtures
        .iter()
        .filter_map(|name| suite.fixtures.iter().find(|f| &f.name == name))
        .collect();

    // One deadline for the whole case: its fixtures, steps and teardown. The run's own
    // limit cuts it shorter when that comes first.
    let case_limit = case.case_timeout.unwrap_or(config.case_timeout);
    let started = Instant::now();
    let case_deadline = started + case_limit;
    let (deadline, cut_by_run) = match run_deadline {
        Some(run_end) if run_end < case_deadline => (run_end, true),
        _ => (case_deadline, false),
    };
    let body = async {
        for fixture in &fixtures {
            run.fixtures_started += 1;
            if let Err(f) = run.steps(&fixture.setup, Some(FIXTURE_SESSION)).await {
                return Err(Failure::infrastructure(format!(
                    "fixture `{}` setup failed: {}",
                    fixture.name, f.message
                ))
                .at(f.location));
            }
        }
        run.steps(&case.steps, None).await
    };
    let mut result = match tokio::time::timeout_at(deadline.into(), body).await {
        Ok(result) => result,
        Err(_) => {
            // The call in flight was dropped mid-way: no session can be trusted now.
            let cancelled = run.abandon_sessions().await;
            let limit = if cut_by_run {
                "the run's time limit (--run-timeout) ran out while it ran".to_string()
            } else {
                format!(
                    "it did not finish within its time limit of {} (--case-timeout, or `timeout: {{case: …}}` on the case)",
                    humantime::format_duration(case_limit)
                )
            };
            Err(Failure::timeout(format!(
                "the case timed out: {limit}; {cancelled}"
            )))
        }
    };
    // Cleanup runs whatever happened: open transactions are rolled back, sessions closed,
    // and every fixture that started setting up is torn down, so the next case starts
    // clean. It has what is left of the case's time, and at least the cancel grace.
    let cleanup_deadline = deadline.max(Instant::now() + config.cancel_grace);
    let cleanup = async {
        let mut failure = None;
        run.close_sessions(|name| name != FIXTURE_SESSION).await;
        for fixture in fixtures[..run.fixtures_started].iter().rev() {
            if let Err(f) = run.steps(&fixture.teardown, Some(FIXTURE_SESSION)).await {
                failure.get_or_insert_with(|| {
                    Failure::infrastructure(format!(
                        "fixture `{}` teardown failed: {}",
                        fixture.name, f.message
                    ))
                    .at(f.location)
                });
            }
            run.fixtures_torn_down += 1;
        }
        run.close_sessions(|_| true).await;
        engine.end_case(case_key).await;
        failure
    };
    let cleaned = tokio::time::timeout_at(cleanup_deadline.into(), cleanup).await;
    let unfinished = match cleaned {
        Ok(None) => None,
        Ok(Some(teardown_failed)) => Some(teardown_failed),
        Err(_) => {
            // Whatever is still open is dropped unanswered: the server had its time.
            run.sessions.clear();
            let pending: Vec<&str> = fixtures[..run.fixtures_started]
                .iter()
                .rev()
                .skip(run.fixtures_torn_down)
                .map(|f| f.name.as_str())
                .collect();
            let what = if pending.is_empty() {
                "closing its sessions".to_string()
            } else {
                format!("the teardown of fixture(s) `{}`", pending.join("`, `"))
            };
            Some(Failure::timeout(format!(
                "the case's cleanup did not finish in time: {what} was cut off after {} and its connections dropped; the server may keep what the case left behind",
                humantime::format_duration(Duration::from_millis(
                    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
                ))
            )))
        }
    };
    match (&mut result, unfinished) {
        (_, None) => {}
        (Ok(()), Some(f)) => result = Err(f),
        // The case's own failure stays the verdict. A cleanup cut off is told with it (the
        // server may now hold what the case left); a teardown that failed after the case
        // did is most often its echo (the table never made), and is not.
        (Err(first), Some(f)) if f.kind == FailureKind::Timeout => {
            first.message = format!("{}\n  and then: {}", first.message, f.message);
        }
        (Err(_), Some(_)) => {}
    }
    (result, run.observed)
}

struct CaseRun<'a> {
    engine: &'a dyn Engine,
    http: &'a HttpTargets<'a>,
    suite: &'a SuitePlan,
    case_key: String,
    autocommit: bool,
    sessions: BTreeMap<String, Box<dyn Session>>,
    step_timeout: Duration,
    expander: Expander,
    /// `postgresql at 127.0.0.1:5432 (postgres://test:****@…)`, for connection messages.
    target: String,
    /// How many of the case's fixtures began their setup (and so need tearing down).
    fixtures_started: usize,
    /// How many of those were torn down, last first.
    fixtures_torn_down: usize,
    /// See [`RunConfig::cancel_grace`].
    cancel_grace: Duration,
    /// Run on past failing checks (see [`RunConfig::keep_going`]).
    keep_going: bool,
    /// What the case's wrong steps got (only with `keep_going`).
    observed: Vec<Observed>,
}

impl Failure {
    fn at(mut self, location: Option<String>) -> Self {
        self.location = location;
        self
    }
}

impl CaseRun<'_> {
    fn location(&self, step: &Step) -> String {
        match &step.origin {
            Some(origin) => format!("{}:{} (from {origin})", self.suite.source, step.line),
            None => format!("{}:{}", self.suite.source, step.line),
        }
    }

    /// Runs steps in order; a failure carries the step's location, and for the case's own
    /// steps (no forced session) its 1-based position.
    async fn steps(&mut self, steps: &[Step], session: Option<&str>) -> Result<(), Failure> {
        // With `keep_going` (record), the first failing check is the case's failure and
        // later steps still run, each wrong one observed.
        let mut first: Option<Failure> = None;
        for (index, step) in steps.iter().enumerate() {
            let before = self.observed.len();
            let Err(mut f) = self.step(step, session).await else {
                continue;
            };
            f.location.get_or_insert_with(|| self.location(step));
            if session.is_none() {
                f.step = u32::try_from(index + 1).ok();
            }
            // Only the case's own steps are written back, and not a repeated step's
            // answers (one iteration's).
            if session.is_some() || step.repeat.is_some() {
                self.observed.truncate(before);
            }
            for o in &mut self.observed[before..] {
                o.line = step.line;
            }
            let go_on = self.keep_going && session.is_none() && !f.is_infrastructure();
            first.get_or_insert(f);
            if !go_on {
                break;
            }
        }
        first.map_or(Ok(()), Err)
    }

    async fn step(&mut self, step: &Step, forced_session: Option<&str>) -> Result<(), Failure> {
        let session = forced_session
            .map(str::to_string)
            .or_else(|| step.session.clone())
            .unwrap_or_else(|| DEFAULT_SESSION.to_string());
        match &step.repeat {
            None => self.action(&session, &step.action).await,
            Some(repeat) => {
                for value in values(repeat) {
                    let action = self
                        .expander
                        .action(&step.action, &repeat.var, value)
                        .map_err(Failure::new)?;
                    self.action(&session, &action).await.map_err(|mut f| {
                        f.message = format!("{} (with {} = {value})", f.message, repeat.var);
                        f
                    })?;
                }
                Ok(())
            }
        }
    }

    async fn session(&mut self, name: &str) -> Result<&mut Box<dyn Session>, Failure> {
        if !self.sessions.contains_key(name) {
            let options = SessionOptions {
                case_key: self.case_key.clone(),
                autocommit: name == FIXTURE_SESSION || self.autocommit,
            };
            let opened = tokio::time::timeout(self.step_timeout, self.engine.open(&options)).await;
            let session = match opened {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    return Err(Failure::infrastructure(connect_message(&self.target, &e)));
                }
                Err(_) => {
                    return Err(Failure::infrastructure(format!(
                        "cannot connect to {}: no answer within {}",
                        self.target,
                        humantime::format_duration(self.step_timeout)
                    )));
                }
            };
            self.sessions.insert(name.to_string(), session);
        }
        self.sessions
            .get_mut(name)
            .ok_or_else(|| Failure::infrastructure("session vanished"))
    }

    /// Runs one call with the step timeout; on timeout the call is cancelled and the
    /// session dropped, so a stuck connection never leaks into later steps.
    async fn timed<T>(
        &mut self,
        name: &str,
        call: impl AsyncFnOnce(&mut Box<dyn Session>) -> Result<T, ExecError>,
    ) -> Result<Result<T, ExecError>, Failure> {
        let limit = self.step_timeout;
        let session = self.session(name).await?;
        let canceller = session.canceller();
        match tokio::time::timeout(limit, call(session)).await {
            Ok(result) => {
                if matches!(result, Err(ExecError::Lost(_))) {
                    self.sessions.remove(name);
                }
                Ok(result)
            }
            Err(_) => {
                // The session's state is unknown now: it is cancelled (within the grace)
                // and dropped without a goodbye that a stuck server would never answer.
                let session = self.sessions.remove(name);
                let cancelled = match canceller {
                    Some(c) => cancel_within(c.as_ref(), self.cancel_grace).await,
                    None => "the executor cannot cancel, so its connection was dropped".to_string(),
                };
                drop(session);
                Err(Failure::timeout(format!(
                    "step timed out after {}; {cancelled}",
                    humantime::format_duration(limit)
                )))
            }
        }
    }

    async fn action(&mut self, session: &str, action: &Action) -> Result<(), Failure> {
        match action {
            Action::Statement(s) => self.statement(session, s).await,
            Action::Query(q) => self.query(session, q).await,
            Action::Begin => {
                self.plain(session, "begin", async |s| s.begin().await)
                    .await
            }
            Action::Commit => {
                self.plain(session, "commit", async |s| s.commit().await)
                    .await
            }
            Action::Rollback => {
                self.plain(session, "rollback", async |s| s.rollback().await)
                    .await
            }
            Action::Sleep { duration } => {
                tokio::time::sleep(*duration).await;
                Ok(())
            }
            Action::Copy(copy) => {
                let mut rows: Box<dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send> =
                    match &copy.rows {
                        CopyRows::Literal(rows) => Box::new(rows.clone().into_iter().map(Ok)),
                        CopyRows::Repeat { repeat, row } => {
                            let mut expander = Expander::new();
                            let var = repeat.var.clone();
                            let row = row.clone();
                            Box::new(values(repeat).map(move |v| expander.row(&row, &var, v)))
                        }
                    };
                let (table, columns) = (copy.table.clone(), copy.columns.clone());
                match self
                    .timed(session, async move |s| {
                        s.copy_in(&table, &columns, rows.as_mut()).await
                    })
                    .await?
                {
                    Ok(_) => Ok(()),
                    Err(e) => Err(exec_failure(e, &format!("copy into {}", copy.table))),
                }
            }
            Action::Vector(v) => self.vector(session, v).await,
            Action::Http(h) => self.http(h).await,
        }
    }

    /// An `http` step, sent by the runner on no session, within the step timeout.
    async fn http(&mut self, step: &HttpStep) -> Result<(), Failure> {
        let limit = self.step_timeout;
        tokio::time::timeout(limit, self.http.run(step))
            .await
            .unwrap_or_else(|_| {
                Err(Failure::timeout(format!(
                    "step timed out after {} (the HTTP request was dropped)",
                    humantime::format_duration(limit)
                )))
            })
    }

    async fn plain(
        &mut self,
        session: &str,
        what: &str,
        call: impl AsyncFnOnce(&mut Box<dyn Session>) -> Result<(), ExecError>,
    ) -> Result<(), Failure> {
        match self.timed(session, call).await? {
            Ok(()) => Ok(()),
            Err(e) => Err(exec_failure(e, what)),
        }
    }

    async fn statement(&mut self, session: &str, s: &Statement) -> Result<(), Failure> {
        let with_sql = |f: Failure| Failure {
            sql: Some(s.sql.clone()),
            ..f
        };
        let (sql, params) = (s.sql.clone(), s.params.clone());
        let result = self
            .timed(session, async move |x| x.execute(&sql, &params).await)
            .await
            .map_err(with_sql)?;
        match (result, &s.error) {
            (Ok(affected), None) => match (s.count, affected) {
                (Some(expected), Some(n)) if expected != n => {
                    self.observe(Answer::Done(Some(n)), vec![Key::Count]);
                    Err(with_sql(Failure::new(format!(
                        "the statement affected {n} row(s), expected {expected}"
                    ))))
                }
                (Some(_), None) => Err(with_sql(Failure::new(
                    "`count` cannot be checked: the server's answer does not say how many rows the statement affected",
                ))),
                _ => Ok(()),
            },
            (Ok(affected), Some(expect)) => {
                self.observe(Answer::Done(affected), vec![Key::Error]);
                Err(with_sql(Failure::new(format!(
                    "expected {} but the statement succeeded",
                    expect.describe()
                ))))
            }
            (Err(e), expect) => self.refused(e, expect.as_ref()).map_err(with_sql),
        }
    }

    async fn query(&mut self, session: &str, q: &Query) -> Result<(), Failure> {
        let with_sql = |f: Failure| Failure {
            sql: Some(q.sql.clone()),
            ..f
        };
        let cells = Comparison {
            tolerance: q.tolerance,
            mode: q.compare,
        };
        let (sql, params) = (q.sql.clone(), q.params.clone());
        if let Some(fetch) = &q.fetch {
            let batch = usize::try_from(fetch.batch).unwrap_or(usize::MAX);
            let wanted = fetch.batches.len().max(1);
            let result = self
                .timed(session, async move |x| {
                    x.fetch_batches(&sql, &params, batch, wanted).await
                })
                .await
                .map_err(with_sql)?;
            return match (result, &q.error) {
                (Ok(got), None) => {
                    if let Some(types) = &q.types {
                        check::types(types, &got.columns).map_err(|m| with_sql(Failure::new(m)))?;
                    }
                    check::batches(fetch, &got, cells).map_err(|m| with_sql(Failure::new(m)))
                }
                (Ok(_), Some(expect)) => Err(with_sql(Failure::new(format!(
                    "expected {} but the query succeeded",
                    expect.describe()
                )))),
                (Err(e), expect) => error_outcome(e, expect.as_ref()).map_err(with_sql),
            };
        }
        let cancel_after = q.cancel_after;
        // sqllogictest's SQLite runner ends a query's rows at an error raised after the
        // statement started and checks the rows it read; an imported query expecting rows
        // keeps that meaning. Any other query fails on that error, as it always did.
        let partial = q.compare == Compare::Sqllogictest && q.error.is_none();
        let result = self
            .timed(session, async move |x| match cancel_after {
                None => read_rows(x, &sql, &params, partial).await,
                Some(after) => {
                    let Some(canceller) = x.canceller() else {
                        return Err(ExecError::Unsupported(
                            "cancelling a running query".to_string(),
                        ));
                    };
                    let running = read_rows(x, &sql, &params, partial);
                    tokio::pin!(running);
                    tokio::select! {
                        done = &mut running => done,
                        () = tokio::time::sleep(after) => {
                            canceller.cancel().await?;
                            running.await
                        }
                    }
                }
            })
            .await
            .map_err(with_sql)?;
        let result = result.and_then(|read| match read.interrupted {
            Some(db) if !partial => Err(ExecError::Db(db)),
            interrupted => Ok((read.result, interrupted)),
        });
        match (result, &q.error) {
            (Ok((rs, interrupted)), None) => {
                let mut failures = result_failures(q, &rs, cells).into_iter();
                match failures.next() {
                    None => Ok(()),
                    Some((key, mut first)) => {
                        if let Some(db) = interrupted {
                            // The rows are few for a reason: say which.
                            first.message.push_str(&mask(&format!(
                                "\n  the rows ended after {} row(s) at a server error, {db}; as in sqllogictest's SQLite runner, the rows before it are the result",
                                rs.rows.len()
                            )));
                        }
                        let wrong = std::iter::once(key).chain(failures.map(|(k, _)| k));
                        self.observe(rows_answer(q, rs), wrong.collect());
                        Err(with_sql(first))
                    }
                }
            }
            (Ok((rs, _)), Some(expect)) => {
                self.observe(rows_answer(q, rs), vec![Key::Error]);
                Err(with_sql(Failure::new(format!(
                    "expected {} but the query succeeded",
                    expect.describe()
                ))))
            }
            (Err(e), expect) => self.refused(e, expect.as_ref()).map_err(with_sql),
        }
    }

    async fn vector(&mut self, session: &str, step: &VectorStep) -> Result<(), Failure> {
        let op = step.op.clone();
        let answer = self
            .timed(session, async move |s| s.vector(&op).await)
            .await?;
        match answer {
            Ok(answer) => check_vector(step, &answer).map_err(Failure::new),
            Err(e) => Err(exec_failure(e, step.op.name())),
        }
    }

    async fn close_sessions(&mut self, which: impl Fn(&str) -> bool) {
        let names: Vec<String> = self.sessions.keys().filter(|n| which(n)).cloned().collect();
        for name in names {
            if let Some(session) = self.sessions.remove(&name) {
                let _ = tokio::time::timeout(self.step_timeout, session.close()).await;
            }
        }
    }

    /// Cancels whatever each session was running (all at once, within the cancel grace)
    /// and drops them without a goodbye: after a call was cut off mid-way, a connection's
    /// state is unknown. Says what became of the cancels.
    async fn abandon_sessions(&mut self) -> String {
        let sessions = std::mem::take(&mut self.sessions);
        let grace = self.cancel_grace;
        let cancels = sessions
            .values()
            .filter_map(|s| s.canceller())
            .map(|c| async move { cancel_within(c.as_ref(), grace).await });
        let said = join_all(cancels).await;
        drop(sessions);
        match said.first() {
            None => "its sessions were dropped (the executor cannot cancel)".to_string(),
            Some(first) if said.iter().all(|s| s == first) => format!("its sessions: {first}"),
            Some(_) => format!("its sessions: {}", said.join("; ")),
        }
    }
}

/// Asks the server to cancel a session's running call, giving it `grace`; says what
/// happened. The caller drops the session either way.
async fn cancel_within(canceller: &dyn Canceller, grace: Duration) -> String {
    match tokio::time::timeout(grace, canceller.cancel()).await {
        Ok(Ok(())) => "the cancel was sent and the connection dropped".to_string(),
        Ok(Err(e)) => format!(
            "the cancel failed ({}), so the connection was dropped",
            mask(&e.to_string())
        ),
        Err(_) => format!(
            "the cancel got no answer within {} (--cancel-grace), so the connection was dropped",
            humantime::format_duration(grace)
        ),
    }
}

fn connect_message(target: &str, e: &ExecError) -> String {
    let cause = match e {
        ExecError::Connect(m) => m.clone(),
        other => other.to_string(),
    };
    mask(&format!("cannot connect to {target}: {cause}"))
}

/// A failed executor call where no error was expected. A server error keeps its codes, so
/// an xfail that states the error it expects can be held to it; a lost connection is an
/// infrastructure failure.
fn exec_failure(e: ExecError, what: &str) -> Failure {
    let message = mask(&format!("{what} failed: {e}"));
    match e {
        ExecError::Db(db) => Failure {
            server_error: Some(Box::new(db)),
            ..Failure::new(message)
        },
        ExecError::Lost(_) | ExecError::Connect(_) => Failure::infrastructure(message),
        ExecError::Unsupported(_) | ExecError::Client(_) => Failure::new(message),
    }
}

impl CaseRun<'_> {
    /// Notes the answer of the step being run, for `record`; [`CaseRun::steps`] sets its
    /// line, or drops it.
    fn observe(&mut self, answer: Answer, wrong: Vec<Key>) {
        if self.keep_going {
            self.observed.push(Observed {
                line: 0,
                answer,
                wrong,
            });
        }
    }

    /// A failed call: fine when an error was expected and this is it; a server's error
    /// that is not is observed.
    fn refused(&mut self, e: ExecError, expect: Option<&ErrorExpect>) -> Result<(), Failure> {
        let outcome = error_outcome(e, expect);
        if let Err(Failure {
            server_error: Some(db),
            ..
        }) = &outcome
        {
            self.observe(Answer::Error(db.as_ref().clone()), vec![Key::Error]);
        }
        outcome
    }
}

/// A query's rows: through [`Session::query_partial`] where an error after the statement
/// started may end them (`partial`), else through [`Session::query`].
async fn read_rows(
    x: &mut Box<dyn Session>,
    sql: &str,
    params: &[crate::plan::Param],
    partial: bool,
) -> Result<crate::exec::PartialResult, ExecError> {
    if partial {
        x.query_partial(sql, params).await
    } else {
        x.query(sql, params).await.map(Into::into)
    }
}

/// A query's result as `record` writes it back.
fn rows_answer(q: &Query, result: ResultSet) -> Answer {
    let printed = (q.compare == Compare::Sqllogictest).then(|| {
        let letters = letters(q, &result);
        let printed = sqllogictest::rendered(&result.rows, &letters, q.sort);
        let hash = sqllogictest::hash(&printed);
        (printed, hash)
    });
    Answer::Rows { result, printed }
}

fn letters(q: &Query, rs: &ResultSet) -> Vec<Letter> {
    match &q.types {
        Some(types) => types.iter().copied().map(Letter::of_class).collect(),
        None => rs
            .columns
            .iter()
            .map(|c| Letter::of_class(c.class))
            .collect(),
    }
}

/// A failed call: fine when an error was expected and this is it.
fn error_outcome(e: ExecError, expect: Option<&ErrorExpect>) -> Result<(), Failure> {
    match (e, expect) {
        (ExecError::Db(db), Some(expect)) if check::error_matches(expect, &db) => Ok(()),
        (ExecError::Db(db), Some(expect)) => Err(Failure {
            message: format!("expected {}, got {db}", expect.describe()),
            server_error: Some(Box::new(db)),
            ..Failure::default()
        }),
        (ExecError::Db(db), None) => Err(Failure {
            message: mask(&format!("server error: {db}")),
            server_error: Some(Box::new(db)),
            ..Failure::default()
        }),
        (other @ (ExecError::Lost(_) | ExecError::Connect(_)), _) => {
            Err(Failure::infrastructure(mask(&other.to_string())))
        }
        (other, _) => Err(Failure::new(mask(&other.to_string()))),
    }
}

/// Every check of a query's result that fails, in the order they are reported, each with
/// the key it checks: `record` rewrites exactly those keys.
fn result_failures(q: &Query, rs: &ResultSet, cells: Comparison) -> Vec<(Key, Failure)> {
    if q.compare == Compare::Sqllogictest {
        return sqllogictest_failures(q, rs);
    }
    let mut out = Vec::new();
    if let Some(columns) = &q.columns {
        let got = rs.column_names();
        if columns != &got {
            let failure = Failure {
                message: "the column names differ".to_string(),
                diff: Some(check::diff(&[columns.join(" | ")], &[got.join(" | ")])),
                ..Failure::default()
            };
            out.push((Key::Columns, failure));
        }
    }
    if let Some(types) = &q.types
        && let Err(message) = check::types(types, &rs.columns)
    {
        out.push((Key::Types, Failure::new(message)));
    }
    if let Some(failure) = row_count_failure(q, rs) {
        out.push((Key::RowCount, failure));
    }
    if let Some(rows) = &q.rows
        && let Err(differ) = check::rows(rows, &rs.rows, &rs.columns, q.sort, cells)
    {
        let mut message = "the result differs".to_string();
        for note in &differ.notes {
            message.push_str("\n  ");
            message.push_str(note);
        }
        let failure = Failure {
            message,
            diff: Some(differ.diff),
            ..Failure::default()
        };
        out.push((Key::Rows, failure));
    }
    out
}

fn row_count_failure(q: &Query, rs: &ResultSet) -> Option<Failure> {
    let n = q.row_count?;
    (rs.rows.len() as u64 != n).then(|| {
        Failure::new(format!(
            "the query returned {} row(s), expected {n}",
            rs.rows.len()
        ))
    })
}

/// `compare: sqllogictest`: `types:` says how each column prints (by default, the
/// column's own class), `row_count` still counts rows.
fn sqllogictest_failures(q: &Query, rs: &ResultSet) -> Vec<(Key, Failure)> {
    let mut out = Vec::new();
    // As sqllogictest's runners do, a result with another number of columns than the
    // type string has letters is wrong whatever its values.
    if let Some(types) = &q.types
        && !rs.columns.is_empty()
        && rs.columns.len() != types.len()
    {
        let failure = Failure::new(format!(
            "the query returned {} column(s), its `types` name {}",
            rs.columns.len(),
            types.len()
        ));
        out.push((Key::Types, failure));
        return out;
    }
    if let Some(failure) = row_count_failure(q, rs) {
        out.push((Key::RowCount, failure));
    }
    let checked = sqllogictest::check(
        &rs.rows,
        &letters(q, rs),
        q.sort,
        q.rows.as_deref(),
        q.rows_hash.as_ref(),
    );
    if let Err(d) = checked {
        let failure = Failure {
            message: d.message,
            diff: Some(check::diff(&d.expected, &d.actual)),
            ..Failure::default()
        };
        let key = if q.rows_hash.is_some() {
            Key::RowsHash
        } else {
            Key::Rows
        };
        out.push((key, failure));
    }
    out
}

/// Checks a vector operation's answer against its step's checks.
fn check_vector(step: &VectorStep, answer: &VectorAnswer) -> Result<(), String> {
    let checks = &step.checks;
    match answer {
        VectorAnswer::Indexes(names) | VectorAnswer::Vectors(names) => {
            if let Some(wanted) = &checks.contains {
                for name in wanted {
                    if !names.contains(name) {
                        return Err(format!("`{name}` is missing from the answer: {names:?}"));
                    }
                }
            }
            if let Some(n) = checks.count
                && names.len() as u64 != n
            {
                return Err(format!("{} item(s) came back, expected {n}", names.len()));
            }
        }
        VectorAnswer::Upserted(n) => {
            if let Some(expected) = checks.count
                && *n != expected
            {
                return Err(format!("{n} vector(s) upserted, expected {expected}"));
            }
        }
        VectorAnswer::Matches { matches, metric } => {
            check_ranking(matches, metric.as_deref())?;
            if let Some(m) = &checks.matches {
                if let Some(n) = m.count
                    && matches.len() as u64 != n
                {
                    return Err(format!("{} match(es), expected {n}", matches.len()));
                }
                if let Some(ids) = &m.ids {
                    let got: Vec<&str> = matches.iter().map(|x| x.id.as_str()).collect();
                    let ok = if m.ids_in_order {
                        got.iter().zip(ids).all(|(g, w)| *g == w) && got.len() == ids.len()
                    } else {
                        let mut a: Vec<&str> = got.clone();
                        let mut b: Vec<&str> = ids.iter().map(String::as_str).collect();
                        a.sort_unstable();
                        b.sort_unstable();
                        a == b
                    };
                    if !ok {
                        return Err(format!("match ids {got:?}, expected {ids:?}"));
                    }
                }
            }
            if let Some(each) = &checks.each_match {
                let zero_allowed = checks.matches.as_ref().and_then(|m| m.count) == Some(0);
                if matches.is_empty() && !zero_allowed {
                    return Err(
                        "`each_match` has nothing to check: the query returned no matches (write `matches: {count: 0}` if none are expected)"
                            .to_string(),
                    );
                }
                for found in matches {
                    if let Some(meta) = &each.metadata {
                        let have = found.metadata.clone().unwrap_or(serde_json::Value::Null);
                        if !json_contains(&have, meta) {
                            return Err(format!(
                                "match `{}` has metadata {have}, expected it to contain {meta}",
                                found.id
                            ));
                        }
                    }
                    if let Some(min) = each.min_score
                        && found.score < min
                    {
                        return Err(format!(
                            "match `{}` scores {}, below min_score {min}",
                            found.id, found.score
                        ));
                    }
                    if let Some(max) = each.max_score
                        && found.score > max
                    {
                        return Err(format!(
                            "match `{}` scores {}, above max_score {max}",
                            found.id, found.score
                        ));
                    }
                }
            }
        }
        VectorAnswer::Json(value) => {
            if let Some(expect) = &checks.expect
                && !json_contains(value, expect)
            {
                return Err(format!("the answer {value} does not contain {expect}"));
            }
        }
        VectorAnswer::Done => {}
    }
    Ok(())
}

/// Matches come ranked best first: by falling score for similarity metrics (cosine,
/// dot product), by rising distance for euclidean.
fn check_ranking(matches: &[crate::exec::VectorMatch], metric: Option<&str>) -> Result<(), String> {
    if matches.len() < 2 {
        return Ok(());
    }
    let ascending = match metric.map(str::to_ascii_lowercase).as_deref() {
        Some("cosine" | "dotproduct" | "dot_product") => false,
        Some("euclidean") => true,
        Some(other) => {
            return Err(format!(
                "the index's metric `{other}` is unknown, so the ranking of its matches cannot be checked"
            ));
        }
        None => {
            return Err(
                "the index description names no metric, so the ranking of its matches cannot be checked"
                    .to_string(),
            );
        }
    };
    for pair in matches.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let in_order = if ascending {
            a.score <= b.score
        } else {
            a.score >= b.score
        };
        if !in_order {
            return Err(format!(
                "matches are not ranked by the {} metric: `{}` ({}) comes before `{}` ({})",
                metric.unwrap_or_default(),
                a.id,
                a.score,
                b.id,
                b.score
            ));
        }
    }
    Ok(())
}

/// Partial match: every key of `want` is in `have` with a matching value.
fn json_contains(have: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (have, want) {
        (J::Object(h), J::Object(w)) => w
            .iter()
            .all(|(k, wv)| h.get(k).is_some_and(|hv| json_contains(hv, wv))),
        (J::Number(h), J::Number(w)) => h
            .as_f64()
            .zip(w.as_f64())
            .is_some_and(|(a, b)| crate::value::approx_eq(b, a, DEFAULT_TOLERANCE)),
        (h, w) => h == w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::VectorMatch;
    use crate::plan::{EachMatch, MatchesCheck, VectorChecks, VectorOp};

    fn hit(id: &str, score: f64, category: &str) -> VectorMatch {
        VectorMatch {
            id: id.into(),
            score,
            metadata: Some(serde_json::json!({"category": category})),
        }
    }

    fn query_step(checks: VectorChecks) -> VectorStep {
        VectorStep {
            op: VectorOp::ListIndexes,
            checks,
        }
    }

    fn answer(matches: Vec<VectorMatch>, metric: &str) -> VectorAnswer {
        VectorAnswer::Matches {
            matches,
            metric: Some(metric.into()),
        }
    }

    #[test]
    fn each_match_needs_a_match_unless_none_are_expected() {
        let each = EachMatch {
            metadata: Some(serde_json::json!({"category": "A"})),
            ..EachMatch::default()
        };
        let step = query_step(VectorChecks {
            each_match: Some(each.clone()),
            ..VectorChecks::default()
        });
        let err = check_vector(&step, &answer(vec![], "cosine")).expect_err("vacuous");
        assert!(err.contains("no matches"), "{err}");
        let step = query_step(VectorChecks {
            each_match: Some(each),
            matches: Some(MatchesCheck {
                count: Some(0),
                ..MatchesCheck::default()
            }),
            ..VectorChecks::default()
        });
        assert!(check_vector(&step, &answer(vec![], "cosine")).is_ok());
    }

    #[test]
    fn each_match_checks_every_key() {
        let step = query_step(VectorChecks {
            each_match: Some(EachMatch {
                metadata: Some(serde_json::json!({"category": "A"})),
                min_score: Some(0.5),
                max_score: None,
            }),
            ..VectorChecks::default()
        });
        let good = vec![hit("a", 0.9, "A"), hit("b", 0.6, "A")];
        assert!(check_vector(&step, &answer(good, "cosine")).is_ok());
        let wrong_meta = vec![hit("a", 0.9, "A"), hit("b", 0.6, "B")];
        assert!(check_vector(&step, &answer(wrong_meta, "cosine")).is_err());
        let low = vec![hit("a", 0.9, "A"), hit("b", 0.4, "A")];
        let err = check_vector(&step, &answer(low, "cosine")).expect_err("below min");
        assert!(err.contains("min_score"), "{err}");
    }

    #[test]
    fn matches_must_be_ranked_as_the_metric_says() {
        let step = query_step(VectorChecks::default());
        let descending = vec![hit("a", 0.9, "A"), hit("b", 0.1, "A")];
        let ascending = vec![hit("a", 0.1, "A"), hit("b", 0.9, "A")];
        assert!(check_vector(&step, &answer(descending.clone(), "cosine")).is_ok());
        assert!(check_vector(&step, &answer(ascending.clone(), "cosine")).is_err());
        assert!(check_vector(&step, &answer(ascending.clone(), "euclidean")).is_ok());
        assert!(check_vector(&step, &answer(descending, "euclidean")).is_err());
        let unknown = VectorAnswer::Matches {
            matches: ascending,
            metric: None,
        };
        assert!(check_vector(&step, &unknown).is_err());
    }
}
