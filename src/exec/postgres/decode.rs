//! Results to [`Value`]s: a column's portable type class, and each cell from PostgreSQL's
//! text format (simple-protocol results, FETCH) or binary format (extended-protocol
//! results), read the way the server's own text output shows it.

use sqlx::postgres::types::{Oid, PgInterval};
use sqlx::postgres::{PgRow, PgValueFormat, PgValueRef};
use sqlx::{Column as _, Row as _, TypeInfo, ValueRef};

use crate::exec::{Column, ExecError, ResultSet, Row, undecodable};
use crate::value::{TypeClass, Value, format_float};

pub(super) fn is_text_type(ty: &str) -> bool {
    matches!(
        ty,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN"
    )
}

pub(super) fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A PostgreSQL type's portable class, from the name sqlx gives its OID.
pub(super) fn class_of(ty: &str) -> TypeClass {
    match ty {
        "INT2" | "INT4" | "INT8" | "OID" => TypeClass::Integer,
        "FLOAT4" | "FLOAT8" => TypeClass::Float,
        "NUMERIC" => TypeClass::Decimal,
        "BOOL" => TypeClass::Boolean,
        "BYTEA" => TypeClass::Bytes,
        "DATE" => TypeClass::Date,
        "TIME" | "TIMETZ" => TypeClass::Time,
        "TIMESTAMP" | "TIMESTAMPTZ" => TypeClass::Timestamp,
        "INTERVAL" => TypeClass::Interval,
        "JSON" | "JSONB" => TypeClass::Json,
        "UUID" => TypeClass::Uuid,
        "VECTOR" => TypeClass::Vector,
        t if t.ends_with("[]") => TypeClass::Array,
        t if is_text_type(t) => TypeClass::Text,
        _ => TypeClass::Other,
    }
}

fn decode_row(row: &PgRow) -> Result<Row, ExecError> {
    (0..row.len())
        .map(|i| {
            let column = row.column(i);
            let fail = |e: &dyn std::fmt::Display, bytes: Option<&[u8]>| {
                undecodable(i, column.name(), column.type_info().name(), e, bytes)
            };
            let raw = row.try_get_raw(i).map_err(|e| fail(&e, None))?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            let ty = raw.type_info().name().to_string();
            let decoded = match raw.format() {
                PgValueFormat::Text => match raw.as_str() {
                    Ok(s) => from_text(&ty, s),
                    Err(e) => Err(e.to_string()),
                },
                PgValueFormat::Binary => from_binary(&ty, row, i, &raw),
            };
            decoded.map_err(|e| fail(&e, raw.as_bytes().ok()))
        })
        .collect()
}

/// A value in PostgreSQL's text format (simple-protocol results, FETCH).
fn from_text(ty: &str, s: &str) -> Result<Value, String> {
    let bad = |e: &dyn std::fmt::Display| format!("`{s}`: {e}");
    Ok(match class_of(ty) {
        TypeClass::Integer => Value::Int(s.parse().map_err(|e| bad(&e))?),
        TypeClass::Float => Value::Float(s.parse().map_err(|e| bad(&e))?),
        TypeClass::Decimal => Value::Decimal(s.to_string()),
        TypeClass::Boolean => match s {
            "t" => Value::Bool(true),
            "f" => Value::Bool(false),
            _ => return Err(bad(&"not t or f")),
        },
        TypeClass::Bytes => Value::Bytes(
            s.strip_prefix("\\x")
                .and_then(decode_hex)
                .ok_or_else(|| bad(&"not \\x hex"))?,
        ),
        TypeClass::Text => Value::Text(s.to_string()),
        class => Value::Other {
            class,
            text: s.to_string(),
        },
    })
}

fn fmt_time(t: sqlx::types::chrono::NaiveTime) -> String {
    use chrono::Timelike;
    let base = t.format("%H:%M:%S").to_string();
    let micros = t.nanosecond() / 1000;
    if micros == 0 {
        base
    } else {
        format!("{base}.{}", format!("{micros:06}").trim_end_matches('0'))
    }
}

/// PostgreSQL's default (`postgres`) interval style: `1 year 2 mons 3 days 04:05:06`.
fn fmt_interval(i: &PgInterval) -> String {
    let mut parts = Vec::new();
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let (years, months) = (i64::from(i.months / 12), i64::from(i.months % 12));
    if years != 0 {
        parts.push(unit(years, "year", "years"));
    }
    if months != 0 {
        parts.push(unit(months, "mon", "mons"));
    }
    if i.days != 0 {
        parts.push(unit(i64::from(i.days), "day", "days"));
    }
    if i.microseconds != 0 || parts.is_empty() {
        let negative_before = i.months < 0 || i.days < 0;
        let sign = if i.microseconds < 0 {
            "-"
        } else if negative_before {
            "+"
        } else {
            ""
        };
        let total = i.microseconds.unsigned_abs();
        let (secs, micros) = (total / 1_000_000, total % 1_000_000);
        let mut time = format!(
            "{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if micros != 0 {
            time.push_str(&format!(
                ".{}",
                format!("{micros:06}").trim_end_matches('0')
            ));
        }
        parts.push(time);
    }
    parts.join(" ")
}

