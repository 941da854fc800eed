//! `helios-matrix import`: sqllogictest files → YAML suites.
//!
//! A file is read with sqllogictest-rs's own parser and becomes one suite holding one
//! case: a sqllogictest file is a script whose records depend on the ones before them
//! (a table created, rows inserted, then queried), which is what a case's steps are.
//! Each record keeps its place in the source as the step's `origin`, so a failure names
//! both the YAML line and the record it came from. Queries keep sqllogictest's meaning
//! through `compare: sqllogictest` (values printed by their type letter, then compared as
//! text or hashed), so an imported file passes exactly where its own runner passes it.
//! sqllogictest's runners give each file a fresh database; on a server, the suite's
//! `clean_slate` fixture gives the case one, dropping what the file's records create
//! before the case and after it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sqllogictest::{
    ColumnType, Condition, Connection, ExpectedError, ParseError, QueryExpect, Record, SortMode,
    StatementExpect,
};

use crate::run::sqllogictest::Letter;
use crate::yaml::emit::{block_scalar, flow_scalar, quoted};

/// A query's type letter, kept as written (the parser's own type folds unknown letters).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TypeLetter(char);

impl ColumnType for TypeLetter {
    fn from_char(value: char) -> Option<Self> {
        Some(TypeLetter(value))
    }

    fn to_char(&self) -> char {
        self.0
    }
}

/// What the caller decides for every imported suite.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `protocols:` of the suite; empty means every SQL protocol (the format's default).
    pub protocols: Vec<String>,
    /// `priority:` of the suite, when given.
    pub priority: Option<String>,
    /// Labels the spec set knows; a `skipif`/`onlyif` engine outside them is kept with a
    /// warning.
    pub known_labels: Vec<String>,
}

/// Something imported with a caveat, at `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub location: String,
    pub message: String,
}

/// One file's suite.
#[derive(Debug, Clone)]
pub struct Imported {
    pub yaml: String,
    /// Statements and queries imported as steps. With none, `yaml` is a case without
    /// steps, which the spec format refuses: the file is not to be written.
    pub steps: usize,
    pub warnings: Vec<Warning>,
}

/// The sqllogictest engine names the SQLite corpus and sqllogictest-rs files use, and the
/// label each is in a helios-matrix registry.
const ENGINE_LABELS: [(&str, &str); 6] = [
    ("sqlite", "sqlite"),
    ("mysql", "mysql"),
    ("postgresql", "postgresql"),
    ("postgres", "postgres"),
    ("mssql", "sqlserver"),
    ("oracle", "oracle"),
];

/// Imports one file. `name` is how the source is named in ids, `origin`s and messages
/// (a path relative to what the user imported).
pub fn import(name: &str, text: &str, options: &Options) -> Result<Imported, ParseError> {
    let (text, trailing) = condition_comments(text);
    // `control` records carry no location: the n-th is the n-th `control` line.
    let controls: Vec<u32> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("control "))
        .map(|(i, _)| u32::try_from(i + 1).unwrap_or(u32::MAX))
        .collect();
    let records = sqllogictest::parse_with_name::<TypeLetter>(&text, name)?;
    let mut out = Writer::new(name, options);
    out.trailing = trailing;
    out.controls = controls;
    for record in records {
        if out.halted {
            break;
        }
        out.record(record);
    }
    Ok(out.finish())
}

/// Extensions of sqllogictest files in a directory being imported.
const EXTENSIONS: [&str; 3] = ["test", "slt", "sqllogictest"];

/// A file to import: its path, and its name (relative to the directory given, or its file
/// name), which names its suite, case and `origin`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub name: String,
}

impl Source {
    /// Where its suite goes under `out`: the name with `.yaml` for its extension.
    pub fn output(&self, out: &Path) -> PathBuf {
        out.join(Path::new(&self.name).with_extension("yaml"))
    }
}

