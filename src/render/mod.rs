//! Rendering a plan into files: one script per protocol × suite, through the minijinja
//! templates in `templates/`, plus `manifest.json`. Output is byte-identical run to run.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use minijinja::{Environment, Error as TemplateError, ErrorKind, Value, context};
use serde::Serialize;

use crate::diag::Diagnostics;
use crate::plan::compile::compile_suite_for;
use crate::plan::{Plan, ProtocolPlan, SuitePlan};
use crate::registry::Protocol;
use crate::spec::SpecSet;

pub mod sqllogictest;

/// The script template, embedded so the binary works from any directory.
const HMX_TEMPLATE: &str = include_str!("../../templates/hmx/suite.hmx.j2");

/// The file extension of compiled scripts (helios-matrix's own format, not sqllogictest).
pub const SCRIPT_EXTENSION: &str = "hmx";
/// The extension scripts had before they were `.hmx`: such files in the output directory
/// are no longer produced, so `compile` removes them and `--check` reports them as extra.
pub const OLD_SCRIPT_EXTENSION: &str = "slt";
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
    env.add_filter("http_json", http_json);
    env.add_filter("xfail_expects", xfail_expects);
    env.add_test("sql_plain", |v: Value| v.as_str().is_some_and(is_plain_sql));
    env.add_template("hmx/suite.hmx", HMX_TEMPLATE)?;
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

/// An HTTP step as one JSON line, in the step's field order (`url` first), without what
/// its header (`http METHOD … target=NAME`) says.
fn http_json(action: Value) -> Result<String, TemplateError> {
    let mut v: serde_json::Value = serde_json::from_str(&to_json(&action)?)
        .map_err(|e| TemplateError::new(ErrorKind::InvalidOperation, e.to_string()))?;
    if let Some(obj) = v.as_object_mut() {
        for key in ["kind", "method", "target"] {
            obj.shift_remove(key);
        }
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
struct ManifestEntry {
    protocol: String,
    tier: &'static str,
    suite: String,
    id: String,
    name: String,
    priority: &'static str,
    source: String,
    script: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    skip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xfail: Option<String>,
}

#[derive(Serialize)]
struct Manifest<'a> {
    generated_by: &'static str,
    labels: &'a [String],
    cases: Vec<ManifestEntry>,
}

/// The script path of a suite on a protocol, relative to the output directory.
pub fn script_path(protocol: &str, suite: &str) -> PathBuf {
    Path::new(protocol).join(format!("{suite}.{SCRIPT_EXTENSION}"))
}

/// Renders one suite for one protocol.
pub fn render_suite(protocol: &ProtocolPlan, suite: &SuitePlan) -> Result<String, TemplateError> {
    let env = environment()?;
    render_with(&env, &protocol.protocol, suite)
}

fn render_with(
    env: &Environment<'_>,
    protocol: &Protocol,
    suite: &SuitePlan,
) -> Result<String, TemplateError> {
    let template = env.get_template("hmx/suite.hmx")?;
    let mut out = template.render(context! {
        protocol => Value::from(minijinja::value::Serde(protocol)),
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
        render_protocol(&env, protocol, &mut files, &mut entries)?;
    }
    manifest(&plan.labels, entries, &mut files)?;
    Ok(files)
}

/// Compiles and renders every protocol of the registry into `output`: the same files as
/// `render(&compile(…))`. Each protocol × suite is compiled, rendered, handed to `output`
/// and dropped, on `jobs` threads: a large spec set never holds more than `jobs` suite
/// plans at once, only the specs and the manifest's entries. Returns the number of cases.
pub fn compile_and_render(
    specs: &SpecSet,
    labels: &[String],
    jobs: usize,
    output: &Output,
    d: &mut Diagnostics,
) -> Result<usize, RenderError> {
    let protocols = &specs.registry.protocols;
    let work: Vec<(&Protocol, &crate::spec::Suite)> = protocols
        .iter()
        .flat_map(|p| specs.suites.iter().map(move |s| (p, s)))
        .collect();
    let env = environment()?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, work.len().max(1)) {
            scope.spawn(|| {
                let mut mine = Vec::new();
                let mut diags = Diagnostics::default();
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(protocol, suite)) = work.get(index) else {
                        break;
                    };
                    let Some(plan) = compile_suite_for(specs, protocol, labels, suite, &mut diags)
                    else {
                        continue;
                    };
                    let path = script_path(&protocol.name, &plan.name);
                    let entries = manifest_entries(protocol, &plan, &path);
                    let rendered = render_with(&env, protocol, &plan)
                        .map_err(RenderError::from)
                        .and_then(|text| output.accept(path, text).map_err(RenderError::from));
                    let failed = rendered.is_err();
                    mine.push((index, rendered.map(|()| entries)));
                    if failed {
                        break;
                    }
                }
                if let Ok(mut done) = done.lock() {
                    done.push((mine, diags));
                }
            });
        }
    });
    let done = done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut results = Vec::new();
    for (mine, diags) in done {
        d.extend(diags);
        results.extend(mine);
    }
    // The manifest lists cases by protocol, then suite (the order of `work`), as `render`
    // does, whatever order the threads finished in.
    results.sort_by_key(|(index, _)| *index);
    let mut entries = Vec::new();
    for (_, rendered) in results {
        entries.extend(rendered?);
    }
    let cases = entries.len();
    let mut files = Rendered::new();
    manifest(labels, entries, &mut files)?;
    for (path, text) in files {
        output.accept(path, text)?;
    }
    Ok(cases)
}

