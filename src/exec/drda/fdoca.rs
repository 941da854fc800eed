//! Result descriptions and row data: SQLDARD (column names and SQL types), QRYDSC (the
//! FD:OCA layout of a row) and QRYDTA (rows in that layout).

use super::bytes::Reader;
use super::frame::FrameError;
use super::sqlca::{self, Sqlca};
use crate::exec::{Column, ExecError, Row, undecodable};
use crate::value::{TypeClass, Value};

/// How one column is laid out in a row (an FD:OCA data type and its length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The FD:OCA type; odd types are nullable (a null indicator byte comes first).
    pub kind: u8,
    /// The length, or for DECIMAL the precision (high byte) and scale (low byte).
    pub length: u16,
}

/// The row layout of a QRYDSC: the fields of its SQLDTAGRP triplets (type 0x76), in order.
pub fn layout(qrydsc: &[u8]) -> Result<Vec<Field>, FrameError> {
    let mut fields = Vec::new();
    let mut r = Reader::new(qrydsc);
    while !r.is_empty() {
        let len = usize::from(r.u8("triplet length")?);
        if len < 3 {
            return Err(FrameError(format!("FD:OCA triplet of length {len}")));
        }
        let kind = r.u8("triplet type")?;
        let _id = r.u8("triplet id")?;
        let data = r.take(len - 3, "triplet data")?;
        // 0x76: a row of simple fields (an SDA list); 0x71, 0x7F: group and row layouts
        // that only say SQLCA then data, which the row reader knows.
        if kind == 0x76 {
            if data.len() % 3 != 0 {
                return Err(FrameError(format!("SDA list of {} bytes", data.len())));
            }
            for f in data.chunks(3) {
                fields.push(Field {
                    kind: f[0],
                    length: u16::from_be_bytes([f[1], f[2]]),
                });
            }
        }
    }
    Ok(fields)
}

/// A column as SQLDARD describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub name: String,
    pub sqltype: u16,
    pub length: u64,
    pub precision: u16,
    pub scale: u16,
}

impl Described {
    /// The SQL type's name (the even base of a nullable odd type).
    pub fn native(&self) -> String {
        match self.sqltype & !1 {
            496 => "INTEGER".into(),
            500 => "SMALLINT".into(),
            492 => "BIGINT".into(),
            484 => format!("DECIMAL({},{})", self.precision, self.scale),
            480 if self.length == 4 => "REAL".into(),
            480 => "DOUBLE".into(),
            448 => "VARCHAR".into(),
            452 => "CHAR".into(),
            456 => "LONG VARCHAR".into(),
            384 => "DATE".into(),
            388 => "TIME".into(),
            392 => "TIMESTAMP".into(),
            2436 => "BOOLEAN".into(),
            other => format!("SQLTYPE {other}"),
        }
    }

    pub fn class(&self) -> TypeClass {
        match self.sqltype & !1 {
            496 | 500 | 492 => TypeClass::Integer,
            484 => TypeClass::Decimal,
            480 => TypeClass::Float,
            448 | 452 | 456 => TypeClass::Text,
            384 => TypeClass::Date,
            388 => TypeClass::Time,
            392 => TypeClass::Timestamp,
            2436 => TypeClass::Boolean,
            _ => TypeClass::Other,
        }
    }

    pub fn column(&self) -> Column {
        Column::new(self.name.clone(), self.class(), self.native())
    }
}

