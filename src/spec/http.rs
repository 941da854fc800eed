//! Decoding an `http` step's map.
//!
//! What needs the registry or the protocol (does the endpoint exist, does the protocol's
//! own target speak HTTP) is checked by the compiler; this checks the step's own shape.

use std::collections::BTreeMap;

use crate::diag::{Diagnostics, did_you_mean};
use crate::step::HttpStep;
use crate::yaml::decode::has_template;
use crate::yaml::decode::{self, Fields};
use crate::yaml::{Node, NodeKind};

/// The methods an `http` step may use.
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// `http: {method, target, url, json, headers, status, expect}`.
pub fn step(node: &Node, d: &mut Diagnostics) -> Option<HttpStep> {
    let mut f = Fields::of(node, "an `http` step", d)?;
    let method = match f.get("method") {
        Some(n) => method(n, d),
        None => Some("GET".to_string()),
    };
    let target = f.get("target").and_then(|n| decode::string(n, "target", d));
    let url = match f.get("url") {
        Some(n) => url(n, target.is_some(), d),
        None => {
            d.error(node.span, "an `http` step needs `url`")
                .help("a path on the target, such as `url: /admin/ddl`, or a full http:// URL on 127.0.0.1");
            None
        }
    };
    let json = f.get("json").map(decode::to_json);
    let headers = match f.get("headers") {
        Some(n) => decode::headers(n, d),
        None => Some(BTreeMap::new()),
    };
    let status = match f.get("status") {
        Some(n) => status(n, d),
        None => Some(Vec::new()),
    };
    let expect = f.get("expect").map(decode::to_json);
    f.finish(d);
    Some(HttpStep {
        method: method?,
        target,
        url: url?,
        json,
        headers: headers?,
        status: status?,
        expect,
    })
}

fn method(node: &Node, d: &mut Diagnostics) -> Option<String> {
    let text = decode::string(node, "method", d)?;
    let upper = text.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        return Some(upper);
    }
    let diag = d.error(node.span, format!("unknown HTTP method `{text}`"));
    match did_you_mean(&upper, METHODS.iter().copied()) {
        Some(s) => diag.help(format!("did you mean `{s}`?")),
        None => diag.help(format!("one of: {}", METHODS.join(", "))),
    };
    None
}

/// A path on the target (`/admin/ddl`), or a full `http(s)://` URL, which needs no target.
fn url(node: &Node, has_target: bool, d: &mut Diagnostics) -> Option<String> {
    let text = decode::string(node, "url", d)?;
    if text.starts_with('/') {
        return Some(text);
    }
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        d.error(
            node.span,
            format!(
                "`url` must be a path starting with `/` or a full http:// URL, found `{}`",
                crate::secret::mask(&text)
            ),
        )
        .help("a path is joined to the target's URL: `url: /admin/ddl`");
        return None;
    }
    if has_target {
        d.error(
            node.span,
            "a full URL names its own server; it takes no `target`",
        )
        .help("give a path (`url: /admin/ddl`) to go to the target, or drop `target`");
        return None;
    }
    if !has_template(&text)
        && let Err(e) = reqwest::Url::parse(&text)
    {
        d.error(node.span, format!("`url` is not a valid URL: {e}"));
        return None;
    }
    Some(text)
}

/// `status: 200` or `status: [200, 404]`.
fn status(node: &Node, d: &mut Diagnostics) -> Option<Vec<u16>> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        let code = decode::integer(item, "status", d)?;
        match u16::try_from(code) {
            Ok(c) if (100..=599).contains(&c) => out.push(c),
            _ => {
                d.error(
                    item.span,
                    format!("`{code}` is not an HTTP status (100 to 599)"),
                );
                return None;
            }
        }
    }
    if out.is_empty() {
        d.error(node.span, "`status` lists no status")
            .help("leave `status` out to accept any 2xx status");
        return None;
    }
    Some(out)
}