/// PostgreSQL's array text form: `{1,2,NULL}`, `{"a b",c}`.
fn fmt_array<T>(items: Vec<Option<T>>, text: impl Fn(T) -> String, quote: bool) -> String {
    let cells: Vec<String> = items
        .into_iter()
        .map(|item| match item {
            None => "NULL".to_string(),
            Some(v) => {
                let s = text(v);
                let needs = quote
                    && (s.is_empty()
                        || s.eq_ignore_ascii_case("null")
                        || s.chars()
                            .any(|c| c.is_whitespace() || "{},\"\\".contains(c)));
                if needs {
                    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                } else {
                    s
                }
            }
        })
        .collect();
    format!("{{{}}}", cells.join(","))
}

/// A value in PostgreSQL's binary format (extended-protocol results), rendered the way
/// the server's text output would show it.
fn from_binary(ty: &str, row: &PgRow, i: usize, raw: &PgValueRef<'_>) -> Result<Value, String> {
    use sqlx::types::chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
    let class = class_of(ty);
    let other = |text: String| Value::Other { class, text };
    let decoded: Result<Value, sqlx::Error> = (|| {
        Ok(match ty {
            "INT2" => Value::Int(row.try_get_unchecked::<i16, _>(i)?.into()),
            "INT4" => Value::Int(row.try_get_unchecked::<i32, _>(i)?.into()),
            "INT8" => Value::Int(row.try_get_unchecked::<i64, _>(i)?),
            "OID" => Value::Int(row.try_get_unchecked::<Oid, _>(i)?.0.into()),
            // Through its shortest text, so a real's 0.1 stays 0.1 and not 0.10000000149.
            "FLOAT4" => Value::Float(
                row.try_get_unchecked::<f32, _>(i)?
                    .to_string()
                    .parse()
                    .unwrap_or(f64::NAN),
            ),
            "FLOAT8" => Value::Float(row.try_get_unchecked::<f64, _>(i)?),
            "NUMERIC" => match numeric_text(raw.as_bytes().unwrap_or_default()) {
                Some(text) => Value::Decimal(text),
                None => {
                    return Err(sqlx::Error::Decode("a malformed numeric".into()));
                }
            },
            "BOOL" => Value::Bool(row.try_get_unchecked::<bool, _>(i)?),
            "BYTEA" => Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i)?),
            "DATE" => other(
                row.try_get_unchecked::<NaiveDate, _>(i)?
                    .format("%Y-%m-%d")
                    .to_string(),
            ),
            "TIME" => other(fmt_time(row.try_get_unchecked::<NaiveTime, _>(i)?)),
            "TIMESTAMP" => {
                let t = row.try_get_unchecked::<NaiveDateTime, _>(i)?;
                other(format!("{} {}", t.format("%Y-%m-%d"), fmt_time(t.time())))
            }
            "TIMESTAMPTZ" => {
                let t = row.try_get_unchecked::<DateTime<Utc>, _>(i)?;
                other(format!(
                    "{} {}+00",
                    t.format("%Y-%m-%d"),
                    fmt_time(t.time())
                ))
            }
            "INTERVAL" => other(fmt_interval(&row.try_get_unchecked::<PgInterval, _>(i)?)),
            "UUID" => other(
                row.try_get_unchecked::<sqlx::types::Uuid, _>(i)?
                    .to_string(),
            ),
            // json's binary form is its text; jsonb's is a version byte then the text.
            "JSON" => {
                other(String::from_utf8_lossy(raw.as_bytes().unwrap_or_default()).into_owned())
            }
            "JSONB" => other(
                String::from_utf8_lossy(
                    raw.as_bytes()
                        .unwrap_or_default()
                        .get(1..)
                        .unwrap_or_default(),
                )
                .into_owned(),
            ),
            "INT2[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<i16>>, _>(i)?,
                |v| v.to_string(),
                false,
            )),
            "INT4[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<i32>>, _>(i)?,
                |v| v.to_string(),
                false,
            )),
            "INT8[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<i64>>, _>(i)?,
                |v| v.to_string(),
                false,
            )),
            "FLOAT8[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<f64>>, _>(i)?,
                format_float,
                false,
            )),
            "BOOL[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<bool>>, _>(i)?,
                |b| if b { "t" } else { "f" }.to_string(),
                false,
            )),
            "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" | "NAME[]" => other(fmt_array(
                row.try_get_unchecked::<Vec<Option<String>>, _>(i)?,
                |s| s,
                true,
            )),
            t if is_text_type(t) => Value::Text(row.try_get_unchecked::<String, _>(i)?),
            // No decoder: the raw bytes, marked as such, rather than a guess.
            _ => {
                let bytes = raw.as_bytes().unwrap_or_default();
                other(format!(
                    "binary:{}",
                    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ))
            }
        })
    })();
    decoded.map_err(|e| e.to_string())
}

