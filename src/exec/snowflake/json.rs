//! JSON-format results (`rowset` and JSON chunks): every cell is text, typed by the
//! column's rowtype.

use serde_json::Value as Json;

use super::result::class_of;
use crate::exec::{ExecError, Row, undecodable};
use crate::value::{TypeClass, Value};

pub(super) fn json_rows(
    rowset: Option<&Json>,
    types: &[(String, String, i64)],
) -> Result<Vec<Row>, ExecError> {
    crate::exec::json_rows(rowset, |i, v| {
        let (name, ty, scale) = types
            .get(i)
            .map_or(("", "TEXT", 0), |t| (t.0.as_str(), t.1.as_str(), t.2));
        json_cell(v, ty, scale).map_err(|e| undecodable(i, name, ty, &e, None))
    })
}

/// A JSON-format cell (`rowset`): always text, typed by the rowtype.
fn json_cell(value: &Json, ty: &str, scale: i64) -> Result<Value, String> {
    let Some(text) = value
        .as_str()
        .map(str::to_string)
        .or_else(|| (!value.is_null()).then(|| value.to_string()))
    else {
        return Ok(Value::Null);
    };
    let bad = |e: &dyn std::fmt::Display| format!("`{text}`: {e}");
    Ok(match class_of(ty, scale) {
        TypeClass::Integer => match text.parse() {
            Ok(n) => Value::Int(n),
            // NUMBER(38,0) past i64 stays exact.
            Err(e) => {
                text.parse::<i128>().map_err(|_| bad(&e))?;
                Value::Decimal(text)
            }
        },
        TypeClass::Decimal => {
            text.parse::<f64>().map_err(|e| bad(&e))?;
            Value::Decimal(text)
        }
        TypeClass::Float => Value::Float(text.parse().map_err(|e| bad(&e))?),
        TypeClass::Boolean => match text.as_str() {
            "1" | "true" | "TRUE" => Value::Bool(true),
            "0" | "false" | "FALSE" => Value::Bool(false),
            _ => return Err(bad(&"not a boolean")),
        },
        TypeClass::Text => Value::Text(text),
        class => Value::Other { class, text },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_cells_follow_the_rowtype() {
        assert_eq!(json_cell(&json!("1"), "FIXED", 0), Ok(Value::Int(1)));
        assert_eq!(
            json_cell(&json!("1.50"), "FIXED", 2),
            Ok(Value::Decimal("1.50".into()))
        );
        assert_eq!(json_cell(&json!("1"), "BOOLEAN", 0), Ok(Value::Bool(true)));
        assert_eq!(json_cell(&Json::Null, "TEXT", 0), Ok(Value::Null));
        // What does not read as its type is an error, never a guess.
        assert!(json_cell(&json!("yes"), "BOOLEAN", 0).is_err());
        assert!(json_cell(&json!("x"), "REAL", 0).is_err());
        assert!(json_cell(&json!("x"), "FIXED", 0).is_err());
    }
}
