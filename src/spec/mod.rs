//! Spec loading: reads a spec directory (the registry and every suite file) into located
//! YAML trees and checks everything that does not depend on a protocol.
//!
//! Per-protocol resolution (labels, overrides, dialect rewriting) happens in
//! [`crate::plan::compile`], which reports into the same diagnostics.

pub mod http;
pub mod step;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostics, did_you_mean};
use crate::registry::{self, Priority, Registry};
use crate::source::{FileId, SourceMap, Span, display_root, join_display};
use crate::yaml::decode::{self, Fields};
use crate::yaml::{self, Node, NodeKind};

/// The registry file's name inside a spec directory.
pub const REGISTRY_FILE: &str = "matrix.yaml";

/// The registry used when a spec directory has none of its own: the project's defaults.
pub const DEFAULT_REGISTRY: &str = include_str!("../../specs/matrix.yaml");

/// A loaded spec directory.
#[derive(Debug)]
pub struct SpecSet {
    /// The spec directory as shown in output (`specs`).
    pub root_display: String,
    pub sources: SourceMap,
    pub registry: Registry,
    pub suites: Vec<Suite>,
}

/// One suite file, checked for shape; cases stay as nodes until compiled per protocol.
#[derive(Debug)]
pub struct Suite {
    pub name: String,
    pub file: FileId,
    pub span: Span,
    pub description: Option<String>,
    /// Labels the suite applies to; `None` means every SQL protocol.
    pub protocols: Option<Vec<String>>,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub only: Option<Node>,
    pub skip: Option<Node>,
    pub fixtures: BTreeMap<String, Fixture>,
    pub cases: Vec<Case>,
}

#[derive(Debug)]
pub struct Fixture {
    pub name: String,
    pub span: Span,
    pub setup: Vec<Node>,
    pub teardown: Vec<Node>,
}

#[derive(Debug)]
pub struct Case {
    pub id: String,
    pub node: Node,
}

/// The registry of the spec directory `root` alone, without its suites, or `None` when it
/// does not decode; its diagnostics are left to [`load`], which reads it again.
pub fn registry(root: &Path) -> Option<Registry> {
    let mut diags = Diagnostics::default();
    let node = registry_node(&mut SourceMap::default(), root, &mut diags)?;
    let registry = Registry::decode(&node, &mut diags);
    (!diags.has_errors()).then_some(registry)
}

/// `root`'s matrix.yaml as YAML, or the built-in one where it has none.
fn registry_node(sources: &mut SourceMap, root: &Path, diags: &mut Diagnostics) -> Option<Node> {
    let path = root.join(REGISTRY_FILE);
    if path.is_file() {
        return read_yaml(sources, &display_root(root), root, &path, diags);
    }
    let id = sources.add(
        "<built-in matrix.yaml>".to_string(),
        PathBuf::from(REGISTRY_FILE),
        Arc::from(DEFAULT_REGISTRY),
    );
    yaml::parse(DEFAULT_REGISTRY, id, diags)
}

