//! Reading compiled scripts back into the plan, for `run --scripts`.
//!
//! The inverse of `templates/hmx/suite.hmx.j2`: the round-trip test holds the two to
//! `parse(render(suite)) == suite` for every suite of every protocol.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::step::{
    Action, BatchCheck, Copy, CopyRows, Fetch, HttpStep, Param, Query, Repeat, Sort, Statement,
    Step, VectorStep,
};

use crate::plan::{CasePlan, FixturePlan, Plan, ProtocolPlan, SuitePlan, Xfail};

use crate::registry::ErrorExpect;
use crate::registry::{Priority, Registry};
use crate::value::{Compare, Scalar};

/// A problem in a script, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

type Result<T> = std::result::Result<T, ScriptError>;

fn err<T>(line: usize, message: impl Into<String>) -> Result<T> {
    Err(ScriptError {
        line,
        message: message.into(),
    })
}

/// A script: the protocol it was compiled for and its suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub protocol: String,
    pub suite: SuitePlan,
}

/// Replaces the suites of a plan compiled from the specs with the ones read back from the
/// compiled scripts in `dir` (`run --scripts`). The scripts must have been compiled with
/// the same labels, command-line and server alike.
pub fn read_plan(
    dir: &Path,
    compiled: Plan,
    registry: &Registry,
) -> std::result::Result<Plan, String> {
    let manifest_path = dir.join(crate::render::MANIFEST);
    let manifest: serde_json::Value = std::fs::read_to_string(&manifest_path)
        .map_err(|e| {
            format!(
                "cannot read {}: {e} (run `helios-matrix compile` first)",
                manifest_path.display()
            )
        })
        .and_then(|t| {
            serde_json::from_str(&t).map_err(|e| format!("{}: {e}", manifest_path.display()))
        })?;
    // Scripts were `.slt` files before they were `.hmx`; this reader reads only `.hmx`.
    let old_script = manifest
        .get("cases")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("script").and_then(serde_json::Value::as_str))
        .find(|s| {
            Path::new(s).extension().and_then(|e| e.to_str())
                == Some(crate::render::OLD_SCRIPT_EXTENSION)
        });
    if let Some(old) = old_script {
        return Err(format!(
            "the scripts in {} were compiled by an older helios-matrix (`{old}`; scripts are `.{}` files now); recompile them with `helios-matrix compile`",
            dir.display(),
            crate::render::SCRIPT_EXTENSION
        ));
    }
    let labels: Vec<String> = manifest
        .get("labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    if labels != compiled.labels {
        return Err(format!(
            "the scripts in {} were compiled with labels {labels:?} but this run has {:?}; recompile or pass the same --label",
            dir.display(),
            compiled.labels
        ));
    }
    for p in &compiled.protocols {
        let protocol = &p.protocol;
        if let Some(driver) = &protocol.driver {
            return Err(format!(
                "the scripts in {} are compiled for the built-in executors; a run through the {} driver compiles the specs itself (drop --scripts)",
                dir.display(),
                driver.name
            ));
        }
        if protocol.labels != protocol.default_target_labels {
            return Err(format!(
                "the scripts in {} were compiled for {}'s default target (server labels {:?}), but this run's target carries {:?}; run the specs instead of --scripts, or compile with that target",
                dir.display(),
                protocol.name,
                protocol.default_target_labels,
                protocol.labels
            ));
        }
    }
    let mut protocols: Vec<ProtocolPlan> = compiled
        .protocols
        .into_iter()
        .map(|p| ProtocolPlan {
            protocol: p.protocol,
            suites: Vec::new(),
        })
        .collect();
    let mut paths: Vec<std::path::PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(std::result::Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(crate::render::SCRIPT_EXTENSION))
        .collect();
    paths.sort();
    let protocol_dir = |path: &Path| {
        path.parent()
            .and_then(Path::file_name)
            .and_then(|d| d.to_str())
            .map(str::to_string)
    };
    for path in paths {
        let dir_name = protocol_dir(&path);
        let in_protocol_dir = dir_name
            .as_deref()
            .is_some_and(|d| registry.protocol(d).is_some());
        let selected = protocols
            .iter()
            .any(|p| Some(p.protocol.name.as_str()) == dir_name.as_deref());
        // Scripts of protocols this run does not select are not read.
        if in_protocol_dir && !selected {
            continue;
        }
        let script = parse_file(&path)?;
        if registry.protocol(&script.protocol).is_none() {
            return Err(format!(
                "{}: protocol `{}` is not in the registry",
                path.display(),
                script.protocol
            ));
        }
        if let Some(protocol) = protocols
            .iter_mut()
            .find(|p| p.protocol.name == script.protocol)
        {
            protocol.suites.push(script.suite);
        }
    }
    Ok(Plan {
        labels: compiled.labels,
        protocols,
    })
}