/// Why rendering into an [`Output`] stopped.
#[derive(Debug)]
pub enum RenderError {
    Template(TemplateError),
    Io(io::Error),
}

impl From<TemplateError> for RenderError {
    fn from(e: TemplateError) -> Self {
        RenderError::Template(e)
    }
}

impl From<io::Error> for RenderError {
    fn from(e: io::Error) -> Self {
        RenderError::Io(e)
    }
}

/// One protocol's scripts, and its cases' manifest entries.
fn render_protocol(
    env: &Environment<'_>,
    protocol: &ProtocolPlan,
    files: &mut Rendered,
    entries: &mut Vec<ManifestEntry>,
) -> Result<(), TemplateError> {
    for suite in &protocol.suites {
        let path = script_path(&protocol.protocol.name, &suite.name);
        entries.extend(manifest_entries(&protocol.protocol, suite, &path));
        files.insert(path, render_with(env, &protocol.protocol, suite)?);
    }
    Ok(())
}

/// The manifest's entry for each case of a suite compiled for a protocol.
fn manifest_entries(protocol: &Protocol, suite: &SuitePlan, path: &Path) -> Vec<ManifestEntry> {
    let script = path.to_string_lossy().replace('\\', "/");
    suite
        .cases
        .iter()
        .map(|case| ManifestEntry {
            protocol: protocol.name.clone(),
            tier: protocol.tier.as_str(),
            suite: suite.name.clone(),
            id: case.id.clone(),
            name: case.name.clone(),
            priority: case.priority.as_str(),
            source: format!("{}:{}", suite.source, case.line),
            script: script.clone(),
            skip: case.skip.clone(),
            xfail: case.xfail.as_ref().map(|x| x.reason.clone()),
        })
        .collect()
}

fn manifest(
    labels: &[String],
    entries: Vec<ManifestEntry>,
    files: &mut Rendered,
) -> Result<(), TemplateError> {
    let manifest = Manifest {
        generated_by: "helios-matrix compile",
        labels,
        cases: entries,
    };
    let mut text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| TemplateError::new(ErrorKind::InvalidOperation, e.to_string()))?;
    text.push('\n');
    files.insert(PathBuf::from(MANIFEST), text);
    Ok(())
}

/// What `compile` writes into its output directory, and so which files there it owns:
/// those it removes when no longer produced, and `--check` reports as extra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The manifest, `*/*.hmx`, and `*/*.slt` (scripts of an older helios-matrix, which
    /// it no longer produces).
    Native,
    /// `*/not-exported.txt` and `*/*/*.slt`: [`sqllogictest`]'s one file per case.
    Sqllogictest,
}

impl Layout {
    /// Whether `rel`, a file's path relative to the output directory, is one of ours.
    fn owns(self, rel: &Path) -> bool {
        let parts: Vec<_> = rel.components().collect();
        let ext = rel.extension().and_then(|e| e.to_str());
        match self {
            Layout::Native => {
                rel == Path::new(MANIFEST)
                    || (parts.len() == 2
                        && (ext == Some(SCRIPT_EXTENSION) || ext == Some(OLD_SCRIPT_EXTENSION)))
            }
            Layout::Sqllogictest => {
                (parts.len() == 2
                    && rel.file_name().and_then(|n| n.to_str()) == Some(sqllogictest::NOT_EXPORTED))
                    || (parts.len() == 3 && ext == Some(sqllogictest::EXTENSION))
            }
        }
    }
}

