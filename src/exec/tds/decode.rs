//! TDS columns and values read into the portable types and classes.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use futures_util::TryStreamExt;
use tiberius::{ColumnData, ColumnType, QueryItem};

use super::Fail;
use crate::exec::{Column, ExecError, ResultSet, Row, undecodable};
use crate::value::{TypeClass, Value};

/// A TDS column type's portable class and SQL Server name.
pub(super) fn describe_type(ty: ColumnType) -> (TypeClass, &'static str) {
    use ColumnType as T;
    match ty {
        T::Bit | T::Bitn => (TypeClass::Boolean, "bit"),
        T::Int1 => (TypeClass::Integer, "tinyint"),
        T::Int2 => (TypeClass::Integer, "smallint"),
        T::Int4 => (TypeClass::Integer, "int"),
        T::Int8 => (TypeClass::Integer, "bigint"),
        T::Intn => (TypeClass::Integer, "int"),
        T::Float4 => (TypeClass::Float, "real"),
        T::Float8 | T::Floatn => (TypeClass::Float, "float"),
        T::Money => (TypeClass::Decimal, "money"),
        T::Money4 => (TypeClass::Decimal, "smallmoney"),
        T::Decimaln => (TypeClass::Decimal, "decimal"),
        T::Numericn => (TypeClass::Decimal, "numeric"),
        T::Guid => (TypeClass::Uuid, "uniqueidentifier"),
        T::Datetime4 => (TypeClass::Timestamp, "smalldatetime"),
        T::Datetime | T::Datetimen => (TypeClass::Timestamp, "datetime"),
        T::Datetime2 => (TypeClass::Timestamp, "datetime2"),
        T::DatetimeOffsetn => (TypeClass::Timestamp, "datetimeoffset"),
        T::Daten => (TypeClass::Date, "date"),
        T::Timen => (TypeClass::Time, "time"),
        T::BigVarChar => (TypeClass::Text, "varchar"),
        T::BigChar => (TypeClass::Text, "char"),
        T::NVarchar => (TypeClass::Text, "nvarchar"),
        T::NChar => (TypeClass::Text, "nchar"),
        T::Text => (TypeClass::Text, "text"),
        T::NText => (TypeClass::Text, "ntext"),
        T::BigVarBin => (TypeClass::Bytes, "varbinary"),
        T::BigBinary => (TypeClass::Bytes, "binary"),
        T::Image => (TypeClass::Bytes, "image"),
        T::Xml => (TypeClass::Other, "xml"),
        T::Udt => (TypeClass::Other, "udt"),
        T::SSVariant => (TypeClass::Other, "sql_variant"),
        T::Null => (TypeClass::Other, "null"),
    }
}

pub(super) fn columns(meta: &[tiberius::Column]) -> Vec<Column> {
    meta.iter()
        .map(|c| {
            let (class, native) = describe_type(c.column_type());
            Column::new(c.name(), class, native)
        })
        .collect()
}

/// A numeric in its exact text form (`12.50`, `-0.75`, `42`).
pub(super) fn numeric_text(n: tiberius::numeric::Numeric) -> String {
    let scale = u32::from(n.scale());
    let digits = n.value().unsigned_abs().to_string();
    let sign = if n.value() < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let width = scale as usize + 1;
    let padded = format!("{digits:0>width$}");
    let (int, frac) = padded.split_at(padded.len() - scale as usize);
    format!("{sign}{int}.{frac}")
}

