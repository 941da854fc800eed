//! One DRDA connection: the conversation (connect, SQL, queries, commit) over TCP.

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::codepoint as cp;
use super::fdoca::{self, Described, Field, Rows};
use super::frame::{self, Chain, Object, ReadError, param};
use super::params;
use super::sqlca::{self, Sqlca};
use crate::exec::{Column, ExecError, ResultSet, Row};
use crate::step::Param;

/// What this client says it is. Derby's network server serves only its own network
/// client (product ids beginning `DNC`; checked in its DRDAConnThread), so the product
/// id is Derby's client's: a real Db2 server takes any product id, and would not need it.
const PRDID: &str = "DNC10140";
const EXTNAM: &str = "helios-matrix";

/// The package and sections statements run in (Derby's dynamic package: `SYSLH000`,
/// held cursors); section 1 for immediate statements, 2 for queries and prepared ones.
const COLLECTION: &str = "NULLID";
const PACKAGE: &str = "SYSLH000";
const CONSISTENCY_TOKEN: &[u8; 8] = b"SYSLVL01";
const IMMEDIATE: u16 = 1;
const PREPARED: u16 = 2;

/// The largest query block asked for (the most DRDA allows without extra blocks).
pub const MAX_BLOCK: u16 = 0x7FFF;

/// Where to connect and as whom.
#[derive(Clone)]
pub struct Login {
    pub host: String,
    pub port: u16,
    /// The database name with Derby's attributes (`helios;create=true`).
    pub database: String,
    pub user: String,
    pub password: String,
}

pub struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    rdbnam: Vec<u8>,
}

/// An open query being read block by block.
pub struct OpenQuery {
    pub columns: Vec<Described>,
    fields: Vec<Field>,
    instance: Vec<u8>,
    pending: Vec<u8>,
    ended: bool,
    block: u16,
}

impl OpenQuery {
    /// Every row of the query has been decoded.
    pub fn finished(&self) -> bool {
        self.ended && self.pending.is_empty()
    }

    pub fn result_columns(&self) -> Vec<Column> {
        self.columns.iter().map(Described::column).collect()
    }
}

fn lost(e: std::io::Error) -> ExecError {
    ExecError::Lost(e.to_string())
}

fn protocol(e: impl std::fmt::Display) -> ExecError {
    ExecError::Client(e.to_string())
}

/// A name field of fixed width: padded with spaces to 18 bytes (DRDA's short names).
fn name18(text: &str) -> Result<Vec<u8>, ExecError> {
    if text.len() > 18 {
        return Err(ExecError::Connect(format!(
            "the database name `{text}` (with its attributes) is longer than DRDA's 18 bytes"
        )));
    }
    let mut out = text.as_bytes().to_vec();
    out.resize(18, b' ');
    Ok(out)
}

/// CP037 EBCDIC for what is sent before the server has agreed to UTF-8 (EXCSAT, and the
/// ACCSEC chained to it): names, digits and the punctuation of Derby's attributes.
fn ebcdic(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'i' => 0x81 + (b - b'a'),
            b'j'..=b'r' => 0x91 + (b - b'j'),
            b's'..=b'z' => 0xA2 + (b - b's'),
            b'A'..=b'I' => 0xC1 + (b - b'A'),
            b'J'..=b'R' => 0xD1 + (b - b'J'),
            b'S'..=b'Z' => 0xE2 + (b - b'S'),
            b'0'..=b'9' => 0xF0 + (b - b'0'),
            b'.' => 0x4B,
            b'/' => 0x61,
            b'-' => 0x60,
            b'_' => 0x6D,
            b';' => 0x5E,
            b'=' => 0x7E,
            b':' => 0x7A,
            b',' => 0x6B,
            _ => 0x40,
        })
        .collect()
}

/// The unit of work's correlation token (required by Derby): a network name, a dot, a
/// local name, then six bytes unique to this connection.
fn correlation_token() -> Vec<u8> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let mut out = ebcdic("HELIOSMX.MATRIX");
    out.extend_from_slice(&std::process::id().to_be_bytes()[2..]);
    out.extend_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    out
}

