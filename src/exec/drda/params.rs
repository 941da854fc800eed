//! Parameters as SQLDTA: an FD:OCA description of the values (FDODSC) and the values in
//! that layout (FDODTA). Each value is described by the type it was written with; the
//! server converts it to the parameter's SQL type.

use super::codepoint as cp;
use super::frame::param;
use crate::exec::ExecError;
use crate::step::Param;
use crate::value::Scalar;

/// Nullable FD:OCA types and lengths: BIGINT, DOUBLE, BOOLEAN, and VARCHAR (mixed,
/// UTF-8) for text and NULL.
const BIGINT: (u8, u16) = (0x17, 8);
const DOUBLE: (u8, u16) = (0x0B, 8);
const BOOLEAN: (u8, u16) = (0xBF, 1);
const VARCHAR: (u8, u16) = (0x33, 0x7FFF);

/// The most parameters one statement binds: one FD:OCA triplet (a one-byte length) holds
/// 84 three-byte descriptions.
pub const MAX_PARAMS: usize = 84;

pub fn sqldta(params: &[Param]) -> Result<Vec<u8>, ExecError> {
    let mut fields = Vec::new();
    // The data group's null indicator: present.
    let mut data = vec![0x00];
    for p in params {
        let (kind, len) = match &p.value {
            Scalar::Int(i) => {
                data.push(0x00);
                data.extend_from_slice(&i.to_be_bytes());
                BIGINT
            }
            Scalar::Float(f) => {
                data.push(0x00);
                data.extend_from_slice(&f.to_be_bytes());
                DOUBLE
            }
            Scalar::Bool(b) => {
                data.extend_from_slice(&[0x00, u8::from(*b)]);
                BOOLEAN
            }
            Scalar::Text(t) => {
                let n = u16::try_from(t.len()).map_err(|_| {
                    ExecError::Unsupported("a text parameter longer than 32 KiB".into())
                })?;
                data.push(0x00);
                data.extend_from_slice(&n.to_be_bytes());
                data.extend_from_slice(t.as_bytes());
                VARCHAR
            }
            Scalar::Null => {
                data.push(0xFF);
                VARCHAR
            }
        };
        fields.extend_from_slice(&[kind]);
        fields.extend_from_slice(&len.to_be_bytes());
    }
    let sda_len = u8::try_from(3 + fields.len()).map_err(|_| {
        ExecError::Unsupported(format!("more than {MAX_PARAMS} parameters over DRDA"))
    })?;
    let mut dsc = vec![sda_len, 0x76, 0xD0];
    dsc.extend(fields);
    // The row: the data group (0xD0) once; the array of rows: one.
    dsc.extend_from_slice(&[0x06, 0x71, 0xE4, 0xD0, 0x00, 0x01]);
    let mut out = param(cp::FDODSC, &dsc);
    out.extend(param(cp::FDODTA, &data));
    Ok(out)
}
