//! Private namespaces for parallel workers.
//!
//! With `--jobs N` the cases of one protocol run on N workers at once. Specs create and drop
//! tables by fixed names, so each worker gets a namespace of its own, made through the
//! protocol's own executor before the worker's first case and dropped after its last (one
//! left by an interrupted run is dropped and made again):
//!
//! - PostgreSQL: a schema `helios_w<k>`, first on the worker's `search_path` (set at
//!   connection start through libpq's `options` parameter, which sqlx, libpq and
//!   node-postgres honour), then `public`, so extensions installed there still resolve.
//!   A schema costs a millisecond where a database costs ~120 ms (CREATE DATABASE writes
//!   and syncs a copy of its template); what a case can see of it is `search_path`.
//! - MySQL: a database `<database>_w<k>` with the character set and collation of the
//!   target's own, so text compares and sorts as with one worker.
//! - Snowflake: a schema `helios_w<k>` in the target's database (the URL's path
//!   `/<database>/<schema>`).
//! - Databricks SQL: a schema `helios_w<k>`, the worker's `schema` parameter.
//! - SQLite: `sqlite::memory:` gives every case its own database already; a file target
//!   gets a file per worker beside it (`data.w1.db`), removed afterwards.
//! - Pinecone: an index-name suffix per worker (`index-suffix=-w<k>` on the target): the
//!   executor and the driver host add it to every index a step names and take it off the
//!   names the server reports, and a listing shows the worker's own indexes only.
//! - PostgreSQL behind a transaction-pooling proxy (`pooler=transaction`, which keeps no
//!   session settings) has none: one worker.
//!
//! The target's user needs the right to create and drop them. A worker's namespace is a
//! target like any other, so a driver host runs in it unchanged.

use std::path::PathBuf;

use super::{ExecError, SessionOptions, native_engine};
use crate::exec::Session;
use crate::executor::{Executor, Namespace, Workers};
use crate::target::Target;
use crate::value::Value;

/// One worker's namespace.
pub struct Workspace {
    /// Where the worker's cases run.
    pub target: Target,
    /// What removing the namespace takes.
    cleanup: Cleanup,
}

enum Cleanup {
    Nothing,
    /// A schema or database on the server behind `base`.
    Drop {
        kind: Namespace,
        base: Target,
        name: String,
    },
    RemoveFile(PathBuf),
    /// A database of its own ([`Workspace::fresh_database`]), dropped from `base`.
    DropDatabase {
        base: Target,
        sql: String,
    },
}

impl Workspace {
    /// A workspace that is a target and nothing to remove afterwards: the target itself
    /// (one worker), a per-case scratch target, or a Pinecone index suffix.
    pub fn without_cleanup(target: Target) -> Self {
        Self {
            target,
            cleanup: Cleanup::Nothing,
        }
    }

    /// Prepares `workers` namespaces on the target of an executor. `Ok(None)`: the executor
    /// has no way to keep workers apart, so its cases run on one worker.
    pub async fn prepare(
        executor: Executor,
        target: &Target,
        workers: usize,
    ) -> Result<Option<Vec<Workspace>>, ExecError> {
        let kind = match executor.info().workers {
            // A transaction-pooling proxy hands each transaction to any server connection
            // and refuses start-up options: no session setting can hold a worker's schema.
            Workers::Namespace(Namespace::PostgresSchema)
                if super::postgres::transaction_pooler(target) != Ok(false) =>
            {
                return Ok(None);
            }
            Workers::Namespace(kind) => kind,
            Workers::SqliteFiles => return Ok(Some(sqlite_workspaces(target, workers))),
            // The specs create and delete their indexes; a worker's carry its suffix.
            Workers::IndexSuffix => {
                return Ok(Some(
                    (1..=workers)
                        .map(|k| {
                            Workspace::without_cleanup(
                                target.with_query_param("index-suffix", &format!("-w{k}")),
                            )
                        })
                        .collect(),
                ));
            }
            Workers::One => return Ok(None),
        };
        let made = (1..=workers)
            .map(|k| kind.workspace(target, k))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<&str> = made.iter().filter_map(Workspace::namespace).collect();
        kind.recreate(executor, target, &names).await?;
        // A server may take the start-up option and still not honour it: workers would
        // then share one namespace and collide. Checked once, on the first worker.
        if kind == Namespace::PostgresSchema
            && let (Some(first), Some(name)) = (made.first(), names.first())
        {
            let mut current = None;
            let checked = admin(executor, &first.target, async |session| {
                let answer = session.query("SELECT current_schema()", &[]).await?;
                current = answer.rows.first().and_then(|r| r.first()).cloned();
                Ok(())
            })
            .await;
            let expected = (*name).to_string();
            if checked.is_err() || current.as_ref() != Some(&Value::Text(expected.clone())) {
                Workspace::release(made, executor).await;
                return Err(ExecError::Client(format!(
                    "the server does not put a session in the worker's schema that its start-up `options` name (current_schema() is {}, not {expected})",
                    current.map_or_else(|| "unknown".to_string(), |v| v.to_string()),
                )));
            }
        }
        Ok(Some(made))
    }

