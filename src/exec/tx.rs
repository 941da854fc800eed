//! Transaction bookkeeping shared by the SQL executors. With autocommit off, either the
//! executor starts a transaction implicitly before the first statement and again after
//! every commit or rollback (DB-API style: SQLite, PostgreSQL), or the server does it
//! itself once told (MySQL's `autocommit = 0`, Snowflake's AUTOCOMMIT parameter).

use super::{ExecError, Session};

/// Starts the implicit transaction of an autocommit-off session before a statement, DB-API
/// style, when one is due; if sending it fails, the bookkeeping forgets it was opened.
pub async fn begin_implicitly<S: Session + ?Sized>(session: &mut S) -> Result<(), ExecError> {
    let due = session
        .transactions()
        .and_then(|tx| tx.before_statement().sql());
    let Some(sql) = due else {
        return Ok(());
    };
    let sent = session.send_control(sql).await;
    if sent.is_err()
        && let Some(tx) = session.transactions()
    {
        tx.forget();
    }
    sent
}

/// Runs `load` in a transaction of its own unless the session has one open: committed when
/// `load` succeeded, rolled back when it failed (its error, not the rollback's, is the one
/// reported). A bulk load is all or nothing, whoever opened the transaction.
pub async fn in_own_transaction<S: Session + ?Sized, T>(
    session: &mut S,
    load: impl AsyncFnOnce(&mut S) -> Result<T, ExecError>,
) -> Result<T, ExecError> {
    let own = session.transactions().is_some_and(|tx| !tx.is_open());
    if own {
        session.send_control("BEGIN").await?;
    }
    let result = load(session).await;
    if own {
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = session.send_control(end).await;
        if result.is_ok() {
            ended?;
        }
    }
    result
}

/// What the executor must send for a transaction-control step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Nothing: the request is already satisfied.
    Nothing,
    Begin,
    Commit,
    Rollback,
}

#[derive(Debug, Clone, Copy)]
pub struct TxState {
    autocommit: bool,
    /// With autocommit off, the server keeps a transaction open by itself.
    server_side: bool,
    open: bool,
    /// The open transaction was started implicitly (autocommit off).
    implicit: bool,
}

impl TxState {
    /// The executor opens transactions itself when autocommit is off.
    pub fn new(autocommit: bool) -> Self {
        Self {
            autocommit,
            server_side: false,
            open: false,
            implicit: false,
        }
    }

    /// The server opens transactions itself when autocommit is off.
    pub fn server_side(autocommit: bool) -> Self {
        Self {
            server_side: true,
            ..Self::new(autocommit)
        }
    }

    fn server_holds_one(&self) -> bool {
        self.server_side && !self.autocommit
    }

    pub fn is_open(&self) -> bool {
        self.open || self.server_holds_one()
    }

    /// Before a statement: `Begin` when autocommit is off and no transaction is open.
    pub fn before_statement(&mut self) -> Control {
        if !self.autocommit && !self.open && !self.server_side {
            self.open = true;
            self.implicit = true;
            Control::Begin
        } else {
            Control::Nothing
        }
    }

    /// An explicit `begin` step. Inside the implicit transaction it adopts it.
    pub fn begin(&mut self) -> Control {
        if self.server_holds_one() {
            // The server already holds a transaction open; BEGIN would commit it.
            return Control::Nothing;
        }
        if self.open && self.implicit {
            self.implicit = false;
            return Control::Nothing;
        }
        self.open = true;
        self.implicit = false;
        Control::Begin
    }

    /// `commit` with nothing open is a no-op, as in DB-API drivers.
    pub fn commit(&mut self) -> Control {
        self.end(Control::Commit)
    }

    pub fn rollback(&mut self) -> Control {
        self.end(Control::Rollback)
    }

    fn end(&mut self, send: Control) -> Control {
        if self.server_holds_one() {
            return send;
        }
        if !self.open {
            return Control::Nothing;
        }
        self.open = false;
        self.implicit = false;
        send
    }

    /// Undo `before_statement` when the implicit BEGIN itself failed.
    pub fn forget(&mut self) {
        self.open = false;
        self.implicit = false;
    }
}

impl Control {
    pub fn sql(self) -> Option<&'static str> {
        match self {
            Control::Nothing => None,
            Control::Begin => Some("BEGIN"),
            Control::Commit => Some("COMMIT"),
            Control::Rollback => Some("ROLLBACK"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autocommit_off_begins_lazily_and_again_after_commit() {
        let mut t = TxState::new(false);
        assert_eq!(t.before_statement(), Control::Begin);
        assert_eq!(t.before_statement(), Control::Nothing);
        assert_eq!(t.commit(), Control::Commit);
        assert_eq!(t.commit(), Control::Nothing);
        assert_eq!(t.before_statement(), Control::Begin);
        assert_eq!(
            t.begin(),
            Control::Nothing,
            "an explicit begin adopts the implicit transaction"
        );
    }

    #[test]
    fn a_server_side_transaction_is_always_open_and_always_ended() {
        let mut t = TxState::server_side(false);
        assert!(t.is_open());
        assert_eq!(t.before_statement(), Control::Nothing);
        assert_eq!(t.begin(), Control::Nothing);
        assert_eq!(t.commit(), Control::Commit);
        assert_eq!(t.commit(), Control::Commit);
        assert_eq!(t.rollback(), Control::Rollback);
        let mut on = TxState::server_side(true);
        assert_eq!(on.commit(), Control::Nothing);
        assert_eq!(on.begin(), Control::Begin);
    }

    #[test]
    fn autocommit_on_only_explicit_transactions() {
        let mut t = TxState::new(true);
        assert_eq!(t.before_statement(), Control::Nothing);
        assert_eq!(t.rollback(), Control::Nothing);
        assert_eq!(t.begin(), Control::Begin);
        assert!(t.is_open());
        assert_eq!(t.rollback(), Control::Rollback);
        assert!(!t.is_open());
    }
}
