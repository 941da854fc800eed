//! Text edits on YAML mappings at the spans the reader tracked: replace a value, remove an
//! entry, add one. Everything outside the edited regions (comments, blank lines, key
//! order, quoting) stays byte for byte as it was.

use crate::yaml::{Node, NodeKind};

/// A value to write, as YAML text.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    /// Text that reads the same in block and flow context: `42`, `[a, b]`, `{class: x}`.
    Flow(String),
    /// A list of flow items, written one per line in block context (`rows:` as a person
    /// writes a result) and as `[a, b]` in flow context.
    List(Vec<String>),
    /// A mapping, one entry per line in block context (a new `on:`).
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    /// The value as flow text: `[[1, a], [2, b]]`, `{mysql: {rows: []}}`.
    pub fn flow(&self) -> String {
        match self {
            Yaml::Flow(text) => text.clone(),
            Yaml::List(items) => format!("[{}]", items.join(", ")),
            Yaml::Map(entries) => {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.flow()))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }
        }
    }

    /// `key: value` in a block mapping whose keys sit at `indent`.
    fn block_entry(&self, key: &str, indent: usize) -> String {
        let inner = " ".repeat(indent + 2);
        match self {
            Yaml::Flow(_) => format!("{key}: {}", self.flow()),
            Yaml::List(items) if items.is_empty() => format!("{key}: []"),
            Yaml::List(items) => {
                let mut out = format!("{key}:");
                for item in items {
                    out.push_str(&format!("\n{inner}- {item}"));
                }
                out
            }
            Yaml::Map(entries) => {
                let mut out = format!("{key}:");
                for (k, v) in entries {
                    out.push('\n');
                    out.push_str(&inner);
                    out.push_str(&v.block_entry(k, indent + 2));
                }
                out
            }
        }
    }
}

