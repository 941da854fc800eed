//! Values: what specs write ([`Scalar`]) and what servers return ([`Value`]), and the rules
//! that compare them.

use std::cmp::Ordering;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A YAML scalar as written in a spec: an expected cell, a bound parameter, a copy value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
}

/// The portable type class of a result column (or of one value, for servers whose values
/// carry their own type, like SQLite). Executors map each protocol's column metadata
/// (PostgreSQL OIDs, MySQL column types, Snowflake `rowtype`, Databricks manifest types,
/// SQLite storage classes) onto these, and comparison is type-aware through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypeClass {
    Integer,
    Decimal,
    Float,
    Text,
    Boolean,
    Date,
    Time,
    Timestamp,
    Interval,
    Bytes,
    Json,
    Uuid,
    Array,
    Vector,
    /// A type no class describes (a server-specific type, an untyped NULL column).
    Other,
}

impl TypeClass {
    pub const ALL: [TypeClass; 15] = [
        TypeClass::Integer,
        TypeClass::Decimal,
        TypeClass::Float,
        TypeClass::Text,
        TypeClass::Boolean,
        TypeClass::Date,
        TypeClass::Time,
        TypeClass::Timestamp,
        TypeClass::Interval,
        TypeClass::Bytes,
        TypeClass::Json,
        TypeClass::Uuid,
        TypeClass::Array,
        TypeClass::Vector,
        TypeClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TypeClass::Integer => "integer",
            TypeClass::Decimal => "decimal",
            TypeClass::Float => "float",
            TypeClass::Text => "text",
            TypeClass::Boolean => "boolean",
            TypeClass::Date => "date",
            TypeClass::Time => "time",
            TypeClass::Timestamp => "timestamp",
            TypeClass::Interval => "interval",
            TypeClass::Bytes => "bytes",
            TypeClass::Json => "json",
            TypeClass::Uuid => "uuid",
            TypeClass::Array => "array",
            TypeClass::Vector => "vector",
            TypeClass::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<TypeClass> {
        TypeClass::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            TypeClass::Integer | TypeClass::Decimal | TypeClass::Float
        )
    }

    /// Classes a YAML string compares with, by the value's canonical text: text itself,
    /// and the types whose literals people write as strings (dates, JSON, UUIDs, …).
    pub fn takes_strings(self) -> bool {
        !self.is_numeric() && !matches!(self, TypeClass::Boolean | TypeClass::Bytes)
    }
}

impl fmt::Display for TypeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// Any other type (dates, intervals, JSON, arrays, …) in the server's canonical text,
    /// with its portable class.
    Other {
        class: TypeClass,
        text: String,
    },
}

impl Value {
    /// The value's canonical text: what `compare: text` compares with.
    pub fn canonical_text(&self) -> String {
        match self {
            Value::Null => "NULL".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Decimal(d) => d.clone(),
            Value::Text(s) => s.clone(),
            Value::Bytes(b) => hex_text(b),
            Value::Other { text, .. } => text.clone(),
        }
    }

    /// The class of a non-NULL value; `None` for NULL, which has no type of its own.
    pub fn class(&self) -> Option<TypeClass> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => TypeClass::Boolean,
            Value::Int(_) => TypeClass::Integer,
            Value::Float(_) => TypeClass::Float,
            Value::Decimal(_) => TypeClass::Decimal,
            Value::Text(_) => TypeClass::Text,
            Value::Bytes(_) => TypeClass::Bytes,
            Value::Other { class, .. } => *class,
        })
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

/// Bytes as PostgreSQL prints them: `\x0aff`.
pub fn hex_text(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("\\x");
    for byte in bytes {
        let _ = write!(s, "{byte:02x}");
    }
    s
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
        format!("{f:?}")
    }
}

/// Default relative tolerance for float comparison.
pub const DEFAULT_TOLERANCE: f64 = 1e-9;

/// How a step compares cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// The contract's rule, as Python's `==`: the type is part of the answer.
    #[default]
    Typed,
    /// `compare: text`: the expected value's text against the value's canonical text
    /// (numbers on both sides still compare numerically).
    Text,
    /// `compare: sqllogictest`: every value is rendered as sqllogictest runners print it
    /// (by the column's `types:` letter: integer, float with 3 decimals, text), and the
    /// texts are compared; see `run::sqllogictest`. What imported corpora expect.
    Sqllogictest,
}

impl Compare {
    pub fn parse(s: &str) -> Option<Compare> {
        match s {
            "typed" => Some(Compare::Typed),
            "text" => Some(Compare::Text),
            "sqllogictest" => Some(Compare::Sqllogictest),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compare::Typed => "typed",
            Compare::Text => "text",
            Compare::Sqllogictest => "sqllogictest",
        }
    }
}

