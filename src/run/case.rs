//! Running one case: fixtures, sessions, steps, cleanup.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::check;
use super::events::{Answer, Key, Observed};
use super::http::HttpTargets;
use super::sqllogictest;
use super::{Failure, FailureKind, RunConfig};
use crate::exec::{
    Call, Canceller, Engine, ExecError, Planned, ResultSet, Session, SessionOptions,
};
use crate::plan::{CasePlan, SuitePlan};
use crate::registry::ErrorExpect;
use crate::secret::mask;
use crate::step::template::{Expander, values};
use crate::step::{Action, CopyRows, HttpStep, Query, Statement, Step, VectorStep};
use crate::target::Target;
use crate::value::{Compare, Comparison, Scalar};

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
        plan: None,
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
    /// The calls a run of steps will make on one session, handed to it when it is next
    /// used ([`Session::plan`]).
    plan: Option<(String, Vec<Planned>)>,
}

/// The session a step runs on: the one forced on it (fixtures), its own, or `default`.
fn session_name(step: &Step, forced: Option<&str>) -> String {
    forced
        .or(step.session.as_deref())
        .unwrap_or(DEFAULT_SESSION)
        .to_string()
}

/// The calls the steps from the first on will make, as long as they are plain calls on
/// the first one's session: a step on another session, a repeated step, a sleep, a
/// cursor, a cancel or any other action ends the plan, so that nothing runs ahead of
/// what it must wait for.
fn plan(steps: &[Step], forced: Option<&str>) -> Vec<Planned> {
    let Some(first) = steps.first() else {
        return Vec::new();
    };
    let on = session_name(first, forced);
    steps
        .iter()
        .map_while(|step| {
            if step.repeat.is_some() || session_name(step, forced) != on {
                return None;
            }
            let (call, expect_error) = match &step.action {
                Action::Statement(s) => (
                    Call::Execute {
                        sql: s.sql.clone(),
                        params: s.params.clone(),
                    },
                    s.error.is_some(),
                ),
                Action::Query(q) if q.fetch.is_none() && q.cancel_after.is_none() => (
                    Call::Query {
                        sql: q.sql.clone(),
                        params: q.params.clone(),
                    },
                    q.error.is_some(),
                ),
                Action::Begin => (Call::Begin, false),
                Action::Commit => (Call::Commit, false),
                Action::Rollback => (Call::Rollback, false),
                _ => return None,
            };
            Some(Planned { call, expect_error })
        })
        .collect()
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
        // Steps before this one are covered by the last plan.
        let mut planned_until = 0;
        for (index, step) in steps.iter().enumerate() {
            if index >= planned_until {
                let calls = plan(&steps[index..], session);
                planned_until = index + calls.len().max(1);
                self.plan = (calls.len() > 1).then(|| (session_name(step, session), calls));
            }
            let before = self.observed.len();
            let Err(mut f) = self.step(step, session).await else {
                continue;
            };
            f.location.get_or_insert_with(|| self.location(step));
            if session.is_none() {
                f.step = u32::try_from(index + 1)
                    .ok()
                    .and_then(std::num::NonZeroU32::new);
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
        self.plan = None;
        first.map_or(Ok(()), Err)
    }

    async fn step(&mut self, step: &Step, forced_session: Option<&str>) -> Result<(), Failure> {
        let session = session_name(step, forced_session);
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
        let session = self
            .sessions
            .get_mut(name)
            .ok_or_else(|| Failure::infrastructure("session vanished"))?;
        if let Some((_, calls)) = self.plan.take_if(|(planned, _)| planned == name) {
            session.plan(calls);
        }
        Ok(session)
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
                let mut failures = check::result_failures(q, &rs, cells).into_iter();
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
            Ok(answer) => check::check_vector(step, &answer).map_err(Failure::new),
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
    params: &[crate::step::Param],
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
        let letters = sqllogictest::letters(q, &result);
        let printed = sqllogictest::rendered(&result.rows, &letters, q.sort);
        let hash = sqllogictest::hash(&printed);
        (printed, hash)
    });
    Answer::Rows { result, printed }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{Fetch, Repeat, Sort};

    fn step(session: Option<&str>, action: Action) -> Step {
        Step {
            line: 1,
            session: session.map(str::to_string),
            repeat: None,
            origin: None,
            action,
        }
    }

    fn statement(sql: &str, error: bool) -> Action {
        Action::Statement(Statement {
            sql: sql.to_string(),
            params: Vec::new(),
            count: None,
            error: error.then(ErrorExpect::default),
        })
    }

    fn query(sql: &str) -> Query {
        Query {
            sql: sql.to_string(),
            params: Vec::new(),
            rows: None,
            columns: None,
            sort: Sort::default(),
            row_count: None,
            fetch: None,
            error: None,
            cancel_after: None,
            tolerance: None,
            types: None,
            compare: Compare::default(),
            rows_hash: None,
        }
    }

    fn calls(steps: &[Step], forced: Option<&str>) -> Vec<String> {
        plan(steps, forced)
            .into_iter()
            .map(|p| match p.call {
                Call::Execute { sql, .. } | Call::Query { sql, .. } if p.expect_error => {
                    format!("{sql}!")
                }
                Call::Execute { sql, .. } | Call::Query { sql, .. } => sql,
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_plan_holds_the_plain_calls_of_one_session_in_a_row() {
        let steps = [
            step(None, Action::Begin),
            step(None, statement("a", false)),
            step(Some("default"), statement("b", true)),
            step(None, Action::Query(Box::new(query("c")))),
            step(None, Action::Commit),
            step(Some("other"), statement("d", false)),
            step(None, statement("e", false)),
        ];
        assert_eq!(calls(&steps, None), ["Begin", "a", "b!", "c", "Commit"]);
        assert_eq!(calls(&steps[5..], None), ["d"]);
        // Fixtures run every step on their own session.
        assert_eq!(calls(&steps, Some("fixtures")).len(), steps.len());
    }

    #[test]
    fn a_plan_ends_where_a_step_must_be_waited_for() {
        let cancelled = Query {
            cancel_after: Some(Duration::from_millis(5)),
            ..query("slow")
        };
        let cursor = Query {
            fetch: Some(Fetch {
                batch: 1,
                batches: Vec::new(),
            }),
            ..query("cursor")
        };
        let repeated = Step {
            repeat: Some(Repeat {
                var: "i".to_string(),
                from: 0,
                to: 2,
            }),
            ..step(None, statement("r", false))
        };
        for stop in [
            step(None, Action::Query(Box::new(cancelled))),
            step(None, Action::Query(Box::new(cursor))),
            step(
                None,
                Action::Sleep {
                    duration: Duration::from_millis(1),
                },
            ),
            repeated,
        ] {
            let steps = [step(None, statement("a", false)), stop];
            assert_eq!(calls(&steps, None), ["a"]);
        }
    }
}
