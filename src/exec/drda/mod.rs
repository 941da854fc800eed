//! DB2's DRDA protocol, written from the Open Group DRDA specification (volumes 1–3) and
//! checked against Apache Derby's network server, the one DRDA server installable here.
//!
//! A session is one TCP connection: EXCSAT (asking for UTF-8 through the Unicode
//! manager), ACCSEC and SECCHK (user id and password), ACCRDB. Statements without
//! parameters run as EXCSQLIMM; with parameters they are prepared (PRPSQLSTT) and run
//! with EXCSQLSTT and an SQLDTA; queries are prepared with their output description
//! (SQLDARD: names and SQL types), opened (OPNQRY) and read from QRYDTA blocks in the
//! FD:OCA layout of their QRYDSC, further blocks by CNTQRY. DRDA has no autocommit: the
//! client commits (RDBCMM) after each statement while no transaction is open, and
//! `begin` only stops it doing so until `commit` (RDBCMM) or `rollback` (RDBRLLBK).
//! Errors come from the SQLCA: SQLSTATE, SQLCODE and message tokens.
//!
//! Target: `drda://USER:PASSWORD@127.0.0.1:1527/DATABASE?create=true`; query parameters
//! become Derby's connection attributes (`DATABASE;create=true`).

mod bytes;
mod client;
mod codepoint;
mod fdoca;
mod frame;
mod params;
mod sqlca;

use std::sync::Arc;

use async_trait::async_trait;

use self::client::{Connection, Login, MAX_BLOCK};
use super::bulk::insert_batches;
use super::tx::TxState;
use super::{
    Batches, Canceller, Capability, Engine, ExecError, ResultSet, Session, SessionOptions,
};
use crate::step::Param;
use crate::target::Target;
use crate::value::Scalar;

/// Rows per INSERT of a `copy` (fewer when the columns would pass [`params::MAX_PARAMS`]).
const COPY_ROWS: usize = 500;

/// The default port of DRDA servers (Derby's network server, Db2 LUW uses 50000).
const DEFAULT_PORT: u16 = 1527;

pub struct DrdaEngine {
    login: Login,
}

impl DrdaEngine {
    pub fn new(target: &Target) -> Result<Self, ExecError> {
        let url = reqwest::Url::parse(target.expose_url())
            .map_err(|e| ExecError::Connect(format!("the target {target} is not a URL: {e}")))?;
        let host = url
            .host_str()
            .ok_or_else(|| ExecError::Connect(format!("the target {target} names no host")))?
            .trim_matches(['[', ']'])
            .to_string();
        let (user, password) = super::http::credentials(target);
        let mut database =
            target.path_segments().into_iter().next().ok_or_else(|| {
                ExecError::Connect(format!("the target {target} names no database"))
            })?;
        for (k, v) in url.query_pairs() {
            database.push_str(&format!(";{k}={v}"));
        }
        Ok(Self {
            login: Login {
                host,
                port: url.port().unwrap_or(DEFAULT_PORT),
                database,
                user: user.unwrap_or_else(|| "test".to_string()),
                password: password.unwrap_or_default(),
            },
        })
    }
}

const CAPABILITIES: [Capability; 6] = [
    Capability::Sql,
    Capability::Sessions,
    Capability::Transactions,
    Capability::AutocommitOff,
    Capability::Cursors,
    Capability::Copy,
];

#[async_trait]
impl Engine for DrdaEngine {
    fn capabilities(&self) -> &[Capability] {
        &CAPABILITIES
    }

    async fn open(&self, options: &SessionOptions) -> Result<Box<dyn Session>, ExecError> {
        let conn = Connection::connect(&self.login).await?;
        Ok(Box::new(DrdaSession {
            conn: Some(conn),
            tx: TxState::server_side(options.autocommit),
        }))
    }
}

pub struct DrdaSession {
    /// `None` once the connection broke: every later call says so.
    conn: Option<Connection>,
    tx: TxState,
}

impl DrdaSession {
    fn conn(&mut self) -> Result<&mut Connection, ExecError> {
        self.conn
            .as_mut()
            .ok_or_else(|| ExecError::Lost("the connection broke earlier in this session".into()))
    }

    /// Whether to commit after a statement: no transaction is open (autocommit).
    fn autocommit(&self) -> bool {
        !self.tx.is_open()
    }