/// Files under `out` that `compile` owns in `layout`.
fn owned_files(out: &Path, layout: Layout) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !out.is_dir() {
        return Ok(found);
    }
    for entry in walkdir::WalkDir::new(out).min_depth(1).max_depth(3) {
        let entry = entry.map_err(io::Error::other)?;
        if !entry.file_type().is_file() {
            continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(out)
            && layout.owns(rel)
        {
            found.push(rel.to_path_buf());
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

/// Where `compile` puts files as they are rendered: compared with what `out` holds, and
/// when writing, the ones that differ staged beside it. Nothing in `out` changes until
/// [`Output::finish`] commits, so specs with errors leave it as it was.
pub struct Output {
    out: PathBuf,
    layout: Layout,
    /// The staging directory (on `out`'s file system, so staged files rename into place).
    staging: Option<tempfile::TempDir>,
    state: std::sync::Mutex<OutputState>,
}

#[derive(Default)]
struct OutputState {
    produced: std::collections::BTreeSet<PathBuf>,
    staleness: Staleness,
}

impl Output {
    /// Compares only (`compile --check`).
    pub fn check(out: &Path, layout: Layout) -> Output {
        Output {
            out: out.to_path_buf(),
            layout,
            staging: None,
            state: Default::default(),
        }
    }

    /// Compares, and stages what differs for [`Output::finish`] to write.
    pub fn write(out: &Path, layout: Layout) -> io::Result<Output> {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent)?;
        let staging = tempfile::Builder::new()
            .prefix(".helios-matrix-compile-")
            .tempdir_in(parent)?;
        Ok(Output {
            out: out.to_path_buf(),
            layout,
            staging: Some(staging),
            state: Default::default(),
        })
    }

    /// Takes one rendered file (from any thread).
    pub fn accept(&self, path: PathBuf, content: String) -> io::Result<()> {
        let differs = match std::fs::read(self.out.join(&path)) {
            Ok(existing) if existing == content.as_bytes() => None,
            Ok(_) => Some(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Some(true),
            Err(e) => return Err(e),
        };
        if let (Some(_), Some(staging)) = (differs, &self.staging) {
            // Private until `finish` renames it into place: a plain write is enough here.
            let staged = staging.path().join(&path);
            if let Some(dir) = staged.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(staged, content.as_bytes())?;
        }
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match differs {
            Some(true) => state.staleness.missing.push(path.clone()),
            Some(false) => state.staleness.changed.push(path.clone()),
            None => {}
        }
        state.produced.insert(path);
        Ok(())
    }

    /// What differs from `out` (sorted); when writing, moves the staged files into `out`
    /// and removes the scripts no longer produced.
    pub fn finish(self) -> io::Result<Staleness> {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut s = state.staleness;
        s.missing.sort();
        s.changed.sort();
        s.extra = owned_files(&self.out, self.layout)?
            .into_iter()
            .filter(|p| !state.produced.contains(p))
            .collect();
        let Some(staging) = self.staging else {
            return Ok(s);
        };
        if !self.out.exists() {
            // A first compile: the staging directory becomes the output, in one rename.
            let staged = staging.keep();
            if let Err(e) = std::fs::rename(&staged, &self.out) {
                let _ = std::fs::remove_dir_all(&staged);
                return Err(e);
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                // A temporary directory is private (0700); generated scripts are not.
                std::fs::set_permissions(&self.out, std::fs::Permissions::from_mode(0o755))?;
            }
            return Ok(s);
        }
        for path in s.missing.iter().chain(&s.changed) {
            let (from, to) = (staging.path().join(path), self.out.join(path));
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)?;
            }
            if std::fs::rename(&from, &to).is_err() {
                // Another file system after all: copy it in, still never torn.
                crate::files::write_replacing(&to, &std::fs::read(&from)?)?;
            }
        }
        remove_extra(&self.out, &s.extra)?;
        Ok(s)
    }
}

fn remove_extra(out: &Path, extra: &[PathBuf]) -> io::Result<()> {
    for path in extra {
        std::fs::remove_file(out.join(path))?;
        // Directories left empty go too, up to (not including) `out`.
        let mut dir = out.join(path);
        while dir.pop() && dir != out && dir.starts_with(out) {
            if std::fs::read_dir(&dir)?.next().is_some() {
                break;
            }
            std::fs::remove_dir(&dir)?;
        }
    }
    Ok(())
}
