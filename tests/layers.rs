//! The crate's top-level modules import one another without a cycle, so data flows one
//! way (`lib.rs` draws the pipeline). A cycle fails with its path and, for each step of
//! it, the files that make the import.
//!
//! Imports are read from the source text: every `crate::…` path outside comments and
//! string literals, `use crate::{a, b::…}` groups included. `super::` paths are not
//! followed (they stay inside one top-level module here).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules `lib.rs` declares.
fn top_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs");
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// The source with comments and string and char literals blanked out.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && matches!(next, Some('"' | '#'))
            && !ident_char(chars.get(i.wrapping_sub(1)))
        {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A char literal ('x' or '\n'); a lone quote is a lifetime.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The first segments of the paths after each `crate::` in `code`.
fn crate_imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if ident_char(before.as_ref()) {
            continue; // `some_crate::`, not `crate::`
        }
        let tail = rest.trim_start();
        if let Some(group) = tail.strip_prefix('{') {
            found.extend(group_heads(group));
        } else {
            found.insert(leading_ident(tail).to_string());
        }
    }
    found
}

/// The first segment of each item of a `{…}` use group (the text after its `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_item_start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item_start = true,
            c if c.is_whitespace() => {}
            _ if at_item_start && depth == 0 => {
                heads.push(leading_ident(&group[i..]).to_string());
                at_item_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn leading_ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Top-level module → the modules it imports → the files that import them.
fn import_graph() -> Graph {
    let modules = top_modules();
    let root = src();
    let mut graph = Graph::new();
    for entry in walkdir::WalkDir::new(&root) {
        let entry = entry.expect("src/ is readable");
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(&root).expect("under src/");
        let Some(module) = top_module_of(rel) else {
            continue;
        };
        let text = std::fs::read_to_string(path).expect("source is UTF-8");
        for imported in crate_imports(&code_only(&text)) {
            if imported != module && modules.contains(&imported) {
                graph
                    .entry(module.clone())
                    .or_default()
                    .entry(imported)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    graph
}

/// `exec/postgres/mod.rs` → `exec`; `lib.rs` and `main.rs` sit above every module.
fn top_module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// A cycle as the modules along it (the first repeated at the end), if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = path.iter().position(|m| m == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            if let Some(cycle) = visit(next, graph, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut marks, &mut Vec::new()))
}

#[test]
fn the_top_level_modules_import_one_another_without_a_cycle() {
    let graph = import_graph();
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let files = &graph[&w[0]][&w[1]];
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                format!("  {} → {} (in {})", w[0], w[1], files.join(", "))
            })
            .collect();
        panic!(
            "src/ modules import each other in a cycle: {}\n{}",
            cycle.join(" → "),
            steps.join("\n")
        );
    }
}

#[test]
fn the_import_reader_sees_paths_and_groups_but_not_comments_or_strings() {
    let code = code_only(
        "use crate::plan::{Step, x};\nuse crate::{diag::D, yaml::{self, Node}, value};\n\
         // crate::spec in a comment\nlet s = \"crate::registry\"; let r = r#\"crate::run\"#;\n\
         let c = '\"'; other_crate::exec::f(); crate::target::mask(&t);\n/* crate::ci */",
    );
    let found: Vec<String> = crate_imports(&code).into_iter().collect();
    assert_eq!(found, ["diag", "plan", "target", "value", "yaml"]);
}

#[test]
fn a_cycle_is_found_with_its_path() {
    let mut graph = Graph::new();
    for (from, to) in [("spec", "plan"), ("plan", "registry"), ("registry", "spec")] {
        graph
            .entry(from.into())
            .or_default()
            .entry(to.into())
            .or_default()
            .insert(format!("{from}.rs"));
    }
    assert_eq!(
        find_cycle(&graph),
        Some(vec![
            "plan".into(),
            "registry".into(),
            "spec".into(),
            "plan".into()
        ])
    );
    graph.get_mut("registry").map(|m| m.remove("spec"));
    assert_eq!(find_cycle(&graph), None);
}