/// One replacement of the text's bytes `start..end`. Edits are collected against the
/// original text and applied together.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Applies edits made against `text`; `Err` when two of them overlap (a bug in whoever
/// made them, reported rather than guessed at).
pub fn apply(text: &str, mut edits: Vec<Edit>) -> Result<String, String> {
    // Stable: insertions at one position keep the order they were made in.
    edits.sort_by_key(|e| (e.start, e.end));
    for pair in edits.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(format!(
                "two edits overlap at bytes {}..{} and {}..{}",
                pair[0].start, pair[0].end, pair[1].start, pair[1].end
            ));
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for edit in &edits {
        out.push_str(&text[at..edit.start]);
        out.push_str(&edit.text);
        at = edit.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// A mapping node of `text`, to edit.
pub struct MapEdit<'a> {
    text: &'a str,
    node: &'a Node,
    entries: &'a [(Node, Node)],
    flow: bool,
}

impl<'a> MapEdit<'a> {
    pub fn new(text: &'a str, node: &'a Node) -> Option<Self> {
        let entries = node.entries()?;
        Some(Self {
            text,
            node,
            entries,
            flow: is_flow(text, node),
        })
    }

    fn entry(&self, key: &str) -> Option<(usize, &'a (Node, Node))> {
        self.entries
            .iter()
            .enumerate()
            .find(|(_, (k, _))| k.as_str() == Some(key))
    }

    pub fn has(&self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    /// Sets `key` to `value`: its value replaced where the key exists (a block list stays
    /// a block list at its own indentation), otherwise a new last entry.
    pub fn set(&self, key: &str, value: &Yaml, removed: &[&str]) -> Edit {
        let Some((_, (k, v))) = self.entry(key) else {
            return self.insert(key, value, removed);
        };
        let colon = self.text[k.span.end..]
            .find(':')
            .map_or(k.span.end, |i| k.span.end + i + 1);
        let end = content_end(self.text, v);
        let text = match value {
            Yaml::List(items) if !self.flow && !items.is_empty() && is_block_list(self.text, v) => {
                let indent = " ".repeat(line_indent(self.text, v.span.start));
                items.iter().map(|i| format!("\n{indent}- {i}")).collect()
            }
            Yaml::List(_) | Yaml::Flow(_) => format!(" {}", value.flow()),
            Yaml::Map(_) if self.flow => format!(" {}", value.flow()),
            Yaml::Map(_) => {
                let indent = self.indent();
                let entry = value.block_entry(key, indent);
                entry
                    .strip_prefix(key)
                    .and_then(|e| e.strip_prefix(':'))
                    .unwrap_or(&entry)
                    .to_string()
            }
        };
        Edit {
            start: colon,
            end,
            text,
        }
    }

    /// Adds `key: value` after the last entry not in `removed` (so it never lands inside
    /// a removed entry).
    fn insert(&self, key: &str, value: &Yaml, removed: &[&str]) -> Edit {
        let anchor = self
            .entries
            .iter()
            .rev()
            .find(|(k, _)| !k.as_str().is_some_and(|k| removed.contains(&k)));
        if self.flow {
            return match anchor {
                Some((_, v)) => {
                    let at = content_end(self.text, v);
                    Edit {
                        start: at,
                        end: at,
                        text: format!(", {key}: {}", value.flow()),
                    }
                }
                None => {
                    let at = self.node.span.start + 1;
                    Edit {
                        start: at,
                        end: at,
                        text: format!("{key}: {}", value.flow()),
                    }
                }
            };
        }
        let indent = self.indent();
        // After the anchor's line, so a comment ending that line stays with it.
        let at = anchor.map_or(self.node.span.end, |(_, v)| {
            line_end(self.text, content_end(self.text, v))
        });
        Edit {
            start: at,
            end: at,
            text: format!("\n{}{}", " ".repeat(indent), value.block_entry(key, indent)),
        }
    }

    /// Removes `key`'s entry; `None` when there is none, or when it shares its line with
    /// something that must stay (a block entry after a list dash).
    pub fn remove(&self, key: &str) -> Option<Edit> {
        let (index, (k, v)) = self.entry(key)?;
        if self.flow {
            let (start, end) = match (self.entries.get(index + 1), index.checked_sub(1)) {
                (Some((next, _)), _) => (k.span.start, next.span.start),
                (None, Some(prev)) => (
                    content_end(self.text, &self.entries[prev].1),
                    content_end(self.text, v),
                ),
                (None, None) => (k.span.start, content_end(self.text, v)),
            };
            return Some(Edit {
                start,
                end,
                text: String::new(),
            });
        }
        let start = line_start(self.text, k.span.start);
        if !self.text[start..k.span.start].trim().is_empty() {
            return None;
        }
        let end = line_end(self.text, content_end(self.text, v));
        let end = (end + 1).min(self.text.len());
        Some(Edit {
            start,
            end,
            text: String::new(),
        })
    }

    /// Column (0-based) of the mapping's keys.
    fn indent(&self) -> usize {
        self.entries.first().map_or(0, |(k, _)| {
            k.span.start - line_start(self.text, k.span.start)
        })
    }
}

/// Whether a collection is written in flow style (`[…]`, `{…}`).
fn is_flow(text: &str, node: &Node) -> bool {
    matches!(text.as_bytes().get(node.span.start), Some(b'[' | b'{'))
}

fn is_block_list(text: &str, node: &Node) -> bool {
    matches!(node.kind, NodeKind::Seq(_)) && !is_flow(text, node)
}

/// Where a node's own text ends: a block collection ends with its last child (the
/// reader's end marker sits at the next token, past comments and indentation).
pub fn content_end(text: &str, node: &Node) -> usize {
    let last_child = match &node.kind {
        NodeKind::Map(entries) if !is_flow(text, node) => entries.last().map(|(_, v)| v),
        NodeKind::Seq(items) if !is_flow(text, node) => items.last(),
        _ => None,
    };
    if let Some(child) = last_child {
        return content_end(text, child);
    }
    let end = node.span.end.min(text.len());
    let trimmed = text[node.span.start.min(end)..end].trim_end();
    node.span.start.min(end) + trimmed.len()
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |i| at + i)
}

/// Spaces before the first non-space of `at`'s line.
fn line_indent(text: &str, at: usize) -> usize {
    let start = line_start(text, at);
    text[start..].bytes().take_while(|b| *b == b' ').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostics;
    use crate::source::FileId;

    fn parsed(text: &str) -> Node {
        let mut d = Diagnostics::default();
        crate::yaml::parse(text, FileId(0), &mut d).expect("parses")
    }

    fn step(root: &Node) -> &Node {
        &root.get("steps").and_then(Node::items).expect("steps")[0]
    }

    #[test]
    fn block_values_are_replaced_where_they_stand() {
        let text = "steps:\n  - query: SELECT 1  # one\n    rows:\n      - [1]\n      - [2]\n    # after rows\n    sort: rows\n";
        let root = parsed(text);
        let map = MapEdit::new(text, step(&root)).expect("map");
        let rows = Yaml::List(vec!["[3]".into(), "[4]".into()]);
        let out = apply(text, vec![map.set("rows", &rows, &[])]).expect("applies");
        assert_eq!(
            out,
            "steps:\n  - query: SELECT 1  # one\n    rows:\n      - [3]\n      - [4]\n    # after rows\n    sort: rows\n"
        );
        let out = apply(
            text,
            vec![map.set("sort", &Yaml::Flow("values".into()), &[])],
        )
        .expect("applies");
        assert!(out.ends_with("    sort: values\n"), "{out}");
    }

    #[test]
    fn flow_values_stay_flow() {
        let text = "steps:\n  - {query: SELECT 1, rows: [[1]]}\n";
        let root = parsed(text);
        let map = MapEdit::new(text, step(&root)).expect("map");
        let rows = Yaml::List(vec!["[2]".into()]);
        let edits = vec![
            map.set("rows", &rows, &[]),
            map.set("types", &Yaml::Flow("[integer]".into()), &[]),
        ];
        assert_eq!(
            apply(text, edits).expect("applies"),
            "steps:\n  - {query: SELECT 1, rows: [[2]], types: [integer]}\n"
        );
        let removed = map.remove("rows").expect("removes");
        assert_eq!(
            apply(text, vec![removed]).expect("applies"),
            "steps:\n  - {query: SELECT 1}\n"
        );
    }

    #[test]
    fn entries_are_added_after_the_last_kept_one_and_removed_whole_lines() {
        let text = "steps:\n  - statement: INSERT INTO t VALUES (1)\n    count: 2   # two\n    error: {class: x}\nnext: 1\n";
        let root = parsed(text);
        let map = MapEdit::new(text, step(&root)).expect("map");
        let edits = vec![
            map.remove("error").expect("removes"),
            map.set("count", &Yaml::Flow("1".into()), &["error"]),
        ];
        assert_eq!(
            apply(text, edits).expect("applies"),
            "steps:\n  - statement: INSERT INTO t VALUES (1)\n    count: 1   # two\nnext: 1\n"
        );
        let on = Yaml::Map(vec![("mysql".into(), Yaml::Flow("{count: 3}".into()))]);
        let added = map.set("on", &on, &[]);
        assert_eq!(
            apply(text, vec![added]).expect("applies"),
            "steps:\n  - statement: INSERT INTO t VALUES (1)\n    count: 2   # two\n    error: {class: x}\n    on:\n      mysql: {count: 3}\nnext: 1\n"
        );
        // The first entry of a list item shares its line with the dash: not removable.
        assert!(map.remove("statement").is_none());
    }

    #[test]
    fn overlapping_edits_are_refused() {
        let edits = vec![
            Edit {
                start: 0,
                end: 4,
                text: String::new(),
            },
            Edit {
                start: 2,
                end: 2,
                text: "x".into(),
            },
        ];
        assert!(apply("abcdef", edits).is_err());
    }
}
