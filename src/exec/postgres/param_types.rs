//! The types the server infers for a statement's parameters, which the parameters are
//! then bound as (see [`super::encode`]).

use sqlx::{Either, Executor, Row as _, Statement, TypeInfo};

use super::{PgSession, map_error, sql_str};
use crate::exec::ExecError;

/// The SQL-level statement name the parameter look-up prepares and deallocates at once.
const DESCRIBE: &str = "helios_matrix_params";

impl PgSession {
    /// The types the server infers for a statement's parameters. Without the statement
    /// cache, one simple-query message prepares the statement under a SQL-level name, reads
    /// its parameter types and deallocates it: a pooler keeps a single message on one server
    /// connection, and a statement that cannot be prepared fails here with the same error
    /// its execution would give. Statements `PREPARE` does not take bind as written.
    pub(super) async fn parameter_types(&mut self, sql: &str) -> Result<Vec<ParamType>, ExecError> {
        if self.named_statements {
            let conn = self.conn()?;
            return match conn.prepare(sql_str(sql)).await {
                Ok(statement) => Ok(match statement.parameters() {
                    Some(Either::Left(types)) => types
                        .iter()
                        .map(|t| ParamType {
                            name: t.name().to_string(),
                            oid: t.oid().map(|o| o.0),
                        })
                        .collect(),
                    _ => Vec::new(),
                }),
                // 42P18: the server cannot infer a parameter's type (`$1 IS NULL`).
                Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P18") => {
                    Ok(Vec::new())
                }
                Err(e) => Err(map_error(e)),
            };
        }
        if !preparable(sql) {
            return Ok(Vec::new());
        }
        if let Some(last) = &mut self.described
            && last.sql == sql
            && last.call + 1 == self.call
        {
            last.call = self.call;
            return Ok(last.types.clone());
        }
        // Inside a transaction a failed PREPARE would abort it: a savepoint keeps the
        // look-up from touching the transaction, fail or not.
        let guarded = self.tx.is_open() || self.pinning;
        let (open, close) = if guarded {
            (
                format!("SAVEPOINT {DESCRIBE};\n"),
                format!(";\nRELEASE SAVEPOINT {DESCRIBE}"),
            )
        } else {
            (String::new(), String::new())
        };
        let describe = format!(
            "{open}PREPARE {DESCRIBE} AS {sql};\n\
             SELECT upper(t.typname::text), p.oid::int8 \
             FROM pg_prepared_statements s \
             CROSS JOIN LATERAL unnest(s.parameter_types) WITH ORDINALITY AS p(oid, n) \
             JOIN pg_type t ON t.oid = p.oid WHERE s.name = '{DESCRIBE}' ORDER BY p.n;\n\
             DEALLOCATE {DESCRIBE}{close}"
        );
        let conn = self.conn()?;
        match sqlx::raw_sql(sql_str(&describe))
            .fetch_all(&mut *conn)
            .await
        {
            Ok(rows) => {
                let types = rows
                    .iter()
                    .map(|r| {
                        Ok(ParamType {
                            name: r.try_get::<String, _>(0)?,
                            oid: u32::try_from(r.try_get::<i64, _>(1)?).ok(),
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(map_error)?;
                self.described = Some(Described {
                    sql: sql.to_string(),
                    call: self.call,
                    types: types.clone(),
                });
                Ok(types)
            }
            // The statement cannot be prepared alone (a syntax error, a parameter whose
            // type cannot be inferred, …): bind as written and let it fail, or not, itself.
            Err(sqlx::Error::Database(_)) => {
                if guarded {
                    let undo =
                        format!("ROLLBACK TO SAVEPOINT {DESCRIBE}; RELEASE SAVEPOINT {DESCRIBE}");
                    // In a transaction that was already failed, the statement fails anyway.
                    let _ = sqlx::raw_sql(sql_str(&undo)).execute(&mut *conn).await;
                }
                Ok(Vec::new())
            }
            Err(e) => Err(map_error(e)),
        }
    }
}

/// The parameter types of the statement a session described last, and the number of the
/// call that did. A repeated statement (a `repeat:` loop) reuses them only while no other
/// call ran on any of the worker's sessions since, so no DDL can have changed them.
pub(super) struct Described {
    sql: String,
    call: u64,
    types: Vec<ParamType>,
}

/// A parameter type the server inferred: sqlx's name for it and its OID.
#[derive(Clone)]
pub(super) struct ParamType {
    pub(super) name: String,
    pub(super) oid: Option<u32>,
}

/// Statements SQL `PREPARE` accepts.
fn preparable(sql: &str) -> bool {
    let first = sql
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "VALUES" | "WITH" | "MERGE" | "TABLE"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_preparable_statements_are_described() {
        assert!(preparable("SELECT $1"));
        assert!(preparable("  with x as (select 1) select * from x"));
        assert!(preparable("(SELECT 1)"));
        assert!(!preparable("CREATE TABLE t (a int)"));
        assert!(!preparable("SET x = 1"));
    }
}