/// Loads `root`. Returns the set even when there are errors, so callers can report all of
/// them; check `diags.has_errors()` before using it.
pub fn load(root: &Path, cli_labels: &[String], diags: &mut Diagnostics) -> SpecSet {
    let root_display = display_root(root);
    let mut set = SpecSet {
        root_display: root_display.clone(),
        sources: SourceMap::default(),
        registry: Registry::default(),
        suites: Vec::new(),
    };
    if !root.is_dir() {
        diags.error_unlocated(format!(
            "spec directory `{}` does not exist",
            root.display()
        ));
        return set;
    }

    let registry_path = root.join(REGISTRY_FILE);
    let registry_node = registry_node(&mut set.sources, root, diags);
    if let Some(node) = registry_node {
        set.registry = Registry::decode(&node, diags);
    }

    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|entry| match entry {
            Ok(e) => Some(e),
            Err(e) => {
                diags.error_unlocated(format!("cannot read {}: {e}", root.display()));
                None
            }
        })
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .filter(|p| p != &registry_path)
        .collect();
    paths.sort();

    let known_labels = set.registry.known_labels(cli_labels);
    // Reading assigns file ids, in path order; parsing and decoding, the bulk of loading a
    // large spec set, run on every core; the checks across files run in path order again.
    let files: Vec<(PathBuf, FileId, Arc<str>)> = paths
        .into_iter()
        .filter_map(|path| {
            let (id, text) = read_source(&mut set.sources, &root_display, root, &path, diags)?;
            Some((path, id, text))
        })
        .collect();
    let decoded = parallel_map(&files, |(path, id, text)| {
        let mut d = Diagnostics::default();
        let suite = yaml::parse(text, *id, &mut d).and_then(|node| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let suite = decode_suite(&node, stem, &mut d);
            check_labels(&node, &known_labels, &mut d);
            suite
        });
        (suite, d)
    });
    let mut ids: BTreeMap<String, Span> = BTreeMap::new();
    let mut suite_names: BTreeMap<String, Span> = BTreeMap::new();
    for (suite, d) in decoded {
        diags.extend(d);
        let Some(suite) = suite else {
            continue;
        };
        if let Some(first) = suite_names.get(&suite.name) {
            diags
                .error(suite.span, format!("duplicate suite name `{}`", suite.name))
                .help(format!("also used by {}", set.sources.location(*first)));
        } else {
            suite_names.insert(suite.name.clone(), suite.span);
        }
        for case in &suite.cases {
            let span = case.node.get("id").map_or(case.node.span, |n| n.span);
            if let Some(first) = ids.get(&case.id) {
                diags
                    .error(span, format!("duplicate case id `{}`", case.id))
                    .label("second use")
                    .help(format!("first used at {}", set.sources.location(*first)));
            } else {
                ids.insert(case.id.clone(), span);
            }
        }
        set.suites.push(suite);
    }
    set
}

/// `f` over `items` on every core, the results in the items' order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Reads a file as UTF-8 YAML; invalid bytes are a located error, never a panic.
fn read_yaml(
    sources: &mut SourceMap,
    root_display: &str,
    root: &Path,
    path: &Path,
    diags: &mut Diagnostics,
) -> Option<Node> {
    let (id, text) = read_source(sources, root_display, root, path, diags)?;
    yaml::parse(&text, id, diags)
}

/// Reads a file into the source map as UTF-8; invalid bytes are a located error.
fn read_source(
    sources: &mut SourceMap,
    root_display: &str,
    root: &Path,
    path: &Path,
    diags: &mut Diagnostics,
) -> Option<(FileId, Arc<str>)> {
    let relative = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let display = join_display(root_display, &relative);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            diags.error_unlocated(format!("cannot read {display}: {e}"));
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => {
            let text: Arc<str> = Arc::from(text);
            let id = sources.add(display, relative, text.clone());
            Some((id, text))
        }
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let lossy: Arc<str> = Arc::from(String::from_utf8_lossy(&bytes).into_owned());
            let prefix = String::from_utf8_lossy(&bytes[..valid]);
            let line = prefix.matches('\n').count() + 1;
            let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let start = prefix.len();
            let id = sources.add(display, relative, lossy);
            diags.error(
                Span {
                    file: id,
                    start,
                    end: start + 1,
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    col: u32::try_from(col).unwrap_or(u32::MAX),
                },
                "the file is not valid UTF-8",
            );
            None
        }
    }
}

fn decode_suite(node: &Node, stem: String, d: &mut Diagnostics) -> Option<Suite> {
    let mut f = Fields::of(node, "a suite file", d)?;
    let name = f
        .get("suite")
        .and_then(|n| decode::string(n, "suite", d))
        .unwrap_or(stem);
    let description = f
        .get("description")
        .and_then(|n| decode::string(n, "description", d));
    let protocols = f
        .get("protocols")
        .and_then(|n| decode::strings(n, "protocols", d));
    let priority = f
        .get("priority")
        .and_then(|n| registry::priority(n, d))
        .unwrap_or(Priority::P1);
    let tags = f
        .get("tags")
        .and_then(|n| decode::strings(n, "tags", d))
        .unwrap_or_default();
    let only = f.get("only").cloned();
    let skip = f.get("skip").cloned();
    let mut fixtures = BTreeMap::new();
    if let Some(fx) = f.get("fixtures")
        && let Some(ff) = Fields::of(fx, "fixtures", d)
    {
        for (key, value) in ff.keys() {
            let fname = key.as_str().unwrap_or_default().to_string();
            if let Some(fixture) = decode_fixture(&fname, key.span, value, d) {
                fixtures.insert(fname, fixture);
            }
        }
    }
    let mut cases = Vec::new();
    match f.get("cases") {
        Some(list) => {
            if let Some(items) = decode::list(list, "cases", d) {
                for item in items {
                    if let Some(case) = decode_case_header(item, &fixtures, d) {
                        cases.push(case);
                    }
                }
            }
        }
        None => {
            d.error(node.span, "a suite file needs `cases:`");
        }
    }
    f.finish(d);
    Some(Suite {
        name,
        file: node.span.file,
        span: node.span,
        description,
        protocols,
        priority,
        tags,
        only,
        skip,
        fixtures,
        cases,
    })
}