impl Connection {
    /// Connects, exchanges server attributes (asking for UTF-8 through the Unicode
    /// manager), and logs in with user id and password.
    pub async fn connect(login: &Login) -> Result<Connection, ExecError> {
        let stream = TcpStream::connect((login.host.as_str(), login.port))
            .await
            .map_err(|e| {
                ExecError::Connect(format!(
                    "cannot connect to {}:{}: {e}",
                    login.host, login.port
                ))
            })?;
        let _ = stream.set_nodelay(true);
        let (read, writer) = stream.into_split();
        let mut conn = Connection {
            reader: BufReader::new(read),
            writer,
            rdbnam: name18(&login.database)?,
        };
        let levels: Vec<u8> = [
            (cp::AGENT, 7u16),
            (cp::SQLAM, 7),
            (cp::RDB, 7),
            (cp::SECMGR, 7),
            (cp::UNICODEMGR, 1208),
        ]
        .iter()
        .flat_map(|(m, l)| [m.to_be_bytes(), l.to_be_bytes()].concat())
        .collect();
        let mut chain = Chain::new();
        chain.command(
            cp::EXCSAT,
            &[
                param(cp::EXTNAM, &ebcdic(EXTNAM)),
                param(cp::SRVNAM, &ebcdic("helios")),
                param(cp::SRVRLSLV, &ebcdic(&format!("{PRDID}/helios-matrix"))),
                param(cp::MGRLVLLS, &levels),
                param(cp::SRVCLSNM, &ebcdic("helios-matrix")),
            ],
        );
        chain.command(
            cp::ACCSEC,
            &[
                param(cp::SECMEC, &cp::USRIDPWD.to_be_bytes()),
                param(cp::RDBNAM, &ebcdic(&String::from_utf8_lossy(&conn.rdbnam))),
            ],
        );
        let replies = conn.round_trip(chain).await.map_err(connect_error)?;
        let accsecrd = replies.iter().find(|o| o.codepoint == cp::ACCSECRD);
        let secmec_ok = accsecrd
            .and_then(|o| o.params().ok())
            .and_then(|ps| ps.into_iter().find(|p| p.codepoint == cp::SECMEC))
            .is_some_and(|p| p.body.chunks(2).any(|m| m == cp::USRIDPWD.to_be_bytes()));
        if !secmec_ok {
            return Err(ExecError::Connect(
                "the server does not accept user id and password security (SECMEC 3)".into(),
            ));
        }

        let ccsids: Vec<u8> = [
            param(cp::CCSIDSBC, &1208u16.to_be_bytes()),
            param(cp::CCSIDDBC, &1200u16.to_be_bytes()),
            param(cp::CCSIDMBC, &1208u16.to_be_bytes()),
        ]
        .concat();
        let mut chain = Chain::new();
        chain.command(
            cp::SECCHK,
            &[
                param(cp::SECMEC, &cp::USRIDPWD.to_be_bytes()),
                param(cp::RDBNAM, &conn.rdbnam),
                param(cp::USRID, login.user.as_bytes()),
                param(cp::PASSWORD, login.password.as_bytes()),
            ],
        );
        chain.command(
            cp::ACCRDB,
            &[
                param(cp::RDBNAM, &conn.rdbnam),
                param(cp::RDBACCCL, &cp::SQLAM.to_be_bytes()),
                param(cp::PRDID, PRDID.as_bytes()),
                param(cp::TYPDEFNAM, b"QTDSQLASC"),
                param(cp::CRRTKN, &correlation_token()),
                param(cp::TYPDEFOVR, &ccsids),
            ],
        );
        let replies = conn.round_trip(chain).await.map_err(connect_error)?;
        for reply in &replies {
            if reply.codepoint == cp::SECCHKRM {
                let code = reply
                    .params()
                    .ok()
                    .and_then(|ps| ps.into_iter().find(|p| p.codepoint == cp::SECCHKCD))
                    .and_then(|p| p.body.first().copied())
                    .unwrap_or(0);
                if code != 0 {
                    return Err(ExecError::Connect(format!(
                        "login refused (security check code {code:#04x}: the user id or password is not accepted)"
                    )));
                }
            }
        }
        if !replies.iter().any(|o| o.codepoint == cp::ACCRDBRM) {
            let why = sql_error(&replies)
                .map(|e| e.to_string())
                .or_else(|| refusal(&replies))
                .unwrap_or_else(|| "no ACCRDBRM".to_string());
            return Err(ExecError::Connect(format!(
                "the database refused access: {why}"
            )));
        }
        Ok(conn)
    }