/// One cell as its column's type says.
pub(super) fn decode(data: &ColumnData<'static>, ty: ColumnType) -> Result<Value, String> {
    let other = |class: TypeClass, text: String| Value::Other { class, text };
    Ok(match data {
        ColumnData::U8(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I16(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I32(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I64(v) => v.map_or(Value::Null, Value::Int),
        // Through its shortest text, so a REAL's 0.1 stays 0.1.
        ColumnData::F32(v) => match v {
            None => Value::Null,
            Some(f) => Value::Float(f.to_string().parse().map_err(|e| format!("{e}"))?),
        },
        // MONEY travels as a scaled integer that tiberius hands over as f64: four places.
        ColumnData::F64(Some(f)) if matches!(ty, ColumnType::Money | ColumnType::Money4) => {
            Value::Decimal(format!("{f:.4}"))
        }
        ColumnData::F64(v) => v.map_or(Value::Null, Value::Float),
        ColumnData::Bit(v) => v.map_or(Value::Null, Value::Bool),
        ColumnData::String(v) => v
            .as_ref()
            .map_or(Value::Null, |s| Value::Text(s.to_string())),
        ColumnData::Guid(v) => v.map_or(Value::Null, |u| {
            // SQL Server's own text form of a uniqueidentifier is upper case.
            other(TypeClass::Uuid, u.to_string().to_uppercase())
        }),
        ColumnData::Binary(v) => v.as_ref().map_or(Value::Null, |b| Value::Bytes(b.to_vec())),
        ColumnData::Numeric(v) => v.map_or(Value::Null, |n| Value::Decimal(numeric_text(n))),
        ColumnData::Xml(v) => v
            .as_ref()
            .map_or(Value::Null, |x| other(TypeClass::Other, x.to_string())),
        ColumnData::DateTime(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            // Days since 1900-01-01 and 1/300 s ticks; SQL Server shows milliseconds.
            let ticks = t.seconds_fragments();
            let (seconds, rest) = (ticks / 300, ticks % 300);
            let nanos = (rest * 10 + 1) / 3 * 1_000_000;
            let at = day(1900, i64::from(t.days()))?.and_time(time_of_day(
                u64::from(seconds) * 1_000_000_000 + u64::from(nanos),
            )?);
            Ok(other(TypeClass::Timestamp, timestamp_text(at, 3)))
        })?,
        ColumnData::SmallDateTime(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            let at = day(1900, i64::from(t.days()))?.and_time(time_of_day(
                u64::from(t.seconds_fragments()) * 60_000_000_000,
            )?);
            Ok(other(TypeClass::Timestamp, timestamp_text(at, 0)))
        })?,
        ColumnData::Date(v) => v.map_or(Ok::<_, String>(Value::Null), |d| {
            let date = day(1, i64::from(d.days()))?;
            Ok(other(TypeClass::Date, date.format("%Y-%m-%d").to_string()))
        })?,
        ColumnData::Time(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            let time = time_of_day(nanos(t)?)?;
            Ok(other(TypeClass::Time, time_text(time, t.scale())))
        })?,
        ColumnData::DateTime2(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            let at = datetime2(t)?;
            Ok(other(
                TypeClass::Timestamp,
                timestamp_text(at, t.time().scale()),
            ))
        })?,
        ColumnData::DateTimeOffset(v) => v.map_or(Ok::<_, String>(Value::Null), |t| {
            // The wire holds the UTC time and the offset; SQL Server shows the local time.
            let minutes = i64::from(t.offset());
            let local = datetime2(t.datetime2())?
                .checked_add_signed(chrono::TimeDelta::minutes(minutes))
                .ok_or_else(|| format!("offset {minutes} min puts the value out of range"))?;
            let sign = if minutes < 0 { '-' } else { '+' };
            let (h, m) = (minutes.abs() / 60, minutes.abs() % 60);
            let scale = t.datetime2().time().scale();
            Ok(other(
                TypeClass::Timestamp,
                format!("{} {sign}{h:02}:{m:02}", timestamp_text(local, scale)),
            ))
        })?,
    })
}

/// The day `days` after January 1st of `year` (1900 for DATETIME, 1 for DATE).
fn day(year: i32, days: i64) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|start| start.checked_add_signed(chrono::TimeDelta::days(days)))
        .ok_or_else(|| format!("{days} days after {year}-01-01 is not a date"))
}

/// Nanoseconds since midnight as a time of day.
fn time_of_day(nanos: u64) -> Result<NaiveTime, String> {
    let seconds = u32::try_from(nanos / 1_000_000_000).map_err(|e| e.to_string())?;
    let rest = u32::try_from(nanos % 1_000_000_000).map_err(|e| e.to_string())?;
    NaiveTime::from_num_seconds_from_midnight_opt(seconds, rest)
        .ok_or_else(|| format!("{nanos} ns is not a time of day"))
}

/// A TIME's increments (of 10^-scale s) in nanoseconds.
fn nanos(t: tiberius::time::Time) -> Result<u64, String> {
    let scale = u32::from(t.scale());
    10u64
        .checked_pow(9u32.checked_sub(scale).ok_or("a time scale over 9")?)
        .and_then(|unit| t.increments().checked_mul(unit))
        .ok_or_else(|| format!("{} increments of scale {scale} overflow", t.increments()))
}

fn datetime2(t: tiberius::time::DateTime2) -> Result<NaiveDateTime, String> {
    Ok(day(1, i64::from(t.date().days()))?.and_time(time_of_day(nanos(t.time())?)?))
}

/// `hh:mm:ss` and as many fractional digits as the type's scale, as SQL Server shows it.
fn time_text(t: NaiveTime, scale: u8) -> String {
    let mut text = t.format("%H:%M:%S").to_string();
    let digits = usize::from(scale.min(9));
    if digits > 0 {
        let fraction = format!("{:09}", t.nanosecond() % 1_000_000_000);
        text.push('.');
        text.push_str(&fraction[..digits]);
    }
    text
}

fn timestamp_text(t: NaiveDateTime, scale: u8) -> String {
    format!("{} {}", t.format("%Y-%m-%d"), time_text(t.time(), scale))
}

pub(super) fn decode_row(row: tiberius::Row, described: &[Column]) -> Result<Row, ExecError> {
    let types: Vec<ColumnType> = row.columns().iter().map(|c| c.column_type()).collect();
    row.into_iter()
        .enumerate()
        .map(|(i, data)| {
            let ty = types.get(i).copied().unwrap_or(ColumnType::Null);
            decode(&data, ty).map_err(|e| {
                let name = described.get(i).map_or("", |c| c.name.as_str());
                undecodable(i, name, describe_type(ty).1, &e, None)
            })
        })
        .collect()
}

