//! A YAML tree that remembers where every node came from.
//!
//! Built from saphyr-parser's event stream (rather than a serde `Value`) because located
//! diagnostics need the span of every key and value, duplicate keys must be caught instead of
//! silently overwritten, and scalars must keep their YAML 1.2 type (`100` vs `"100"`).

pub mod decode;
pub mod emit;

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::Scalar as YamlScalar;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span as YamlSpan};

use crate::diag::Diagnostics;
use crate::source::{FileId, Span};
use crate::value::Scalar;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in document order; keys are nodes so their spans survive.
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(Scalar::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar(Scalar::Null))
    }

    pub fn entries(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// What kind of YAML value this is, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) => s.type_name(),
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// Converts saphyr's character-based markers into byte offsets of the source text.
struct Offsets<'a> {
    text: &'a str,
    /// Byte offset of each char, built only for non-ASCII text.
    table: Option<Vec<usize>>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        let table = (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect());
        Self { text, table }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.text.len()),
            Some(t) => t.get(char_index).copied().unwrap_or(self.text.len()),
        }
    }

    fn span(&self, file: FileId, start: Marker, end: Marker) -> Span {
        let start_byte = self.byte(start.index());
        Span {
            file,
            start: start_byte,
            end: self.byte(end.index()).max(start_byte),
            line: u32::try_from(start.line()).unwrap_or(u32::MAX),
            col: u32::try_from(start.col() + 1).unwrap_or(u32::MAX),
        }
    }
}

