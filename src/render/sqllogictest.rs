//! `compile --format sqllogictest`: each case of the plan as a standard sqllogictest script
//! that sqllogictest-rs (`sqllogictest --engine postgres|mysql`) runs as it is, or the
//! reason it cannot be one.
//!
//! One file per case, `<protocol>/<suite>/<CASE-ID>.slt`: the case's fixtures' setup, its
//! steps and its fixtures' teardown, so a file's verdict is the case's. A case whose checks
//! the format cannot express faithfully is not exported (never weakened): it is listed with
//! the reason in `<protocol>/not-exported.txt`. docs/sqllogictest.md describes the mapping
//! and the facts about sqllogictest-rs 0.29 it rests on; the reasons below cite them.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::Output;
use crate::diag::Diagnostics;
use crate::executor::Executor;
use crate::plan::compile::compile_suite_for;
use crate::plan::{CasePlan, FixturePlan, SuitePlan};
use crate::registry::ErrorExpect;
use crate::registry::Protocol;
use crate::spec::SpecSet;
use crate::step::template::{Expander, values};
use crate::step::{Action, Query, Sort, Statement, Step};
use crate::value::{Compare, Scalar, format_float};

/// The extension of exported scripts: they are sqllogictest.
pub const EXTENSION: &str = "slt";
/// Each protocol's list of the cases not exported, beside its suites' directories.
pub const NOT_EXPORTED: &str = "not-exported.txt";
/// The most iterations of a repeated step unrolled into records.
pub const MAX_UNROLLED: u64 = 1_000;

/// The sqllogictest-rs engine that speaks a protocol: its executor's row says which.
use crate::executor::SqllogictestEngine;

impl SqllogictestEngine {
    pub fn of(protocol: &Protocol) -> Option<SqllogictestEngine> {
        protocol.executor.info().sqllogictest
    }

    /// The engine's name on sqllogictest's command line (`--engine NAME`).
    pub fn name(self) -> &'static str {
        match self {
            SqllogictestEngine::Postgres => "postgres",
            SqllogictestEngine::MySql => "mysql",
        }
    }

    /// How the engine prints a boolean: PostgreSQL's text form, MySQL's TINYINT.
    fn bool_text(self, b: bool) -> &'static str {
        match (self, b) {
            (SqllogictestEngine::Postgres, true) => "t",
            (SqllogictestEngine::Postgres, false) => "f",
            (SqllogictestEngine::MySql, true) => "1",
            (SqllogictestEngine::MySql, false) => "0",
        }
    }
}

/// A case not exported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotExported {
    pub id: String,
    /// `specs/core/params.yaml:25`: the case in its spec file.
    pub source: String,
    pub reason: String,
}

/// What was exported for one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolExport {
    pub protocol: String,
    pub engine: Option<SqllogictestEngine>,
    /// The executor, for the reason a protocol without an engine gives.
    pub executor: Executor,
    pub exported: usize,
    pub not_exported: Vec<NotExported>,
}

/// What `compile --format sqllogictest` did, per protocol in registry order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Export {
    pub protocols: Vec<ProtocolExport>,
}

impl Export {
    pub fn exported(&self) -> usize {
        self.protocols.iter().map(|p| p.exported).sum()
    }

    /// The command's summary: per protocol, how many cases were exported and each one that
    /// was not, with its reason (one line for a protocol no engine speaks).
    pub fn summary(&self, out: &Path) -> String {
        let mut s = String::new();
        for p in &self.protocols {
            let list = out.join(&p.protocol).join(NOT_EXPORTED);
            let Some(engine) = p.engine else {
                let _ = writeln!(
                    s,
                    "{}: not exported ({} case(s)): no sqllogictest-rs engine speaks it (executor `{}`)",
                    p.protocol,
                    p.not_exported.len(),
                    p.executor
                );
                continue;
            };
            let _ = writeln!(
                s,
                "{}: {} case(s) exported for `sqllogictest --engine {}`, {} not exported (listed in {})",
                p.protocol,
                p.exported,
                engine.name(),
                p.not_exported.len(),
                list.display()
            );
            for n in &p.not_exported {
                let _ = writeln!(s, "  not exported: {} {}: {}", n.id, n.source, n.reason);
            }
        }
        s
    }
}

/// An exported case's path, relative to the output directory.
pub fn case_path(protocol: &str, suite: &str, id: &str) -> PathBuf {
    Path::new(protocol)
        .join(suite)
        .join(format!("{id}.{EXTENSION}"))
}

