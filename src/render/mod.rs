//! Rendering a plan into files: one script per protocol × suite, through the minijinja
//! templates in `templates/`, plus `manifest.json`. Output is byte-identical run to run.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use minijinja::{Environment, Error as TemplateError, ErrorKind, Value, context};
use serde::Serialize;

use crate::plan::{Plan, ProtocolPlan, SuitePlan};

/// The script template, embedded so the binary works from any directory.
const SLT_TEMPLATE: &str = include_str!("../../templates/slt/suite.slt.j2");

/// The file extension of compiled scripts.
pub const SCRIPT_EXTENSION: &str = "slt";
pub const MANIFEST: &str = "manifest.json";

/// Relative path → content, for every file `compile` produces.
pub type Rendered = BTreeMap<PathBuf, String>;

fn environment() -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("attr", attr);
    env.add_filter("params", params);
    env.add_filter("json", json);
    env.add_filter("text", text);
    env.add_filter("vector_json", vector_json);
    env.add_filter("xfail_expects", xfail_expects);
    env.add_test("sql_plain", |v: Value| v.as_str().is_some_and(is_plain_sql));
    env.add_template("slt/suite.slt", SLT_TEMPLATE)?;
    Ok(env)
}

fn to_json(value: &Value) -> Result<String, TemplateError> {
    serde_json::to_string(value)
        .map_err(|e| TemplateError::new(ErrorKind::InvalidOperation, e.to_string()))
}

/// A word the script parser reads back as the same string without quotes.
pub fn is_bare_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:/+-".contains(c))
        && serde_json::from_str::<serde_json::Value>(s).is_err()
}

/// ` key=value`, or nothing when the value is none.
fn attr(value: Value, key: &str) -> Result<String, TemplateError> {
    if value.is_none() || value.is_undefined() {
        return Ok(String::new());
    }
    let encoded = match value.as_str() {
        Some(s) if is_bare_word(s) => s.to_string(),
        _ => to_json(&value)?,
    };
    Ok(format!(" {key}={encoded}"))
}

/// ` params=[…]` for positional parameters, ` params={…}` for named ones.
fn params(list: Value) -> Result<String, TemplateError> {
    let items: Vec<Value> = list.try_iter()?.collect();
    if items.is_empty() {
        return Ok(String::new());
    }
    let named = items
        .iter()
        .any(|p| p.get_attr("name").is_ok_and(|n| !n.is_none()));
    let encoded = if named {
        let mut map = serde_json::Map::new();
        for p in &items {
            let name = p.get_attr("name")?.to_string();
            let value: serde_json::Value =
                serde_json::from_str(&to_json(&p.get_attr("value")?)?)
                    .map_err(|e| TemplateError::new(ErrorKind::InvalidOperation, e.to_string()))?;
            map.insert(name, value);
        }
        serde_json::Value::Object(map).to_string()
    } else {
        let values: Vec<Value> = items
            .iter()
            .map(|p| p.get_attr("value"))
            .collect::<Result<_, _>>()?;
        to_json(&Value::from(values))?
    };
    Ok(format!(" params={encoded}"))
}

fn json(value: Value) -> Result<String, TemplateError> {
    to_json(&value)
}

/// Free text on the rest of a line: as is, or JSON-quoted when it would not read back.
fn text(value: Value) -> Result<String, TemplateError> {
    let s = value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string());
    if s.is_empty() || s.contains(['\n', '\r']) || s.starts_with('"') || s.trim() != s {
        to_json(&Value::from(s))
    } else {
        Ok(s)
    }
}

/// What an xfail expects beyond its reason (`error`, `step`), as one JSON object.
fn xfail_expects(xfail: Value) -> Result<String, TemplateError> {
    let mut v: serde_json::Value = serde_json::from_str(&to_json(&xfail)?)
        .map_err(|e| TemplateError::new(ErrorKind::InvalidOperation, e.to_string()))?;
    if let Some(obj) = v.as_object_mut() {
        obj.remove("reason");
    }
    Ok(v.to_string())
}

/// A vector step as one JSON line (the action without its `kind` tag).
fn vector_json(action: Value) -> Result<String, TemplateError> {
    let mut v: serde_json::Value = serde_json::from_str(&to_json(&action)?)
        .map_err(|e| TemplateError::new(ErrorKind::InvalidOperation, e.to_string()))?;
    if let Some(obj) = v.as_object_mut() {
        obj.remove("kind");
    }
    Ok(v.to_string())
}

/// SQL that can stand verbatim as a record body: no blank line and no `----` line, which
/// would end the body early.
pub fn is_plain_sql(sql: &str) -> bool {
    !sql.is_empty()
        && !sql.contains('\r')
        && sql
            .lines()
            .all(|l| !l.trim().is_empty() && l.trim() != "----")
        && sql.trim() == sql
}

