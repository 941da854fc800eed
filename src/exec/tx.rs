//! Transaction bookkeeping shared by executors whose servers have no native autocommit
//! switch: with autocommit off, a transaction starts implicitly before the first
//! statement (DB-API style) and again after every commit or rollback.

/// What the executor must send for a transaction-control step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Send {
    /// Nothing: the request is already satisfied.
    Nothing,
    Begin,
    Commit,
    Rollback,
}

#[derive(Debug, Clone, Copy)]
pub struct TxState {
    autocommit: bool,
    open: bool,
    /// The open transaction was started implicitly (autocommit off).
    implicit: bool,
}

impl TxState {
    pub fn new(autocommit: bool) -> Self {
        Self {
            autocommit,
            open: false,
            implicit: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Before a statement: `Begin` when autocommit is off and no transaction is open.
    pub fn before_statement(&mut self) -> Send {
        if !self.autocommit && !self.open {
            self.open = true;
            self.implicit = true;
            Send::Begin
        } else {
            Send::Nothing
        }
    }

    /// An explicit `begin` step. Inside the implicit transaction it adopts it.
    pub fn begin(&mut self) -> Send {
        if self.open && self.implicit {
            self.implicit = false;
            return Send::Nothing;
        }
        self.open = true;
        self.implicit = false;
        Send::Begin
    }

    /// `commit` with nothing open is a no-op, as in DB-API drivers.
    pub fn commit(&mut self) -> Send {
        self.end(Send::Commit)
    }

    pub fn rollback(&mut self) -> Send {
        self.end(Send::Rollback)
    }

    fn end(&mut self, send: Send) -> Send {
        if !self.open {
            return Send::Nothing;
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

impl Send {
    pub fn sql(self) -> Option<&'static str> {
        match self {
            Send::Nothing => None,
            Send::Begin => Some("BEGIN"),
            Send::Commit => Some("COMMIT"),
            Send::Rollback => Some("ROLLBACK"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autocommit_off_begins_lazily_and_again_after_commit() {
        let mut t = TxState::new(false);
        assert_eq!(t.before_statement(), Send::Begin);
        assert_eq!(t.before_statement(), Send::Nothing);
        assert_eq!(t.commit(), Send::Commit);
        assert_eq!(t.commit(), Send::Nothing);
        assert_eq!(t.before_statement(), Send::Begin);
        assert_eq!(
            t.begin(),
            Send::Nothing,
            "an explicit begin adopts the implicit transaction"
        );
    }

    #[test]
    fn autocommit_on_only_explicit_transactions() {
        let mut t = TxState::new(true);
        assert_eq!(t.before_statement(), Send::Nothing);
        assert_eq!(t.rollback(), Send::Nothing);
        assert_eq!(t.begin(), Send::Begin);
        assert!(t.is_open());
        assert_eq!(t.rollback(), Send::Rollback);
        assert!(!t.is_open());
    }
}