    fn namespace(&self) -> Option<&str> {
        match &self.cleanup {
            Cleanup::Drop { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Removes a cell's namespaces, in one session. Failures are ignored: the next run
    /// makes them again anyway.
    pub async fn release(workspaces: Vec<Workspace>, executor: Executor) {
        let mut drops = Vec::new();
        let mut server = None;
        for workspace in workspaces {
            match workspace.cleanup {
                Cleanup::Nothing => {}
                Cleanup::Drop { kind, base, name } => {
                    drops.push(kind.drop_sql(&name));
                    server = Some(base);
                }
                Cleanup::DropDatabase { base, sql } => {
                    drops.push(sql);
                    server = Some(base);
                }
                Cleanup::RemoveFile(path) => {
                    for suffix in ["", "-journal", "-wal", "-shm"] {
                        let mut file = path.clone().into_os_string();
                        file.push(suffix);
                        let _ = std::fs::remove_file(file);
                    }
                }
            }
        }
        if let Some(base) = server {
            let _ = admin(executor, &base, async |session| {
                for sql in &drops {
                    session.execute(sql, &[]).await?;
                }
                Ok(())
            })
            .await;
        }
    }
}

impl Workspace {
    /// A database named `name` on the server of `target` (PostgreSQL or MySQL), made
    /// fresh (one an interrupted run left is dropped first), with `setup` run in it: where
    /// a driver's own test suite runs, since such suites leave tables behind and read the
    /// catalog whole. The target's user needs the right to create databases.
    pub async fn fresh_database(
        executor: Executor,
        target: &Target,
        name: &str,
        setup: &[String],
    ) -> Result<Workspace, ExecError> {
        let (drops, create) = match executor {
            Executor::Postgres => {
                let quoted = format!("\"{}\"", name.replace('"', "\"\""));
                (
                    // FORCE (PostgreSQL 13+) ends the sessions a pooler still holds in it.
                    vec![
                        format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"),
                        format!("DROP DATABASE IF EXISTS {quoted}"),
                    ],
                    format!("CREATE DATABASE {quoted}"),
                )
            }
            Executor::Mysql => {
                let quoted = Namespace::MySqlDatabase.quote(name);
                (
                    vec![format!("DROP DATABASE IF EXISTS {quoted}")],
                    format!("CREATE DATABASE {quoted}"),
                )
            }
            other => {
                return Err(ExecError::Client(format!(
                    "a database of its own is made on PostgreSQL and MySQL targets only, not through the {} executor",
                    other.info().name
                )));
            }
        };
        let cant = |e: ExecError| {
            ExecError::Connect(format!(
                "cannot make the database {name} on {target}: {e} (the target's user needs the right to create and drop it)"
            ))
        };
        // The first drop the server takes is the one that removes it afterwards too.
        let mut drop_sql = None;
        admin(executor, target, async |session| {
            let mut dropped = Err(ExecError::Client("no drop".to_string()));
            for sql in &drops {
                dropped = session.execute(sql, &[]).await.map(|_| ());
                if dropped.is_ok() {
                    drop_sql = Some(sql.clone());
                    break;
                }
            }
            dropped?;
            // A suite's database takes the server's default where the server cannot say
            // (HeliosDB Nano's SCHEMATA has no such columns). Workers' namespaces do not:
            // there a server that cannot say runs one worker, as HeliosDB Nano must (its
            // other databases lose sight of tables between connections).
            let like = match executor {
                Executor::Mysql => match mysql_charset(session).await {
                    Err(ExecError::Db(_)) => String::new(),
                    other => other?,
                },
                _ => String::new(),
            };
            session.execute(&format!("{create}{like}"), &[]).await?;
            Ok(())
        })
        .await
        .map_err(cant)?;
        let own = target.with_path_segments(&[name]);
        admin(executor, &own, async |session| {
            for sql in setup {
                session.execute(sql, &[]).await?;
            }
            Ok(())
        })
        .await
        .map_err(|e| ExecError::Connect(format!("the setup of database {name} failed: {e}")))?;
        Ok(Workspace {
            target: own,
            cleanup: Cleanup::DropDatabase {
                base: target.clone(),
                sql: drop_sql.unwrap_or_default(),
            },
        })
    }
}

/// ` CHARACTER SET x COLLATE y` of the session's database, so a new one sorts alike.
async fn mysql_charset(session: &mut Box<dyn Session>) -> Result<String, ExecError> {
    let answer = session
        .query(
            "SELECT CONCAT(' CHARACTER SET ', DEFAULT_CHARACTER_SET_NAME, ' COLLATE ', DEFAULT_COLLATION_NAME) \
             FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()",
            &[],
        )
        .await?;
    Ok(match answer.rows.first().and_then(|r| r.first()) {
        Some(Value::Text(t)) => t.clone(),
        _ => String::new(),
    })
}

impl Namespace {
    /// Worker `k`'s namespace on `target`, not yet created.
    fn workspace(self, target: &Target, k: usize) -> Result<Workspace, ExecError> {
        let name = match self {
            Namespace::MySqlDatabase => {
                let Some(database) = target.path_segments().into_iter().next() else {
                    return Err(no_database(target));
                };
                format!("{database}_w{k}")
            }
            _ => format!("helios_w{k}"),
        };
        let worker_target = match self {
            Namespace::PostgresSchema => {
                target.with_query_param("options", &format!("-c search_path={name},public"))
            }
            Namespace::MySqlDatabase => target.with_path_segments(&[&name]),
            Namespace::SnowflakeSchema => match target.path_segments().first() {
                Some(database) => target.with_path_segments(&[database, &name]),
                None => return Err(no_database(target)),
            },
            Namespace::DatabricksSchema => target.with_query_param("schema", &name),
        };
        Ok(Workspace {
            target: worker_target,
            cleanup: Cleanup::Drop {
                kind: self,
                base: target.clone(),
                name,
            },
        })
    }

    /// Drops (if an interrupted run left them) and creates the namespaces, in one session
    /// on the target itself.
    async fn recreate(
        self,
        executor: Executor,
        target: &Target,
        names: &[&str],
    ) -> Result<(), ExecError> {
        admin(executor, target, async |session| {
            let like = match self {
                Namespace::MySqlDatabase => mysql_charset(session).await?,
                _ => String::new(),
            };
            for name in names {
                session.execute(&self.drop_sql(name), &[]).await?;
                let create = match self {
                    Namespace::MySqlDatabase => format!("CREATE DATABASE {}{like}", self.quote(name)),
                    _ => format!("CREATE SCHEMA {}", self.quote(name)),
                };
                session.execute(&create, &[]).await?;
            }
            Ok(())
        })
        .await
        .map_err(|e| {
            ExecError::Connect(format!(
                "cannot prepare the workers' namespaces ({}) on {target}: {e} (the target's user needs the right to create and drop them; or run with --jobs 1)",
                names.join(", ")
            ))
        })
    }

    fn drop_sql(self, name: &str) -> String {
        match self {
            Namespace::MySqlDatabase => format!("DROP DATABASE IF EXISTS {}", self.quote(name)),
            _ => format!("DROP SCHEMA IF EXISTS {} CASCADE", self.quote(name)),
        }
    }

    fn quote(self, name: &str) -> String {
        match self {
            Namespace::MySqlDatabase | Namespace::DatabricksSchema => {
                format!("`{}`", name.replace('`', "``"))
            }
            Namespace::PostgresSchema | Namespace::SnowflakeSchema => {
                format!("\"{}\"", name.replace('"', "\"\""))
            }
        }
    }
}

fn no_database(target: &Target) -> ExecError {
    ExecError::Connect(format!(
        "the target {target} names no database for the workers' namespaces to go in"
    ))
}

/// How long the admin connection's goodbye may take: a server that never closes a
/// connection after the client's Terminate (HeliosDB Nano 4.41.1) must not hold the run.
const GOODBYE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `work` in one autocommit session of the executor on `target`, then closes it.
async fn admin(
    executor: Executor,
    target: &Target,
    work: impl AsyncFnOnce(&mut Box<dyn Session>) -> Result<(), ExecError>,
) -> Result<(), ExecError> {
    let engine = native_engine(executor, target)?;
    let options = SessionOptions {
        case_key: "workspaces".to_string(),
        autocommit: true,
    };
    let done = match engine.open(&options).await {
        Ok(mut session) => {
            let done = work(&mut session).await;
            let _ = tokio::time::timeout(GOODBYE, session.close()).await;
            done
        }
        Err(e) => Err(e),
    };
    let _ = tokio::time::timeout(GOODBYE, engine.close()).await;
    done
}

fn sqlite_workspaces(target: &Target, workers: usize) -> Vec<Workspace> {
    // Scratch databases are per case already; a target that is not SQLite's fails in its
    // engine, once.
    let Ok(Some(path)) = super::sqlite::target_file(target) else {
        return (0..workers)
            .map(|_| Workspace::without_cleanup(target.clone()))
            .collect();
    };
    let (file, query) = path
        .split_once('?')
        .map_or((path, None), |(f, q)| (f, Some(q)));
    (1..=workers)
        .map(|k| {
            let (stem, ext) = match file.rsplit_once('.') {
                Some((stem, ext)) if !ext.contains('/') => (stem, format!(".{ext}")),
                _ => (file, String::new()),
            };
            let worker_file = format!("{stem}.w{k}{ext}");
            let url = match query {
                Some(q) => format!("sqlite:{worker_file}?{q}"),
                None => format!("sqlite:{worker_file}"),
            };
            Workspace {
                target: Target::new(url),
                cleanup: Cleanup::RemoveFile(PathBuf::from(worker_file)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_file_gets_a_file_per_worker_and_memory_stays_per_case() {
        let files = sqlite_workspaces(&Target::new("sqlite:data/run.db?mode=rwc"), 2);
        let urls: Vec<_> = files.iter().map(|w| w.target.expose_url()).collect();
        assert_eq!(
            urls,
            [
                "sqlite:data/run.w1.db?mode=rwc",
                "sqlite:data/run.w2.db?mode=rwc"
            ]
        );
        let memory = sqlite_workspaces(&Target::new("sqlite::memory:"), 2);
        assert!(
            memory
                .iter()
                .all(|w| w.target.expose_url() == "sqlite::memory:")
        );
    }

    #[test]
    fn each_server_gets_its_own_kind_of_namespace() {
        let target = |kind: Namespace, url: &str| {
            kind.workspace(&Target::new(url), 2)
                .map(|w| w.target.expose_url().to_string())
        };
        assert_eq!(
            target(Namespace::PostgresSchema, "postgres://u:p@127.0.0.1/helios").unwrap(),
            "postgres://u:p@127.0.0.1/helios?options=-c+search_path%3Dhelios_w2%2Cpublic"
        );
        assert_eq!(
            target(
                Namespace::MySqlDatabase,
                "mysql://u:p@127.0.0.1/helios?ssl-mode=required"
            )
            .unwrap(),
            "mysql://u:p@127.0.0.1/helios_w2?ssl-mode=required"
        );
        assert!(target(Namespace::MySqlDatabase, "mysql://u:p@127.0.0.1").is_err());
        assert_eq!(
            target(
                Namespace::SnowflakeSchema,
                "http://u:p@127.0.0.1:8443/helios/public?account=local"
            )
            .unwrap(),
            "http://u:p@127.0.0.1:8443/helios/helios_w2?account=local"
        );
        assert_eq!(
            target(Namespace::DatabricksSchema, "http://token:t@127.0.0.1:8444").unwrap(),
            "http://token:t@127.0.0.1:8444/?schema=helios_w2"
        );
    }

    #[test]
    fn identifiers_are_quoted_for_each_server() {
        assert_eq!(Namespace::PostgresSchema.quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(Namespace::MySqlDatabase.quote("a`b"), "`a``b`");
        assert_eq!(
            Namespace::MySqlDatabase.drop_sql("helios_w1"),
            "DROP DATABASE IF EXISTS `helios_w1`"
        );
        assert_eq!(
            Namespace::SnowflakeSchema.drop_sql("helios_w1"),
            "DROP SCHEMA IF EXISTS \"helios_w1\" CASCADE"
        );
    }
}