#[derive(Serialize)]
struct ManifestEntry<'a> {
    protocol: &'a str,
    tier: &'a str,
    suite: &'a str,
    id: &'a str,
    name: &'a str,
    priority: &'a str,
    source: String,
    script: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    skip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xfail: Option<&'a str>,
}

#[derive(Serialize)]
struct Manifest<'a> {
    generated_by: &'static str,
    labels: &'a [String],
    cases: Vec<ManifestEntry<'a>>,
}

/// The script path of a suite on a protocol, relative to the output directory.
pub fn script_path(protocol: &str, suite: &str) -> PathBuf {
    Path::new(protocol).join(format!("{suite}.{SCRIPT_EXTENSION}"))
}

/// Renders one suite for one protocol.
pub fn render_suite(protocol: &ProtocolPlan, suite: &SuitePlan) -> Result<String, TemplateError> {
    let env = environment()?;
    render_with(&env, protocol, suite)
}

fn render_with(
    env: &Environment<'_>,
    protocol: &ProtocolPlan,
    suite: &SuitePlan,
) -> Result<String, TemplateError> {
    let template = env.get_template("slt/suite.slt")?;
    let mut out = template.render(context! {
        protocol => Value::from(minijinja::value::Serde(&protocol.protocol)),
        suite => Value::from(minijinja::value::Serde(suite)),
    })?;
    // One trailing newline, whatever the template's last block did.
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Renders every script and the manifest.
pub fn render(plan: &Plan) -> Result<Rendered, TemplateError> {
    let env = environment()?;
    let mut files = Rendered::new();
    let mut entries = Vec::new();
    for protocol in &plan.protocols {
        for suite in &protocol.suites {
            let path = script_path(&protocol.protocol.name, &suite.name);
            files.insert(path.clone(), render_with(&env, protocol, suite)?);
            for case in &suite.cases {
                entries.push(ManifestEntry {
                    protocol: &protocol.protocol.name,
                    tier: protocol.protocol.tier.as_str(),
                    suite: &suite.name,
                    id: &case.id,
                    name: &case.name,
                    priority: case.priority.as_str(),
                    source: format!("{}:{}", suite.source, case.line),
                    script: path.to_string_lossy().replace('\\', "/"),
                    skip: case.skip.as_deref(),
                    xfail: case.xfail.as_ref().map(|x| x.reason.as_str()),
                });
            }
        }
    }
    let manifest = Manifest {
        generated_by: "helios-matrix compile",
        labels: &plan.labels,
        cases: entries,
    };
    let mut text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| TemplateError::new(ErrorKind::InvalidOperation, e.to_string()))?;
    text.push('\n');
    files.insert(PathBuf::from(MANIFEST), text);
    Ok(files)
}

/// Files under `out` that `compile` owns: the manifest and `*/*.slt`.
fn owned_files(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !out.is_dir() {
        return Ok(found);
    }
    if out.join(MANIFEST).is_file() {
        found.push(PathBuf::from(MANIFEST));
    }
    for entry in std::fs::read_dir(out)? {
        let dir = entry?.path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir)? {
            let path = file?.path();
            if path.extension().and_then(|e| e.to_str()) == Some(SCRIPT_EXTENSION)
                && let Ok(rel) = path.strip_prefix(out)
            {
                found.push(rel.to_path_buf());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// What differs between `out` and the rendered files.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Staleness {
    pub missing: Vec<PathBuf>,
    pub changed: Vec<PathBuf>,
    pub extra: Vec<PathBuf>,
}

impl Staleness {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.changed.is_empty() && self.extra.is_empty()
    }
}

pub fn check(out: &Path, files: &Rendered) -> io::Result<Staleness> {
    let mut s = Staleness::default();
    for (path, content) in files {
        match std::fs::read(out.join(path)) {
            Ok(existing) if existing == content.as_bytes() => {}
            Ok(_) => s.changed.push(path.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => s.missing.push(path.clone()),
            Err(e) => return Err(e),
        }
    }
    s.extra = owned_files(out)?
        .into_iter()
        .filter(|p| !files.contains_key(p))
        .collect();
    Ok(s)
}

/// Writes what changed and removes scripts no longer produced. Returns what it did.
pub fn write(out: &Path, files: &Rendered) -> io::Result<Staleness> {
    let s = check(out, files)?;
    for path in s.missing.iter().chain(&s.changed) {
        let content = files.get(path).map(String::as_bytes).unwrap_or_default();
        crate::files::write_atomically(&out.join(path), content)?;
    }
    for path in &s.extra {
        std::fs::remove_file(out.join(path))?;
        if let Some(parent) = out.join(path).parent()
            && parent != out
            && std::fs::read_dir(parent)?.next().is_none()
        {
            std::fs::remove_dir(parent)?;
        }
    }
    Ok(s)
}