    async fn round_trip(&mut self, chain: Chain) -> Result<Vec<Object>, ExecError> {
        self.writer
            .write_all(&chain.into_bytes())
            .await
            .map_err(lost)?;
        match frame::read_chain(&mut self.reader).await {
            Ok(objects) => Ok(objects.into_iter().map(|(_, o)| o).collect()),
            Err(ReadError::Io(e)) => Err(lost(e)),
            Err(ReadError::Frame(e)) => Err(protocol(e)),
        }
    }

    fn pkgnamcsn(&self, section: u16) -> Result<Vec<u8>, ExecError> {
        let mut out = self.rdbnam.clone();
        out.extend(name18(COLLECTION)?);
        out.extend(name18(PACKAGE)?);
        out.extend_from_slice(CONSISTENCY_TOKEN);
        out.extend_from_slice(&section.to_be_bytes());
        Ok(out)
    }

    /// SQLSTT: the statement as a nullable mixed-byte string, then a null single-byte one.
    fn sqlstt(sql: &str) -> Result<Vec<u8>, ExecError> {
        if sql.len() > frame::MAX_BODY - 16 {
            return Err(ExecError::Unsupported(format!(
                "statements longer than {} bytes over DRDA",
                frame::MAX_BODY - 16
            )));
        }
        let mut out = vec![0x00];
        out.extend_from_slice(&u32::try_from(sql.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(sql.as_bytes());
        out.push(0xFF);
        Ok(out)
    }

    /// Runs a statement without parameters (EXCSQLIMM); with `commit`, commits after it
    /// in the same round trip. Returns the rows it affected (SQLERRD3).
    pub async fn execute_immediate(&mut self, sql: &str, commit: bool) -> Result<u64, ExecError> {
        let mut chain = Chain::new();
        chain.command(
            cp::EXCSQLIMM,
            &[
                param(cp::PKGNAMCSN, &self.pkgnamcsn(IMMEDIATE)?),
                param(cp::RDBCMTOK, &[0xF1]),
            ],
        );
        chain.object(cp::SQLSTT, &Self::sqlstt(sql)?);
        if commit {
            chain.command(cp::RDBCMM, &[]);
        }
        let replies = self.round_trip(chain).await?;
        statement_outcome(&replies)
    }

    /// Prepares a statement in the prepared section and, in the same round trip, sends
    /// the command `then` chains after it (as Derby's own client does): the statement's
    /// result columns (none for a statement that is not a query), and every reply.
    async fn prepare_and(
        &mut self,
        sql: &str,
        then: impl FnOnce(&mut Chain, Vec<u8>),
    ) -> Result<(Vec<Described>, Vec<Object>), ExecError> {
        let section = self.pkgnamcsn(PREPARED)?;
        let mut chain = Chain::new();
        chain.command(
            cp::PRPSQLSTT,
            &[
                param(cp::PKGNAMCSN, &section),
                param(cp::RTNSQLDA, &[0xF1]),
                // Output descriptions, with names (TYPSQLDA 4: extended light output).
                param(cp::TYPSQLDA, &[0x04]),
            ],
        );
        chain.object(cp::SQLSTT, &Self::sqlstt(sql)?);
        then(&mut chain, section);
        let replies = self.round_trip(chain).await?;
        let dard = replies.iter().find(|o| o.codepoint == cp::SQLDARD);
        let Some(dard) = dard else {
            return Err(sql_error(&replies).map_or_else(
                || {
                    protocol(
                        refusal(&replies).unwrap_or_else(|| "no SQLDARD after PRPSQLSTT".into()),
                    )
                },
                ExecError::Db,
            ));
        };
        let (ca, columns) = fdoca::sqldard(&dard.body).map_err(protocol)?;
        if let Some(ca) = ca.filter(Sqlca::is_error) {
            return Err(ExecError::Db(ca.to_db_error()));
        }
        Ok((columns, replies))
    }

    /// Runs a prepared statement with parameters (EXCSQLSTT with SQLDTA).
    pub async fn execute_prepared(
        &mut self,
        sql: &str,
        params: &[Param],
        commit: bool,
    ) -> Result<u64, ExecError> {
        let data = params::sqldta(params)?;
        let (_, replies) = self
            .prepare_and(sql, |chain, section| {
                chain.command(
                    cp::EXCSQLSTT,
                    &[param(cp::PKGNAMCSN, &section), param(cp::RDBCMTOK, &[0xF1])],
                );
                chain.object(cp::SQLDTA, &data);
                if commit {
                    chain.command(cp::RDBCMM, &[]);
                }
            })
            .await?;
        statement_outcome(&replies)
    }

    /// Prepares and opens a query in one round trip; the first block of rows is read
    /// into the result.
    pub async fn open_query(
        &mut self,
        sql: &str,
        params: &[Param],
        block: u16,
    ) -> Result<OpenQuery, ExecError> {
        let data = (!params.is_empty())
            .then(|| params::sqldta(params))
            .transpose()?;
        let (columns, replies) = self
            .prepare_and(sql, |chain, section| {
                chain.command(
                    cp::OPNQRY,
                    &[
                        param(cp::PKGNAMCSN, &section),
                        param(cp::QRYBLKSZ, &u32::from(block).to_be_bytes()),
                        // Close the query by itself once its last row is sent.
                        param(cp::QRYCLSIMP, &[0x01]),
                    ],
                );
                if let Some(data) = &data {
                    chain.object(cp::SQLDTA, data);
                }
            })
            .await?;
        if !replies.iter().any(|o| o.codepoint == cp::OPNQRYRM) {
            return Err(sql_error(&replies).map_or_else(
                || {
                    let why = refusal(&replies).unwrap_or_else(|| "no OPNQRYRM".into());
                    if replies
                        .iter()
                        .any(|o| o.codepoint == cp::QRYNOPRM || o.codepoint == cp::OPNQFLRM)
                    {
                        ExecError::Client(format!("the statement is not a query ({why})"))
                    } else {
                        protocol(why)
                    }
                },
                ExecError::Db,
            ));
        }
        let instance = replies
            .iter()
            .find(|o| o.codepoint == cp::OPNQRYRM)
            .and_then(|o| o.params().ok())
            .and_then(|ps| ps.into_iter().find(|p| p.codepoint == cp::QRYINSID))
            .map(|p| p.body)
            .unwrap_or_default();
        let dsc: Vec<u8> = replies
            .iter()
            .filter(|o| o.codepoint == cp::QRYDSC)
            .flat_map(|o| o.body.clone())
            .collect();
        let fields = fdoca::layout(&dsc).map_err(protocol)?;
        if !columns.is_empty() && fields.len() != columns.len() {
            return Err(protocol(format!(
                "the row layout has {} fields for {} columns",
                fields.len(),
                columns.len()
            )));
        }
        let mut query = OpenQuery {
            columns,
            fields,
            instance,
            pending: Vec::new(),
            ended: false,
            block,
        };
        absorb(&mut query, &replies)?;
        Ok(query)
    }

    /// Reads rows until `want` are decoded (or the query ends), asking for further blocks
    /// (CNTQRY) as needed.
    pub async fn read_rows(
        &mut self,
        query: &mut OpenQuery,
        want: usize,
    ) -> Result<Vec<Row>, ExecError> {
        let mut out = Vec::new();
        loop {
            let progress = fdoca::rows(&query.pending, &query.fields, &query.columns, &mut out)?;
            let (consumed, ended) = match progress {
                Rows::More { consumed } => (consumed, false),
                Rows::End { consumed } => (consumed, true),
            };
            query.pending.drain(..consumed);
            if ended {
                query.ended = true;
                query.pending.clear();
                return Ok(out);
            }
            if out.len() >= want {
                return Ok(out);
            }
            if query.ended {
                if query.pending.is_empty() {
                    return Ok(out);
                }
                return Err(protocol("the query ended inside a row"));
            }
            let mut chain = Chain::new();
            chain.command(
                cp::CNTQRY,
                &[
                    param(cp::PKGNAMCSN, &self.pkgnamcsn(PREPARED)?),
                    param(cp::QRYBLKSZ, &u32::from(query.block).to_be_bytes()),
                    param(cp::QRYINSID, &query.instance),
                ],
            );
            let replies = self.round_trip(chain).await?;
            let before = query.pending.len();
            absorb(query, &replies)?;
            if query.pending.len() == before && !query.ended {
                return Err(protocol("CNTQRY brought no rows and did not end the query"));
            }
        }
    }

    /// Closes a query the server has not closed by itself.
    pub async fn close_query(&mut self, query: &OpenQuery) -> Result<(), ExecError> {
        if query.ended {
            return Ok(());
        }
        let mut chain = Chain::new();
        chain.command(
            cp::CLSQRY,
            &[
                param(cp::PKGNAMCSN, &self.pkgnamcsn(PREPARED)?),
                param(cp::QRYINSID, &query.instance),
            ],
        );
        let replies = self.round_trip(chain).await?;
        match sql_error(&replies) {
            Some(e) => Err(ExecError::Db(e)),
            None => Ok(()),
        }
    }

    /// A whole query's result.
    pub async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        let mut query = self.open_query(sql, params, MAX_BLOCK).await?;
        let rows = self.read_rows(&mut query, usize::MAX).await?;
        Ok(ResultSet {
            columns: query.result_columns(),
            rows,
        })
    }

    /// RDBCMM or RDBRLLBK.
    pub async fn end_unit_of_work(&mut self, commit: bool) -> Result<(), ExecError> {
        let mut chain = Chain::new();
        chain.command(if commit { cp::RDBCMM } else { cp::RDBRLLBK }, &[]);
        let replies = self.round_trip(chain).await?;
        match sql_error(&replies) {
            Some(e) => Err(ExecError::Db(e)),
            None => Ok(()),
        }
    }

    pub async fn close(mut self) {
        let _ = self.writer.shutdown().await;
    }
}

/// Rows and the end of a query from a reply: QRYDTA bytes are queued, ENDQRYRM or an
/// SQLCARD of +100 ends it, an SQLCARD error fails it.
fn absorb(query: &mut OpenQuery, replies: &[Object]) -> Result<(), ExecError> {
    for reply in replies {
        match reply.codepoint {
            cp::QRYDTA => query.pending.extend_from_slice(&reply.body),
            cp::ENDQRYRM => query.ended = true,
            cp::SQLCARD => {
                let ca = sqlca::card(&reply.body).map_err(protocol)?;
                if let Some(ca) = ca.filter(Sqlca::is_error) {
                    return Err(ExecError::Db(ca.to_db_error()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A statement's row count, or its error.
fn statement_outcome(replies: &[Object]) -> Result<u64, ExecError> {
    let mut count = 0;
    let mut seen = false;
    for reply in replies {
        if reply.codepoint == cp::SQLCARD && !seen {
            seen = true;
            let ca = sqlca::card(&reply.body).map_err(protocol)?;
            if let Some(ca) = ca {
                if ca.is_error() {
                    return Err(ExecError::Db(ca.to_db_error()));
                }
                count = u64::try_from(ca.errd[2]).unwrap_or(0);
            }
        }
    }
    if !seen {
        return Err(protocol(
            refusal(replies).unwrap_or_else(|| "no SQLCARD for the statement".into()),
        ));
    }
    Ok(count)
}

/// The first SQLCARD error among replies.
fn sql_error(replies: &[Object]) -> Option<crate::exec::DbError> {
    replies
        .iter()
        .filter(|o| o.codepoint == cp::SQLCARD)
        .filter_map(|o| sqlca::card(&o.body).ok().flatten())
        .find(Sqlca::is_error)
        .map(|ca| ca.to_db_error())
}

/// A reply message that is not a success, named.
fn refusal(replies: &[Object]) -> Option<String> {
    replies
        .iter()
        .find(|o| {
            matches!(
                o.codepoint,
                cp::RDBNFNRM
                    | cp::RDBAFLRM
                    | cp::QRYNOPRM
                    | cp::OPNQFLRM
                    | cp::SYNTAXRM
                    | cp::PRCCNVRM
                    | cp::CMDCHKRM
                    | cp::VALNSPRM
                    | cp::PRMNSPRM
                    | cp::CMDNSPRM
                    | cp::OBJNSPRM
                    | cp::MGRLVLRM
                    | cp::AGNPRMRM
                    | cp::RSCLMTRM
                    | cp::DTAMCHRM
            )
        })
        .map(|o| format!("the server answered {}", cp::name(o.codepoint)))
}

fn connect_error(e: ExecError) -> ExecError {
    match e {
        ExecError::Lost(m) | ExecError::Client(m) => {
            ExecError::Connect(format!("DRDA connect: {m}"))
        }
        other => other,
    }
}