/// An SQLDARD: its SQLCA (an error, when the prepare failed) and its columns.
pub fn sqldard(body: &[u8]) -> Result<(Option<Sqlca>, Vec<Described>), FrameError> {
    let mut r = Reader::new(body);
    let ca = sqlca::read(&mut r)?;
    if ca.as_ref().is_some_and(Sqlca::is_error) {
        return Ok((ca, Vec::new()));
    }
    // SQLDHROW: holdability, return, scroll, sensitivity, fetch code, key type, names.
    if r.u8("SQLDHROW null indicator")? != 0xFF {
        r.take(12, "SQLDHROW")?;
        r.var_text("SQLDHROW RDB name")?;
        r.var_text("SQLDHROW schema (mixed)")?;
        r.var_text("SQLDHROW schema (single)")?;
    }
    let n = r.u16("SQLNUMROWS")?;
    let mut columns = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let precision = r.u16("SQLPRECISION")?;
        let scale = r.u16("SQLSCALE")?;
        let length = u64::from_be_bytes(
            r.take(8, "SQLLENGTH")?
                .try_into()
                .map_err(|_| FrameError("SQLLENGTH".into()))?,
        );
        let sqltype = r.u16("SQLTYPE")?;
        r.u16("SQLCCSID")?;
        let mut name = String::new();
        if r.u8("SQLDOPTGRP null indicator")? != 0xFF {
            r.u16("SQLUNNAMED")?;
            let mixed = r.var_text("SQLNAME (mixed)")?;
            let single = r.var_text("SQLNAME (single)")?;
            name = if mixed.is_empty() { single } else { mixed };
            for what in ["SQLLABEL", "SQLLABEL", "SQLCOMMENTS", "SQLCOMMENTS"] {
                r.var_text(what)?;
            }
            if r.u8("SQLUDTGRP null indicator")? != 0xFF {
                return Err(FrameError(
                    "a user-defined type (SQLUDTGRP), which this client does not read".into(),
                ));
            }
        }
        if r.u8("SQLDXGRP null indicator")? != 0xFF {
            r.take(8, "SQLDXGRP flags")?;
            r.var_text("SQLXRDBNAM")?;
            for what in ["SQLXCORNAME", "SQLXBASENAME", "SQLXSCHEMA", "SQLXNAME"] {
                r.var_text(what)?;
                r.var_text(what)?;
            }
        }
        columns.push(Described {
            name,
            sqltype,
            length,
            precision,
            scale,
        });
    }
    Ok((ca, columns))
}

/// What reading QRYDTA bytes came to.
#[derive(Debug, PartialEq)]
pub enum Rows {
    /// The bytes end inside a row: these rows, and where the unfinished one starts.
    More { consumed: usize },
    /// The query's last row was read (an SQLCA of +100 follows the rows).
    End { consumed: usize },
}

/// Decodes the rows in `bytes` (one or more QRYDTA blocks, joined) into `out`.
pub fn rows(
    bytes: &[u8],
    fields: &[Field],
    columns: &[Described],
    out: &mut Vec<Row>,
) -> Result<Rows, ExecError> {
    let mut at = 0;
    while at < bytes.len() {
        let mut r = Reader::new(&bytes[at..]);
        match row(&mut r, fields, columns) {
            Ok(Some(row)) => {
                out.push(row);
                at = bytes.len() - r.remaining();
            }
            Ok(None) => {
                return Ok(Rows::End {
                    consumed: bytes.len() - r.remaining(),
                });
            }
            // Ran out inside the row: the next block holds the rest.
            Err(RowError::Short) => return Ok(Rows::More { consumed: at }),
            Err(RowError::Failed(e)) => return Err(e),
        }
    }
    Ok(Rows::More { consumed: at })
}

enum RowError {
    Short,
    Failed(ExecError),
}

impl From<FrameError> for RowError {
    fn from(_: FrameError) -> Self {
        RowError::Short
    }
}

/// One row, or `None` at the end-of-data SQLCA.
fn row(
    r: &mut Reader<'_>,
    fields: &[Field],
    columns: &[Described],
) -> Result<Option<Row>, RowError> {
    if let Some(ca) = sqlca::read(r)?
        && (ca.is_end_of_data() || ca.is_error())
    {
        r.u8("SQLDTAGRP null indicator")?;
        if ca.is_error() {
            return Err(RowError::Failed(ExecError::Db(ca.to_db_error())));
        }
        return Ok(None);
    }
    if r.u8("SQLDTAGRP null indicator")? == 0xFF {
        return Ok(Some(Vec::new()));
    }
    let mut values = Vec::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        values.push(value(r, i, *field, columns.get(i))?);
    }
    Ok(Some(values))
}

