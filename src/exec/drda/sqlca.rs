//! The SQL communications area (SQLCA) the server sends after every SQL command: an SQL
//! code, an SQLSTATE, the row count of the statement (SQLERRD3) and message tokens.

use super::bytes::Reader;
use super::frame::FrameError;
use crate::exec::DbError;

/// A non-null SQLCA.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sqlca {
    pub sqlcode: i32,
    pub sqlstate: String,
    /// SQLERRD: SQLERRD3 (index 2) is the rows a statement affected.
    pub errd: [i32; 6],
    /// The message tokens (SQLERRMC), separated by 0x14 on the wire.
    pub tokens: Vec<String>,
}

impl Sqlca {
    /// An error: a negative SQL code.
    pub fn is_error(&self) -> bool {
        self.sqlcode < 0
    }

    /// No (more) rows: SQL code +100, SQLSTATE 02000.
    pub fn is_end_of_data(&self) -> bool {
        self.sqlcode == 100
    }

    pub fn to_db_error(&self) -> DbError {
        let detail = if self.tokens.is_empty() {
            String::new()
        } else {
            format!(" (tokens: {})", self.tokens.join(", "))
        };
        DbError {
            sqlstate: Some(self.sqlstate.clone()),
            code: Some(self.sqlcode.to_string()),
            message: format!(
                "SQLCODE {}, SQLSTATE {}{detail}",
                self.sqlcode, self.sqlstate
            ),
            exception: None,
        }
    }
}

/// The SQLCA of an SQLCARD object's body.
pub fn card(body: &[u8]) -> Result<Option<Sqlca>, FrameError> {
    read(&mut Reader::new(body))
}

/// Reads an SQLCAGRP: `None` when its null indicator says there is none (success).
pub fn read(r: &mut Reader<'_>) -> Result<Option<Sqlca>, FrameError> {
    if r.u8("SQLCA null indicator")? == 0xFF {
        return Ok(None);
    }
    let sqlcode = r.i32("SQLCODE")?;
    let sqlstate = String::from_utf8_lossy(r.take(5, "SQLSTATE")?).into_owned();
    r.take(8, "SQLERRPROC")?;
    let mut ca = Sqlca {
        sqlcode,
        sqlstate,
        ..Sqlca::default()
    };
    // SQLCAXGRP: row counts, warnings, and the message tokens.
    if r.u8("SQLCAXGRP null indicator")? != 0xFF {
        for slot in &mut ca.errd {
            *slot = r.i32("SQLERRD")?;
        }
        r.take(11, "SQLWARN")?;
        r.var_text("SQLRDBNAME")?;
        let mixed = r.var_text("SQLERRMSG_m")?;
        let single = r.var_text("SQLERRMSG_s")?;
        let tokens = if mixed.is_empty() { single } else { mixed };
        ca.tokens = tokens
            .split('\u{14}')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
    }
    // SQLDIAGGRP: extended diagnostics, which Derby never sends.
    if r.u8("SQLDIAGGRP null indicator")? != 0xFF {
        return Err(FrameError(
            "an SQLCA with diagnostics (SQLDIAGGRP), which this client does not read".into(),
        ));
    }
    Ok(Some(ca))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::drda::bytes::hex;

    #[test]
    fn an_error_and_a_row_count_as_derby_sends_them() {
        // DROP TABLE of a table in a schema that does not exist (captured from Derby).
        let error = hex(
            "00ffffb1df343259303743535331303134300000000000000000000000000000000000000000000000000020202020202020202020200000000a544553541434325930370000ff",
        );
        let ca = read(&mut Reader::new(&error))
            .expect("reads")
            .expect("an SQLCA");
        assert_eq!((ca.sqlcode, ca.sqlstate.as_str()), (-20001, "42Y07"));
        assert_eq!(ca.tokens, vec!["TEST", "42Y07"]);
        assert!(ca.is_error());
        // INSERT of two rows.
        let insert = hex(
            "000000000020202020204353533130313430000000000000000000000000020000000000000000000000002020202020202020202020000000000000ff",
        );
        let ca = read(&mut Reader::new(&insert))
            .expect("reads")
            .expect("an SQLCA");
        assert_eq!(ca.errd[2], 2);
        assert_eq!(read(&mut Reader::new(&[0xFF])).expect("reads"), None);
        assert!(read(&mut Reader::new(&error[..20])).is_err());
    }
}
