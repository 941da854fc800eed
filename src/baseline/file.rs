//! The baseline file: read with the located YAML reader (every problem reported with
//! file:line:col, as spec problems are) and written as text with the project's emitter,
//! in a canonical order, with the comment lines a person put above an entry kept with it.

use std::path::PathBuf;
use std::sync::Arc;

use super::signature::Signature;
use super::{Baseline, Entry};
use crate::diag::Diagnostics;
use crate::source::SourceMap;
use crate::yaml::decode::{self, Fields};
use crate::yaml::emit::block_scalar;
use crate::yaml::{self, Node};

/// The first line of every baseline file.
pub const HEADER: &str = "# helios-matrix baseline: failures expected of one server, each with why. See docs/baselines.md.";

/// A baseline file that is not one: its problems rendered as diagnostics.
#[derive(Debug)]
pub struct Invalid {
    pub report: String,
    pub errors: usize,
}

/// Reads the text of a baseline file shown as `display` (its path).
pub fn parse(text: &str, display: &str) -> Result<Baseline, Invalid> {
    let mut sources = SourceMap::default();
    let file = sources.add(display.to_string(), PathBuf::from(display), Arc::from(text));
    let mut d = Diagnostics::default();
    let baseline =
        yaml::parse(text, file, &mut d).and_then(|root| decode_root(&root, text, &mut d));
    match baseline {
        Some(b) if !d.has_errors() => Ok(b),
        _ => {
            d.sort();
            Err(Invalid {
                report: d.render(&sources),
                errors: d.error_count().max(1),
            })
        }
    }
}

