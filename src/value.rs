//! Values: what specs write ([`Scalar`]) and what servers return ([`Value`]), and the rules
//! that compare them.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A YAML scalar as written in a spec: an expected cell, a bound parameter, a copy value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Int(_) => "an integer",
            Scalar::Float(_) => "a float",
            Scalar::Text(_) => "a string",
        }
    }

    /// The text a person reads in a diff.
    pub fn display_text(&self) -> String {
        match self {
            Scalar::Null => "NULL".to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => format_float(*f),
            Scalar::Text(s) => s.clone(),
        }
    }

    /// Whether this string holds a minijinja expression (only meaningful inside a repeat).
    pub fn is_template(&self) -> bool {
        matches!(self, Scalar::Text(s) if crate::plan::template::has_template(s))
    }
}

/// A value a server returned, decoded by an executor.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Exact numerics (NUMERIC/DECIMAL) in the server's text form.
    Decimal(String),
    Text(String),
    Bytes(Vec<u8>),
    /// Any other type (dates, intervals, JSON, arrays, …) in the server's canonical text.
    Other {
        type_name: String,
        text: String,
    },
}

impl Value {
    /// The value's canonical text: what a string expectation compares with.
    pub fn canonical_text(&self) -> String {
        match self {
            Value::Null => "NULL".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Decimal(d) => d.clone(),
            Value::Text(s) => s.clone(),
            Value::Bytes(b) => {
                let mut s = String::with_capacity(2 + b.len() * 2);
                s.push_str("\\x");
                for byte in b {
                    s.push_str(&format!("{byte:02x}"));
                }
                s
            }
            Value::Other { text, .. } => text.clone(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(d) => d.trim().parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical_text())
    }
}

/// Shortest text that reads back as the same float, always with a fraction or exponent.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        let s = format!("{f:?}");
        s
    }
}

/// Default relative tolerance for float comparison.
pub const DEFAULT_TOLERANCE: f64 = 1e-9;

/// Does an actual value satisfy an expected scalar? The contract's rules: integers compare
/// numerically with integer and exact columns, floats within a relative tolerance, strings
/// with the canonical text, booleans with a boolean column, `null` with NULL only.
pub fn matches(expected: &Scalar, actual: &Value, tolerance: f64) -> bool {
    match (expected, actual) {
        (Scalar::Null, Value::Null) => true,
        (Scalar::Null, _) | (_, Value::Null) => false,
        (Scalar::Bool(e), Value::Bool(a)) => e == a,
        (Scalar::Bool(_), _) => false,
        (Scalar::Int(e), Value::Int(a)) => e == a,
        (Scalar::Int(e), Value::Decimal(d)) => decimal_equals_int(d, *e),
        (Scalar::Int(e), Value::Float(a)) => (*e as f64) == *a,
        (Scalar::Int(_), _) => false,
        (Scalar::Float(e), a) => a.as_f64().is_some_and(|a| approx_eq(*e, a, tolerance)),
        (Scalar::Text(e), a) => a.canonical_text() == *e,
    }
}

fn decimal_equals_int(decimal: &str, expected: i64) -> bool {
    let d = decimal.trim();
    let (whole, frac) = d.split_once('.').unwrap_or((d, ""));
    frac.chars().all(|c| c == '0') && whole.parse::<i64>().is_ok_and(|w| w == expected)
}

/// Relative comparison, with an absolute floor so values near zero still compare.
pub fn approx_eq(expected: f64, actual: f64, tolerance: f64) -> bool {
    if expected == actual {
        return true;
    }
    let scale = expected.abs().max(actual.abs()).max(f64::MIN_POSITIVE);
    ((expected - actual).abs() / scale) <= tolerance
        || (expected - actual).abs() <= tolerance * 1e-3
}

/// Sort key shared by expected and actual cells, so `sort: rows|values` orders both sides
/// the same way: NULL first, then numbers numerically, then text.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Null,
    Number(f64),
    Text(String),
}

impl SortKey {
    pub fn of_scalar(s: &Scalar) -> SortKey {
        match s {
            Scalar::Null => SortKey::Null,
            Scalar::Int(i) => SortKey::Number(*i as f64),
            Scalar::Float(f) => SortKey::Number(*f),
            Scalar::Bool(b) => SortKey::Text(b.to_string()),
            // Numeric text sorts as a number on both sides, so `"10"` and a server's 10
            // land in the same place.
            Scalar::Text(t) => t
                .trim()
                .parse()
                .map_or_else(|_| SortKey::Text(t.clone()), SortKey::Number),
        }
    }

