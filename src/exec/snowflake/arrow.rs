//! Arrow-format results (`rowsetBase64` and Arrow chunks): an IPC stream whose fields
//! carry Snowflake's logical type and scale as metadata, each cell read by them.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int8Type, Int16Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field};

use super::result::{MAX_SCALE, bad_scale, class_of};
use crate::exec::{ExecError, Row};
use crate::value::Value;

/// A scaled integer (`FIXED` with a scale) as exact decimal text. `scale` is a format width:
/// callers pass one checked by `rowtype`/`field_scale`, or an Arrow decimal's (an `i8`).
fn scaled(n: i128, scale: i64) -> Value {
    if scale <= 0 {
        return i64::try_from(n).map_or_else(|_| Value::Decimal(n.to_string()), Value::Int);
    }
    let digits = n.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    Value::Decimal(format!("{}{int}.{frac}", if n < 0 { "-" } else { "" }))
}

/// The `scale` of an Arrow field's Snowflake metadata (0 when absent), checked like a
/// rowtype's.
fn field_scale(field: &Field) -> Result<i64, ExecError> {
    let Some(text) = field.metadata().get("scale") else {
        return Ok(0);
    };
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (0..=MAX_SCALE).contains(n))
        .ok_or_else(|| bad_scale(field.name(), text))
}

