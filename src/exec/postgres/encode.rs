//! Values to PostgreSQL's wire forms: parameters bound as the types the server inferred
//! for them, and COPY rows in the text format.

use std::str::FromStr;

use sqlx::Arguments;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArguments, PgTypeInfo};
use sqlx::types::BigDecimal;

use super::PgSession;
use super::decode::{decode_hex, is_text_type};
use crate::exec::ExecError;
use crate::step::Param;
use crate::value::{Scalar, format_float};

impl PgSession {
    /// Binds `params` as the types the server inferred for the statement's placeholders,
    /// as asyncpg does, so `NULL` or a string bind to whatever column they meet.
    pub(super) async fn arguments(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<PgArguments, ExecError> {
        let types = self.parameter_types(sql).await?;
        let mut args = PgArguments::default();
        for (index, param) in params.iter().enumerate() {
            let ty = types.get(index);
            let added = match (&param.value, ty.and_then(|t| t.oid)) {
                // An unnamed statement declares its parameters' types when parsed: a NULL
                // must carry the one the server inferred, or it would declare text.
                (Scalar::Null, Some(oid)) => args
                    .add(TypedNull(PgTypeInfo::with_oid(Oid(oid))))
                    .map_err(|e| e.to_string()),
                (value, _) => encode(&mut args, value, ty.map_or("UNKNOWN", |t| t.name.as_str())),
            };
            let ty = ty.map_or("UNKNOWN", |t| t.name.as_str());
            added.map_err(|e| {
                ExecError::Client(format!(
                    "parameter ${} ({}): {e}",
                    index + 1,
                    ty.to_lowercase()
                ))
            })?;
        }
        Ok(args)
    }
}

/// A NULL parameter of a given type.
struct TypedNull(PgTypeInfo);

impl sqlx::Type<sqlx::Postgres> for TypedNull {
    fn type_info() -> PgTypeInfo {
        // Only a fallback: `produces` names the real type of each value.
        PgTypeInfo::with_name("text")
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for TypedNull {
    fn encode_by_ref(
        &self,
        _: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.0.clone())
    }
}

/// Encodes one parameter as the PostgreSQL type the server expects.
fn encode(args: &mut PgArguments, value: &Scalar, ty: &str) -> Result<(), String> {
    let added = match (value, ty) {
        // A NULL carries no bytes, so any declared type binds.
        (Scalar::Null, _) => args.add(Option::<String>::None),
        (Scalar::Bool(b), "BOOL" | "UNKNOWN") => args.add(*b),
        (Scalar::Int(i), "INT2") => {
            args.add(i16::try_from(*i).map_err(|_| format!("{i} does not fit int2"))?)
        }
        (Scalar::Int(i), "INT4") => {
            args.add(i32::try_from(*i).map_err(|_| format!("{i} does not fit int4"))?)
        }
        (Scalar::Int(i), "INT8" | "UNKNOWN") => args.add(*i),
        (Scalar::Int(i), "OID") => args.add(Oid(
            u32::try_from(*i).map_err(|_| format!("{i} is not an oid"))?
        )),
        (Scalar::Int(i), "FLOAT4") => args.add(*i as f32),
        (Scalar::Int(i), "FLOAT8") => args.add(*i as f64),
        (Scalar::Int(i), "NUMERIC") => args.add(BigDecimal::from(*i)),
        (Scalar::Int(i), "BOOL") => args.add(*i != 0),
        (Scalar::Float(f), "FLOAT4") => args.add(*f as f32),
        (Scalar::Float(f), "FLOAT8" | "UNKNOWN") => args.add(*f),
        (Scalar::Float(f), "NUMERIC") => {
            args.add(BigDecimal::from_str(&format_float(*f)).map_err(|e| e.to_string())?)
        }
        (Scalar::Float(f), "INT2" | "INT4" | "INT8") if f.fract() == 0.0 => {
            return encode(args, &Scalar::Int(*f as i64), ty);
        }
        (Scalar::Text(s), _) => return encode_text(args, s, ty),
        (other, text) if is_text_type(text) => args.add(other.display_text()),
        (other, _) => return Err(format!("cannot bind {} here", other.type_name())),
    };
    added.map_err(|e| e.to_string())
}

/// A string parameter read as the type the server expects, as a literal would be.
fn encode_text(args: &mut PgArguments, s: &str, ty: &str) -> Result<(), String> {
    use sqlx::types::chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
    let bad =
        |e: &dyn std::fmt::Display| format!("`{s}` is not a valid {}: {e}", ty.to_lowercase());
    let added = match ty {
        t if is_text_type(t) => args.add(s.to_string()),
        "INT2" => args.add(s.trim().parse::<i16>().map_err(|e| bad(&e))?),
        "INT4" => args.add(s.trim().parse::<i32>().map_err(|e| bad(&e))?),
        "INT8" => args.add(s.trim().parse::<i64>().map_err(|e| bad(&e))?),
        "FLOAT4" => args.add(s.trim().parse::<f32>().map_err(|e| bad(&e))?),
        "FLOAT8" => args.add(s.trim().parse::<f64>().map_err(|e| bad(&e))?),
        "NUMERIC" => args.add(BigDecimal::from_str(s.trim()).map_err(|e| bad(&e))?),
        "BOOL" => args.add(match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "on" | "1" => true,
            "f" | "false" | "no" | "off" | "0" => false,
            _ => return Err(bad(&"expected true or false")),
        }),
        "DATE" => args.add(NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|e| bad(&e))?),
        "TIME" => {
            args.add(NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f").map_err(|e| bad(&e))?)
        }
        "TIMESTAMP" => args.add(
            NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f"))
                .map_err(|e| bad(&e))?,
        ),
        "TIMESTAMPTZ" => args.add(
            DateTime::parse_from_rfc3339(s.trim())
                .or_else(|_| DateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f%#z"))
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| bad(&e))?,
        ),
        "UUID" => args.add(sqlx::types::Uuid::parse_str(s.trim()).map_err(|e| bad(&e))?),
        "JSON" | "JSONB" => args.add(sqlx::types::Json(
            serde_json::from_str::<serde_json::Value>(s).map_err(|e| bad(&e))?,
        )),
        "BYTEA" => args.add(match s.strip_prefix("\\x") {
            Some(hex) => decode_hex(hex).ok_or_else(|| bad(&"bad hex"))?,
            None => s.as_bytes().to_vec(),
        }),
        other => {
            return Err(format!(
                "cannot bind a string to a parameter of type {}",
                other.to_lowercase()
            ));
        }
    };
    added.map_err(|e| e.to_string())
}

/// One COPY text-format field.
pub(super) fn copy_field(out: &mut Vec<u8>, value: &Scalar) {
    match value {
        Scalar::Null => out.extend_from_slice(b"\\N"),
        Scalar::Bool(b) => out.extend_from_slice(if *b { b"t" } else { b"f" }),
        Scalar::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Scalar::Float(f) => out.extend_from_slice(format_float(*f).as_bytes()),
        Scalar::Text(s) => {
            for c in s.bytes() {
                match c {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    other => out.push(other),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_fields_escape() {
        let mut out = Vec::new();
        copy_field(&mut out, &Scalar::Text("a\tb\\c\nd".into()));
        assert_eq!(out, b"a\\tb\\\\c\\nd");
    }
}
