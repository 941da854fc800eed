//! An answer's columns and rows: `rowtype` (names, logical types, scales checked against
//! Snowflake's range), the columns' portable classes, and the rows, inline (`rowset` as
//! JSON, `rowsetBase64` as Arrow) and then from any further chunks.

use base64::Engine as _;
use serde_json::Value as Json;

use super::SnowflakeSession;
use super::arrow::arrow_rows;
use super::json::json_rows;
use crate::exec::{Column, ExecError, Row};
use crate::value::TypeClass;

/// Snowflake's largest scale (NUMBER(38, 37)). A scale feeds format widths and powers of
/// ten, so one from the server is checked against this before any use.
pub(super) const MAX_SCALE: i64 = 37;

/// Column names and (logical type, scale) from `rowtype`; a scale outside Snowflake's range
/// is an error naming its column.
fn rowtype(data: &Json) -> Result<Vec<(String, String, i64)>, ExecError> {
    let Some(cols) = data.get("rowtype").and_then(Json::as_array) else {
        return Ok(Vec::new());
    };
    cols.iter()
        .map(|c| {
            let name = c
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
            let scale = match c.get("scale") {
                None | Some(Json::Null) => 0,
                Some(s) => s
                    .as_i64()
                    .filter(|n| (0..=MAX_SCALE).contains(n))
                    .ok_or_else(|| bad_scale(&name, s))?,
            };
            let ty = c
                .get("type")
                .and_then(Json::as_str)
                .unwrap_or("text")
                .to_ascii_uppercase();
            Ok((name, ty, scale))
        })
        .collect()
}

pub(super) fn bad_scale(column: &str, scale: &dyn std::fmt::Display) -> ExecError {
    ExecError::Client(format!(
        "column `{column}`: the server sent scale {scale}, outside Snowflake's 0..={MAX_SCALE}"
    ))
}

/// A Snowflake logical type's portable class (`FIXED` with a scale is a decimal).
pub(super) fn class_of(logical: &str, scale: i64) -> TypeClass {
    match logical {
        "FIXED" if scale == 0 => TypeClass::Integer,
        "FIXED" | "DECFLOAT" => TypeClass::Decimal,
        "REAL" => TypeClass::Float,
        "TEXT" | "" => TypeClass::Text,
        "BOOLEAN" => TypeClass::Boolean,
        "DATE" => TypeClass::Date,
        "TIME" => TypeClass::Time,
        l if l.starts_with("TIMESTAMP") => TypeClass::Timestamp,
        "BINARY" => TypeClass::Bytes,
        "VARIANT" | "OBJECT" => TypeClass::Json,
        "ARRAY" => TypeClass::Array,
        "VECTOR" => TypeClass::Vector,
        _ => TypeClass::Other,
    }
}

/// The answer's columns, from its `rowtype`.
fn columns_of(types: &[(String, String, i64)]) -> Vec<Column> {
    types
        .iter()
        .map(|(name, ty, scale)| {
            let native = if *scale > 0 {
                format!("{}({scale})", ty.to_lowercase())
            } else {
                ty.to_lowercase()
            };
            Column::new(name, class_of(ty, *scale), native)
        })
        .collect()
}

impl SnowflakeSession {
    /// All rows of an answer: the inline rowset and any further chunks, read in order until
    /// `limit` rows are in.
    pub(super) async fn rows(
        &self,
        data: &Json,
        limit: usize,
    ) -> Result<(Vec<Column>, Vec<Row>), ExecError> {
        let types = rowtype(data)?;
        let columns = columns_of(&types);
        let format = data
            .get("queryResultFormat")
            .and_then(Json::as_str)
            .unwrap_or("json");
        let mut rows = if format.eq_ignore_ascii_case("arrow") {
            let b64 = data
                .get("rowsetBase64")
                .and_then(Json::as_str)
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| ExecError::Client(format!("bad rowsetBase64: {e}")))?;
            arrow_rows(&bytes)?
        } else {
            json_rows(data.get("rowset"), &types)?
        };
        if let Some(chunks) = data.get("chunks").and_then(Json::as_array) {
            let headers = data
                .get("chunkHeaders")
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default();
            for (i, chunk) in chunks.iter().enumerate() {
                if rows.len() >= limit {
                    break;
                }
                let url = chunk
                    .get("url")
                    .and_then(Json::as_str)
                    .ok_or_else(|| ExecError::Client(format!("a chunk without url: {chunk}")))?;
                let which = format!("result chunk {} of {}", i + 1, chunks.len());
                let bytes = self.api.chunk(url, &headers, &which).await?;
                if format.eq_ignore_ascii_case("arrow") {
                    rows.extend(arrow_rows(&bytes)?);
                } else {
                    // JSON chunks are rows without the enclosing brackets.
                    let text = format!("[{}]", String::from_utf8_lossy(&bytes));
                    let parsed: Json = serde_json::from_str(&text)
                        .map_err(|e| ExecError::Client(format!("bad JSON chunk: {e}")))?;
                    rows.extend(json_rows(Some(&parsed), &types)?);
                }
            }
        }
        rows.truncate(limit);
        Ok((columns, rows))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scales_outside_snowflakes_range_are_errors_naming_the_column() {
        let data =
            |scale: Json| json!({"rowtype": [{"name": "X", "type": "fixed", "scale": scale}]});
        for bad in [
            json!(1_000_000_000_000_i64),
            json!(-1),
            json!(38),
            json!(1e30),
            json!("2"),
        ] {
            let e = rowtype(&data(bad.clone())).expect_err("rejected");
            assert!(
                matches!(&e, ExecError::Client(m) if m.contains("`X`") && m.contains("0..=37")),
                "{bad}: {e}"
            );
        }
        assert_eq!(rowtype(&data(json!(37))).expect("ok")[0].2, 37);
        assert_eq!(rowtype(&data(Json::Null)).expect("ok")[0].2, 0);
    }
}