/// Parses a script file read from `path` (used only in messages).
pub fn parse_file(path: &Path) -> std::result::Result<Script, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}:{e}", path.display()))
}

/// Consecutive non-blank, non-comment lines, with the number of the first.
fn paragraphs(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut out: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for (index, line) in text.lines().enumerate() {
        let blank = line.trim().is_empty();
        let comment = line.starts_with('#') && current.is_none();
        if blank || comment {
            if let Some(p) = current.take() {
                out.push(p);
            }
            continue;
        }
        current
            .get_or_insert_with(|| (index + 1, Vec::new()))
            .1
            .push(line);
    }
    if let Some(p) = current {
        out.push(p);
    }
    out
}

enum Section {
    None,
    Fixture { index: usize, teardown: bool },
    Case(usize),
}

pub fn parse(text: &str) -> Result<Script> {
    let mut protocol = None;
    let mut suite = SuitePlan {
        name: String::new(),
        source: String::new(),
        description: None,
        fixtures: Vec::new(),
        cases: Vec::new(),
    };
    let mut section = Section::None;
    for (line, lines) in paragraphs(text) {
        let first = lines[0];
        let (word, rest) = first.split_once(' ').unwrap_or((first, ""));
        match word {
            "protocol" | "suite" | "source" | "description" if matches!(section, Section::None) => {
                for (offset, l) in lines.iter().enumerate() {
                    let (w, r) = l.split_once(' ').unwrap_or((l, ""));
                    match w {
                        "protocol" => protocol = Some(r.to_string()),
                        "suite" => suite.name = r.to_string(),
                        "source" => suite.source = read_text(r, line + offset)?,
                        "description" => suite.description = Some(read_text(r, line + offset)?),
                        other => {
                            return err(
                                line + offset,
                                format!("unexpected `{other}` in the script header"),
                            );
                        }
                    }
                }
            }
            "fixture" => {
                let mut parts = rest.split(' ');
                let (Some(name), Some(phase), None) = (parts.next(), parts.next(), parts.next())
                else {
                    return err(line, "expected `fixture NAME setup|teardown`");
                };
                let teardown = match phase {
                    "setup" => false,
                    "teardown" => true,
                    _ => return err(line, "expected `setup` or `teardown`"),
                };
                let index = match suite.fixtures.iter().position(|f| f.name == name) {
                    Some(i) => i,
                    None => {
                        suite.fixtures.push(FixturePlan {
                            name: name.to_string(),
                            setup: Vec::new(),
                            teardown: Vec::new(),
                        });
                        suite.fixtures.len() - 1
                    }
                };
                section = Section::Fixture { index, teardown };
                if lines.len() > 1 {
                    return err(line + 1, "a fixture line stands alone");
                }
            }
            "case" => {
                suite.cases.push(parse_case(line, rest, &lines[1..])?);
                section = Section::Case(suite.cases.len() - 1);
            }
            _ => {
                let step = parse_step(line, &lines)?;
                match section {
                    Section::None => {
                        return err(line, format!("`{word}` before any `case` or `fixture`"));
                    }
                    Section::Fixture { index, teardown } => {
                        let f = &mut suite.fixtures[index];
                        if teardown {
                            &mut f.teardown
                        } else {
                            &mut f.setup
                        }
                        .push(step);
                    }
                    Section::Case(index) => suite.cases[index].steps.push(step),
                }
            }
        }
    }
    let Some(protocol) = protocol else {
        return err(1, "the script names no `protocol`");
    };
    if suite.name.is_empty() {
        return err(1, "the script names no `suite`");
    }
    Ok(Script { protocol, suite })
}