/// How a step compares cells: its mode, and the `tolerance:` it gives, if any.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Comparison {
    pub mode: Compare,
    /// Without one, floats compare within [`DEFAULT_TOLERANCE`] and decimals exactly; a
    /// step that gives one asks for it on decimal columns too (an AVG's scale differs
    /// from server to server).
    pub tolerance: Option<f64>,
}

impl Comparison {
    fn float_tolerance(self) -> f64 {
        self.tolerance.unwrap_or(DEFAULT_TOLERANCE)
    }

    /// Does a decimal's text equal a number, exactly or within the step's tolerance?
    fn decimal(self, expected: &str, decimal: &str) -> bool {
        if decimal_equal(expected, decimal) {
            return true;
        }
        match (
            self.tolerance,
            expected.parse::<f64>(),
            decimal.trim().parse::<f64>(),
        ) {
            (Some(t), Ok(e), Ok(a)) => approx_eq(e, a, t),
            _ => false,
        }
    }
}

/// Why a cell does not satisfy its expectation.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// Same kind of value, different value.
    Value,
    /// The expectation's YAML type cannot match a value of this class at all.
    Type {
        expected: &'static str,
        actual: TypeClass,
    },
}

/// Does an actual value satisfy an expected scalar? Typed comparison (the default) is
/// Python's `==`: a YAML number matches numeric classes by value (integers and decimals
/// exactly, floats within the relative tolerance), a string only string-like classes (by
/// text; a bytes column only its `\\x…` hex form), a boolean only a boolean, `null` only NULL.
pub fn compare(expected: &Scalar, actual: &Value, how: Comparison) -> Result<(), Mismatch> {
    let ok = |b: bool| if b { Ok(()) } else { Err(Mismatch::Value) };
    let Some(class) = actual.class() else {
        return ok(matches!(expected, Scalar::Null));
    };
    if matches!(expected, Scalar::Null) {
        // Whatever the mode: `null` is SQL NULL, never the text "NULL".
        return Err(Mismatch::Value);
    }
    let tolerance = how.float_tolerance();
    if how.mode == Compare::Text {
        return ok(text_equal(expected, actual, tolerance));
    }
    let wrong_type = || {
        Err(Mismatch::Type {
            expected: expected.type_name(),
            actual: class,
        })
    };
    match expected {
        Scalar::Null => Err(Mismatch::Value),
        Scalar::Bool(e) => match actual {
            Value::Bool(a) => ok(e == a),
            _ => wrong_type(),
        },
        Scalar::Int(_) | Scalar::Float(_) if !class.is_numeric() => wrong_type(),
        Scalar::Int(e) => ok(match actual {
            Value::Int(a) => e == a,
            Value::Float(a) => approx_eq(*e as f64, *a, tolerance),
            Value::Decimal(d) => how.decimal(&e.to_string(), d),
            _ => false,
        }),
        Scalar::Float(e) => ok(match actual {
            Value::Float(a) => approx_eq(*e, *a, tolerance),
            Value::Int(a) => *e == *a as f64,
            Value::Decimal(d) => e.is_finite() && how.decimal(&format_float(*e), d),
            _ => false,
        }),
        Scalar::Text(e) => match actual {
            Value::Bytes(b) => ok(hex_text(b) == *e),
            _ if class.takes_strings() => ok(actual.canonical_text() == *e),
            _ => wrong_type(),
        },
    }
}

/// `compare: text`: the texts are equal, or both sides read as the same number.
fn text_equal(expected: &Scalar, actual: &Value, tolerance: f64) -> bool {
    let (e, a) = (expected.display_text(), actual.canonical_text());
    if e == a {
        return true;
    }
    match (e.trim().parse::<f64>(), a.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => approx_eq(x, y, tolerance),
        _ => false,
    }
}