/// Compiles every protocol × suite of `specs` and hands each exportable case's script, and
/// each protocol's list of the others, to `output`. Suites whose compilation fails add to
/// `d` and export nothing.
pub fn compile_and_export(
    specs: &SpecSet,
    labels: &[String],
    output: &Output,
    d: &mut Diagnostics,
) -> io::Result<Export> {
    let mut export = Export::default();
    for protocol in &specs.registry.protocols {
        let engine = SqllogictestEngine::of(protocol);
        let mut done = ProtocolExport {
            protocol: protocol.name.clone(),
            engine,
            executor: protocol.executor,
            exported: 0,
            not_exported: Vec::new(),
        };
        for suite in &specs.suites {
            let Some(plan) = compile_suite_for(specs, protocol, labels, suite, d) else {
                continue;
            };
            for case in &plan.cases {
                let exported = match engine {
                    Some(engine) => export_case(engine, &protocol.name, &plan, case),
                    None => Err(format!(
                        "no sqllogictest-rs engine speaks this protocol (executor `{}`)",
                        protocol.executor
                    )),
                };
                match exported {
                    Ok(text) => {
                        output.accept(case_path(&protocol.name, &plan.name, &case.id), text)?;
                        done.exported += 1;
                    }
                    Err(reason) => done.not_exported.push(NotExported {
                        id: case.id.clone(),
                        source: format!("{}:{}", plan.source, case.line),
                        reason: one_line(&reason),
                    }),
                }
            }
        }
        output.accept(
            Path::new(&protocol.name).join(NOT_EXPORTED),
            not_exported_text(&done),
        )?;
        export.protocols.push(done);
    }
    Ok(export)
}