fn value(
    r: &mut Reader<'_>,
    i: usize,
    field: Field,
    column: Option<&Described>,
) -> Result<Value, RowError> {
    if field.kind & 1 == 1 && r.u8("null indicator")? & 0x80 != 0 {
        return Ok(Value::Null);
    }
    let name = column.map_or("?", |c| c.name.as_str());
    let native = column.map_or_else(|| format!("FD:OCA {:#04x}", field.kind), Described::native);
    let fail = |detail: &dyn std::fmt::Display, bytes: &[u8]| {
        RowError::Failed(undecodable(i, name, &native, detail, Some(bytes)))
    };
    let len = usize::from(field.length);
    Ok(match field.kind & !1 {
        0x02 => Value::Int(i64::from(r.i32("INTEGER")?)),
        0x04 => Value::Int(i64::from(r.u16("SMALLINT")? as i16)),
        0x16 => {
            let b = r.take(8, "BIGINT")?;
            Value::Int(i64::from_be_bytes(
                b.try_into().map_err(|_| RowError::Short)?,
            ))
        }
        0x0C if len == 4 => {
            let b = r.take(4, "REAL")?;
            Value::Float(f64::from(f32::from_be_bytes(
                b.try_into().map_err(|_| RowError::Short)?,
            )))
        }
        0x0A | 0x0C => {
            let b = r.take(8, "DOUBLE")?;
            Value::Float(f64::from_be_bytes(
                b.try_into().map_err(|_| RowError::Short)?,
            ))
        }
        0x0E => {
            let (precision, scale) = (field.length >> 8, field.length & 0xFF);
            let b = r.take(usize::from(precision / 2 + 1), "DECIMAL")?;
            Value::Decimal(packed_decimal(b, scale).map_err(|e| fail(&e, b))?)
        }
        // Character data: VARCHAR and CHAR (Derby sends both with a length), LONG VARCHAR.
        0x32 | 0x3E | 0x34 | 0x40 => {
            let n = usize::from(r.u16("string length")?);
            let b = r.take(n, "string")?;
            Value::Text(std::str::from_utf8(b).map_err(|e| fail(&e, b))?.to_string())
        }
        0x30 | 0x3C => {
            let b = r.take(len, "fixed string")?;
            Value::Text(std::str::from_utf8(b).map_err(|e| fail(&e, b))?.to_string())
        }
        0x20 | 0x22 | 0x24 => {
            let b = r.take(len, "datetime")?;
            let text = std::str::from_utf8(b).map_err(|e| fail(&e, b))?;
            let class = match field.kind & !1 {
                0x20 => TypeClass::Date,
                0x22 => TypeClass::Time,
                _ => TypeClass::Timestamp,
            };
            Value::Other {
                class,
                text: datetime_text(class, text),
            }
        }
        0xBE => Value::Bool(r.u8("BOOLEAN")? != 0),
        other => {
            return Err(fail(
                &format!("FD:OCA type {other:#04x} is not one this client decodes"),
                &[],
            ));
        }
    })
}

/// DB2's text forms as the portable ones: `2024-01-02-03.04.05.123456` becomes
/// `2024-01-02 03:04:05.123456`, `03.04.05` becomes `03:04:05`; trailing zeros of a
/// fraction go.
fn datetime_text(class: TypeClass, text: &str) -> String {
    match class {
        TypeClass::Time => text.replace('.', ":"),
        // (ASCII only: a server sending otherwise gets its text back as it was.)
        TypeClass::Timestamp if text.len() >= 19 && text.is_ascii() => {
            let (date, time) = text.split_at(10);
            let time = &time[1..];
            let (hms, fraction) = time.split_at(8.min(time.len()));
            let fraction = fraction.trim_start_matches('.').trim_end_matches('0');
            let mut out = format!("{date} {}", hms.replace('.', ":"));
            if !fraction.is_empty() {
                out.push('.');
                out.push_str(fraction);
            }
            out
        }
        _ => text.to_string(),
    }
}