/// Two decimal numbers in text are the same number (`1.50` = `1.5`, `1e2` = `100`).
fn decimal_equal(a: &str, b: &str) -> bool {
    use std::str::FromStr;
    match (
        bigdecimal::BigDecimal::from_str(a.trim()),
        bigdecimal::BigDecimal::from_str(b.trim()),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
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

    fn typed(e: Scalar, a: Value) -> Result<(), Mismatch> {
        compare(&e, &a, Comparison::default())
    }

    fn within(tolerance: f64) -> Comparison {
        Comparison {
            tolerance: Some(tolerance),
            ..Comparison::default()
        }
    }

    #[test]
    fn numbers_match_numeric_classes_by_value() {
        assert_eq!(typed(Scalar::Int(10), Value::Int(10)), Ok(()));
        assert_eq!(
            typed(Scalar::Int(10), Value::Decimal("10.00".into())),
            Ok(())
        );
        assert_eq!(
            typed(Scalar::Int(10), Value::Decimal("10.5".into())),
            Err(Mismatch::Value)
        );
        assert_eq!(
            typed(Scalar::Float(2.5), Value::Decimal("2.50".into())),
            Ok(())
        );
        // Decimals compare exactly, not within the float tolerance.
        assert_eq!(
            typed(Scalar::Float(2.5), Value::Decimal("2.5000000001".into())),
            Err(Mismatch::Value)
        );
        assert_eq!(typed(Scalar::Float(0.1 + 0.2), Value::Float(0.3)), Ok(()));
        assert_eq!(
            typed(Scalar::Float(0.3), Value::Float(0.3001)),
            Err(Mismatch::Value)
        );
        assert_eq!(
            compare(&Scalar::Float(0.3), &Value::Float(0.3001), within(1e-3)),
            Ok(())
        );
        // A tolerance the step gives applies to decimals too.
        assert_eq!(
            compare(
                &Scalar::Float(19.166666666666668),
                &Value::Decimal("19.1667".into()),
                within(1e-4)
            ),
            Ok(())
        );
        assert_eq!(typed(Scalar::Float(2.0), Value::Int(2)), Ok(()));
        assert_eq!(typed(Scalar::Int(2), Value::Float(2.0)), Ok(()));
    }

    #[test]
    fn the_type_is_part_of_the_answer() {
        assert_eq!(
            typed(Scalar::Text("100".into()), Value::Int(100)),
            Err(Mismatch::Type {
                expected: "a string",
                actual: TypeClass::Integer
            })
        );
        assert_eq!(
            typed(Scalar::Int(100), Value::Text("100".into())),
            Err(Mismatch::Type {
                expected: "an integer",
                actual: TypeClass::Text
            })
        );
        assert!(matches!(
            typed(Scalar::Int(1), Value::Bool(true)),
            Err(Mismatch::Type { .. })
        ));
        assert!(matches!(
            typed(Scalar::Bool(true), Value::Int(1)),
            Err(Mismatch::Type { .. })
        ));
        assert!(matches!(
            typed(Scalar::Text("1.5".into()), Value::Decimal("1.5".into())),
            Err(Mismatch::Type { .. })
        ));
    }

    #[test]
    fn strings_match_string_like_classes_by_text() {
        assert_eq!(
            typed(Scalar::Text("Alice".into()), Value::Text("Alice".into())),
            Ok(())
        );
        let date = Value::Other {
            class: TypeClass::Date,
            text: "2024-01-15".into(),
        };
        assert_eq!(typed(Scalar::Text("2024-01-15".into()), date), Ok(()));
        assert_eq!(
            typed(Scalar::Text("\\x0aff".into()), Value::Bytes(vec![10, 255])),
            Ok(())
        );
        assert!(matches!(
            typed(Scalar::Text("x".into()), Value::Bytes(vec![b'x'])),
            Err(Mismatch::Value)
        ));
    }

    #[test]
    fn null_is_strict() {
        assert_eq!(typed(Scalar::Null, Value::Null), Ok(()));
        assert_eq!(
            typed(Scalar::Null, Value::Text(String::new())),
            Err(Mismatch::Value)
        );
        assert_eq!(
            typed(Scalar::Text("NULL".into()), Value::Null),
            Err(Mismatch::Value)
        );
        assert_eq!(typed(Scalar::Bool(true), Value::Bool(true)), Ok(()));
    }

    #[test]
    fn compare_text_restores_canonical_text() {
        let text = |e: Scalar, a: Value| {
            compare(
                &e,
                &a,
                Comparison {
                    mode: Compare::Text,
                    tolerance: None,
                },
            )
        };
        assert_eq!(text(Scalar::Text("100".into()), Value::Int(100)), Ok(()));
        assert_eq!(text(Scalar::Int(100), Value::Text("100".into())), Ok(()));
        assert_eq!(
            text(Scalar::Float(1.5), Value::Decimal("1.50".into())),
            Ok(())
        );
        assert_eq!(text(Scalar::Bool(true), Value::Bool(true)), Ok(()));
        assert_eq!(
            text(Scalar::Int(1), Value::Text("2".into())),
            Err(Mismatch::Value)
        );
        assert_eq!(text(Scalar::Null, Value::Null), Ok(()));
        assert_eq!(
            text(Scalar::Null, Value::Text("NULL".into())),
            Err(Mismatch::Value),
            "null is SQL NULL in text mode too"
        );
    }

    #[test]
    fn type_classes_read_back_from_their_names() {
        for class in TypeClass::ALL {
            assert_eq!(TypeClass::parse(class.as_str()), Some(class));
        }
        assert_eq!(TypeClass::parse("int"), None);
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