fn decode_root(root: &Node, text: &str, d: &mut Diagnostics) -> Option<Baseline> {
    let mut fields = Fields::of(root, "a baseline", d)?;
    let server = match fields.get("server") {
        Some(node) => decode::string(node, "`server`", d),
        None => {
            d.error(
                root.span,
                "a baseline names its server: `server: NAME` is missing",
            )
            .help("the server the baseline was taken on, e.g. `server: heliosdb-nano`");
            None
        }
    };
    let version = fields
        .get("version")
        .and_then(|node| decode::string(node, "`version`", d));
    let entries_key_line = fields.key_node("entries").map(|k| k.span.line);
    let items = match fields.get("entries") {
        Some(node) => decode::list(node, "`entries`", d).unwrap_or_default(),
        None => &[],
    };
    fields.finish(d);

    let lines: Vec<&str> = text.lines().collect();
    let comments = |from: u32, to: u32| -> Vec<String> {
        (from..to)
            .filter_map(|n| lines.get(n.saturating_sub(1) as usize))
            .map(|l| l.trim())
            .filter(|l| l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    // The head's comments (other than the header line) and, after each entry, the comment
    // lines up to the next one: they belong to the next.
    let head_end = entries_key_line.unwrap_or(u32::try_from(lines.len()).unwrap_or(u32::MAX));
    let head_comments: Vec<String> = comments(1, head_end)
        .into_iter()
        .filter(|c| c != HEADER)
        .collect();
    let mut baseline = Baseline {
        server: server.unwrap_or_default(),
        version,
        head_comments,
        ..Baseline::default()
    };
    let mut after = entries_key_line.map_or(1, |l| l + 1);
    for item in items {
        let first = item.span.line;
        let last = last_line(item, text).max(first);
        let mut entry_comments = comments(after, first);
        // Whole-line comments inside an entry travel with it too.
        entry_comments.extend(comments(first, last + 1));
        after = last + 1;
        if let Some(mut entry) = decode_entry(item, d) {
            entry.comments = entry_comments;
            let key = (entry.cell.clone(), entry.case.clone());
            if let Some(earlier) = baseline.entries.get(&key) {
                d.error(
                    item.get("case").map_or(item.span, |n| n.span),
                    format!(
                        "a second entry for case `{}` in cell `{}`",
                        entry.case, entry.cell
                    ),
                )
                .help(format!("the first is on line {}", earlier.line));
            } else {
                baseline.entries.insert(key, entry);
            }
        }
    }
    // Without `entries:` the head holds every comment.
    if entries_key_line.is_some() {
        baseline.tail_comments =
            comments(after, u32::try_from(lines.len() + 1).unwrap_or(u32::MAX));
    }
    Some(baseline)
}

fn decode_entry(item: &Node, d: &mut Diagnostics) -> Option<Entry> {
    let mut fields = Fields::of(item, "a baseline entry", d)?;
    let required =
        |key: &'static str, fields: &mut Fields<'_>, d: &mut Diagnostics| match fields.get(key) {
            Some(node) => decode::string(node, &format!("`{key}`"), d),
            None => {
                d.error(item.span, format!("a baseline entry needs `{key}:`"));
                None
            }
        };
    let cell = required("cell", &mut fields, d);
    let case = required("case", &mut fields, d);
    let mut expected: Option<Signature> = None;
    let mut stated = 0;
    for key in Signature::KEYS {
        let Some(node) = fields.get(key) else {
            continue;
        };
        stated += 1;
        if stated > 1 {
            d.error(
                fields.key_node(key).map_or(node.span, |k| k.span),
                "an entry states one failure: `error:`, `diff:`, `message:` or `message_like:`, not two",
            );
            continue;
        }
        expected =
            decode::string(node, &format!("`{key}`"), d).and_then(|text| Signature::new(key, text));
        if let Some(Signature::MessageLike(pattern)) = &expected
            && let Err(e) = super::signature::whole_line(pattern)
        {
            d.error(
                node.span,
                format!("`message_like` is not a regular expression: {e}"),
            );
        }
    }
    if stated == 0 {
        d.error(
            item.span,
            "a baseline entry states the failure it expects: `error:`, `diff:` or `message:`",
        )
        .help("e.g. `error: SQLSTATE 42883`; `helios-matrix baseline` writes them");
    }
    // An empty `reason:` is a reason not written yet.
    let reason = fields
        .get("reason")
        .and_then(|node| decode::string(node, "`reason`", d))
        .unwrap_or_default();
    fields.finish(d);
    Some(Entry {
        cell: cell?,
        case: case?,
        expected: expected?,
        reason,
        comments: Vec::new(),
        line: item.span.line,
    })
}

/// The last line a node's text is on: where its last scalar ends (a block mapping's own
/// span may reach into the comments after it).
fn last_line(node: &Node, text: &str) -> u32 {
    let end = last_end(node).min(text.len());
    // The end is one past the last character; a block scalar's may be the next line's start.
    let before = &text[..end];
    let before = before.strip_suffix('\n').unwrap_or(before);
    u32::try_from(before.matches('\n').count() + 1).unwrap_or(u32::MAX)
}

/// Where the last scalar under `node` ends. An empty value (`reason:`) ends with its key:
/// the reader places it at the next token, which may be lines further on.
fn last_end(node: &Node) -> usize {
    match &node.kind {
        yaml::NodeKind::Scalar(_) => node.span.end,
        yaml::NodeKind::Seq(items) => items.iter().map(last_end).max().unwrap_or(node.span.end),
        yaml::NodeKind::Map(entries) => entries
            .iter()
            .map(|(key, value)| {
                if value.is_null() && value.span.start == value.span.end {
                    key.span.end
                } else {
                    last_end(value)
                }
            })
            .max()
            .unwrap_or(node.span.end),
    }
}

/// The baseline as file text: the header, the server, then every entry by cell and case.
pub fn emit(baseline: &Baseline) -> String {
    let mut out = format!("{HEADER}\n");
    for comment in &baseline.head_comments {
        out.push_str(comment);
        out.push('\n');
    }
    out.push_str(&format!("server: {}\n", block_scalar(&baseline.server, 2)));
    if let Some(version) = &baseline.version {
        out.push_str(&format!("version: {}\n", block_scalar(version, 2)));
    }
    if baseline.entries.is_empty() {
        out.push_str("entries: []\n");
    } else {
        out.push_str("entries:\n");
    }
    for entry in baseline.entries.values() {
        for comment in &entry.comments {
            out.push_str(&format!("  {comment}\n"));
        }
        out.push_str(&format!("  - cell: {}\n", block_scalar(&entry.cell, 6)));
        out.push_str(&format!("    case: {}\n", block_scalar(&entry.case, 6)));
        out.push_str(&format!(
            "    {}: {}\n",
            entry.expected.key(),
            block_scalar(entry.expected.text(), 6)
        ));
        if entry.reason.is_empty() {
            out.push_str("    reason:\n");
        } else {
            out.push_str(&format!("    reason: {}\n", block_scalar(&entry.reason, 6)));
        }
    }
    for comment in &baseline.tail_comments {
        out.push_str(comment);
        out.push('\n');
    }
    out
}