/// Free text: raw, or a JSON string when it starts with a quote.
fn read_text(s: &str, line: usize) -> Result<String> {
    if s.starts_with('"') {
        serde_json::from_str(s).or_else(|e| err(line, format!("bad quoted text: {e}")))
    } else {
        Ok(s.to_string())
    }
}

fn read_json<T: serde::de::DeserializeOwned>(s: &str, line: usize, what: &str) -> Result<T> {
    serde_json::from_str(s).or_else(|e| err(line, format!("bad {what}: {e}")))
}

/// A header's `@line` and `key=value` attributes.
#[derive(Default)]
struct Attrs {
    line: Option<u32>,
    values: Vec<(String, serde_json::Value)>,
}

impl Attrs {
    fn parse(s: &str, line: usize) -> Result<Attrs> {
        let mut attrs = Attrs::default();
        let mut rest = s.trim_start();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('@') {
                let end = after.find(' ').unwrap_or(after.len());
                attrs.line = Some(after[..end].parse().or_else(|_| err(line, "bad `@line`"))?);
                rest = after[end..].trim_start();
                continue;
            }
            let Some((key, after)) = rest.split_once('=') else {
                return err(line, format!("expected `key=value`, found `{rest}`"));
            };
            let mut stream =
                serde_json::Deserializer::from_str(after).into_iter::<serde_json::Value>();
            let json = match stream.next() {
                Some(Ok(v))
                    if after[stream.byte_offset()..]
                        .chars()
                        .next()
                        .is_none_or(|c| c == ' ') =>
                {
                    Some((v, stream.byte_offset()))
                }
                _ => None,
            };
            let (value, used) = match json {
                Some(found) => found,
                None => {
                    let end = after.find(' ').unwrap_or(after.len());
                    (serde_json::Value::String(after[..end].to_string()), end)
                }
            };
            attrs.values.push((key.to_string(), value));
            rest = after[used..].trim_start();
        }
        Ok(attrs)
    }

    fn take(&mut self, key: &str) -> Option<serde_json::Value> {
        let i = self.values.iter().position(|(k, _)| k == key)?;
        Some(self.values.remove(i).1)
    }

    fn string(&mut self, key: &str, line: usize) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(other) => err(line, format!("`{key}` must be text, found {other}")),
        }
    }

    fn typed<T: serde::de::DeserializeOwned>(
        &mut self,
        key: &str,
        line: usize,
    ) -> Result<Option<T>> {
        self.take(key)
            .map(|v| serde_json::from_value(v).or_else(|e| err(line, format!("bad `{key}`: {e}"))))
            .transpose()
    }

    fn duration(&mut self, key: &str, line: usize) -> Result<Option<Duration>> {
        self.string(key, line)?
            .map(|s| {
                humantime::parse_duration(&s).or_else(|e| err(line, format!("bad `{key}`: {e}")))
            })
            .transpose()
    }

    fn finish(self, line: usize) -> Result<()> {
        match self.values.first() {
            Some((k, _)) => err(line, format!("unknown attribute `{k}`")),
            None => Ok(()),
        }
    }
}