/// `<protocol>/not-exported.txt`: a comment, then one line per case, tab-separated: id,
/// spec file:line, reason.
pub fn not_exported_text(p: &ProtocolExport) -> String {
    let mut s = format!(
        "# The cases compiled for protocol {} that `helios-matrix compile --format sqllogictest`\n\
         # did not export, one a line: id, spec file:line and reason, separated by tabs.\n",
        p.protocol
    );
    for n in &p.not_exported {
        let _ = writeln!(s, "{}\t{}\t{}", n.id, n.source, n.reason);
    }
    s
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Ids become file names: letters, digits, `.`, `_` and `-`, not starting with a dot.
fn is_safe_file_name(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// One case as a sqllogictest script, or why it cannot be one.
pub fn export_case(
    engine: SqllogictestEngine,
    protocol: &str,
    suite: &SuitePlan,
    case: &CasePlan,
) -> Result<String, String> {
    if let Some(reason) = &case.skip {
        return Err(format!("skipped on {protocol}: {reason}"));
    }
    if let Some(x) = &case.xfail {
        return Err(format!(
            "expected to fail on {protocol} (xfail `{}`): {}; sqllogictest has no expected failures",
            x.label, x.reason
        ));
    }
    if !case.autocommit {
        return Err(
            "runs with autocommit off (`autocommit: false`); sqllogictest-rs's engines always autocommit"
                .to_string(),
        );
    }
    if case.timeout.is_some() || case.case_timeout.is_some() {
        return Err("sets a time limit (`timeout`), which sqllogictest cannot enforce".to_string());
    }
    if !is_safe_file_name(&case.id) {
        return Err(format!(
            "its id `{}` cannot be a file name (letters, digits, `.`, `_`, `-`)",
            case.id
        ));
    }
    let fixtures: Vec<&FixturePlan> = case
        .fixtures
        .iter()
        .map(|name| {
            suite
                .fixtures
                .iter()
                .find(|f| &f.name == name)
                .ok_or_else(|| format!("uses fixture `{name}`, which its suite does not define"))
        })
        .collect::<Result<_, _>>()?;
    // Fixtures run on a session of their own, as helios-matrix runs them.
    let mut fixture_session = "fixtures".to_string();
    while case
        .steps
        .iter()
        .any(|s| s.session.as_deref() == Some(fixture_session.as_str()))
    {
        fixture_session.push('_');
    }

    let mut out = String::new();
    let _ = writeln!(out, "# {}: {}", case.id, one_line(&case.name));
    let _ = writeln!(
        out,
        "# {}:{}, priority {}, compiled for protocol {protocol}.",
        suite.source,
        case.line,
        case.priority.as_str()
    );
    let _ = writeln!(
        out,
        "# Written by `helios-matrix compile --format sqllogictest`; do not edit.\n\
         # sqllogictest-rs compares each value's text, not its type.\n\
         # Run: sqllogictest --engine {} … (docs/sqllogictest.md)\n",
        engine.name()
    );
    for f in &fixtures {
        let _ = writeln!(out, "# fixture {}: setup\n", f.name);
        for step in &f.setup {
            records(engine, step, Some(&fixture_session), &mut out)
                .map_err(|r| format!("fixture `{}` setup, step @{}: {r}", f.name, step.line))?;
        }
    }
    let _ = writeln!(out, "# the case's steps\n");
    for step in &case.steps {
        records(engine, step, None, &mut out).map_err(|r| format!("step @{}: {r}", step.line))?;
    }
    // helios-matrix closes the case's sessions before the teardown, rolling back what they
    // left open; a transaction left open here would hold its locks against the teardown.
    let mut open: Vec<Option<&str>> = Vec::new();
    for step in &case.steps {
        let opens = match &step.action {
            Action::Begin => true,
            Action::Statement(s) => starts_transaction(&s.sql),
            _ => false,
        };
        if opens && !open.contains(&step.session.as_deref()) {
            open.push(step.session.as_deref());
        }
    }
    if !open.is_empty() {
        let _ = writeln!(
            out,
            "# helios-matrix rolls back what the case's sessions left open before tearing down\n"
        );
        for session in open {
            connection_line(session, &mut out)?;
            out.push_str("statement ok\nROLLBACK\n\n");
        }
    }
    for f in fixtures.iter().rev() {
        let _ = writeln!(out, "# fixture {}: teardown\n", f.name);
        for step in &f.teardown {
            records(engine, step, Some(&fixture_session), &mut out)
                .map_err(|r| format!("fixture `{}` teardown, step @{}: {r}", f.name, step.line))?;
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

/// The first keyword of a statement, upper case.
fn first_keyword(sql: &str) -> String {
    sql.trim_start()
        .split(|c: char| !c.is_ascii_alphabetic() && c != '_')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

fn starts_transaction(sql: &str) -> bool {
    matches!(first_keyword(sql).as_str(), "BEGIN" | "START")
}

const MYSQL_SESSIONS: &str = "the sqllogictest-rs mysql engine runs each record on a pooled connection it resets first, so no transaction or session state lasts from one record to the next";

/// SQL that leaves state in the session for a later record, which the mysql engine's
/// reset connections lose.
fn uses_session_state(sql: &str) -> bool {
    let first = first_keyword(sql);
    let upper = sql.to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().collect();
    matches!(
        first.as_str(),
        "BEGIN"
            | "START"
            | "COMMIT"
            | "ROLLBACK"
            | "SAVEPOINT"
            | "RELEASE"
            | "SET"
            | "LOCK"
            | "UNLOCK"
            | "PREPARE"
            | "EXECUTE"
            | "DEALLOCATE"
            | "USE"
            | "XA"
            | "HANDLER"
    ) || words.windows(2).any(|w| w == ["TEMPORARY", "TABLE"])
        || ["LAST_INSERT_ID", "ROW_COUNT(", "FOUND_ROWS("]
            .iter()
            .any(|f| upper.contains(f))
}

fn connection_line(session: Option<&str>, out: &mut String) -> Result<(), String> {
    match session {
        None | Some("default") => Ok(()),
        Some(name) if !name.is_empty() && !name.contains(char::is_whitespace) => {
            let _ = writeln!(out, "connection {name}");
            Ok(())
        }
        Some(name) => Err(format!("session name {name:?} is not one word")),
    }
}

/// A step's records: one, or one per iteration of a repeated step.
fn records(
    engine: SqllogictestEngine,
    step: &Step,
    forced_session: Option<&str>,
    out: &mut String,
) -> Result<(), String> {
    let session = forced_session.or(step.session.as_deref());
    let Some(repeat) = &step.repeat else {
        return record(engine, session, &step.action, out);
    };
    if repeat.len() > MAX_UNROLLED {
        return Err(format!(
            "repeats {} times; the export unrolls at most {MAX_UNROLLED} iterations into records",
            repeat.len()
        ));
    }
    let mut expander = Expander::new();
    for value in values(repeat) {
        let action = expander.action(&step.action, &repeat.var, value)?;
        record(engine, session, &action, out)?;
    }
    Ok(())
}

fn record(
    engine: SqllogictestEngine,
    session: Option<&str>,
    action: &Action,
    out: &mut String,
) -> Result<(), String> {
    let mut r = String::new();
    match action {
        Action::Statement(s) => {
            connection_line(session, &mut r)?;
            statement(engine, s, &mut r)?;
        }
        Action::Query(q) => {
            connection_line(session, &mut r)?;
            query(engine, q, &mut r)?;
        }
        Action::Begin | Action::Commit | Action::Rollback => {
            if engine == SqllogictestEngine::MySql {
                return Err(format!("`{}`: {MYSQL_SESSIONS}", action.kind_name()));
            }
            connection_line(session, &mut r)?;
            let sql = match action {
                Action::Begin => "BEGIN",
                Action::Commit => "COMMIT",
                _ => "ROLLBACK",
            };
            let _ = writeln!(r, "statement ok\n{sql}");
        }
        // A `connection` line would apply to the next statement, not to the sleep.
        Action::Sleep { duration } => {
            let _ = writeln!(r, "sleep {}", duration_text(*duration));
        }
        Action::Copy(_) => {
            return Err("a `copy` bulk load; sqllogictest has only SQL records".to_string());
        }
        Action::Vector(v) => {
            return Err(format!(
                "a vector-database operation (`{}`); sqllogictest has only SQL records",
                v.op.name()
            ));
        }
        Action::Http(_) => {
            return Err("an HTTP request; sqllogictest has only SQL records".to_string());
        }
    }
    r.push('\n');
    out.push_str(&r);
    Ok(())
}

/// A duration in one unit with no space, as sqllogictest's `sleep` reads it.
fn duration_text(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

/// SQL as a record's body: a record ends at its first empty line or `----` line. Blank
/// space around the whole statement means nothing to the server and is dropped.
fn sql_body(sql: &str) -> Result<&str, String> {
    let body = sql.trim();
    if body.is_empty() {
        return Err("its SQL is empty".to_string());
    }
    if body.contains('\r') {
        return Err("its SQL holds a carriage return, which a script's lines lose".to_string());
    }
    if body.split('\n').any(|l| l.is_empty() || l == "----") {
        return Err(
            "its SQL holds an empty line or a `----` line, which would end a sqllogictest record"
                .to_string(),
        );
    }
    Ok(body)
}

fn statement(engine: SqllogictestEngine, s: &Statement, r: &mut String) -> Result<(), String> {
    let Statement {
        sql,
        params,
        count,
        error,
    } = s;
    if !params.is_empty() {
        return Err("binds parameters; sqllogictest has none".to_string());
    }
    let body = sql_body(sql)?;
    if engine == SqllogictestEngine::MySql && uses_session_state(body) {
        return Err(MYSQL_SESSIONS.to_string());
    }
    match (error, count) {
        (Some(e), _) => {
            let _ = writeln!(r, "statement error{}", error_expect(engine, e)?);
        }
        (None, Some(n)) => {
            if engine == SqllogictestEngine::MySql && body.to_ascii_uppercase().contains("UPDATE") {
                return Err(
                    "counts the rows an UPDATE affected: helios-matrix's MySQL client counts the rows matched (CLIENT_FOUND_ROWS), the sqllogictest-rs mysql engine the rows changed"
                        .to_string(),
                );
            }
            let _ = writeln!(r, "statement count {n}");
        }
        (None, None) => r.push_str("statement ok\n"),
    }
    let _ = writeln!(r, "{body}");
    Ok(())
}

fn query(engine: SqllogictestEngine, q: &Query, r: &mut String) -> Result<(), String> {
    // Every field named: a check added to queries must be decided on here.
    let Query {
        sql,
        params,
        rows,
        columns,
        sort,
        row_count,
        fetch,
        error,
        cancel_after,
        tolerance,
        types,
        compare,
        rows_hash,
    } = q;
    if *compare == Compare::Sqllogictest || rows_hash.is_some() {
        // Imported files: values printed as the SQLite project's runner prints them (REALs
        // with three decimals, …), where sqllogictest-rs's engines print their own way.
        return Err(
            "compares values as the SQLite runner prints them (`compare: sqllogictest`); sqllogictest-rs's postgres and mysql engines print them otherwise"
                .to_string(),
        );
    }
    if !params.is_empty() {
        return Err("binds parameters; sqllogictest has none".to_string());
    }
    if fetch.is_some() {
        return Err("reads the result in batches through a cursor (`fetch`)".to_string());
    }
    if let Some(after) = cancel_after {
        return Err(format!(
            "cancels the query after {}; sqllogictest cannot cancel",
            humantime::format_duration(*after)
        ));
    }
    if columns.is_some() {
        return Err("checks column names; sqllogictest cannot".to_string());
    }
    if types.is_some() {
        return Err(
            "checks column types (`types`); sqllogictest-rs does not check the type letters"
                .to_string(),
        );
    }
    if tolerance.is_some() {
        return Err(
            "compares numbers within a tolerance; sqllogictest compares text exactly".to_string(),
        );
    }
    let body = sql_body(sql)?;
    if engine == SqllogictestEngine::MySql && uses_session_state(body) {
        return Err(MYSQL_SESSIONS.to_string());
    }
    if let Some(e) = error {
        let _ = writeln!(r, "query error{}\n{body}", error_expect(engine, e)?);
        return Ok(());
    }
    let Some(rows) = rows else {
        if row_count.is_some() {
            return Err(
                "checks only the number of rows (`row_count`); sqllogictest checks rows"
                    .to_string(),
            );
        }
        // Nothing of the result is checked: the query must only succeed.
        let _ = writeln!(r, "statement ok\n{body}");
        return Ok(());
    };
    if let Some(n) = row_count
        && *n != rows.len() as u64
    {
        return Err(format!(
            "expects {n} rows by `row_count` and {} by `rows`",
            rows.len()
        ));
    }
    let mut texts: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|v| cell(engine, v, *compare)).collect())
        .collect::<Result<_, _>>()?;
    let letters = type_letters(rows);
    // sqllogictest-rs sorts the engine's rows (as lists of strings) and compares them with
    // the expected lines as written: the expected rows are written in that order.
    let (mode, lines): (&str, Vec<String>) = match sort {
        Sort::None => ("", texts.iter().map(|row| row.join(" ")).collect()),
        Sort::Rows => {
            texts.sort_unstable();
            (" rowsort", texts.iter().map(|row| row.join(" ")).collect())
        }
        Sort::Values => {
            let mut all: Vec<String> = texts.into_iter().flatten().collect();
            all.sort_unstable();
            (" valuesort", all)
        }
    };
    if letters.is_empty() {
        // No rows: nothing to sort, and no row to take the columns from.
        let _ = writeln!(r, "query\n{body}\n----");
    } else {
        let _ = writeln!(r, "query {letters}{mode}\n{body}\n----");
    }
    for line in lines {
        let _ = writeln!(r, "{line}");
    }
    Ok(())
}

/// `I` for a column whose expected values are all integers (or NULL), `T` otherwise. For
/// readers only: sqllogictest-rs does not check them.
fn type_letters(rows: &[Vec<Scalar>]) -> String {
    let width = rows.first().map_or(0, Vec::len);
    (0..width)
        .map(|c| {
            let mut non_null = rows
                .iter()
                .filter_map(|r| r.get(c))
                .filter(|v| !matches!(v, Scalar::Null))
                .peekable();
            if non_null.peek().is_some() && non_null.all(|v| matches!(v, Scalar::Int(_))) {
                'I'
            } else {
                'T'
            }
        })
        .collect()
}

/// A canonical integer: `0`, or digits without leading zeros, maybe negative.
fn is_canonical_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && s != "-0"
}

/// An expected value as the engine prints it, when that text identifies it exactly.
fn cell(engine: SqllogictestEngine, value: &Scalar, compare: Compare) -> Result<String, String> {
    match (value, compare) {
        (Scalar::Null, _) => Ok("NULL".to_string()),
        (Scalar::Bool(b), Compare::Typed) => Ok(engine.bool_text(*b).to_string()),
        (Scalar::Bool(b), Compare::Text | Compare::Sqllogictest) => Err(format!(
            "`compare: text` reads the boolean {b} as `{b}`, which the {} engine prints as `{}`",
            engine.name(),
            engine.bool_text(*b)
        )),
        (Scalar::Int(i), _) => Ok(i.to_string()),
        (Scalar::Float(f), _) => Err(format!(
            "the float {} compares within a relative tolerance; sqllogictest compares text exactly",
            format_float(*f)
        )),
        (Scalar::Text(t), compare) => text_cell(engine, t, compare),
    }
}

fn text_cell(engine: SqllogictestEngine, t: &str, compare: Compare) -> Result<String, String> {
    if t.is_empty() {
        // The engines print an empty string so.
        return Ok("(empty)".to_string());
    }
    if t == "NULL" || t == "(empty)" {
        return Err(format!(
            "the string {t:?} reads as the engine's mark for {}",
            if t == "NULL" {
                "NULL"
            } else {
                "an empty string"
            }
        ));
    }
    if t.contains("<slt:ignore>") {
        return Err(
            "the string holds `<slt:ignore>`, which sqllogictest-rs reads as a wildcard"
                .to_string(),
        );
    }
    if t.trim() != t || t.contains("  ") || t.chars().any(|c| c.is_whitespace() && c != ' ') {
        return Err(format!(
            "the string {t:?} has blank space that sqllogictest-rs trims or collapses before comparing"
        ));
    }
    let number = t.parse::<f64>().is_ok();
    match compare {
        Compare::Text if number && !is_canonical_integer(t) => Err(format!(
            "`compare: text` compares the number {t:?} numerically (within a tolerance); sqllogictest compares text exactly"
        )),
        // A string that prints like a number or a boolean is expected *as a string*, which
        // text alone cannot tell.
        Compare::Typed
            if number || (engine == SqllogictestEngine::Postgres && (t == "t" || t == "f")) =>
        {
            Err(format!(
                "the string {t:?} prints as a {} would, and sqllogictest, comparing text, cannot tell them apart",
                if number { "number" } else { "boolean" }
            ))
        }
        _ => Ok(t.to_string()),
    }
}

/// The part of a `statement error` / `query error` line after `error`: nothing (any
/// error), ` (SQLSTATE)`, or ` REGEX` over the engine's error text.
fn error_expect(engine: SqllogictestEngine, e: &ErrorExpect) -> Result<String, String> {
    let ErrorExpect {
        class: _,
        sqlstate,
        code,
        message,
        exception,
    } = e;
    if exception.is_some() {
        return Err(
            "expects a client driver's exception class, which only a driver run reports"
                .to_string(),
        );
    }
    let sqlstate = match sqlstate {
        Some(s) => {
            let upper = s.to_ascii_uppercase();
            if upper.len() != 5 || !upper.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "expects SQLSTATE {s:?}, which is not five letters or digits"
                ));
            }
            Some(upper)
        }
        None => None,
    };
    let message = message.as_deref().map(message_regex).transpose()?;
    let regex = match engine {
        SqllogictestEngine::Postgres => {
            if code.is_some() {
                return Err(
                    "expects a native error code; the postgres engine reports only the SQLSTATE"
                        .to_string(),
                );
            }
            match (sqlstate, message) {
                (None, None) => return Ok(String::new()),
                (Some(state), None) => return Ok(format!(" ({state})")),
                (Some(_), Some(_)) => {
                    return Err(
                        "expects both a SQLSTATE and a message; sqllogictest checks one of them on postgres"
                            .to_string(),
                    );
                }
                // tokio-postgres's text: `db error: ERROR: MESSAGE`, then `DETAIL:` and
                // `HINT:` lines. The message regex cannot match a line break (checked), so
                // matching from the first line keeps it within the message.
                (None, Some(m)) => {
                    if m.matches_newline {
                        return Err(
                            "its message regex can match a line break, and the postgres engine's error text goes on with DETAIL and HINT lines"
                                .to_string(),
                        );
                    }
                    format!("^db error: [A-Z]+: [^\\n]*?(?:{})", m.source)
                }
            }
        }
        SqllogictestEngine::MySql => {
            let code = match code {
                Some(c) => {
                    let digits = c.trim_start_matches('0');
                    if c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(format!(
                            "expects the error code {c:?}, which is not a MySQL error number"
                        ));
                    }
                    Some(format!(
                        "0*{}",
                        if digits.is_empty() { "0" } else { digits }
                    ))
                }
                None => None,
            };
            if let (Some(state), None, None) = (&sqlstate, &code, &message) {
                return Ok(format!(" ({state})"));
            }
            if sqlstate.is_none() && code.is_none() && message.is_none() {
                return Ok(String::new());
            }
            // mysql_async's text: ``Server error: `ERROR STATE (CODE): MESSAGE'``.
            let mut regex = format!(
                "^Server error: `ERROR {} \\({}\\):",
                sqlstate.as_deref().unwrap_or("[0-9A-Z]{5}"),
                code.as_deref().unwrap_or("[0-9]+")
            );
            if let Some(m) = message {
                let _ = write!(regex, " (?s:.*?)(?:{})(?s:.*)'$", m.source);
            }
            regex
        }
    };
    // sqllogictest splits the line at blank space and joins the words with one space.
    if regex.split_whitespace().collect::<Vec<_>>().join(" ") != regex {
        return Err(
            "its message regex has blank space that a sqllogictest line would not keep".to_string(),
        );
    }
    Ok(format!(" {regex}"))
}