fn decode_fixture(name: &str, span: Span, node: &Node, d: &mut Diagnostics) -> Option<Fixture> {
    if !crate::files::is_file_safe(name) {
        d.error(
            span,
            format!("fixture name `{name}` must be letters, digits, `_`, `-` or `.`"),
        );
    }
    let mut f = Fields::of(node, "a fixture", d)?;
    let mut steps = |key: &'static str, f: &mut Fields<'_>| -> Vec<Node> {
        f.get(key)
            .and_then(|n| decode::list(n, key, d))
            .map(|items| items.to_vec())
            .unwrap_or_default()
    };
    let setup = steps("setup", &mut f);
    let teardown = steps("teardown", &mut f);
    f.finish(d);
    Some(Fixture {
        name: name.to_string(),
        span,
        setup,
        teardown,
    })
}

/// Checks what a case must have whatever the protocol: an id, and fixtures that exist.
fn decode_case_header(
    node: &Node,
    fixtures: &BTreeMap<String, Fixture>,
    d: &mut Diagnostics,
) -> Option<Case> {
    if node.entries().is_none() {
        d.error(
            node.span,
            format!("a case must be a mapping, found {}", node.type_name()),
        );
        return None;
    }
    let id = match node.get("id") {
        Some(n) => decode::string(n, "id", d)?,
        None => {
            d.error(node.span, "this case has no `id`");
            return None;
        }
    };
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        let span = node.get("id").map_or(node.span, |n| n.span);
        d.error(span, format!("case id `{id}` must be one word (no spaces)"));
    }
    if node.get("name").is_none_or(Node::is_null) {
        d.error(node.span, format!("case `{id}` has no `name`"));
    }
    if let Some(list) = node.get("fixtures") {
        let items: Vec<&Node> = match &list.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![list],
        };
        for item in items {
            if let Some(fname) = item.as_str()
                && !fixtures.contains_key(fname)
            {
                let diag = d.error(item.span, format!("unknown fixture `{fname}`"));
                match did_you_mean(fname, fixtures.keys().map(String::as_str)) {
                    Some(s) => diag.help(format!("did you mean `{s}`?")),
                    None => diag.help("fixtures are declared under the suite's `fixtures:`"),
                };
            }
        }
    }
    Some(Case {
        id,
        node: node.clone(),
    })
}

/// Warns about labels in `on`, `only`, `skip`, `xfail` and `protocols` that name nothing.
fn check_labels(node: &Node, known: &[String], d: &mut Diagnostics) {
    let NodeKind::Map(entries) = &node.kind else {
        if let NodeKind::Seq(items) = &node.kind {
            for item in items {
                check_labels(item, known, d);
            }
        }
        return;
    };
    for (key, value) in entries {
        let label_nodes: Vec<&Node> = match key.as_str() {
            Some("on" | "xfail") => value
                .entries()
                .map(|e| e.iter().map(|(k, _)| k).collect())
                .unwrap_or_default(),
            Some("only" | "skip" | "protocols") => match &value.kind {
                NodeKind::Seq(items) => items.iter().collect(),
                NodeKind::Map(e) => e.iter().map(|(k, _)| k).collect(),
                NodeKind::Scalar(_) => vec![value],
            },
            _ => Vec::new(),
        };
        for label in label_nodes {
            let Some(name) = label.as_str() else { continue };
            if !known.iter().any(|k| k == name) {
                let diag = d.warning(
                    label.span,
                    format!("label `{name}` names no protocol, tier, dialect or declared label"),
                );
                match did_you_mean(name, known.iter().map(String::as_str)) {
                    Some(s) => diag.help(format!(
                        "did you mean `{s}`? (declare your own labels in matrix.yaml `labels:`)"
                    )),
                    None => diag
                        .help("declare your own labels in matrix.yaml `labels:` or pass `--label`"),
                };
            }
        }
        check_labels(value, known, d);
    }
}