    pub fn of_value(v: &Value) -> SortKey {
        match v {
            Value::Null => SortKey::Null,
            other => match other.as_f64() {
                Some(f) => SortKey::Number(f),
                None => {
                    let text = other.canonical_text();
                    text.trim()
                        .parse()
                        .map_or(SortKey::Text(text), SortKey::Number)
                }
            },
        }
    }

    pub fn compare(a: &SortKey, b: &SortKey) -> Ordering {
        use SortKey::*;
        match (a, b) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Less,
            (_, Null) => Ordering::Greater,
            (Number(x), Number(y)) => x.total_cmp(y),
            (Number(_), Text(_)) => Ordering::Less,
            (Text(_), Number(_)) => Ordering::Greater,
            (Text(x), Text(y)) => x.cmp(y),
        }
    }

    pub fn compare_rows(a: &[SortKey], b: &[SortKey]) -> Ordering {
        for (x, y) in a.iter().zip(b) {
            let o = SortKey::compare(x, y);
            if o != Ordering::Equal {
                return o;
            }
        }
        a.len().cmp(&b.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_compare_numerically() {
        assert!(matches(
            &Scalar::Int(10),
            &Value::Int(10),
            DEFAULT_TOLERANCE
        ));
        assert!(matches(
            &Scalar::Int(10),
            &Value::Decimal("10.00".into()),
            DEFAULT_TOLERANCE
        ));
        assert!(!matches(
            &Scalar::Int(10),
            &Value::Decimal("10.5".into()),
            DEFAULT_TOLERANCE
        ));
        assert!(!matches(
            &Scalar::Int(10),
            &Value::Text("10".into()),
            DEFAULT_TOLERANCE
        ));
        assert!(!matches(
            &Scalar::Int(1),
            &Value::Bool(true),
            DEFAULT_TOLERANCE
        ));
    }

    #[test]
    fn floats_compare_within_tolerance() {
        assert!(matches(
            &Scalar::Float(0.1 + 0.2),
            &Value::Float(0.3),
            DEFAULT_TOLERANCE
        ));
        assert!(!matches(
            &Scalar::Float(0.3),
            &Value::Float(0.3001),
            DEFAULT_TOLERANCE
        ));
        assert!(matches(&Scalar::Float(0.3), &Value::Float(0.3001), 1e-3));
        assert!(matches(
            &Scalar::Float(2.0),
            &Value::Int(2),
            DEFAULT_TOLERANCE
        ));
        assert!(matches(
            &Scalar::Float(2.5),
            &Value::Decimal("2.50".into()),
            DEFAULT_TOLERANCE
        ));
        assert!(matches(
            &Scalar::Float(0.0),
            &Value::Float(0.0),
            DEFAULT_TOLERANCE
        ));
    }

    #[test]
    fn strings_compare_with_canonical_text() {
        assert!(matches(
            &Scalar::Text("100".into()),
            &Value::Int(100),
            DEFAULT_TOLERANCE
        ));
        assert!(matches(
            &Scalar::Text("Alice".into()),
            &Value::Text("Alice".into()),
            DEFAULT_TOLERANCE
        ));
        assert!(matches(
            &Scalar::Text("\\x0aff".into()),
            &Value::Bytes(vec![10, 255]),
            DEFAULT_TOLERANCE
        ));
        assert!(!matches(
            &Scalar::Text("NULL".into()),
            &Value::Null,
            DEFAULT_TOLERANCE
        ));
    }

    #[test]
    fn null_and_booleans_are_strict() {
        assert!(matches(&Scalar::Null, &Value::Null, DEFAULT_TOLERANCE));
        assert!(!matches(
            &Scalar::Null,
            &Value::Text(String::new()),
            DEFAULT_TOLERANCE
        ));
        assert!(matches(
            &Scalar::Bool(true),
            &Value::Bool(true),
            DEFAULT_TOLERANCE
        ));
        assert!(!matches(
            &Scalar::Bool(true),
            &Value::Int(1),
            DEFAULT_TOLERANCE
        ));
    }

    #[test]
    fn sort_keys_order_numbers_numerically() {
        let mut keys = vec![
            SortKey::Number(10.0),
            SortKey::Number(9.0),
            SortKey::Null,
            SortKey::Text("a".into()),
        ];
        keys.sort_by(SortKey::compare);
        assert_eq!(
            keys,
            vec![
                SortKey::Null,
                SortKey::Number(9.0),
                SortKey::Number(10.0),
                SortKey::Text("a".into())
            ]
        );
    }
}