/// Reads a query's answer: its one result set (a later one is an error), or no columns
/// and no rows when it has none.
pub(super) async fn read_result(mut stream: tiberius::QueryStream<'_>) -> Result<ResultSet, Fail> {
    let mut result = ResultSet::default();
    let mut sets = 0usize;
    while let Some(item) = stream.try_next().await? {
        match item {
            QueryItem::Metadata(meta) => {
                sets += 1;
                if sets == 1 {
                    result.columns = columns(meta.columns());
                }
            }
            QueryItem::Row(row) if sets <= 1 => {
                result.rows.push(decode_row(row, &result.columns)?);
            }
            QueryItem::Row(_) => {}
        }
    }
    if sets > 1 {
        return Err(Fail::Exec(ExecError::Client(format!(
            "the batch returned {sets} result sets; a query step checks one (give each SELECT its own step)"
        ))));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_keep_their_scale() {
        use tiberius::numeric::Numeric;
        let n = |v, s| numeric_text(Numeric::new_with_scale(v, s));
        assert_eq!(n(1250, 2), "12.50");
        assert_eq!(n(-75, 2), "-0.75");
        assert_eq!(n(42, 0), "42");
        assert_eq!(n(5, 3), "0.005");
        assert_eq!(n(i128::MIN, 0), i128::MIN.to_string());
    }

    #[test]
    fn values_decode_as_their_column_types_say() {
        let money = decode(&ColumnData::F64(Some(12.5)), ColumnType::Money).unwrap();
        assert_eq!(money, Value::Decimal("12.5000".to_string()));
        let real = decode(&ColumnData::F32(Some(0.1)), ColumnType::Float4).unwrap();
        assert_eq!(real, Value::Float(0.1));
        let text = |data: ColumnData<'static>, ty| match decode(&data, ty).unwrap() {
            Value::Other { text, .. } => text,
            other => panic!("{other:?}"),
        };
        use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};
        // 2024-01-02 is 45291 days after 1900-01-01 and 738886 after 0001-01-01.
        let days = (NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()
            - NaiveDate::from_ymd_opt(1, 1, 1).unwrap())
        .num_days() as u32;
        assert_eq!(days, 738_886);
        // DATETIME ticks are 1/300 s, shown as milliseconds: 2 ticks are .007.
        let dt = DateTime::new(45291, (3 * 3600 + 4 * 60 + 5) * 300 + 2);
        assert_eq!(
            text(ColumnData::DateTime(Some(dt)), ColumnType::Datetimen),
            "2024-01-02 03:04:05.007"
        );
        let sdt = SmallDateTime::new(45291, 3 * 60 + 4);
        assert_eq!(
            text(ColumnData::SmallDateTime(Some(sdt)), ColumnType::Datetime4),
            "2024-01-02 03:04:00"
        );
        assert_eq!(
            text(ColumnData::Date(Some(Date::new(days))), ColumnType::Daten),
            "2024-01-02"
        );
        let t = Time::new(((3 * 3600 + 4 * 60 + 5) * 10 + 5) * 100, 3);
        assert_eq!(
            text(ColumnData::Time(Some(t)), ColumnType::Timen),
            "03:04:05.500"
        );
        let t7 = Time::new((3 * 3600 + 4 * 60 + 5) * 10_000_000 + 1_234_567, 7);
        let dt2 = DateTime2::new(Date::new(days), t7);
        assert_eq!(
            text(ColumnData::DateTime2(Some(dt2)), ColumnType::Datetime2),
            "2024-01-02 03:04:05.1234567"
        );
        // 02:04:05 UTC at +01:00 is 03:04:05 there.
        let utc = DateTime2::new(Date::new(days), Time::new(2 * 3600 + 4 * 60 + 5, 0));
        let dto = DateTimeOffset::new(utc, 60);
        assert_eq!(
            text(
                ColumnData::DateTimeOffset(Some(dto)),
                ColumnType::DatetimeOffsetn
            ),
            "2024-01-02 03:04:05 +01:00"
        );
        let west = DateTimeOffset::new(utc, -150);
        assert_eq!(
            text(
                ColumnData::DateTimeOffset(Some(west)),
                ColumnType::DatetimeOffsetn
            ),
            "2024-01-01 23:34:05 -02:30"
        );
        // What the server controls never panics: an impossible time is an error.
        assert!(
            decode(
                &ColumnData::Time(Some(Time::new(u64::MAX, 7))),
                ColumnType::Timen
            )
            .is_err()
        );
        assert!(decode(&ColumnData::Time(Some(Time::new(1, 12))), ColumnType::Timen).is_err());
        let far = ColumnData::Date(Some(Date::new(0xFF_FFFF)));
        assert!(decode(&far, ColumnType::Daten).is_ok());
        let guid = ColumnData::Guid(Some(tiberius::Uuid::nil()));
        assert!(matches!(
            decode(&guid, ColumnType::Guid).unwrap(),
            Value::Other {
                class: TypeClass::Uuid,
                ..
            }
        ));
        assert_eq!(
            decode(&ColumnData::I32(None), ColumnType::Intn).unwrap(),
            Value::Null
        );
    }
}
