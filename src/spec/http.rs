//! Header maps, as the registry's endpoints give them.

use std::collections::BTreeMap;

use reqwest::header::{HeaderName, HeaderValue};

use crate::diag::Diagnostics;
use crate::plan::template::has_template;
use crate::spec::decode::{self, Fields};
use crate::yaml::Node;

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
        let Some(text) = decode::string(value, "a header value", d) else {
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
