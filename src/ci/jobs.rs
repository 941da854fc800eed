//! The CI jobs of the matrix: every protocol with a target, through the built-in executor
//! and each client driver it lists, split into shards; each job runs its protocol's tier
//! priority and the ones above it (silver, P1: `--priority p0,p1`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::registry::{Priority, Registry};
use crate::select::{NATIVE, Shard};
use crate::target::Target;

/// `--shards N` (every protocol) or `--shards PROTOCOL=N` (one protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardCount {
    All(u64),
    Protocol(String, u64),
}

impl ShardCount {
    pub fn parse(text: &str) -> Result<ShardCount, String> {
        let count = |n: &str| {
            n.trim()
                .parse::<u64>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    format!("`{text}` is not a shard count: write N or PROTOCOL=N with N >= 1")
                })
        };
        match text.split_once('=') {
            Some((protocol, n)) => Ok(ShardCount::Protocol(protocol.trim().to_string(), count(n)?)),
            None => Ok(ShardCount::All(count(text)?)),
        }
    }
}

impl fmt::Display for ShardCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardCount::All(n) => write!(f, "{n}"),
            ShardCount::Protocol(p, n) => write!(f, "{p}={n}"),
        }
    }
}

/// How many shards each protocol's cells are split into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shards {
    default: u64,
    per_protocol: BTreeMap<String, u64>,
}

impl Shards {
    /// From `--shards` as given (later entries win); protocols must be in the registry.
    pub fn new(counts: &[ShardCount], registry: &Registry) -> Result<Shards, String> {
        let mut shards = Shards {
            default: 1,
            per_protocol: BTreeMap::new(),
        };
        for count in counts {
            match count {
                ShardCount::All(n) => shards.default = *n,
                ShardCount::Protocol(name, n) => {
                    if registry.protocol(name).is_none() {
                        return Err(format!(
                            "--shards names unknown protocol `{name}` (matrix.yaml has {})",
                            registry
                                .protocols
                                .iter()
                                .map(|p| p.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    shards.per_protocol.insert(name.clone(), *n);
                }
            }
        }
        Ok(shards)
    }

    pub fn of(&self, protocol: &str) -> u64 {
        self.per_protocol
            .get(protocol)
            .copied()
            .unwrap_or(self.default)
    }
}

/// One CI job: `run --protocol P --driver D --priority … --shard K/N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Names the job, its JUnit file and its artifact: `postgresql-psycopg2-2of3`.
    pub id: String,
    pub protocol: String,
    /// A driver the protocol lists, or `native` for the built-in executor.
    pub driver: String,
    pub priorities: Vec<Priority>,
    pub shard: Shard,
    /// Whether the protocol's target is a server to start (not an embedded file or memory).
    pub server: bool,
}

/// A cell that gets no job, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Omitted {
    pub cell: String,
    pub reason: String,
}

/// The jobs in registry order (protocol, then the built-in executor, then its drivers as
/// listed, then shard), and the cells left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jobs {
    pub jobs: Vec<Job>,
    pub omitted: Vec<Omitted>,
}

pub fn plan(registry: &Registry, shards: &Shards) -> Result<Jobs, String> {
    let mut jobs = Vec::new();
    let mut omitted = Vec::new();
    for protocol in &registry.protocols {
        let Some(target) = &protocol.target else {
            omitted.push(Omitted {
                cell: protocol.name.clone(),
                reason: "no target in matrix.yaml".to_string(),
            });
            continue;
        };
        let server = Target::new(target.as_str()).host().is_some();
        // The protocol's tier priority and every higher one: silver runs P0 and P1.
        let priorities: Vec<Priority> = [Priority::P0, Priority::P1, Priority::P2]
            .into_iter()
            .filter(|p| *p <= protocol.priority)
            .collect();
        let mut drivers = vec![NATIVE.to_string()];
        for name in &protocol.drivers {
            let cell = format!("{}/{name}", protocol.name);
            match registry.drivers.get(name) {
                None => omitted.push(Omitted {
                    cell,
                    reason: "no entry under `drivers:` in matrix.yaml says how to start its host"
                        .to_string(),
                }),
                // A job that would only skip every case costs a runner and tells nothing.
                Some(driver) if driver.skip.is_some() => omitted.push(Omitted {
                    cell,
                    reason: format!(
                        "every case through it is skipped: {}",
                        driver.skip.as_deref().unwrap_or_default()
                    ),
                }),
                Some(_) => drivers.push(name.clone()),
            }
        }
        let count = shards.of(&protocol.name);
        for driver in drivers {
            for index in 1..=count {
                let mut id = protocol.name.clone();
                if driver != NATIVE {
                    id.push('-');
                    id.push_str(&driver);
                }
                if count > 1 {
                    id.push_str(&format!("-{index}of{count}"));
                }
                jobs.push(Job {
                    id: file_safe(&id),
                    protocol: protocol.name.clone(),
                    driver: driver.clone(),
                    priorities: priorities.clone(),
                    shard: Shard { index, count },
                    server,
                });
            }
        }
    }
    let mut ids = BTreeSet::new();
    for job in &jobs {
        if !ids.insert(job.id.as_str()) {
            return Err(format!(
                "two jobs would be named `{}`: rename a protocol or driver in matrix.yaml",
                job.id
            ));
        }
    }
    Ok(Jobs { jobs, omitted })
}

/// A name usable as a file name and a CI artifact name: anything but letters, digits,
/// `_`, `.` and `-` becomes `-`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostics;
    use crate::source::SourceMap;
    use crate::spec::DEFAULT_REGISTRY;