fn parse_case(line: usize, header: &str, meta: &[&str]) -> Result<CasePlan> {
    let (id, attrs) = header.split_once(' ').unwrap_or((header, ""));
    let mut attrs = Attrs::parse(attrs, line)?;
    let priority = match attrs.string("priority", line)? {
        Some(p) => {
            Priority::parse(&p).map_or_else(|| err(line, format!("bad priority `{p}`")), Ok)?
        }
        None => Priority::P1,
    };
    let autocommit = attrs.typed::<bool>("autocommit", line)?.unwrap_or(true);
    let timeout = attrs.duration("timeout", line)?;
    let case_timeout = attrs.duration("case_timeout", line)?;
    let case_line = attrs.line.unwrap_or(0);
    attrs.finish(line)?;
    let mut case = CasePlan {
        id: id.to_string(),
        name: String::new(),
        line: case_line,
        priority,
        tags: Vec::new(),
        skip: None,
        xfail: None,
        autocommit,
        timeout,
        case_timeout,
        fixtures: Vec::new(),
        steps: Vec::new(),
    };
    for (offset, l) in meta.iter().enumerate() {
        let at = line + 1 + offset;
        let (w, r) = l.split_once(' ').unwrap_or((l, ""));
        match w {
            "name" => case.name = read_text(r, at)?,
            "tags" => case.tags = read_json(r, at, "tags")?,
            "fixtures" => case.fixtures = read_json(r, at, "fixtures")?,
            "skip" => case.skip = Some(read_text(r, at)?),
            "xfail" => {
                case.xfail = Some(Xfail {
                    reason: read_text(r, at)?,
                    ..Xfail::default()
                });
            }
            "xfail_expects" => {
                let Some(xfail) = case.xfail.as_mut() else {
                    return err(at, "`xfail_expects` without `xfail`");
                };
                let expects: Xfail = read_json(r, at, "xfail_expects")?;
                xfail.label = expects.label;
                xfail.error = expects.error;
                xfail.step = expects.step;
                xfail.timeout = expects.timeout;
            }
            other => return err(at, format!("unexpected `{other}` in a case header")),
        }
    }
    Ok(case)
}

/// An `http METHOD` record: the method and target from its header, the rest from its JSON
/// line.
fn http_step(method: &str, target: Option<String>, json: &str, line: usize) -> Result<HttpStep> {
    if !crate::spec::http::METHODS.contains(&method) {
        return err(line - 1, format!("`{method}` is not an HTTP method"));
    }
    let mut fields: serde_json::Map<String, serde_json::Value> =
        read_json(json, line, "http step")?;
    for key in ["method", "target"] {
        if fields.contains_key(key) {
            return err(line, format!("`{key}` belongs on the record's header line"));
        }
    }
    fields.insert("method".into(), method.into());
    if let Some(t) = target {
        fields.insert("target".into(), t.into());
    }
    serde_json::from_value(serde_json::Value::Object(fields))
        .or_else(|e| err(line, format!("bad http step: {e}")))
}

/// `var in from..to`
fn parse_range(s: &str, line: usize) -> Result<Repeat> {
    let parsed = (|| {
        let (var, range) = s.split_once(" in ")?;
        let (from, to) = range.split_once("..")?;
        Some(Repeat {
            var: var.trim().to_string(),
            from: from.trim().parse().ok()?,
            to: to.trim().parse().ok()?,
        })
    })();
    parsed.map_or_else(
        || err(line, format!("expected `VAR in FROM..TO`, found `{s}`")),
        Ok,
    )
}

fn params_from(value: serde_json::Value, line: usize) -> Result<Vec<Param>> {
    match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|v| {
                Ok(Param {
                    name: None,
                    value: serde_json::from_value(v)
                        .or_else(|e| err(line, format!("bad param: {e}")))?,
                })
            })
            .collect(),
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| {
                Ok(Param {
                    name: Some(k),
                    value: serde_json::from_value(v)
                        .or_else(|e| err(line, format!("bad param: {e}")))?,
                })
            })
            .collect(),
        other => err(
            line,
            format!("`params` must be a list or a map, found {other}"),
        ),
    }
}