/// The files named, and the sqllogictest files under the directories named, in order.
pub fn sources(inputs: &[PathBuf]) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_file() {
            let name = input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(Source {
                path: input.clone(),
                name,
            });
            continue;
        }
        if !input.is_dir() {
            return Err(format!("{}: no such file or directory", input.display()));
        }
        let mut found = Vec::new();
        for entry in walkdir::WalkDir::new(input).sort_by_file_name() {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", input.display()))?;
            let path = entry.path();
            let wanted = entry.file_type().is_file()
                && path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e));
            if !wanted {
                continue;
            }
            let relative = path.strip_prefix(input).unwrap_or(path);
            found.push(Source {
                path: path.to_path_buf(),
                name: relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            });
        }
        if found.is_empty() {
            return Err(format!(
                "{}: no sqllogictest files (*.test, *.slt, *.sqllogictest) in it",
                input.display()
            ));
        }
        out.extend(found);
    }
    Ok(out)
}

/// The SQLite corpus writes comments after a condition (`onlyif sqlite # empty RHS`),
/// which sqllogictest-rs's parser refuses: the comment is taken off the line (which keeps
/// its number) and returned, to be written beside the step it conditions.
fn condition_comments(text: &str) -> (String, Vec<Option<String>>) {
    let mut out = String::with_capacity(text.len());
    let mut comments = Vec::new();
    for line in text.split_inclusive('\n') {
        let is_condition = line.starts_with("skipif ") || line.starts_with("onlyif ");
        if is_condition && !line.contains(" #") {
            comments.push(None);
        }
        match line.split_once(" #").filter(|_| is_condition) {
            Some((condition, comment)) => {
                comments.push(Some(comment.trim_end().to_string()));
                out.push_str(condition.trim_end());
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    (out, comments)
}

/// `select1.test` → `slt_select1`; `evidence/in1.test` → `slt_evidence_in1`.
pub fn suite_name(name: &str) -> String {
    format!("slt_{}", slug(name, '_').to_ascii_lowercase())
}

/// `select1.test` → `SLT-SELECT1`.
pub fn case_id(name: &str) -> String {
    format!("SLT-{}", slug(name, '-').to_ascii_uppercase())
}

/// The name without its extension, every run of other characters one separator.
fn slug(name: &str, separator: char) -> String {
    let stem = name
        .rsplit_once('.')
        .filter(|(stem, ext)| !stem.is_empty() && !ext.contains('/'))
        .map_or(name, |(stem, _)| stem);
    let mut out = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(separator) {
            out.push(separator);
        }
    }
    out.trim_matches(separator).to_string()
}

/// Indent of a step's `- ` and of its keys.
const STEP: &str = "      ";
const KEY: &str = "        ";

struct Writer<'a> {
    name: &'a str,
    options: &'a Options,
    yaml: String,
    steps: usize,
    warnings: Vec<Warning>,
    /// `skipif`/`onlyif` records since the last statement or query.
    pending: Vec<Condition>,
    /// Labels every later step skips, or is limited to, after a conditional `halt`.
    halt_skip: Vec<(String, String)>,
    halt_only: Vec<(String, String)>,
    halted: bool,
    /// Conditional halts before any step: the whole case's.
    case_skip: Vec<(String, String)>,
    case_only: Vec<(String, String)>,
    /// Lines of the `control` records, in order, and how many were met.
    controls: Vec<u32>,
    controls_seen: usize,
    /// Each condition line's comment, in order (see [`condition_comments`]).
    trailing: Vec<Option<String>>,
    taken: usize,
    /// What the records expected to succeed create, in order, with their lines.
    created: Vec<(Created, u32)>,
    /// The clean-slate fixture's statements (see [`Writer::clean_slate`]).
    drops: Vec<String>,
}

impl<'a> Writer<'a> {
    fn new(name: &'a str, options: &'a Options) -> Self {
        Writer {
            name,
            options,
            yaml: String::new(),
            steps: 0,
            warnings: Vec::new(),
            pending: Vec::new(),
            halt_skip: Vec::new(),
            halt_only: Vec::new(),
            halted: false,
            case_skip: Vec::new(),
            case_only: Vec::new(),
            controls: Vec::new(),
            controls_seen: 0,
            trailing: Vec::new(),
            taken: 0,
            created: Vec::new(),
            drops: Vec::new(),
        }
    }

    fn warn(&mut self, line: u32, message: impl Into<String>) {
        self.warnings.push(Warning {
            location: format!("{}:{line}", self.name),
            message: message.into(),
        });
    }

    /// The suite and case around the steps. A conditional `halt` before the first step
    /// (the corpus's "skip this entire file on X") is the case's own `skip`/`only`, so the
    /// case is reported as skipped there with the reason.
    fn header(&self) -> String {
        let mut head = String::new();
        let name = self.name;
        let _ = writeln!(
            head,
            "# Imported from {name} by `helios-matrix import`. Each step's `origin` is its\n\
             # record there; `compare: sqllogictest` checks a result as sqllogictest prints it."
        );
        let _ = writeln!(head, "suite: {}", suite_name(name));
        let _ = writeln!(
            head,
            "description: {}",
            block_scalar(&format!("sqllogictest file {name}"), 2)
        );
        if !self.options.protocols.is_empty() {
            let list: Vec<String> = self
                .options
                .protocols
                .iter()
                .map(|p| flow_scalar(p))
                .collect();
            let _ = writeln!(head, "protocols: [{}]", list.join(", "));
        }
        if let Some(p) = &self.options.priority {
            let _ = writeln!(head, "priority: {p}");
        }
        let _ = writeln!(head, "tags: [sqllogictest]");
        let drops = &self.drops;
        if !drops.is_empty() {
            let _ = writeln!(head, "fixtures:");
            let _ = writeln!(
                head,
                "  # sqllogictest runs each file on a fresh database: what this one creates is\n  \
                 # dropped before it (whatever an earlier run left) and after it."
            );
            let _ = writeln!(head, "  {CLEAN_SLATE}:");
            for part in ["setup", "teardown"] {
                let _ = writeln!(head, "    {part}:");
                for sql in drops {
                    let _ = writeln!(head, "      - {}", block_scalar(sql, 8));
                }
            }
        }
        let _ = writeln!(head, "cases:");
        let _ = writeln!(head, "  - id: {}", case_id(name));
        let _ = writeln!(head, "    name: {}", block_scalar(name, 6));
        if !drops.is_empty() {
            let _ = writeln!(head, "    fixtures: [{CLEAN_SLATE}]");
        }
        if !self.case_skip.is_empty() {
            let entries: Vec<String> = self
                .case_skip
                .iter()
                .map(|(l, why)| format!("{}: {}", flow_scalar(l), quoted(why)))
                .collect();
            let _ = writeln!(head, "    skip: {{{}}}", entries.join(", "));
        }
        if !self.case_only.is_empty() {
            let names: Vec<String> = self.case_only.iter().map(|(l, _)| flow_scalar(l)).collect();
            let _ = writeln!(head, "    only: [{}]", names.join(", "));
        }
        let _ = writeln!(head, "    steps:");
        head
    }

    fn comment(&mut self, lines: &[String]) {
        for line in lines {
            let _ = writeln!(self.yaml, "{STEP}#{line}");
        }
    }

    fn record(&mut self, record: Record<TypeLetter>) {
        match record {
            Record::Comment(lines) => self.comment(&lines),
            Record::Newline => {}
            Record::Condition(c) => {
                // The n-th condition record is the n-th condition line.
                if let Some(Some(comment)) = self.trailing.get(self.taken) {
                    let _ = writeln!(self.yaml, "{STEP}#{comment}");
                }
                self.taken += 1;
                self.pending.push(c);
            }
            // The parser sets the connection on the statement or query that follows.
            Record::Connection(_) => {}
            Record::Statement {
                loc,
                connection,
                sql,
                expected,
                ..
            } => {
                let line = loc.line();
                if !matches!(expected, StatementExpect::Error(_)) {
                    self.note_created(&sql, line);
                }
                self.begin_step("statement", &sql, line, &connection);
                match expected {
                    StatementExpect::Ok => {}
                    StatementExpect::Count(n) => {
                        let _ = writeln!(self.yaml, "{KEY}count: {n}");
                    }
                    StatementExpect::Error(e) => self.error(&e),
                }
                self.end_step(line);
            }
            Record::Query {
                loc,
                connection,
                sql,
                expected,
                ..
            } => {
                let line = loc.line();
                if !matches!(expected, QueryExpect::Error(_)) {
                    self.note_created(&sql, line);
                }
                self.begin_step("query", &sql, line, &connection);
                match expected {
                    QueryExpect::Error(e) => self.error(&e),
                    QueryExpect::Results {
                        types,
                        sort_mode,
                        label,
                        results,
                        ..
                    } => self.results(&types, sort_mode, label.as_deref(), &results),
                }
                self.end_step(line);
            }
            Record::Sleep { loc, duration } => {
                let _ = writeln!(
                    self.yaml,
                    "{STEP}- sleep: {}\n{KEY}origin: {}",
                    humantime::format_duration(duration),
                    flow_scalar(&format!("{}:{}", self.name, loc.line()))
                );
                self.pending.clear();
            }
            Record::HashThreshold { loc, threshold } => {
                // Expectations already hashed in the file stay hashed (`rows_hash`); the
                // threshold itself only decided which ones the file's author hashed.
                let _ = writeln!(
                    self.yaml,
                    "{STEP}# hash-threshold {threshold} ({}:{})",
                    self.name,
                    loc.line()
                );
            }
            Record::Halt { loc } => self.halt(loc.line()),
            Record::Include { loc, filename } => {
                self.unsupported(loc.line(), &format!("include {filename}"), "`include`");
            }
            Record::Control(control) => {
                let line = self.controls.get(self.controls_seen).copied().unwrap_or(0);
                self.controls_seen += 1;
                let what = Record::<TypeLetter>::Control(control).to_string();
                self.unsupported(line, &what, "`control`");
            }
            Record::System { loc, command, .. } => {
                self.unsupported(loc.line(), &format!("system ok {command}"), "`system`");
            }
            Record::Subtest { loc, name } => {
                let _ = writeln!(
                    self.yaml,
                    "{STEP}# subtest {name} ({}:{})",
                    self.name,
                    loc.line()
                );
            }
            Record::Let { loc, .. } => {
                self.unsupported(loc.line(), "let …", "`let`");
            }
            other => {
                let _ = writeln!(self.yaml, "{STEP}# not imported: {other}");
            }
        }
    }

    fn unsupported(&mut self, line: u32, what: &str, record: &str) {
        let _ = writeln!(
            self.yaml,
            "{STEP}# not imported ({}:{line}): {}",
            self.name,
            what.lines().next().unwrap_or_default()
        );
        self.warn(line, format!("{record} is not supported: skipped"));
        self.pending.clear();
    }

    /// `halt` ends the file; after `onlyif X` it ends it on X only (every later step
    /// skips X), after `skipif X` everywhere but X (every later step is only for X).
    fn halt(&mut self, line: u32) {
        let pending = std::mem::take(&mut self.pending);
        let reason = format!("halted at {}:{line}", self.name);
        if pending.is_empty() {
            let _ = writeln!(
                self.yaml,
                "{STEP}# halt ({}:{line}): the rest of the file is not imported",
                self.name
            );
            self.halted = true;
            return;
        }
        for condition in pending {
            match condition {
                Condition::OnlyIf { label } => {
                    let label = self.label(&label, line);
                    let to = if self.steps == 0 {
                        &mut self.case_skip
                    } else {
                        &mut self.halt_skip
                    };
                    to.push((label, reason.clone()));
                }
                Condition::SkipIf { label } => {
                    let label = self.label(&label, line);
                    let to = if self.steps == 0 {
                        &mut self.case_only
                    } else {
                        &mut self.halt_only
                    };
                    to.push((label, reason.clone()));
                }
            }
        }
        let _ = writeln!(
            self.yaml,
            "{STEP}# conditional halt ({}:{line}): the rest skips (or is only for) its engine",
            self.name
        );
    }

    /// A sqllogictest engine name as a label.
    fn label(&mut self, engine: &str, line: u32) -> String {
        let label = ENGINE_LABELS
            .iter()
            .find(|(e, _)| *e == engine)
            .map_or(engine, |(_, l)| l)
            .to_string();
        let known =
            self.options.known_labels.is_empty() || self.options.known_labels.contains(&label);
        let warned = self
            .warnings
            .iter()
            .any(|w| w.message.contains(&format!("engine `{engine}`")));
        if !known && !warned {
            self.warn(
                line,
                format!(
                    "engine `{engine}` names no protocol here; kept as label `{label}` (declare it in matrix.yaml `labels:`)"
                ),
            );
        }
        label
    }

    fn begin_step(&mut self, kind: &str, sql: &str, line: u32, connection: &Connection) {
        self.steps += 1;
        let _ = writeln!(
            self.yaml,
            "{STEP}- {kind}: {}",
            block_scalar(sql, KEY.len() + 2)
        );
        let origin = format!("{}:{line}", self.name);
        let _ = writeln!(self.yaml, "{KEY}origin: {}", flow_scalar(&origin));
        if let Connection::Named(name) = connection {
            let _ = writeln!(self.yaml, "{KEY}session: {}", flow_scalar(name));
        }
    }

    /// The step's conditions: its own `skipif`/`onlyif`, and those a conditional `halt`
    /// left for the rest of the file.
    fn end_step(&mut self, line: u32) {
        let pending = std::mem::take(&mut self.pending);
        let mut skip: Vec<(String, String)> = self.halt_skip.clone();
        let mut only: Vec<(String, String)> = Vec::new();
        for condition in pending {
            match condition {
                Condition::SkipIf { label } => {
                    let l = self.label(&label, line);
                    skip.push((l, format!("skipif {label}")));
                }
                Condition::OnlyIf { label } => {
                    let l = self.label(&label, line);
                    only.push((l, format!("onlyif {label}")));
                }
            }
        }
        if only.len() > 1 {
            self.warn(
                line,
                "several `onlyif` on one record: sqllogictest needs all of them, `only:` any one",
            );
        }
        if !only.is_empty() && !self.halt_only.is_empty() {
            self.warn(
                line,
                "an `onlyif` after a conditional `halt`: the step keeps its own `onlyif` only",
            );
        } else {
            only.extend(self.halt_only.iter().cloned());
        }
        self.conditions("skip", &skip);
        self.conditions("only", &only);
    }

    fn conditions(&mut self, key: &str, labels: &[(String, String)]) {
        if labels.is_empty() {
            return;
        }
        if key == "skip" {
            // A skip may say why; reasons make a skipped step's report readable.
            let entries: Vec<String> = labels
                .iter()
                .map(|(l, why)| format!("{}: {}", flow_scalar(l), quoted(why)))
                .collect();
            let _ = writeln!(self.yaml, "{KEY}skip: {{{}}}", entries.join(", "));
        } else {
            let mut names: Vec<String> = labels.iter().map(|(l, _)| flow_scalar(l)).collect();
            names.dedup();
            let _ = writeln!(self.yaml, "{KEY}only: [{}]", names.join(", "));
        }
    }

    fn error(&mut self, expected: &ExpectedError) {
        let check = match expected {
            ExpectedError::Empty => String::new(),
            ExpectedError::Inline(regex) => format!("message: {}", quoted(regex.as_str())),
            ExpectedError::Multiline(text) => format!(
                "message: {}",
                quoted(&format!("^{}$", regex::escape(text.trim())))
            ),
            ExpectedError::SqlState(state) => format!("sqlstate: {}", quoted(state)),
        };
        let _ = writeln!(self.yaml, "{KEY}error: {{{check}}}");
    }

    fn results(
        &mut self,
        types: &[TypeLetter],
        sort: Option<SortMode>,
        label: Option<&str>,
        results: &[String],
    ) {
        let _ = writeln!(self.yaml, "{KEY}compare: sqllogictest");
        if !types.is_empty() {
            let classes: Vec<&str> = types
                .iter()
                .map(|t| Letter::of_char(t.0).class().as_str())
                .collect();
            let _ = writeln!(self.yaml, "{KEY}types: [{}]", classes.join(", "));
        }
        match sort {
            Some(SortMode::RowSort) => {
                let _ = writeln!(self.yaml, "{KEY}sort: rows");
            }
            Some(SortMode::ValueSort) => {
                let _ = writeln!(self.yaml, "{KEY}sort: values");
            }
            Some(SortMode::NoSort) | None => {}
        }
        if let Some(label) = label {
            let _ = writeln!(self.yaml, "{KEY}# label {label}");
        }
        if let [only] = results
            && let Some((values, md5)) = hashed(only)
        {
            let _ = writeln!(
                self.yaml,
                "{KEY}rows_hash: {{values: {values}, md5: {md5}}}"
            );
            return;
        }
        let rows = rows_of(results, types.len());
        if rows.is_empty() {
            let _ = writeln!(self.yaml, "{KEY}rows: []");
            return;
        }
        let _ = writeln!(self.yaml, "{KEY}rows:");
        for row in rows {
            let cells: Vec<String> = row.iter().map(|v| cell(v)).collect();
            let _ = writeln!(self.yaml, "{KEY}  - [{}]", cells.join(", "));
        }
    }

    fn finish(mut self) -> Imported {
        self.drops = self.clean_slate();
        Imported {
            yaml: self.header() + &self.yaml,
            steps: self.steps,
            warnings: self.warnings,
        }
    }

    /// Notes the table or view a record creates, for the clean-slate fixture; a CREATE
    /// whose name cannot be read safely is left out with a warning.
    fn note_created(&mut self, sql: &str, line: u32) {
        match creates(sql) {
            None => {}
            Some(Ok(created)) => self.created.push((created, line)),
            Some(Err(())) => self.warn(
                line,
                "what this CREATE makes has no plain name (letters, digits, `_`): the clean-slate fixture does not drop it",
            ),
        }
    }

    /// The clean-slate fixture's statements: views first, then tables, each in the reverse
    /// order of their (last) creation, so nothing is dropped before what depends on it. A
    /// name created both as a table and as a view is left out with a warning: whichever
    /// DROP comes first fails on the other kind.
    fn clean_slate(&mut self) -> Vec<String> {
        let mut latest: Vec<&Created> = Vec::new();
        for (created, _) in self.created.iter().rev() {
            if !latest.contains(&created) {
                latest.push(created);
            }
        }
        let mut mixed: Vec<(String, u32)> = Vec::new();
        for (c, line) in &self.created {
            let clash = self
                .created
                .iter()
                .any(|(o, _)| o.kind != c.kind && o.name.eq_ignore_ascii_case(&c.name));
            if clash && !mixed.iter().any(|(n, _)| n.eq_ignore_ascii_case(&c.name)) {
                mixed.push((c.name.clone(), *line));
            }
        }
        let mut out = Vec::new();
        for kind in [ObjectKind::View, ObjectKind::Table] {
            for c in latest.iter().filter(|c| c.kind == kind) {
                if !mixed.iter().any(|(n, _)| n.eq_ignore_ascii_case(&c.name)) {
                    out.push(format!("DROP {} IF EXISTS {}", kind.keyword(), c.name));
                }
            }
        }
        for (name, line) in mixed {
            self.warn(
                line,
                format!(
                    "`{name}` is created both as a table and as a view: the clean-slate fixture does not drop it"
                ),
            );
        }
        out
    }
}

/// The fixture every imported case with something to drop uses.
const CLEAN_SLATE: &str = "clean_slate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectKind {
    Table,
    View,
}