    /// A broken connection is dropped, so the session reports it rather than reuse it.
    fn settle<T>(&mut self, result: Result<T, ExecError>) -> Result<T, ExecError> {
        if matches!(result, Err(ExecError::Lost(_))) {
            self.conn = None;
        }
        result
    }
}

#[async_trait]
impl Session for DrdaSession {
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<Option<u64>, ExecError> {
        let commit = self.autocommit();
        let conn = self.conn()?;
        let result = if params.is_empty() {
            conn.execute_immediate(sql, commit).await
        } else {
            conn.execute_prepared(sql, params, commit).await
        };
        self.settle(result).map(Some)
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<ResultSet, ExecError> {
        let commit = self.autocommit();
        let conn = self.conn()?;
        let mut result = conn.query(sql, params).await;
        if commit && result.is_ok() {
            // Ends the read's unit of work, as an autocommitting client does.
            if let Err(e) = conn.end_unit_of_work(true).await {
                result = Err(e);
            }
        }
        self.settle(result)
    }

    async fn fetch_batches(
        &mut self,
        sql: &str,
        params: &[Param],
        batch: usize,
        max_batches: usize,
    ) -> Result<Batches, ExecError> {
        let commit = self.autocommit();
        let conn = self.conn()?;
        let result = async {
            let mut query = conn.open_query(sql, params, MAX_BLOCK).await?;
            let columns = query.result_columns();
            let batch = batch.max(1);
            let mut batches = Vec::new();
            // Rows decoded from a block beyond the current batch wait here for the next.
            let mut buffer = Vec::new();
            while batches.len() < max_batches {
                while buffer.len() < batch && !query.finished() {
                    let more = conn.read_rows(&mut query, batch - buffer.len()).await?;
                    buffer.extend(more);
                }
                if buffer.is_empty() {
                    break;
                }
                let take = batch.min(buffer.len());
                batches.push(buffer.drain(..take).collect::<Vec<_>>());
                if take < batch {
                    break;
                }
            }
            conn.close_query(&query).await?;
            if commit {
                conn.end_unit_of_work(true).await?;
            }
            Ok(Batches { columns, batches })
        }
        .await;
        self.settle(result)
    }

    fn transactions(&mut self) -> Option<&mut TxState> {
        Some(&mut self.tx)
    }

    async fn send_control(&mut self, sql: &'static str) -> Result<(), ExecError> {
        let result = match sql {
            // DRDA has no BEGIN: a unit of work starts with the first statement, and the
            // bookkeeping stops the per-statement commits until it ends.
            "BEGIN" => Ok(()),
            "COMMIT" => self.conn()?.end_unit_of_work(true).await,
            "ROLLBACK" => self.conn()?.end_unit_of_work(false).await,
            other => Err(ExecError::Unsupported(format!("`{other}` over DRDA"))),
        };
        self.settle(result)
    }

    /// Multi-row INSERTs with parameters, in one unit of work of their own unless a
    /// transaction is open.
    async fn copy_in(
        &mut self,
        table: &str,
        columns: &[String],
        rows: &mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    ) -> Result<u64, ExecError> {
        let own_unit = self.autocommit();
        let conn = self.conn()?;
        let mut loaded = 0u64;
        let mut result = Ok(());
        for batch in insert_batches(table, columns, rows, COPY_ROWS, params::MAX_PARAMS, |_| {
            "?".to_string()
        }) {
            let step = match batch {
                Err(e) => Err(ExecError::Client(e)),
                Ok(batch) => conn
                    .execute_prepared(&batch.sql, &batch.params, false)
                    .await
                    .map(|n| loaded += n),
            };
            if let Err(e) = step {
                result = Err(e);
                break;
            }
        }
        if own_unit {
            let ended = conn.end_unit_of_work(result.is_ok()).await;
            result = result.and(ended);
        }
        self.settle(result.map(|()| loaded))
    }

    fn canceller(&self) -> Option<Arc<dyn Canceller>> {
        None
    }

    async fn close(mut self: Box<Self>) -> Result<(), ExecError> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        // Whatever is still open is rolled back, as closing a connection does.
        let rolled_back = conn.end_unit_of_work(false).await;
        conn.close().await;
        rolled_back
    }
}
