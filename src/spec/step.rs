//! Decoding one step (after label overrides are merged) into a plan [`Step`].
//!
//! The result is dialect-neutral: SQL still has `?`/`:name` placeholders and errors may
//! still name a portable class. The compiler turns it into a protocol's form.

use crate::diag::{Diagnostics, did_you_mean};
use crate::registry::{self, ErrorExpect};
use crate::spec::http;
use crate::step::{
    Action, BatchCheck, Copy, CopyRows, Fetch, Param, Query, Repeat, RowsHash, Sort, Statement,
    Step, VectorChecks, VectorOp, VectorStep,
};
use crate::value::{Compare, Scalar, TypeClass};
use crate::yaml::decode::{self, Fields};
use crate::yaml::{Node, NodeKind};

/// How many iterations a `repeat` may expand to unless it raises the cap (`limit:`): a
/// typo such as `to: 2000000000` is a compile error, not a run that never ends.
pub const REPEAT_LIMIT: u64 = 1_000_000;

/// Step kinds that are SQL or transaction control.
const SQL_KINDS: [&str; 7] = [
    "statement",
    "query",
    "begin",
    "commit",
    "rollback",
    "copy",
    "sleep",
];

/// Keys every step may carry besides its kind.
const COMMON: [&str; 6] = ["session", "repeat", "origin", "on", "only", "skip"];

/// A step the runner sends itself: an HTTP request.
const HTTP_KIND: &str = "http";

pub fn all_kinds() -> impl Iterator<Item = &'static str> {
    SQL_KINDS
        .iter()
        .copied()
        .chain(VectorOp::NAMES.iter().copied())
        .chain([HTTP_KIND])
}

/// The keys allowed beside each kind.
fn options(kind: &str) -> &'static [&'static str] {
    match kind {
        "statement" => &["params", "count", "error"],
        "query" => &[
            "params",
            "rows",
            "columns",
            "sort",
            "row_count",
            "fetch",
            "batches",
            "error",
            "cancel_after",
            "tolerance",
            "types",
            "compare",
            "rows_hash",
        ],
        "list_indexes" | "fetch_vectors" => &["contains", "count"],
        "upsert" => &["count"],
        "vector_query" => &["matches", "each_match"],
        "describe_index" | "describe_index_stats" => &["expect"],
        _ => &[],
    }
}