/// A step record: an optional `repeat VAR in FROM..TO` line, the header (the step's kind,
/// then its attributes) and the body. The attributes every step may have are read here;
/// each kind's own, and its body, by its `*_action` function.
fn parse_step(line: usize, lines: &[&str]) -> Result<Step> {
    let (repeat, lines, line) = match lines[0].strip_prefix("repeat ") {
        Some(range) => (Some(parse_range(range, line)?), &lines[1..], line + 1),
        None => (None, lines, line),
    };
    let Some(header) = lines.first() else {
        return err(line, "`repeat` must be followed by a step");
    };
    let (word, rest) = header.split_once(' ').unwrap_or((header, ""));
    let (attrs, errored) = attributes_of(word, rest, line)?;
    let mut record = Record {
        line,
        body: &lines[1..],
        attrs: Attrs::parse(attrs, line)?,
    };
    let step_line = record.attrs.line.unwrap_or(0);
    let session = record.attrs.string("session", line)?;
    let action = match word {
        "statement" => statement_action(&mut record, errored)?,
        "query" => query_action(&mut record, errored)?,
        "begin" | "commit" | "rollback" => {
            record.no_body()?;
            match word {
                "begin" => Action::Begin,
                "commit" => Action::Commit,
                _ => Action::Rollback,
            }
        }
        "sleep" => sleep_action(&mut record)?,
        "copy" => copy_action(&mut record)?,
        "vector" => vector_action(&record)?,
        "http" => http_action(header, &mut record)?,
        other => return err(line, format!("unknown record `{other}`")),
    };
    let origin = record.attrs.string("origin", line)?;
    record.attrs.finish(line)?;
    Ok(Step {
        line: step_line,
        session,
        repeat,
        origin,
        action,
    })
}

/// One step record: its header's line, the attributes the step's kind reads (and
/// [`parse_step`] then checks are all used), and the lines below the header.
struct Record<'a> {
    line: usize,
    body: &'a [&'a str],
    attrs: Attrs,
}

impl Record<'_> {
    fn no_body(&self) -> Result<()> {
        if self.body.is_empty() {
            Ok(())
        } else {
            err(self.line + 1, "this step takes no body")
        }
    }
}

/// A header's attributes: what follows the words that are not attributes
/// (`statement ok|error`, `query [error]`, `vector OP`, `http METHOD`); and whether the
/// step expects an error.
fn attributes_of<'a>(word: &str, rest: &'a str, line: usize) -> Result<(&'a str, bool)> {
    Ok(match word {
        "statement" => match rest.split_once(' ').unwrap_or((rest, "")) {
            ("ok", r) => (r, false),
            ("error", r) => (r, true),
            _ => return err(line, "expected `statement ok` or `statement error`"),
        },
        "query" => match rest.strip_prefix("error") {
            Some(r) if r.is_empty() || r.starts_with(' ') => (r, true),
            _ => (rest, false),
        },
        "vector" | "http" => (rest.split_once(' ').map_or("", |(_, r)| r), false),
        _ => (rest, false),
    })
}

/// What `statement` and `query` records share: the parameters, the error expected, and
/// the SQL (`sql=`, or the body down to `----`).
struct Sql<'a> {
    sql: String,
    params: Vec<Param>,
    error: Option<ErrorExpect>,
    /// How many body lines the SQL took (0 for `sql=`).
    sql_lines: usize,
    /// The body lines after `----`, when there is one.
    result: Option<&'a [&'a str]>,
}

fn sql_of<'a>(record: &mut Record<'a>, errored: bool) -> Result<Sql<'a>> {
    let (line, body, attrs) = (record.line, record.body, &mut record.attrs);
    let params = attrs
        .take("params")
        .map(|v| params_from(v, line))
        .transpose()?
        .unwrap_or_default();
    let error = if errored {
        Some(ErrorExpect {
            class: attrs.string("class", line)?,
            sqlstate: attrs.string("sqlstate", line)?,
            code: attrs.string("code", line)?,
            message: attrs.string("message", line)?,
            exception: attrs.string("exception", line)?,
        })
    } else {
        None
    };
    let sql_attr = attrs.string("sql", line)?;
    let split = body.iter().position(|l| *l == "----");
    let (sql_lines, result) = match split {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let sql = match sql_attr {
        Some(s) if sql_lines.is_empty() => s,
        Some(_) => return err(line, "SQL given both as `sql=` and as a body"),
        None if sql_lines.is_empty() => return err(line, "a step needs SQL"),
        None => sql_lines.join("\n"),
    };
    Ok(Sql {
        sql,
        params,
        error,
        sql_lines: sql_lines.len(),
        result,
    })
}