/// For decoding cells, after `arrow_rows` has rejected every field whose scale is not
/// Snowflake's (so the fallback never hides a bad one).
fn metadata_scale(field: &Field) -> i64 {
    field_scale(field).unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]` from seconds and nanoseconds since the epoch.
fn timestamp_text(epoch: i64, nanos: i64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp(epoch, u32::try_from(nanos).ok()?)?.naive_utc();
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    Some(if nanos == 0 {
        base
    } else {
        format!("{base}.{}", format!("{nanos:09}").trim_end_matches('0'))
    })
}

/// An Arrow cell, read by the column's Snowflake logical type.
fn arrow_cell(column: &ArrayRef, field: &Field, row: usize) -> Value {
    if column.is_null(row) {
        return Value::Null;
    }
    let logical = field
        .metadata()
        .get("logicalType")
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_default();
    let scale = metadata_scale(field);
    let int = |c: &ArrayRef| -> Option<i128> {
        Some(match c.data_type() {
            DataType::Int8 => c.as_primitive::<Int8Type>().value(row).into(),
            DataType::Int16 => c.as_primitive::<Int16Type>().value(row).into(),
            DataType::Int32 => c.as_primitive::<Int32Type>().value(row).into(),
            DataType::Int64 => c.as_primitive::<Int64Type>().value(row).into(),
            _ => return None,
        })
    };
    let display = || {
        arrow_cast::display::ArrayFormatter::try_new(
            column.as_ref(),
            &arrow_cast::display::FormatOptions::default(),
        )
        .map(|f| f.value(row).to_string())
        .unwrap_or_default()
    };
    let class = class_of(&logical, scale);
    let other = |text: String| Value::Other { class, text };
    match (logical.as_str(), column.data_type()) {
        ("FIXED", DataType::Decimal128(_, s)) => {
            let v = column
                .as_primitive::<arrow_array::types::Decimal128Type>()
                .value(row);
            scaled(v, i64::from(*s))
        }
        ("FIXED", _) => int(column).map_or_else(|| Value::Decimal(display()), |n| scaled(n, scale)),
        (_, DataType::Boolean) => Value::Bool(column.as_boolean().value(row)),
        (_, DataType::Float32 | DataType::Float64) => display()
            .parse()
            .map_or_else(|_| other(display()), Value::Float),
        (_, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            if logical == "TEXT" || logical.is_empty() =>
        {
            Value::Text(display())
        }
        (_, DataType::Binary) => Value::Bytes(column.as_binary::<i32>().value(row).to_vec()),
        (_, DataType::LargeBinary) => Value::Bytes(column.as_binary::<i64>().value(row).to_vec()),
        ("DATE", DataType::Date32) => {
            let days = column.as_primitive::<Date32Type>().value(row);
            chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0).map_or_else(
                || other(display()),
                |d| other(d.format("%Y-%m-%d").to_string()),
            )
        }
        (l, DataType::Struct(_)) if l.starts_with("TIMESTAMP") => {
            let s: &StructArray = column.as_struct();
            // A NULL timestamp may come as a valid struct whose fields are null (fakesnow).
            if s.columns().iter().any(|c| c.is_null(row)) {
                return Value::Null;
            }
            let epoch = s
                .column_by_name("epoch")
                .and_then(|c| c.as_primitive_opt::<Int64Type>())
                .map(|c| c.value(row));
            let fraction = s
                .column_by_name("fraction")
                .and_then(|c| c.as_primitive_opt::<Int32Type>())
                .map(|c| c.value(row));
            match (epoch, fraction) {
                (Some(e), Some(f)) => {
                    timestamp_text(e, i64::from(f)).map_or_else(|| other(display()), other)
                }
                _ => other(display()),
            }
        }
        (l, _) if l.starts_with("TIMESTAMP") => match int(column) {
            // Scaled: seconds * 10^scale.
            Some(v) => {
                let unit = 10i128.pow(u32::try_from(scale.clamp(0, 9)).unwrap_or(0));
                let (secs, frac) = (v.div_euclid(unit), v.rem_euclid(unit));
                let nanos = frac * 10i128.pow(9 - u32::try_from(scale.clamp(0, 9)).unwrap_or(0));
                timestamp_text(secs as i64, nanos as i64).map_or_else(|| other(display()), other)
            }
            None => other(display()),
        },
        ("TIME", _) => match int(column) {
            Some(v) => {
                let nanos_per = 10i128.pow(9 - u32::try_from(scale.clamp(0, 9)).unwrap_or(0));
                let total = v * nanos_per;
                let secs = (total / 1_000_000_000) as i64;
                let nanos = (total % 1_000_000_000) as i64;
                let base = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
                other(if nanos == 0 {
                    base
                } else {
                    format!("{base}.{}", format!("{nanos:09}").trim_end_matches('0'))
                })
            }
            None => other(display()),
        },
        _ => other(display()),
    }
}

pub(super) fn arrow_rows(bytes: &[u8]) -> Result<Vec<Row>, ExecError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| ExecError::Client(format!("bad Arrow result: {e}")))?;
    let schema = reader.schema();
    for field in schema.fields() {
        field_scale(field)?;
    }
    let mut rows = Vec::new();
    for batch in reader {
        let batch: RecordBatch =
            batch.map_err(|e| ExecError::Client(format!("bad Arrow batch: {e}")))?;
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(column, field)| arrow_cell(column, field, row))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::value::TypeClass;

    #[test]
    fn scaled_integers_are_exact_decimals() {
        assert_eq!(scaled(250, 2), Value::Decimal("2.50".into()));
        assert_eq!(scaled(-5, 3), Value::Decimal("-0.005".into()));
        assert_eq!(scaled(42, 0), Value::Int(42));
        assert_eq!(
            scaled(5, 37),
            Value::Decimal(format!("0.{}5", "0".repeat(36)))
        );
    }

    #[test]
    fn arrow_results_decode_by_logical_type() {
        use std::collections::HashMap;

        use arrow_array::{
            BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
            Int64Array, LargeBinaryArray, StringArray,
        };
        use arrow_schema::Schema;

        let field = |name: &str, ty: DataType, logical: &str, scale: &str| {
            Field::new(name, ty, true).with_metadata(HashMap::from([
                ("logicalType".to_string(), logical.to_string()),
                ("scale".to_string(), scale.to_string()),
            ]))
        };
        let ts_fields = vec![
            Field::new("epoch", DataType::Int64, true),
            Field::new("fraction", DataType::Int32, true),
        ];
        let timestamps = StructArray::new(
            ts_fields.clone().into(),
            vec![
                Arc::new(Int64Array::from(vec![Some(1_704_164_645), None])),
                Arc::new(Int32Array::from(vec![Some(500_000_000), None])),
            ],
            None,
        );
        let schema = Arc::new(Schema::new(vec![
            field("scaled", DataType::Int64, "FIXED", "2"),
            field("dec", DataType::Decimal128(5, 2), "FIXED", "2"),
            field("int", DataType::Int64, "FIXED", "0"),
            field("flag", DataType::Boolean, "BOOLEAN", "0"),
            field("real", DataType::Float64, "REAL", "0"),
            field("text", DataType::Utf8, "TEXT", "0"),
            field("bin", DataType::Binary, "BINARY", "0"),
            field("big", DataType::LargeBinary, "BINARY", "0"),
            field("day", DataType::Date32, "DATE", "0"),
            field(
                "ts",
                DataType::Struct(ts_fields.into()),
                "TIMESTAMP_NTZ",
                "9",
            ),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(250), None])),
            Arc::new(
                Decimal128Array::from(vec![Some(-5), None])
                    .with_precision_and_scale(5, 2)
                    .expect("decimal"),
            ),
            Arc::new(Int64Array::from(vec![Some(42), None])),
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(Float64Array::from(vec![Some(0.5), None])),
            Arc::new(StringArray::from(vec![Some("héllo"), None])),
            Arc::new(BinaryArray::from(vec![Some(&[1u8, 2][..]), None])),
            Arc::new(LargeBinaryArray::from(vec![Some(&[3u8][..]), None])),
            Arc::new(Date32Array::from(vec![Some(19_724), None])),
            Arc::new(timestamps),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
        let mut bytes = Vec::new();
        {
            let mut writer =
                arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &schema).expect("writer");
            writer.write(&batch).expect("write");
            writer.finish().expect("finish");
        }
        let rows = arrow_rows(&bytes).expect("decodes");
        let other = |class: TypeClass, s: &str| Value::Other {
            class,
            text: s.into(),
        };
        assert_eq!(
            rows[0],
            vec![
                Value::Decimal("2.50".into()),
                Value::Decimal("-0.05".into()),
                Value::Int(42),
                Value::Bool(true),
                Value::Float(0.5),
                Value::Text("héllo".into()),
                Value::Bytes(vec![1, 2]),
                Value::Bytes(vec![3]),
                other(TypeClass::Date, "2024-01-02"),
                other(TypeClass::Timestamp, "2024-01-02 03:04:05.5"),
            ]
        );
        assert!(rows[1].iter().all(|v| *v == Value::Null), "{:?}", rows[1]);
    }

    #[test]
    fn arrow_fields_with_a_huge_scale_are_rejected_before_decoding() {
        use std::collections::HashMap;

        use arrow_array::Int64Array;
        use arrow_schema::Schema;

        let schema = Arc::new(Schema::new(vec![
            Field::new("N", DataType::Int64, true).with_metadata(HashMap::from([
                ("logicalType".to_string(), "FIXED".to_string()),
                ("scale".to_string(), "1000000000000".to_string()),
            ])),
        ]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1]))])
            .expect("batch");
        let mut bytes = Vec::new();
        {
            let mut writer =
                arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &schema).expect("writer");
            writer.write(&batch).expect("write");
            writer.finish().expect("finish");
        }
        let e = arrow_rows(&bytes).expect_err("rejected");
        assert!(e.to_string().contains("`N`"), "{e}");
        assert!(e.to_string().contains("1000000000000"), "{e}");
    }

    #[test]
    fn timestamps_read_like_snowflake() {
        assert_eq!(
            timestamp_text(1_704_164_645, 500_000_000).as_deref(),
            Some("2024-01-02 03:04:05.5")
        );
    }
}