/// NUMERIC's binary form as the server prints it, keeping its display scale (`1.50`, not
/// the `1.5000` a decimal type would give back).
fn numeric_text(bytes: &[u8]) -> Option<String> {
    let word = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign, dscale) = (
        word(0)? as usize,
        word(2)? as i16,
        word(4)?,
        word(6)? as usize,
    );
    match sign {
        0xC000 => return Some("NaN".to_string()),
        0xD000 => return Some("Infinity".to_string()),
        0xF000 => return Some("-Infinity".to_string()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|k| word(8 + 2 * k))
        .collect::<Option<_>>()?;
    // digits[k] is the base-10000 group of weight `weight - k`.
    let group = |k: i32| {
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k).copied())
            .unwrap_or(0)
    };
    let weight = i32::from(weight);
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for k in 0..=weight {
            if k == 0 {
                text.push_str(&group(k).to_string());
            } else {
                text.push_str(&format!("{:04}", group(k)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut k = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", group(k)));
            k += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

fn describe(row: &PgRow) -> Vec<Column> {
    crate::exec::sqlx_columns(row.columns(), class_of)
}

pub(super) fn result_set(rows: &[PgRow]) -> Result<ResultSet, ExecError> {
    Ok(ResultSet {
        columns: rows.first().map(describe).unwrap_or_default(),
        rows: rows.iter().map(decode_row).collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_like_postgres() {
        let i = |months, days, microseconds| PgInterval {
            months,
            days,
            microseconds,
        };
        assert_eq!(
            fmt_interval(&i(14, 3, 4 * 3_600_000_000 + 5 * 60_000_000 + 6_500_000)),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(fmt_interval(&i(0, 1, 0)), "1 day");
        assert_eq!(fmt_interval(&i(0, 0, 0)), "00:00:00");
        assert_eq!(fmt_interval(&i(0, -1, 7_200_000_000)), "-1 days +02:00:00");
    }

    #[test]
    fn arrays_escape() {
        assert_eq!(
            fmt_array(vec![Some(1), None, Some(3)], |v: i32| v.to_string(), false),
            "{1,NULL,3}"
        );
        assert_eq!(
            fmt_array(vec![Some("a b".to_string()), Some("c".into())], |s| s, true),
            "{\"a b\",c}"
        );
    }

    #[test]
    fn numerics_keep_their_display_scale() {
        let numeric = |ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]| {
            let mut b = Vec::new();
            for w in [ndigits, weight as u16, sign, dscale] {
                b.extend_from_slice(&w.to_be_bytes());
            }
            for d in digits {
                b.extend_from_slice(&d.to_be_bytes());
            }
            numeric_text(&b)
        };
        assert_eq!(numeric(2, 0, 0, 2, &[1, 5000]).as_deref(), Some("1.50"));
        assert_eq!(
            numeric(2, 1, 0x4000, 0, &[12, 3456]).as_deref(),
            Some("-123456")
        );
        assert_eq!(numeric(1, -1, 0, 5, &[123]).as_deref(), Some("0.01230"));
        assert_eq!(numeric(0, 0, 0, 3, &[]).as_deref(), Some("0.000"));
        assert_eq!(numeric(0, 0, 0xC000, 0, &[]).as_deref(), Some("NaN"));
    }

    #[test]
    fn text_results_decode_by_type() {
        assert_eq!(from_text("INT4", "42"), Ok(Value::Int(42)));
        assert_eq!(from_text("BOOL", "t"), Ok(Value::Bool(true)));
        assert_eq!(
            from_text("NUMERIC", "10.50"),
            Ok(Value::Decimal("10.50".into()))
        );
        assert_eq!(
            from_text("BYTEA", "\\x0aff"),
            Ok(Value::Bytes(vec![10, 255]))
        );
        assert_eq!(
            from_text("DATE", "2024-01-02"),
            Ok(Value::Other {
                class: TypeClass::Date,
                text: "2024-01-02".into()
            })
        );
        // A value that does not read as its type is an error, never a guess.
        assert!(from_text("INT4", "forty-two").is_err());
        assert!(from_text("BOOL", "yes").is_err());
    }
}