    fn registry() -> Registry {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let id = sources.add(
            "matrix.yaml".into(),
            "matrix.yaml".into(),
            DEFAULT_REGISTRY.into(),
        );
        let node = crate::yaml::parse(DEFAULT_REGISTRY, id, &mut diags).expect("parses");
        Registry::decode(&node, &mut diags)
    }

    #[test]
    fn shard_counts_parse() {
        assert_eq!(ShardCount::parse("3"), Ok(ShardCount::All(3)));
        assert_eq!(
            ShardCount::parse("sqlite=1"),
            Ok(ShardCount::Protocol("sqlite".into(), 1))
        );
        for bad in ["0", "x", "sqlite=0", "sqlite=", "-1", ""] {
            assert!(ShardCount::parse(bad).is_err(), "{bad}");
        }
        let registry = registry();
        let shards = Shards::new(
            &[ShardCount::All(3), ShardCount::Protocol("sqlite".into(), 1)],
            &registry,
        )
        .expect("valid");
        assert_eq!((shards.of("postgresql"), shards.of("sqlite")), (3, 1));
        let unknown = Shards::new(&[ShardCount::Protocol("sqlite3".into(), 2)], &registry);
        assert!(unknown.is_err_and(|e| e.contains("unknown protocol `sqlite3`")));
    }

    #[test]
    fn every_protocol_with_a_target_runs_natively_and_through_its_drivers() {
        let registry = registry();
        let shards = Shards::new(&[ShardCount::All(2)], &registry).expect("valid");
        let plan = plan(&registry, &shards).expect("plans");
        let ids: Vec<&str> = plan.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(
            &ids[..3],
            [
                "postgresql-1of2",
                "postgresql-2of2",
                "postgresql-psycopg2-1of2"
            ]
        );
        assert!(ids.contains(&"sqlite-2of2"));
        assert!(ids.contains(&"sqlserver-2of2"));
        let silver = plan
            .jobs
            .iter()
            .find(|j| j.protocol == "snowflake")
            .expect("snowflake");
        assert_eq!(silver.priorities, [Priority::P0, Priority::P1]);
        assert!(silver.server);
        let sqlite = plan
            .jobs
            .iter()
            .find(|j| j.protocol == "sqlite")
            .expect("sqlite");
        assert_eq!((sqlite.driver.as_str(), sqlite.server), ("native", false));
        let omitted: Vec<&str> = plan.omitted.iter().map(|o| o.cell.as_str()).collect();
        assert_eq!(
            omitted,
            [
                "databricks/databricks-sql-connector",
                "db2/ibm_db",
                "oracle"
            ]
        );
        // DB2 runs natively on Derby and SQL Server on iridium (Bronze: every priority);
        // ibm_db has no host here; SQL Server's pymssql and pyodbc cells run.
        assert!(ids.contains(&"sqlserver-pymssql-2of2"));
        assert!(ids.contains(&"sqlserver-pyodbc-1of2"));
        for protocol in ["db2", "sqlserver"] {
            let bronze = plan
                .jobs
                .iter()
                .find(|j| j.protocol == protocol)
                .expect(protocol);
            assert_eq!((bronze.driver.as_str(), bronze.server), ("native", true));
            assert_eq!(
                bronze.priorities,
                [Priority::P0, Priority::P1, Priority::P2]
            );
        }
    }
}