/// A message regex, checked for use inside a larger one.
struct MessageRegex {
    source: String,
    /// It can match a `\n`.
    matches_newline: bool,
}

fn message_regex(source: &str) -> Result<MessageRegex, String> {
    let hir = regex_syntax::Parser::new()
        .parse(source)
        .map_err(|e| format!("its message regex does not parse: {e}"))?;
    if has_text_anchor(&hir) {
        return Err(
            "its message regex is anchored (`^`, `$`), and the engine's error text holds more than the message"
                .to_string(),
        );
    }
    Ok(MessageRegex {
        source: source.to_string(),
        matches_newline: can_match_newline(&hir),
    })
}

/// Anchors to the start or end of the text or of a line; word boundaries are kept, since
/// what surrounds the message in the engine's text is not a word character either.
fn has_text_anchor(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(look) => matches!(
            look,
            Look::Start | Look::End | Look::StartLF | Look::EndLF | Look::StartCRLF | Look::EndCRLF
        ),
        HirKind::Repetition(r) => has_text_anchor(&r.sub),
        HirKind::Capture(c) => has_text_anchor(&c.sub),
        HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().any(has_text_anchor),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) => false,
    }
}

fn can_match_newline(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Literal(l) => l.0.contains(&b'\n'),
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= '\n' && '\n' <= r.end()),
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
        HirKind::Repetition(r) => can_match_newline(&r.sub),
        HirKind::Capture(c) => can_match_newline(&c.sub),
        HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().any(can_match_newline),
        HirKind::Empty | HirKind::Look(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(sqlstate: Option<&str>, code: Option<&str>, message: Option<&str>) -> ErrorExpect {
        ErrorExpect {
            class: None,
            sqlstate: sqlstate.map(Into::into),
            code: code.map(Into::into),
            message: message.map(Into::into),
            exception: None,
        }
    }

    /// The regex of an exported error line, as sqllogictest-rs reads it (after `error `).
    fn regex(engine: SqllogictestEngine, e: &ErrorExpect) -> regex::Regex {
        let suffix = error_expect(engine, e).expect("exports");
        let source = suffix.strip_prefix(' ').expect("a regex");
        regex::Regex::new(source).expect("compiles")
    }

    const MY_DUP: &str =
        "Server error: `ERROR 23000 (1062): Duplicate entry '1' for key 'PRIMARY''";

    #[test]
    fn mysql_codes_and_messages_are_checked_in_the_engines_error_text() {
        let code = regex(SqllogictestEngine::MySql, &expect(None, Some("1062"), None));
        assert!(code.is_match(MY_DUP));
        assert!(!code.is_match(&MY_DUP.replace("1062", "1063")));
        assert!(!code.is_match(&MY_DUP.replace("1062", "11062")));
        let both = regex(
            SqllogictestEngine::MySql,
            &expect(Some("23000"), Some("01062"), None),
        );
        assert!(both.is_match(MY_DUP));
        assert!(!both.is_match(&MY_DUP.replace("23000", "42000")));
        let message = regex(
            SqllogictestEngine::MySql,
            &expect(None, Some("1062"), Some("(?i)duplicate entry")),
        );
        assert!(message.is_match(MY_DUP));
        assert!(!message.is_match(&MY_DUP.replace("Duplicate entry", "Other")));
        // Only the message counts: not the prefix the engine puts before it.
        let prefix = regex(
            SqllogictestEngine::MySql,
            &expect(None, None, Some("Server|ERROR|23000")),
        );
        assert!(!prefix.is_match(MY_DUP));
        // A SQLSTATE alone is sqllogictest's own `(SQLSTATE)` form, upper case.
        assert_eq!(
            error_expect(
                SqllogictestEngine::MySql,
                &expect(Some("42s02"), None, None)
            ),
            Ok(" (42S02)".to_string())
        );
        assert_eq!(
            error_expect(SqllogictestEngine::MySql, &expect(None, None, None)),
            Ok(String::new())
        );
    }

    #[test]
    fn postgres_messages_are_checked_in_the_first_line_only() {
        let text = "db error: ERROR: relation \"t\" does not exist\nDETAIL: something else";
        let found = regex(
            SqllogictestEngine::Postgres,
            &expect(None, None, Some("does not exist")),
        );
        assert!(found.is_match(text));
        for elsewhere in ["DETAIL", "db error", "something"] {
            let re = regex(
                SqllogictestEngine::Postgres,
                &expect(None, None, Some(elsewhere)),
            );
            assert!(!re.is_match(text), "{elsewhere} is outside the message");
        }
        assert_eq!(
            error_expect(
                SqllogictestEngine::Postgres,
                &expect(Some("42p01"), None, None)
            ),
            Ok(" (42P01)".to_string())
        );
    }

    #[test]
    fn error_expectations_sqllogictest_cannot_check_are_refused() {
        let refused = |engine, e: ErrorExpect| error_expect(engine, &e).expect_err("refused");
        assert!(
            refused(
                SqllogictestEngine::Postgres,
                expect(Some("23505"), None, Some("dup"))
            )
            .contains("both a SQLSTATE and a message")
        );
        assert!(
            refused(SqllogictestEngine::Postgres, expect(None, Some("7"), None))
                .contains("native error code")
        );
        assert!(
            refused(
                SqllogictestEngine::Postgres,
                expect(None, None, Some("a\\sb"))
            )
            .contains("line break")
        );
        assert!(
            refused(SqllogictestEngine::MySql, expect(None, None, Some("^dup")))
                .contains("anchored")
        );
        assert!(
            refused(SqllogictestEngine::MySql, expect(None, None, Some("dup$")))
                .contains("anchored")
        );
        assert!(
            refused(SqllogictestEngine::MySql, expect(None, None, Some("a  b")))
                .contains("blank space")
        );
        assert!(
            refused(SqllogictestEngine::MySql, expect(None, Some("HY000"), None))
                .contains("not a MySQL error number")
        );
        let mut driver = expect(None, None, None);
        driver.exception = Some("psycopg2.errors.SyntaxError".into());
        assert!(refused(SqllogictestEngine::Postgres, driver).contains("exception"));
        // A line break is fine where the message is the end of the text.
        assert!(
            error_expect(
                SqllogictestEngine::MySql,
                &expect(None, None, Some("a\\sb"))
            )
            .is_ok()
        );
        // Word boundaries keep their meaning inside the engine's text.
        let word = regex(
            SqllogictestEngine::MySql,
            &expect(None, None, Some(r"\bDuplicate\b")),
        );
        assert!(word.is_match(MY_DUP));
    }

    #[test]
    fn values_are_written_as_the_engines_print_them_or_refused() {
        let typed = |engine, v: Scalar| cell(engine, &v, Compare::Typed);
        assert_eq!(
            typed(SqllogictestEngine::Postgres, Scalar::Bool(true)),
            Ok("t".into())
        );
        assert_eq!(
            typed(SqllogictestEngine::MySql, Scalar::Bool(false)),
            Ok("0".into())
        );
        assert_eq!(
            typed(SqllogictestEngine::MySql, Scalar::Null),
            Ok("NULL".into())
        );
        assert_eq!(
            typed(SqllogictestEngine::MySql, Scalar::Int(-7)),
            Ok("-7".into())
        );
        assert_eq!(
            typed(SqllogictestEngine::MySql, Scalar::Text(String::new())),
            Ok("(empty)".into())
        );
        assert_eq!(
            typed(SqllogictestEngine::MySql, Scalar::Text("a b".into())),
            Ok("a b".into())
        );
        for refused in [
            Scalar::Float(0.5),
            Scalar::Text("NULL".into()),
            Scalar::Text("(empty)".into()),
            Scalar::Text(" a".into()),
            Scalar::Text("a\tb".into()),
            Scalar::Text("10".into()),
            Scalar::Text("x<slt:ignore>".into()),
        ] {
            assert!(
                typed(SqllogictestEngine::MySql, refused.clone()).is_err(),
                "{refused:?}"
            );
        }
        assert!(typed(SqllogictestEngine::Postgres, Scalar::Text("t".into())).is_err());
        assert_eq!(
            typed(SqllogictestEngine::MySql, Scalar::Text("t".into())),
            Ok("t".into())
        );
        let text = |v: &str| {
            cell(
                SqllogictestEngine::Postgres,
                &Scalar::Text(v.into()),
                Compare::Text,
            )
        };
        assert_eq!(text("10"), Ok("10".into()));
        assert_eq!(text("abc"), Ok("abc".into()));
        for numeric in ["1.50", "010", "1e3", "inf", "-0"] {
            assert!(text(numeric).is_err(), "{numeric}");
        }
    }

    #[test]
    fn sql_bodies_and_durations() {
        assert_eq!(
            sql_body("\n  SELECT 1\n  FROM t\n"),
            Ok("SELECT 1\n  FROM t")
        );
        assert!(sql_body("SELECT 1\n\nFROM t").is_err());
        assert!(sql_body("SELECT '\n----\n'").is_err());
        assert!(sql_body("SELECT 1\r\nFROM t").is_err());
        assert!(sql_body("  ").is_err());
        assert_eq!(duration_text(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration_text(Duration::from_micros(1500)), "1500us");
        assert_eq!(duration_text(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn session_state_on_mysql_is_recognised() {
        for sql in [
            "SET @x = 1",
            "start transaction",
            "CREATE TEMPORARY TABLE t (id INT)",
            "SELECT LAST_INSERT_ID()",
        ] {
            assert!(uses_session_state(sql), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "INSERT INTO settings VALUES (1)",
            "UPDATE t SET a = 1",
        ] {
            assert!(!uses_session_state(sql), "{sql}");
        }
    }
}
