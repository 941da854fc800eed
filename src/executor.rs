//! The executors: what runs a protocol's cases, one row of [`ALL`] each.
//!
//! Everything decided by executor reads the executor's row: the name `matrix.yaml` writes
//! (`registry` rejects any other when it loads), whether this version has an engine for it
//! (`exec::native_engine`, a match on [`Executor`] that names every variant), how its
//! server keeps parallel workers apart (`exec::workspace`), the handshake `probe` sends,
//! and the sqllogictest-rs engine that speaks it (`compile --format sqllogictest`).
//!
//! This module imports nothing, so the registry reads it without depending on the engines.
//! Adding an executor is a variant, its row here, and its arm in `exec::native_engine`.

use std::fmt;

/// An executor `matrix.yaml` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Executor {
    Sqlite,
    Postgres,
    Mysql,
    Snowflake,
    Databricks,
    Pinecone,
    Drda,
    Tds,
    /// Compiled for only: no engine is built in (its cases run through client drivers).
    Tns,
}

/// One executor's row of [`ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorInfo {
    pub executor: Executor,
    /// Its name as `matrix.yaml` writes it (`executor: postgres`).
    pub name: &'static str,
    /// Whether this version has an engine for it (`exec::native_engine`); the cases of an
    /// executor without one run only through a client driver.
    pub built_in: bool,
    /// How its server keeps parallel workers (`run --jobs`) apart.
    pub workers: Workers,
    /// The opening handshake `probe` sends to its endpoints, if it has one.
    pub handshake: Option<Handshake>,
    /// The sqllogictest-rs engine that speaks its protocol, if one does.
    pub sqllogictest: Option<SqllogictestEngine>,
}

/// Every executor, in the order of [`Executor`]'s variants (checked when this compiles).
pub const ALL: [ExecutorInfo; 9] = [
    ExecutorInfo {
        executor: Executor::Sqlite,
        name: "sqlite",
        built_in: true,
        workers: Workers::SqliteFiles,
        handshake: None,
        sqllogictest: None,
    },
    ExecutorInfo {
        executor: Executor::Postgres,
        name: "postgres",
        built_in: true,
        workers: Workers::Namespace(Namespace::PostgresSchema),
        handshake: Some(Handshake::Postgres),
        sqllogictest: Some(SqllogictestEngine::Postgres),
    },
    ExecutorInfo {
        executor: Executor::Mysql,
        name: "mysql",
        built_in: true,
        workers: Workers::Namespace(Namespace::MySqlDatabase),
        handshake: Some(Handshake::Mysql),
        sqllogictest: Some(SqllogictestEngine::MySql),
    },
    ExecutorInfo {
        executor: Executor::Snowflake,
        name: "snowflake",
        built_in: true,
        workers: Workers::Namespace(Namespace::SnowflakeSchema),
        handshake: Some(Handshake::Snowflake),
        sqllogictest: None,
    },
    ExecutorInfo {
        executor: Executor::Databricks,
        name: "databricks",
        built_in: true,
        workers: Workers::Namespace(Namespace::DatabricksSchema),
        handshake: Some(Handshake::Databricks),
        sqllogictest: None,
    },
    ExecutorInfo {
        executor: Executor::Pinecone,
        name: "pinecone",
        built_in: true,
        workers: Workers::IndexSuffix,
        handshake: Some(Handshake::Pinecone),
        sqllogictest: None,
    },
    ExecutorInfo {
        executor: Executor::Drda,
        name: "drda",
        built_in: true,
        workers: Workers::One,
        handshake: None,
        sqllogictest: None,
    },
    ExecutorInfo {
        executor: Executor::Tds,
        name: "tds",
        built_in: true,
        workers: Workers::One,
        handshake: Some(Handshake::Tds),
        sqllogictest: None,
    },
    ExecutorInfo {
        executor: Executor::Tns,
        name: "tns",
        built_in: false,
        workers: Workers::One,
        handshake: None,
        sqllogictest: None,
    },
];

// `Executor::info` indexes `ALL` by variant: row `i` must be the `i`-th variant's.
const _: () = {
    let mut i = 0;
    while i < ALL.len() {
        assert!(
            ALL[i].executor as usize == i,
            "ALL is not in the order of Executor's variants"
        );
        i += 1;
    }
};

impl Executor {
    /// This executor's row of [`ALL`].
    pub fn info(self) -> &'static ExecutorInfo {
        &ALL[self as usize]
    }

    /// Its name as `matrix.yaml` writes it.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The executor `matrix.yaml` names so, if there is one.
    pub fn parse(name: &str) -> Option<Executor> {
        ALL.iter()
            .find(|row| row.name == name)
            .map(|row| row.executor)
    }

    /// Every executor's name, in table order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        ALL.iter().map(|row| row.name)
    }
}

impl fmt::Display for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Executor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// How an executor's server keeps parallel workers apart (`exec::workspace` makes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// It has no way to: its cases run on one worker.
    One,
    /// SQLite: every case has its own in-memory database already; a file target gets a file
    /// per worker beside it.
    SqliteFiles,
    /// An index-name suffix per worker (the specs create and delete their indexes).
    IndexSuffix,
    /// A namespace per worker on the server, made and dropped through the executor itself.
    Namespace(Namespace),
}

/// A namespace per worker on a SQL server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    PostgresSchema,
    MySqlDatabase,
    SnowflakeSchema,
    DatabricksSchema,
}

/// A protocol's opening handshake (`probe::handshake` sends it and reads the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Handshake {
    /// `SSLRequest`: a PostgreSQL server answers one byte, `S` or `N`.
    Postgres,
    /// A MySQL server speaks first: its greeting (protocol 10, then its version).
    Mysql,
    /// TDS `PRELOGIN`: SQL Server answers with a tabular-result packet (type 4).
    Tds,
    /// The Snowflake connector's `POST /queries/v1/abort-request` (no side effect).
    Snowflake,
    /// The Databricks SQL API's `GET /api/2.0/sql/warehouses`.
    Databricks,
    /// The Pinecone control plane's `GET /indexes`.
    Pinecone,
}

/// The sqllogictest-rs engine that speaks a protocol (`compile --format sqllogictest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqllogictestEngine {
    /// `--engine postgres`: tokio-postgres's simple query protocol, one connection per
    /// `connection` name for the whole file.
    Postgres,
    /// `--engine mysql`: mysql_async's text protocol, each record on a connection taken
    /// from a pool and reset first (`COM_RESET_CONNECTION`).
    MySql,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for row in &ALL {
            assert_eq!(Executor::parse(row.name), Some(row.executor));
            assert_eq!(row.executor.info(), row);
            assert_eq!(row.executor.to_string(), row.name);
        }
        assert_eq!(Executor::parse("postgresql"), None);
        assert_eq!(Executor::parse("Postgres"), None);
    }
}