impl ObjectKind {
    fn keyword(self) -> &'static str {
        match self {
            ObjectKind::Table => "TABLE",
            ObjectKind::View => "VIEW",
        }
    }
}

/// A table or view a record creates, its name as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Created {
    kind: ObjectKind,
    name: String,
}

/// What `CREATE [OR REPLACE] [TEMP|TEMPORARY] TABLE|VIEW [IF NOT EXISTS] name …` creates;
/// `Err` when the name is not plain (letters, digits and `_`, dot-qualified or not):
/// a quoted name is quoted differently on each server, so no one DROP fits them all.
/// `None` for anything else, including kinds DROP TABLE or DROP VIEW would refuse
/// (materialized views) or that vary by server.
fn creates(sql: &str) -> Option<Result<Created, ()>> {
    let mut rest = sql.trim_start();
    while let Some(comment) = rest.strip_prefix("--") {
        rest = comment.split_once('\n').map_or("", |(_, r)| r).trim_start();
    }
    let mut rest = keyword(rest, "CREATE")?;
    if let Some(r) = keyword(rest, "OR") {
        rest = keyword(r, "REPLACE")?;
    }
    if let Some(r) = keyword(rest, "TEMPORARY").or_else(|| keyword(rest, "TEMP")) {
        rest = r;
    }
    let (kind, mut rest) = match keyword(rest, "TABLE") {
        Some(r) => (ObjectKind::Table, r),
        None => (ObjectKind::View, keyword(rest, "VIEW")?),
    };
    if let Some(r) = keyword(rest, "IF") {
        rest = keyword(keyword(r, "NOT")?, "EXISTS")?;
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(end);
    let plain = !name.is_empty()
        && name
            .split('.')
            .all(|part| part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        && (after.is_empty() || after.starts_with(|c: char| c.is_whitespace() || c == '('));
    Some(if plain {
        Ok(Created {
            kind,
            name: name.to_string(),
        })
    } else {
        Err(())
    })
}

/// The text after a keyword (any case) and the blank space that must follow it.
fn keyword<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    let after = &text[word.len()..];
    (head.eq_ignore_ascii_case(word) && after.starts_with(char::is_whitespace))
        .then(|| after.trim_start())
}

/// `30 values hashing to 3c13dee48d9356ae19af2515e05e6b54`.
fn hashed(line: &str) -> Option<(u64, String)> {
    let (count, rest) = line.trim().split_once(" values hashing to ")?;
    let md5 = rest.trim();
    let ok = md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit());
    Some((count.parse().ok()?, md5.to_ascii_lowercase())).filter(|_| ok)
}

/// Result lines as rows. Files write a row's values on one line (sqllogictest-rs style)
/// or one value per line (the SQLite corpus); `compare: sqllogictest` compares the values
/// flattened, so either grouping checks the same, and rows are kept as written where the
/// grouping is unclear.
fn rows_of(lines: &[String], columns: usize) -> Vec<Vec<String>> {
    let row_wise = columns > 1
        && lines
            .iter()
            .all(|l| l.split_whitespace().count() == columns);
    if row_wise {
        return lines
            .iter()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect();
    }
    if columns > 1 && lines.len().is_multiple_of(columns) {
        return lines.chunks(columns).map(<[String]>::to_vec).collect();
    }
    lines.iter().map(|l| vec![l.clone()]).collect()
}

/// A result value in YAML: `null` for NULL, a plain integer where it reads back as the
/// same text, otherwise a string.
pub(crate) fn cell(value: &str) -> String {
    if value == "NULL" {
        return "null".to_string();
    }
    let canonical_int = value.parse::<i64>().is_ok_and(|i| i.to_string() == value);
    if canonical_int {
        value.to_string()
    } else {
        flow_scalar(value)
    }
}

#[cfg(test)]
mod tests;