enum Frame {
    Seq {
        start: Marker,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Marker,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

/// Parses one YAML document. Syntax errors, duplicate keys, multiple documents and bad
/// scalars are reported to `diags`; the tree is returned only when the file parsed.
pub fn parse(text: &str, file: FileId, diags: &mut Diagnostics) -> Option<Node> {
    let offsets = Offsets::new(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut ok = true;

    for event in Parser::new_from_str(text) {
        let (event, yspan): (Event<'_>, YamlSpan) = match event {
            Ok(e) => e,
            Err(err) => {
                let m = err.marker();
                let span = offsets.span(file, *m, *m);
                diags
                    .error(span, format!("invalid YAML: {}", err.info()))
                    .label("the parser stopped here");
                return None;
            }
        };
        let completed: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    diags
                        .error(
                            offsets.span(file, yspan.start, yspan.end),
                            "a spec file holds one YAML document; found a second one",
                        )
                        .help("split the documents into separate files");
                    ok = false;
                }
                None
            }
            Event::Alias(id) => {
                let span = offsets.span(file, yspan.start, yspan.end);
                match anchors.get(&id) {
                    Some(node) => Some((
                        Node {
                            span,
                            kind: node.kind.clone(),
                        },
                        0,
                    )),
                    None => {
                        diags.error(span, "alias refers to an unknown anchor");
                        ok = false;
                        Some((
                            Node {
                                span,
                                kind: NodeKind::Scalar(Scalar::Null),
                            },
                            0,
                        ))
                    }
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let span = offsets.span(file, yspan.start, yspan.end);
                let scalar = resolve_scalar(value, style, tag.as_ref());
                let scalar = match scalar {
                    Some(s) => s,
                    None => {
                        diags.error(span, "this scalar does not match its tag");
                        ok = false;
                        Scalar::Null
                    }
                };
                Some((
                    Node {
                        span,
                        kind: NodeKind::Scalar(scalar),
                    },
                    anchor,
                ))
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq {
                    start: yspan.start,
                    anchor,
                    items: Vec::new(),
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map {
                    start: yspan.start,
                    anchor,
                    entries: Vec::new(),
                    pending_key: None,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq {
                    start,
                    anchor,
                    items,
                }) => Some((
                    Node {
                        span: offsets.span(file, start, yspan.end),
                        kind: NodeKind::Seq(items),
                    },
                    anchor,
                )),
                Some(Frame::Map {
                    start,
                    anchor,
                    entries,
                    ..
                }) => Some((
                    Node {
                        span: offsets.span(file, start, yspan.end),
                        kind: NodeKind::Map(entries),
                    },
                    anchor,
                )),
                None => None,
            },
        };
        let Some((node, anchor)) = completed else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => {
                if root.is_none() {
                    root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    if !matches!(key.kind, NodeKind::Scalar(Scalar::Text(_))) {
                        diags.error(
                            key.span,
                            format!("mapping keys must be strings, found {}", key.type_name()),
                        );
                        ok = false;
                    } else if let Some((first, _)) =
                        entries.iter().find(|(k, _)| k.kind == key.kind)
                    {
                        let name = key.as_str().unwrap_or_default().to_string();
                        diags
                            .error(key.span, format!("duplicate key `{name}`"))
                            .label("second occurrence")
                            .help(format!(
                                "`{name}` is already set on line {}",
                                first.span.line
                            ));
                        ok = false;
                    }
                    entries.push((key, node));
                }
            },
        }
    }

    if !ok {
        return None;
    }
    if root.is_none() {
        let span = offsets.span(file, Marker::new(0, 1, 0), Marker::new(0, 1, 0));
        diags.error(span, "the file is empty");
    }
    root
}

fn resolve_scalar(
    value: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Cow<'_, saphyr_parser::Tag>>,
) -> Option<Scalar> {
    let scalar = YamlScalar::parse_from_cow_and_metadata(value, style, tag)?;
    Some(match scalar {
        YamlScalar::Null => Scalar::Null,
        YamlScalar::Boolean(b) => Scalar::Bool(b),
        YamlScalar::Integer(i) => Scalar::Int(i),
        YamlScalar::FloatingPoint(f) => Scalar::Float(f.into_inner()),
        YamlScalar::String(s) => Scalar::Text(s.into_owned()),
    })
}

/// Reads a plain YAML scalar the way a spec file would: `"{{ i }}"` rendered to `7` becomes
/// the integer 7, `x7` stays text. Used to give rendered template values their YAML type.
pub fn plain_scalar(text: &str) -> Scalar {
    resolve_scalar(Cow::Borrowed(text), ScalarStyle::Plain, None)
        .unwrap_or_else(|| Scalar::Text(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        let mut d = Diagnostics::default();
        let node = parse(text, FileId(0), &mut d);
        assert!(!d.has_errors(), "{:?}", d.items());
        node.expect("parsed")
    }

    #[test]
    fn keeps_types_and_positions() {
        let node = parse_ok("a: 1\nb: \"1\"\nc: [x, null, 1.5, true]\n");
        assert_eq!(node.get("a").and_then(Node::scalar), Some(&Scalar::Int(1)));
        assert_eq!(
            node.get("b").and_then(Node::scalar),
            Some(&Scalar::Text("1".into()))
        );
        let c = node.get("c").expect("c");
        assert_eq!(c.span.line, 3);
        assert_eq!(c.span.col, 4);
        let items = c.items().expect("list");
        assert_eq!(items[1].scalar(), Some(&Scalar::Null));
        assert_eq!(items[2].scalar(), Some(&Scalar::Float(1.5)));
        assert_eq!(items[3].scalar(), Some(&Scalar::Bool(true)));
    }

    #[test]
    fn on_is_a_string_key() {
        let node = parse_ok("on: {mysql: 1}\n");
        assert!(node.get("on").is_some());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let mut d = Diagnostics::default();
        assert!(parse("a: 1\na: 2\n", FileId(0), &mut d).is_none());
        assert!(d.items()[0].message.contains("duplicate key `a`"));
        assert_eq!(d.items()[0].span.map(|s| s.line), Some(2));
    }

    #[test]
    fn syntax_errors_are_located() {
        let mut d = Diagnostics::default();
        assert!(parse("a: [1, 2\nb: 3\n", FileId(0), &mut d).is_none());
        assert!(d.items()[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn non_ascii_offsets_are_bytes() {
        let text = "name: \"héllo\"\nnext: 1\n";
        let node = parse_ok(text);
        let next = node.get("next").expect("next");
        assert_eq!(&text[next.span.start..next.span.end], "1");
    }

    #[test]
    fn plain_scalar_typing() {
        assert_eq!(plain_scalar("7"), Scalar::Int(7));
        assert_eq!(plain_scalar("x7"), Scalar::Text("x7".into()));
        assert_eq!(plain_scalar("0.5"), Scalar::Float(0.5));
        assert_eq!(plain_scalar("null"), Scalar::Null);
    }
}