/// Packed decimal: two digits a byte, the last nibble the sign (0xD negative).
fn packed_decimal(bytes: &[u8], scale: u16) -> Result<String, String> {
    let mut digits = String::with_capacity(bytes.len() * 2);
    let mut sign = '+';
    for (i, b) in bytes.iter().enumerate() {
        let (hi, lo) = (b >> 4, b & 0x0F);
        if hi > 9 {
            return Err(format!("nibble {hi:#x} is not a digit"));
        }
        digits.push(char::from(b'0' + hi));
        if i + 1 == bytes.len() {
            sign = match lo {
                0x0D | 0x0B => '-',
                0x0C | 0x0F | 0x0A | 0x0E => '+',
                other => return Err(format!("sign nibble {other:#x}")),
            };
        } else if lo > 9 {
            return Err(format!("nibble {lo:#x} is not a digit"));
        } else {
            digits.push(char::from(b'0' + lo));
        }
    }
    let scale = usize::from(scale);
    if scale > digits.len() {
        return Err(format!("scale {scale} exceeds {} digits", digits.len()));
    }
    let (int, frac) = digits.split_at(digits.len() - scale);
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let text = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    Ok(if sign == '-' {
        format!("-{text}")
    } else {
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::drda::bytes::hex;

    #[test]
    fn derbys_rows_of_every_type_decode() {
        // SELECT * FROM t (INT, VARCHAR, DECIMAL(6,2), REAL, DOUBLE, BIGINT, SMALLINT,
        // CHAR(3), DATE, TIME, TIMESTAMP, BOOLEAN), two rows, captured from Derby 10.14.
        let dsc = hex(
            "2776d00200043300140f06020d00040b00081700080500023f000321000a23000825001dbf00010971e0540001d000010671f0e00000",
        );
        let fields = layout(&dsc).expect("layout");
        assert_eq!(fields.len(), 12);
        let data = hex(
            "ff000000000100000161000000150c003fc000000040020000000000000000000002540be40000000700000378792000323032342d30312d30320030333a30343a303500323032342d30312d30322d30332e30342e30352e3132333435363030300001ff0000000002ffffffffffffffffffffff000000006430323030304353533130313430000000000000000002000000000000000000000000000000002020202020202020202020000000000000ffff",
        );
        let mut out = Vec::new();
        let end = rows(&data, &fields, &[], &mut out).expect("decodes");
        assert!(matches!(end, Rows::End { .. }));
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0],
            vec![
                Value::Int(1),
                Value::Text("a".into()),
                Value::Decimal("1.50".into()),
                Value::Float(1.5),
                Value::Float(2.25),
                Value::Int(10_000_000_000),
                Value::Int(7),
                Value::Text("xy ".into()),
                Value::Other {
                    class: TypeClass::Date,
                    text: "2024-01-02".into()
                },
                Value::Other {
                    class: TypeClass::Time,
                    text: "03:04:05".into()
                },
                Value::Other {
                    class: TypeClass::Timestamp,
                    text: "2024-01-02 03:04:05.123456".into()
                },
                Value::Bool(true),
            ]
        );
        assert_eq!(out[1][0], Value::Int(2));
        assert!(out[1][1..].iter().all(|v| *v == Value::Null));
        // Cut anywhere, the rows before the cut come back and the rest waits for more.
        for cut in 0..data.len() {
            let mut some = Vec::new();
            if let Ok(Rows::More { consumed }) = rows(&data[..cut], &fields, &[], &mut some) {
                assert!(consumed <= cut);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_are_errors_never_panics() {
        let fields = layout(&hex(
            "2776d00200043300140f06020d00040b00081700080500023f000321000a23000825001dbf0001",
        ))
        .expect("layout");
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..5000 {
            let len = (next() % 160) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Half the time, a plausible start (no SQLCA, data present) to get deeper.
            if round % 2 == 0 && len > 2 {
                bytes[0] = 0xFF;
                bytes[1] = 0x00;
            }
            let _ = layout(&bytes);
            let _ = sqldard(&bytes);
            let _ = sqlca::read(&mut Reader::new(&bytes));
            let mut out = Vec::new();
            let _ = rows(&bytes, &fields, &[], &mut out);
        }
    }

    #[test]
    fn packed_decimals() {
        assert_eq!(
            packed_decimal(&[0x00, 0x00, 0x15, 0x0C], 2).as_deref(),
            Ok("1.50")
        );
        assert_eq!(packed_decimal(&[0x12, 0x3D], 1).as_deref(), Ok("-12.3"));
        assert!(packed_decimal(&[0xAA, 0x0C], 0).is_err());
    }
}
