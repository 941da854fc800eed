//! A server's answers as the YAML a spec would say them in.

use std::collections::BTreeMap;

use super::edit::Yaml;
use crate::exec::{DbError, ResultSet};
use crate::registry::{ErrorClass, Protocol};
use crate::run::check::error_matches;
use crate::step::{Query, RowsHash, Sort};
use crate::value::{Scalar, Value, hex_text};
use crate::yaml::emit::{flow_scalar, quoted};

/// A typed value as a YAML cell that reads back as an expectation it satisfies.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".to_string(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.to_string(),
        // Debug formatting is the shortest text that reads back as the same f64, with a
        // fraction or exponent, so YAML reads a float.
        Value::Float(f) => format!("{f:?}"),
        Value::Decimal(d) => {
            // As a YAML number: exact up to an f64's 17 digits (a longer decimal needs a
            // `tolerance` or `compare: text`, as when it is written by hand).
            let text = d.trim();
            match crate::yaml::plain_scalar(text) {
                Scalar::Int(_) | Scalar::Float(_) => text.to_string(),
                _ => quoted(text),
            }
        }
        Value::Text(s) => flow_scalar(s),
        Value::Bytes(b) => flow_scalar(&hex_text(b)),
        Value::Other { text, .. } => flow_scalar(text),
    }
}

/// `rows:` for a query's result: typed cells, or under `compare: sqllogictest` the
/// values as printed there (grouped into rows of the result's width when sorted one by
/// one, as the importer groups a file's lines).
pub fn rows(query: &Query, result: &ResultSet, printed: Option<&[Vec<String>]>) -> Yaml {
    let rows: Vec<String> = match printed {
        Some(printed) => {
            let width = result.columns.len().max(1);
            let grouped: Vec<Vec<String>> = if query.sort == Sort::Values {
                let values: Vec<String> = printed.iter().flatten().cloned().collect();
                values.chunks(width).map(<[String]>::to_vec).collect()
            } else {
                printed.to_vec()
            };
            grouped
                .iter()
                .map(|row| list(row.iter().map(|v| crate::import::cell(v))))
                .collect()
        }
        None => result
            .rows
            .iter()
            .map(|row| list(row.iter().map(cell)))
            .collect(),
    };
    Yaml::List(rows)
}

pub fn columns(result: &ResultSet) -> Yaml {
    Yaml::Flow(list(result.columns.iter().map(|c| flow_scalar(&c.name))))
}

pub fn types(result: &ResultSet) -> Yaml {
    Yaml::Flow(list(
        result.columns.iter().map(|c| c.class.as_str().to_string()),
    ))
}

pub fn rows_hash(hash: &RowsHash) -> Yaml {
    Yaml::Flow(format!(
        "{{values: {}, md5: {}}}",
        hash.values,
        flow_scalar(&hash.md5)
    ))
}

pub fn number(n: u64) -> Yaml {
    Yaml::Flow(n.to_string())
}

fn list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

/// `error:` for a server's error: the error class whose mapping for this protocol
/// matches it (the most precise mapping where several do), else its SQLSTATE, else its
/// code, else its message as an anchored pattern.
pub fn error(
    db: &DbError,
    protocol: &Protocol,
    cli_labels: &[String],
    classes: &BTreeMap<String, ErrorClass>,
) -> Yaml {
    let mut best: Option<(usize, &str)> = None;
    for (name, class) in classes {
        let Some(native) = class.mapping_for(protocol, cli_labels).map(|m| &m.native) else {
            continue;
        };
        let precision = [&native.sqlstate, &native.code, &native.message]
            .iter()
            .filter(|f| f.is_some())
            .count();
        // A mapping that names nothing would match every error.
        if precision > 0 && error_matches(native, db) && best.is_none_or(|(p, _)| precision > p) {
            best = Some((precision, name));
        }
    }
    let entry = match (best, &db.sqlstate, &db.code) {
        (Some((_, class)), _, _) => format!("class: {}", flow_scalar(class)),
        (None, Some(state), _) => format!("sqlstate: {}", flow_scalar(state)),
        (None, None, Some(code)) => format!("code: {}", flow_scalar(code)),
        (None, None, None) => format!(
            "message: {}",
            quoted(&format!("^{}$", regex::escape(&db.message)))
        ),
    };
    Yaml::Flow(format!("{{{entry}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Comparison, compare};
    use crate::yaml::plain_scalar;

    #[test]
    fn cells_read_back_as_what_they_record() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(-3),
            Value::Float(1.0),
            Value::Float(0.1),
            Value::Float(1e-7),
            Value::Float(f64::INFINITY),
            Value::Decimal("1.50".into()),
            Value::Decimal("-0.000123".into()),
            Value::Text("100".into()),
            Value::Text("a, b".into()),
            Value::Text("null".into()),
            Value::Bytes(vec![0, 255]),
        ];
        for value in values {
            let text = cell(&value);
            // Read as a flow sequence item, as rows are written.
            let mut d = crate::diag::Diagnostics::default();
            let root = crate::yaml::parse(&format!("k: [{text}]\n"), Default::default(), &mut d)
                .expect("parses");
            let read = root
                .get("k")
                .and_then(|k| k.items())
                .and_then(|i| i[0].scalar())
                .expect("a scalar")
                .clone();
            assert!(
                compare(&read, &value, Comparison::default()).is_ok(),
                "{value:?} written as {text} reads back as {read:?}"
            );
        }
        assert_eq!(plain_scalar(&cell(&Value::Float(2.5))), Scalar::Float(2.5));
    }
}
