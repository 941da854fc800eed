//! Small typed readers over located YAML nodes. Each reports a located diagnostic and
//! returns `None` on a mismatch, so decoding carries on and every problem is reported.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use crate::diag::{Diagnostics, did_you_mean};
use crate::value::Scalar;
use crate::yaml::{Node, NodeKind};

/// The keys of one mapping, read one by one; whatever is left at [`Fields::finish`] is an
/// unknown key.
pub struct Fields<'a> {
    entries: Vec<(&'a Node, &'a Node)>,
    used: Vec<bool>,
    known: Vec<&'static str>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    /// Reads `node` as a mapping; reports an error when it is something else.
    pub fn of(node: &'a Node, what: &'static str, d: &mut Diagnostics) -> Option<Self> {
        match node.entries() {
            Some(entries) => Some(Self::from_entries(
                entries.iter().map(|(k, v)| (k, v)).collect(),
                what,
            )),
            None => {
                d.error(
                    node.span,
                    format!("{what} must be a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// Reads an already merged view (base entries with an override applied).
    pub fn from_entries(entries: Vec<(&'a Node, &'a Node)>, what: &'static str) -> Self {
        let used = vec![false; entries.len()];
        Self {
            entries,
            used,
            known: Vec::new(),
            what,
        }
    }

    /// The value under `key`; `null` counts as absent (it is how overrides remove keys).
    pub fn get(&mut self, key: &'static str) -> Option<&'a Node> {
        self.node(key).filter(|n| !n.is_null())
    }

    /// The value under `key`, even when it is `null`.
    pub fn node(&mut self, key: &'static str) -> Option<&'a Node> {
        self.known.push(key);
        let index = self
            .entries
            .iter()
            .position(|(k, _)| k.as_str() == Some(key))?;
        self.used[index] = true;
        Some(self.entries[index].1)
    }

    /// The key node itself, for diagnostics that point at a key.
    pub fn key_node(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| *k)
    }

    pub fn keys(&self) -> impl Iterator<Item = (&'a Node, &'a Node)> + '_ {
        self.entries.iter().copied()
    }

    /// Marks keys handled elsewhere (e.g. `on`, `only`, `skip`) as known.
    pub fn allow(&mut self, keys: &[&'static str]) {
        for key in keys {
            let _ = self.node(key);
        }
    }

    /// Reports every key nobody asked for.
    pub fn finish(self, d: &mut Diagnostics) {
        for ((key, _), used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let name = key.as_str().unwrap_or("?");
            let diag = d.error(key.span, format!("unknown key `{name}` in {}", self.what));
            diag.label("not a key of this mapping");
            match did_you_mean(name, self.known.iter().copied()) {
                Some(s) => diag.help(format!("did you mean `{s}`?")),
                None => diag.help(format!("known keys: {}", self.known.join(", "))),
            };
        }
    }
}

fn mismatch(node: &Node, expected: &str, what: &str, d: &mut Diagnostics) {
    d.error(
        node.span,
        format!("{what} must be {expected}, found {}", node.type_name()),
    );
}

pub fn string(node: &Node, what: &str, d: &mut Diagnostics) -> Option<String> {
    match &node.kind {
        NodeKind::Scalar(Scalar::Text(s)) => Some(s.clone()),
        // Numbers and booleans written where text is expected are read as their text
        // (`name: 2024` is a fine name), but not lists or mappings.
        NodeKind::Scalar(Scalar::Int(i)) => Some(i.to_string()),
        NodeKind::Scalar(Scalar::Float(f)) => Some(f.to_string()),
        NodeKind::Scalar(Scalar::Bool(b)) => Some(b.to_string()),
        _ => {
            mismatch(node, "a string", what, d);
            None
        }
    }
}

pub fn integer(node: &Node, what: &str, d: &mut Diagnostics) -> Option<i64> {
    match &node.kind {
        NodeKind::Scalar(Scalar::Int(i)) => Some(*i),
        _ => {
            mismatch(node, "an integer", what, d);
            None
        }
    }
}

pub fn count(node: &Node, what: &str, d: &mut Diagnostics) -> Option<u64> {
    let i = integer(node, what, d)?;
    match u64::try_from(i) {
        Ok(n) => Some(n),
        Err(_) => {
            d.error(node.span, format!("{what} must not be negative"));
            None
        }
    }
}

pub fn float(node: &Node, what: &str, d: &mut Diagnostics) -> Option<f64> {
    match &node.kind {
        NodeKind::Scalar(Scalar::Int(i)) => Some(*i as f64),
        NodeKind::Scalar(Scalar::Float(f)) if f.is_finite() => Some(*f),
        _ => {
            mismatch(node, "a finite number", what, d);
            None
        }
    }
}

pub fn boolean(node: &Node, what: &str, d: &mut Diagnostics) -> Option<bool> {
    match &node.kind {
        NodeKind::Scalar(Scalar::Bool(b)) => Some(*b),
        _ => {
            mismatch(node, "true or false", what, d);
            None
        }
    }
}

pub fn duration(node: &Node, what: &str, d: &mut Diagnostics) -> Option<Duration> {
    let text = string(node, what, d)?;
    match humantime::parse_duration(&text) {
        Ok(dur) => Some(dur),
        Err(e) => {
            d.error(
                node.span,
                format!("{what} must be a duration like `100ms` or `1s`: {e}"),
            );
            None
        }
    }
}

/// A YAML scalar value (a cell, a parameter); lists and mappings are rejected.
pub fn scalar(node: &Node, what: &str, d: &mut Diagnostics) -> Option<Scalar> {
    match &node.kind {
        NodeKind::Scalar(Scalar::Float(f)) if !f.is_finite() => {
            d.error(node.span, format!("{what} must be a finite number"));
            None
        }
        NodeKind::Scalar(s) => Some(s.clone()),
        _ => {
            mismatch(node, "a scalar (string, number, boolean or null)", what, d);
            None
        }
    }
}

pub fn list<'a>(node: &'a Node, what: &str, d: &mut Diagnostics) -> Option<&'a [Node]> {
    match node.items() {
        Some(items) => Some(items),
        None => {
            mismatch(node, "a list", what, d);
            None
        }
    }
}

/// A list of strings; a single string is accepted as a one-element list.
pub fn strings(node: &Node, what: &str, d: &mut Diagnostics) -> Option<Vec<String>> {
    match &node.kind {
        NodeKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for item in items {
                match string(item, what, d) {
                    Some(s) => out.push(s),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        NodeKind::Scalar(Scalar::Text(s)) => Some(vec![s.clone()]),
        _ => {
            mismatch(node, "a list of strings", what, d);
            None
        }
    }
}

/// A row: a list of scalars.
pub fn row(node: &Node, what: &str, d: &mut Diagnostics) -> Option<Vec<Scalar>> {
    let items = list(node, what, d)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match scalar(item, "a cell", d) {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

pub fn rows(node: &Node, what: &str, d: &mut Diagnostics) -> Option<Vec<Vec<Scalar>>> {
    let items = list(node, what, d)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match row(item, "each row", d) {
            Some(r) => out.push(r),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Converts a node to JSON, for the free-form parts of vector steps (metadata, filters).
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.kind {
        NodeKind::Scalar(Scalar::Null) => J::Null,
        NodeKind::Scalar(Scalar::Bool(b)) => J::Bool(*b),
        NodeKind::Scalar(Scalar::Int(i)) => J::from(*i),
        NodeKind::Scalar(Scalar::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(J::Null, J::Number)
        }
        NodeKind::Scalar(Scalar::Text(s)) => J::String(s.clone()),
        NodeKind::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

/// Normalises SQL text: surrounding blank space carries no meaning, and trimming it keeps
/// YAML block scalars (`|`, which add a trailing newline) and their plain twins identical.
pub fn sql(node: &Node, what: &str, d: &mut Diagnostics) -> Option<String> {
    let text = string(node, what, d)?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        d.error(node.span, format!("{what} is empty"));
        return None;
    }
    Some(trimmed.to_string())
}

/// Whether `s` contains a minijinja expression or statement. A reader checks such text
/// only for what it can know before it is rendered (see `step::template`).
pub fn has_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// A map of header names to values (numbers and booleans read as their text). Names are
/// case-insensitive, so two that differ only in case are an error.
pub fn headers(node: &Node, d: &mut Diagnostics) -> Option<BTreeMap<String, String>> {
    let f = Fields::of(node, "headers", d)?;
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut ok = true;
    for (key, value) in f.keys() {
        let name = key.as_str().unwrap_or_default().to_string();
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            d.error(
                key.span,
                format!("`{name}` is not a valid HTTP header name"),
            );
            ok = false;
            continue;
        }
        if let Some(other) = out.keys().find(|k| k.eq_ignore_ascii_case(&name)) {
            d.error(
                key.span,
                format!(
                    "header `{name}` is given twice (as `{other}` too; header names ignore case)"
                ),
            );
            ok = false;
            continue;
        }
        let Some(text) = string(value, "a header value", d) else {
            ok = false;
            continue;
        };
        if !has_template(&text) && HeaderValue::from_str(&text).is_err() {
            d.error(
                value.span,
                format!("the value of header `{name}` is not valid in HTTP (visible ASCII only)"),
            );
            ok = false;
            continue;
        }
        out.insert(name, text);
    }
    ok.then_some(out)
}