/// Decodes a step from its merged view. `node` is the step as written (for its span, and
/// for the bare `- begin` form).
pub fn decode(node: &Node, view: Vec<(&Node, &Node)>, d: &mut Diagnostics) -> Option<Step> {
    let line = node.span.line;
    // `- begin`, `- commit`, `- rollback` as bare words.
    if let NodeKind::Scalar(Scalar::Text(word)) = &node.kind {
        let action = match word.as_str() {
            "begin" => Action::Begin,
            "commit" => Action::Commit,
            "rollback" => Action::Rollback,
            "list_indexes" => Action::Vector(Box::new(VectorStep {
                op: VectorOp::ListIndexes,
                checks: VectorChecks::default(),
            })),
            other => {
                let diag = d.error(node.span, format!("`{other}` is not a step"));
                if let Some(s) = did_you_mean(other, all_kinds()) {
                    diag.help(format!("did you mean `{s}`?"));
                } else {
                    diag.help("a step is a mapping such as `statement: SQL`, or one of the words begin, commit, rollback");
                }
                return None;
            }
        };
        return Some(Step {
            line,
            session: None,
            repeat: None,
            origin: None,
            action,
        });
    }
    if node.entries().is_none() {
        d.error(
            node.span,
            format!("a step must be a mapping, found {}", node.type_name()),
        );
        return None;
    }

    let kinds: Vec<(&Node, &Node)> = view
        .iter()
        .filter(|(k, _)| {
            k.as_str()
                .is_some_and(|k| all_kinds().any(|kind| kind == k))
        })
        .copied()
        .collect();
    let (kind_key, kind_value) = match kinds.as_slice() {
        [one] => *one,
        [] => {
            let diag = d.error(node.span, "this step has no kind");
            let unknown: Vec<&str> = view.iter().filter_map(|(k, _)| k.as_str()).collect();
            let guess = unknown.iter().find_map(|u| did_you_mean(u, all_kinds()));
            match guess {
                Some(s) => diag.help(format!("did you mean `{s}`?")),
                None => diag.help(format!(
                    "a step needs exactly one of: {}",
                    all_kinds().collect::<Vec<_>>().join(", ")
                )),
            };
            return None;
        }
        [first, second, ..] => {
            d.error(
                second.0.span,
                format!(
                    "a step has exactly one kind; this one has both `{}` and `{}`",
                    first.0.as_str().unwrap_or_default(),
                    second.0.as_str().unwrap_or_default()
                ),
            )
            .help("split it into two steps");
            return None;
        }
    };
    let kind = kind_key.as_str().unwrap_or_default();

    let mut f = Fields::from_entries(view.clone(), "a step");
    f.allow(&["on", "only", "skip"]);
    let _ = f.node(match kind {
        "statement" => "statement",
        "query" => "query",
        "begin" => "begin",
        "commit" => "commit",
        "rollback" => "rollback",
        "copy" => "copy",
        "sleep" => "sleep",
        "http" => HTTP_KIND,
        other => VectorOp::NAMES
            .iter()
            .copied()
            .find(|n| *n == other)
            .unwrap_or("statement"),
    });
    let mut session = f
        .get("session")
        .and_then(|n| decode::string(n, "session", d));
    let repeat = f.get("repeat").and_then(|n| repeat(n, d));
    let origin = f.get("origin").and_then(|n| decode::string(n, "origin", d));

    let action = match kind {
        "statement" => {
            let sql = decode::sql(kind_value, "the statement", d);
            let params = f.node("params").and_then(|n| {
                if n.is_null() {
                    Some(Vec::new())
                } else {
                    params(n, d)
                }
            });
            let count = f.get("count").and_then(|n| decode::count(n, "count", d));
            let error = f.get("error").and_then(|n| error(n, d));
            Action::Statement(Statement {
                sql: sql?,
                params: params.unwrap_or_default(),
                count,
                error,
            })
        }
        "query" => query(kind_value, &mut f, d)?,
        "begin" | "commit" | "rollback" => {
            // `commit: {session: a}` carries its session inside.
            if let Some(mut inner) = (!kind_value.is_null())
                .then(|| Fields::of(kind_value, "a transaction step", d))
                .flatten()
            {
                if let Some(s) = inner.get("session") {
                    session = decode::string(s, "session", d);
                }
                inner.finish(d);
            }
            match kind {
                "begin" => Action::Begin,
                "commit" => Action::Commit,
                _ => Action::Rollback,
            }
        }
        "copy" => copy(kind_value, d)?,
        "sleep" => Action::Sleep {
            duration: decode::duration(kind_value, "sleep", d)?,
        },
        "http" => {
            if let Some(s) = f.key_node("session").filter(|_| session.is_some()) {
                d.error(
                    s.span,
                    "an `http` step is sent by the runner, not on a session; `session` has no meaning here",
                );
                return None;
            }
            Action::Http(Box::new(http::step(kind_value, d)?))
        }
        vector => vector_step(vector, kind_value, &mut f, d)?,
    };

    // Report keys that do not belong to this kind, with a kind-aware hint.
    for (key, _) in &view {
        let Some(name) = key.as_str() else { continue };
        if name == kind || COMMON.contains(&name) || options(kind).contains(&name) {
            continue;
        }
        if all_kinds().any(|k| k == name) {
            continue;
        }
        let owner = all_kinds().find(|k| options(k).contains(&name));
        let diag = d.error(key.span, format!("unknown key `{name}` in a `{kind}` step"));
        match (
            did_you_mean(name, options(kind).iter().copied().chain(COMMON)),
            owner,
        ) {
            (Some(s), _) => diag.help(format!("did you mean `{s}`?")),
            (None, Some(o)) => diag.help(format!("`{name}` belongs to `{o}` steps")),
            (None, None) => diag.help(format!(
                "a `{kind}` step takes: {}",
                options(kind)
                    .iter()
                    .chain(COMMON.iter())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    }
    Some(Step {
        line,
        session,
        repeat,
        origin,
        action,
    })
}

fn query(kind_value: &Node, f: &mut Fields<'_>, d: &mut Diagnostics) -> Option<Action> {
    let sql = decode::sql(kind_value, "the query", d);
    let params = f.node("params").and_then(|n| {
        if n.is_null() {
            Some(Vec::new())
        } else {
            params(n, d)
        }
    });
    let rows = f.get("rows").and_then(|n| decode::rows(n, "rows", d));
    let columns = f
        .get("columns")
        .and_then(|n| decode::strings(n, "columns", d));
    let sort = match f.get("sort") {
        Some(n) => {
            let text = decode::string(n, "sort", d)?;
            match Sort::parse(&text) {
                Some(s) => s,
                None => {
                    d.error(n.span, format!("unknown sort `{text}`"))
                        .help("one of: none, rows, values");
                    return None;
                }
            }
        }
        None => Sort::None,
    };
    let row_count = f
        .get("row_count")
        .and_then(|n| decode::count(n, "row_count", d));
    let error = f.get("error").and_then(|n| error(n, d));
    let cancel_after = f
        .get("cancel_after")
        .and_then(|n| decode::duration(n, "cancel_after", d));
    let tolerance = f
        .get("tolerance")
        .and_then(|n| decode::float(n, "tolerance", d));
    let types = match f.get("types") {
        Some(n) => Some(types(n, d)?),
        None => None,
    };
    let compare = match f.get("compare") {
        Some(n) => {
            let text = decode::string(n, "compare", d)?;
            match Compare::parse(&text) {
                Some(c) => c,
                None => {
                    d.error(n.span, format!("unknown comparison `{text}`"))
                        .help("one of: typed (the default), text, sqllogictest");
                    return None;
                }
            }
        }
        None => Compare::Typed,
    };
    let rows_hash = match f.get("rows_hash") {
        Some(n) => Some(rows_hash(n, d)?),
        None => None,
    };
    if compare == Compare::Sqllogictest {
        let clashing: Vec<&str> = ["fetch", "tolerance", "columns"]
            .into_iter()
            .filter(|k| f.key_node(k).is_some())
            .collect();
        if !clashing.is_empty() {
            d.error(
                kind_value.span,
                format!(
                    "`compare: sqllogictest` checks rendered text; it cannot be combined with {}",
                    clashing.join(", ")
                ),
            );
            return None;
        }
    } else if let Some(n) = f.key_node("rows_hash") {
        d.error(n.span, "`rows_hash` needs `compare: sqllogictest`")
            .help("a hash is taken over the values as sqllogictest prints them");
        return None;
    }
    if let (Some(n), Some(_)) = (f.key_node("rows_hash"), f.key_node("rows")) {
        d.error(n.span, "give either `rows` or `rows_hash`, not both");
        return None;
    }
    let batches_beside = f.get("batches");
    if let Some(fetch_node) = f.key_node("fetch") {
        let clashing: Vec<&str> = ["rows", "columns", "row_count", "sort", "cancel_after"]
            .into_iter()
            .filter(|k| f.key_node(k).is_some())
            .collect();
        if !clashing.is_empty() {
            d.error(
                fetch_node.span,
                format!(
                    "`fetch` checks batches; it cannot be combined with {}",
                    clashing.join(", ")
                ),
            )
            .help("check the batches with `batches:`, or drop `fetch` to check the whole result");
            return None;
        }
    }
    let fetch = match f.get("fetch") {
        Some(n) => Some(fetch(n, batches_beside, d)?),
        None => {
            if let Some(b) = batches_beside {
                d.error(
                    b.span,
                    "`batches` needs `fetch: {batch: N}` on the same step",
                );
            }
            None
        }
    };
    Some(Action::Query(Box::new(Query {
        sql: sql?,
        params: params.unwrap_or_default(),
        rows,
        columns,
        sort,
        row_count,
        fetch,
        error,
        cancel_after,
        tolerance,
        types,
        compare,
        rows_hash,
    })))
}

/// `rows_hash: {values: 30, md5: 3c13dee48d9356ae19af2515e05e6b54}`.
fn rows_hash(node: &Node, d: &mut Diagnostics) -> Option<RowsHash> {
    let mut f = Fields::of(node, "rows_hash", d)?;
    let values = f.get("values").and_then(|n| decode::count(n, "values", d));
    let md5 = f.get("md5").and_then(|n| decode::string(n, "md5", d));
    f.finish(d);
    let (Some(values), Some(md5)) = (values, md5) else {
        d.error(node.span, "`rows_hash` needs both `values` and `md5`");
        return None;
    };
    let md5 = md5.to_ascii_lowercase();
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        d.error(node.span, format!("`{md5}` is not an MD5 digest"))
            .help("32 hexadecimal digits, as in sqllogictest's `N values hashing to <md5>`");
        return None;
    }
    Some(RowsHash { values, md5 })
}

/// `types: [integer, text]`: a portable class per column.
fn types(node: &Node, d: &mut Diagnostics) -> Option<Vec<TypeClass>> {
    let names = decode::strings(node, "types", d)?;
    let mut out = Vec::new();
    for name in names {
        match TypeClass::parse(&name) {
            Some(class) => out.push(class),
            None => {
                let diag = d.error(node.span, format!("unknown type class `{name}`"));
                let all = TypeClass::ALL.map(TypeClass::as_str);
                match did_you_mean(&name, all.iter().copied()) {
                    Some(s) => diag.help(format!("did you mean `{s}`?")),
                    None => diag.help(format!("one of: {}", all.join(", "))),
                };
                return None;
            }
        }
    }
    Some(out)
}

fn fetch(node: &Node, beside: Option<&Node>, d: &mut Diagnostics) -> Option<Fetch> {
    let mut f = Fields::of(node, "fetch", d)?;
    let batch = match f.get("batch") {
        Some(n) => decode::count(n, "batch", d)?,
        None => {
            d.error(
                node.span,
                "`fetch` needs a batch size: `fetch: {batch: 100}`",
            );
            return None;
        }
    };
    if batch == 0 {
        d.error(node.span, "a batch size must be at least 1");
        return None;
    }
    let inside = f.get("batches");
    f.finish(d);
    if let (Some(_), Some(b)) = (inside, beside) {
        d.error(
            b.span,
            "`batches` is given both inside `fetch` and beside it; keep one",
        );
        return None;
    }
    let batches = match inside.or(beside) {
        Some(list) => {
            let items = decode::list(list, "batches", d)?;
            let mut out = Vec::new();
            for item in items {
                let mut bf = Fields::of(item, "a batch check", d)?;
                let len = bf.get("len").and_then(|n| decode::count(n, "len", d));
                let first = bf.get("first").and_then(|n| decode::row(n, "first", d));
                bf.finish(d);
                out.push(BatchCheck { len, first });
            }
            out
        }
        None => Vec::new(),
    };
    Some(Fetch { batch, batches })
}

fn params(node: &Node, d: &mut Diagnostics) -> Option<Vec<Param>> {
    match &node.kind {
        NodeKind::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                out.push(Param {
                    name: None,
                    value: decode::scalar(item, "a parameter", d)?,
                });
            }
            Some(out)
        }
        NodeKind::Map(entries) => {
            let mut out = Vec::new();
            for (k, v) in entries {
                let name = k.as_str().unwrap_or_default();
                if !is_identifier(name) {
                    d.error(
                        k.span,
                        format!("`{name}` is not a parameter name (letters, digits, _)"),
                    );
                    return None;
                }
                out.push(Param {
                    name: Some(name.to_string()),
                    value: decode::scalar(v, "a parameter", d)?,
                });
            }
            Some(out)
        }
        _ => {
            d.error(
                node.span,
                format!(
                    "`params` must be a list (for `?`) or a mapping (for `:name`), found {}",
                    node.type_name()
                ),
            );
            None
        }
    }
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `error: unique_violation` or `error: {class, sqlstate, code, message}`.
pub fn error(node: &Node, d: &mut Diagnostics) -> Option<ErrorExpect> {
    match &node.kind {
        NodeKind::Scalar(Scalar::Text(class)) => Some(ErrorExpect {
            class: Some(class.clone()),
            ..ErrorExpect::default()
        }),
        NodeKind::Map(_) => {
            let mut f = Fields::of(node, "error", d)?;
            let class = f.get("class").and_then(|n| decode::string(n, "class", d));
            let sqlstate = f.get("sqlstate").and_then(|n| registry::sqlstate(n, d));
            let code = f.get("code").and_then(|n| decode::string(n, "code", d));
            let message = f.get("message").and_then(|n| registry::message_regex(n, d));
            let exception = f
                .get("exception")
                .and_then(|n| decode::string(n, "exception", d));
            f.finish(d);
            Some(ErrorExpect {
                class,
                sqlstate,
                code,
                message,
                exception,
            })
        }
        _ => {
            d.error(
                node.span,
                format!(
                    "`error` must be a class name or a mapping, found {}",
                    node.type_name()
                ),
            );
            None
        }
    }
}

pub fn repeat(node: &Node, d: &mut Diagnostics) -> Option<Repeat> {
    let mut f = Fields::of(node, "repeat", d)?;
    let var = f.get("var").and_then(|n| decode::string(n, "var", d));
    let from = f
        .get("from")
        .and_then(|n| decode::integer(n, "from", d))
        .unwrap_or(0);
    let to = f.get("to").and_then(|n| decode::integer(n, "to", d));
    let limit = f.get("limit").and_then(|n| decode::count(n, "limit", d));
    f.finish(d);
    let Some(var) = var else {
        d.error(node.span, "`repeat` needs `var`: the loop variable's name");
        return None;
    };
    if !is_identifier(&var) {
        d.error(node.span, format!("`{var}` is not a valid variable name"));
        return None;
    }
    let Some(to) = to else {
        d.error(node.span, "`repeat` needs `to` (exclusive end)");
        return None;
    };
    if to < from {
        d.error(
            node.span,
            format!("`repeat` runs from {from} to {to}: `to` must not be below `from`"),
        );
        return None;
    }
    let repeat = Repeat { var, from, to };
    let cap = limit.unwrap_or(REPEAT_LIMIT);
    if repeat.len() > cap {
        d.error(
            node.span,
            format!(
                "`repeat` runs {} iterations, more than the limit of {cap}",
                repeat.len()
            ),
        )
        .help(format!(
            "if that many is meant, raise the cap on this repeat: `limit: {}`",
            repeat.len()
        ));
        return None;
    }
    Some(repeat)
}

fn copy(node: &Node, d: &mut Diagnostics) -> Option<Action> {
    let mut f = Fields::of(node, "copy", d)?;
    let table = f.get("table").and_then(|n| decode::string(n, "table", d));
    let columns = f
        .get("columns")
        .and_then(|n| decode::strings(n, "columns", d));
    let rows_node = f.get("rows");
    f.finish(d);
    let (Some(table), Some(columns)) = (table, columns) else {
        d.error(node.span, "`copy` needs `table`, `columns` and `rows`");
        return None;
    };
    let Some(rows_node) = rows_node else {
        d.error(
            node.span,
            "`copy` needs `rows`: a list of rows or `{repeat: …, row: […]}`",
        );
        return None;
    };
    let rows = match &rows_node.kind {
        NodeKind::Map(_) => {
            let mut rf = Fields::of(rows_node, "copy rows", d)?;
            let rep = rf.get("repeat").and_then(|n| repeat(n, d));
            let row = rf.get("row").and_then(|n| decode::row(n, "row", d));
            rf.finish(d);
            match (rep, row) {
                (Some(repeat), Some(row)) => CopyRows::Repeat { repeat, row },
                _ => {
                    d.error(
                        rows_node.span,
                        "generated copy rows need both `repeat` and `row`",
                    );
                    return None;
                }
            }
        }
        _ => CopyRows::Literal(decode::rows(rows_node, "rows", d)?),
    };
    let width = columns.len();
    let bad_width = match &rows {
        CopyRows::Literal(rows) => rows.iter().any(|r| r.len() != width),
        CopyRows::Repeat { row, .. } => row.len() != width,
    };
    if bad_width {
        d.error(
            rows_node.span,
            format!("every copy row must have {width} values, one per column"),
        );
        return None;
    }
    Some(Action::Copy(Copy {
        table,
        columns,
        rows,
    }))
}

fn vector_step(
    kind: &str,
    value: &Node,
    f: &mut Fields<'_>,
    d: &mut Diagnostics,
) -> Option<Action> {
    let mut args = match (&value.kind, decode::to_json(value)) {
        (NodeKind::Map(_), serde_json::Value::Object(map)) => map,
        (NodeKind::Scalar(Scalar::Null), _) => serde_json::Map::new(),
        _ => {
            d.error(
                value.span,
                format!(
                    "`{kind}` takes a mapping of arguments, found {}",
                    value.type_name()
                ),
            );
            return None;
        }
    };
    if kind == "vector_query" && !args.contains_key("include_metadata") {
        args.insert("include_metadata".into(), serde_json::Value::Bool(true));
    }
    args.insert("op".into(), serde_json::Value::String(kind.to_string()));
    let op: VectorOp = match serde_json::from_value(serde_json::Value::Object(args)) {
        Ok(op) => op,
        Err(e) => {
            d.error(value.span, format!("invalid `{kind}` arguments: {e}"));
            return None;
        }
    };
    let mut checks = serde_json::Map::new();
    for key in options(kind) {
        if let Some(n) = f.get(key) {
            checks.insert(key.to_string(), decode::to_json(n));
        }
    }
    let checks: VectorChecks = match serde_json::from_value(serde_json::Value::Object(checks)) {
        Ok(c) => c,
        Err(e) => {
            d.error(value.span, format!("invalid checks on `{kind}`: {e}"));
            return None;
        }
    };
    Some(Action::Vector(Box::new(VectorStep { op, checks })))
}