fn statement_action(record: &mut Record<'_>, errored: bool) -> Result<Action> {
    let Sql {
        sql,
        params,
        error,
        result,
        ..
    } = sql_of(record, errored)?;
    let line = record.line;
    if result.is_some() {
        return err(line, "a statement has no `----` result");
    }
    Ok(Action::Statement(Statement {
        sql,
        params,
        count: record.attrs.typed("count", line)?,
        error,
    }))
}

fn query_action(record: &mut Record<'_>, errored: bool) -> Result<Action> {
    let Sql {
        sql,
        params,
        error,
        sql_lines,
        result,
    } = sql_of(record, errored)?;
    let (line, attrs) = (record.line, &mut record.attrs);
    let rows = result
        .map(|rows| {
            rows.iter()
                .enumerate()
                .map(|(i, r)| read_json::<Vec<Scalar>>(r, line + 1 + sql_lines + 1 + i, "row"))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let sort = match attrs.string("sort", line)? {
        Some(s) => Sort::parse(&s).map_or_else(|| err(line, format!("bad sort `{s}`")), Ok)?,
        None => Sort::None,
    };
    let fetch = match attrs.typed::<u64>("fetch", line)? {
        Some(batch) => Some(Fetch {
            batch,
            batches: attrs
                .typed::<Vec<BatchCheck>>("batches", line)?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Action::Query(Box::new(Query {
        sql,
        params,
        rows,
        columns: attrs.typed("columns", line)?,
        sort,
        row_count: attrs.typed("row_count", line)?,
        fetch,
        error,
        cancel_after: attrs.duration("cancel_after", line)?,
        tolerance: attrs.typed("tolerance", line)?,
        types: attrs.typed("types", line)?,
        compare: match attrs.string("compare", line)? {
            Some(c) => {
                Compare::parse(&c).map_or_else(|| err(line, format!("bad compare `{c}`")), Ok)?
            }
            None => Compare::Typed,
        },
        rows_hash: attrs.typed("rows_hash", line)?,
    })))
}

fn sleep_action(record: &mut Record<'_>) -> Result<Action> {
    record.no_body()?;
    let line = record.line;
    Ok(Action::Sleep {
        duration: record
            .attrs
            .duration("duration", line)?
            .map_or_else(|| err(line, "`sleep` needs `duration=`"), Ok)?,
    })
}

/// `copy table=… columns=…`: rows as JSON lines, or `rows VAR in FROM..TO` and one
/// template row.
fn copy_action(record: &mut Record<'_>) -> Result<Action> {
    let (line, body, attrs) = (record.line, record.body, &mut record.attrs);
    let table = attrs
        .string("table", line)?
        .map_or_else(|| err(line, "`copy` needs `table=`"), Ok)?;
    let columns: Vec<String> = attrs.typed("columns", line)?.unwrap_or_default();
    let rows = match body.first().and_then(|l| l.strip_prefix("rows ")) {
        Some(range) => {
            let repeat = parse_range(range, line + 1)?;
            let [_, row] = body else {
                return err(
                    line + 1,
                    "generated copy rows take exactly one template row",
                );
            };
            CopyRows::Repeat {
                repeat,
                row: read_json(row, line + 2, "row")?,
            }
        }
        None => CopyRows::Literal(
            body.iter()
                .enumerate()
                .map(|(i, r)| read_json(r, line + 1 + i, "row"))
                .collect::<Result<_>>()?,
        ),
    };
    Ok(Action::Copy(Copy {
        table,
        columns,
        rows,
    }))
}

fn vector_action(record: &Record<'_>) -> Result<Action> {
    let [json] = record.body else {
        return err(record.line + 1, "a vector step has one JSON line");
    };
    Ok(Action::Vector(Box::new(read_json::<VectorStep>(
        json,
        record.line + 1,
        "vector step",
    )?)))
}

/// `http METHOD [target=…]` and one JSON line.
fn http_action(header: &str, record: &mut Record<'_>) -> Result<Action> {
    let method = header.split(' ').nth(1).unwrap_or_default();
    let target = record.attrs.string("target", record.line)?;
    let [json] = record.body else {
        return err(record.line + 1, "an http step has one JSON line");
    };
    Ok(Action::Http(Box::new(http_step(
        method,
        target,
        json,
        record.line + 1,
    )?)))
}
