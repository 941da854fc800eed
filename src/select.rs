//! Selection: which protocols, targets and cases a run (or `list`) covers.
//!
//! Targets are resolved first, because the labels of the server behind each target take
//! part in compiling that protocol's plan; then only the selected protocols are compiled
//! (or read back from compiled scripts), and the filters pick their cases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::diag::{Diagnostics, did_you_mean};
use crate::plan::Plan;
use crate::plan::compile::compile_protocols;
use crate::registry::{Priority, Protocol, Registry};
use crate::run::Selected;
use crate::spec::{self, SpecSet};
use crate::target::{self, Resolved, ResolvedEndpoint};

/// What to select, as the command line says it.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The spec directory (registry and suites).
    pub specs: PathBuf,
    /// Protocols by name; empty: every protocol with a target.
    pub protocols: Vec<String>,
    pub priorities: Vec<Priority>,
    pub tags: Vec<String>,
    /// A regular expression over case ids and names.
    pub case: Option<String>,
    /// `--label`: labels every protocol carries.
    pub labels: Vec<String>,
    /// `--target PROTOCOL=URL`.
    pub targets: Vec<String>,
    /// `--target-label PROTOCOL=LABEL[,LABEL]`.
    pub target_labels: Vec<String>,
    /// `--driver`: client drivers to run through (`all`: every driver each selected
    /// protocol lists; `native`: the built-in executor). Empty: the built-in executor.
    pub drivers: Vec<String>,
    /// `--shard K/N`: only the K-th of N parts of the selected cases.
    pub shard: Option<Shard>,
    /// `--allow-remote`, `--ca-file`: how targets may be reached.
    pub access: target::Access,
    /// `--server NAME`: the registry's server whose protocols, targets, labels and
    /// endpoints are in force.
    pub server: Option<String>,
}

/// One of N deterministic parts of a selection (`--shard K/N`, K from 1). A case's part
/// depends only on its protocol and id, so adding or removing other cases never moves it,
/// and the N parts together hold every case exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// `K/N` with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard: write K/N with 1 <= K <= N, e.g. 2/3");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether a case of `protocol` with `id` falls in this shard: FNV-1a over both names,
    /// a hash that is the same on every machine and every Rust release.
    pub fn holds(self, protocol: &str, id: &str) -> bool {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in protocol.bytes().chain([0]).chain(id.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash % self.count == self.index - 1
    }
}

/// The name `--driver` gives the built-in executor.
pub const NATIVE: &str = "native";

/// Why nothing can be selected.
#[derive(Debug)]
pub enum Error {
    /// The specs have errors; `report` holds every diagnostic, rendered.
    Specs { report: String, errors: usize },
    /// The options are wrong.
    Usage(String),
}

/// A loaded selection: the plan of the selected protocols and their targets.
pub struct Selection {
    pub plan: Plan,
    pub targets: BTreeMap<String, Resolved>,
    /// The registry's named endpoints with their targets in force, for `http` steps.
    pub endpoints: BTreeMap<String, ResolvedEndpoint>,
    /// The registry the plan was compiled from (its error classes, for `record`).
    pub registry: Registry,
    /// Warnings about the specs, rendered; empty when there are none.
    pub warnings: String,
    case_filter: Option<Regex>,
    priorities: Vec<Priority>,
    tags: Vec<String>,
    shard: Option<Shard>,
    /// The server `--server` named.
    pub server: Option<crate::registry::Server>,
}

fn rendered(mut diags: Diagnostics, specs: &SpecSet) -> String {
    diags.sort();
    if diags.items().is_empty() {
        String::new()
    } else {
        diags.render(&specs.sources)
    }
}

fn specs_error(diags: Diagnostics, specs: &SpecSet) -> Error {
    let errors = diags.error_count();
    Error::Specs {
        report: rendered(diags, specs),
        errors,
    }
}

/// ` (did you mean `x`?)`, or the servers the registry knows.
fn server_suggestion(name: &str, registry: &Registry) -> String {
    let known: Vec<&str> = registry.servers.keys().map(String::as_str).collect();
    match did_you_mean(name, known.iter().copied()) {
        Some(k) => format!(" (did you mean `{k}`?)"),
        None if known.is_empty() => " (the registry has no `servers:`)".to_string(),
        None => format!(" (the registry knows {})", known.join(", ")),
    }
}

/// The protocol × driver cells `--driver` asks for, in registry order.
fn cells(
    protocols: &[Protocol],
    registry: &Registry,
    drivers: &[String],
) -> Result<Vec<Protocol>, Error> {
    if drivers.is_empty() {
        return Ok(protocols.to_vec());
    }
    for name in drivers {
        let known =
            name == "all" || name == NATIVE || protocols.iter().any(|p| p.drivers.contains(name));
        if !known {
            let listed: Vec<&str> = protocols
                .iter()
                .flat_map(|p| p.drivers.iter().map(String::as_str))
                .collect();
            return Err(Error::Usage(format!(
                "--driver `{name}` is not a driver of the selected protocols ({}; or `all`, `{NATIVE}`)",
                listed.join(", ")
            )));
        }
        if name != "all" && name != NATIVE && !registry.drivers.contains_key(name) {
            return Err(Error::Usage(format!(
                "driver `{name}` has no entry under `drivers:` in matrix.yaml saying how to start its host"
            )));
        }
    }
    let mut out = Vec::new();
    for protocol in protocols {
        if drivers.iter().any(|d| d == NATIVE) {
            out.push(protocol.clone());
        }
        for name in &protocol.drivers {
            let wanted = drivers.iter().any(|d| d == name)
                || (drivers.iter().any(|d| d == "all") && registry.drivers.contains_key(name));
            if let (true, Some(driver)) = (wanted, registry.drivers.get(name)) {
                let mut cell = protocol.clone();
                cell.dialect_facts.placeholder = driver.placeholder;
                cell.driver = Some(driver.clone());
                out.push(cell);
            }
        }
    }
    Ok(out)
}

fn suggestion(name: &str, registry: &Registry) -> String {
    did_you_mean(name, registry.protocols.iter().map(|p| p.name.as_str()))
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// `PROTOCOL=VALUE` options, checked against the registry; with `endpoints`, the name may
/// be an endpoint's too.
fn per_protocol(
    given: &[String],
    flag: &str,
    what: &str,
    registry: &Registry,
    endpoints: bool,
) -> Result<Vec<(String, String)>, Error> {
    given
        .iter()
        .map(|t| {
            let Some((name, value)) = t.split_once('=') else {
                return Err(Error::Usage(format!(
                    "{flag} takes PROTOCOL={what}, got `{}`",
                    crate::secret::mask(t)
                )));
            };
            let endpoint = registry.endpoints.contains_key(name);
            if registry.protocol(name).is_none() && !(endpoints && endpoint) {
                if endpoint {
                    return Err(Error::Usage(format!(
                        "{flag} names endpoint `{name}`; endpoints carry no labels"
                    )));
                }
                let names = registry.protocols.iter().map(|p| p.name.as_str()).chain(
                    registry
                        .endpoints
                        .keys()
                        .filter(|_| endpoints)
                        .map(String::as_str),
                );
                let hint = did_you_mean(name, names)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let what = if endpoints {
                    "protocol or endpoint"
                } else {
                    "protocol"
                };
                return Err(Error::Usage(format!(
                    "{flag} names unknown {what} `{name}`{hint}"
                )));
            }
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

impl Selection {
    /// The version of the server under test (`run --server NAME`: the registry's
    /// `servers.NAME.version`), when one is named.
    pub fn server_version(&self) -> Option<String> {
        self.server.as_ref().and_then(|s| s.version.clone())
    }

    /// Loads the specs, resolves targets and compiles the selected protocols; with
    /// `scripts`, the suites come from the compiled scripts in that directory instead.
    pub fn load(options: &Options, scripts: Option<&Path>) -> Result<Selection, Error> {
        let mut diags = Diagnostics::default();
        let mut specs = spec::load(&options.specs, &options.labels, &mut diags);
        if diags.has_errors() {
            return Err(specs_error(diags, &specs));
        }
        let server = match &options.server {
            None => None,
            Some(name) => Some(specs.registry.servers.get(name).cloned().ok_or_else(|| {
                Error::Usage(format!(
                    "unknown server `{name}`{}",
                    server_suggestion(name, &specs.registry)
                ))
            })?),
        };
        let given: BTreeMap<String, String> =
            per_protocol(&options.targets, "--target", "URL", &specs.registry, true)?
                .into_iter()
                .collect();
        // A server's targets and endpoints stand in for the registry's defaults; its labels
        // name each of its targets. `--target` still wins, with only its own labels.
        let mut overrides = BTreeMap::new();
        let mut labels: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(server) = &server {
            overrides.extend(server.targets.clone());
            overrides.extend(server.endpoints.clone());
            for protocol in server.protocols(&specs.registry) {
                if !given.contains_key(protocol) {
                    labels.insert(protocol.to_string(), server.labels.clone());
                }
            }
        }
        for name in given.keys() {
            labels.remove(name);
        }
        overrides.extend(given.clone());
        for (name, list) in per_protocol(
            &options.target_labels,
            "--target-label",
            "LABEL[,LABEL]",
            &specs.registry,
            false,
        )? {
            labels
                .entry(name)
                .or_default()
                .extend(target::split_labels(&list));
        }
        let mut targets = target::resolve(&specs.registry, &overrides, &labels, |k| {
            std::env::var(k).ok()
        });
        if let Some(server) = &server {
            let served = server.protocols(&specs.registry);
            // Only the server's protocols run, each at the server's target.
            targets.retain(|name, _| served.contains(&name.as_str()));
            for (name, resolved) in &mut targets {
                if server.targets.contains_key(name) && !given.contains_key(name) {
                    resolved.origin = target::Origin::Server;
                }
            }
            for name in &options.protocols {
                if specs.registry.protocol(name).is_some() && !served.contains(&name.as_str()) {
                    return Err(Error::Usage(format!(
                        "server `{}` does not serve `{name}` (it serves {})",
                        server.name,
                        served.join(", ")
                    )));
                }
            }
        }
        for resolved in targets.values_mut() {
            resolved.target = resolved.target.clone().with_access(&options.access);
        }
        for name in &options.protocols {
            if specs.registry.protocol(name).is_none() {
                return Err(Error::Usage(format!(
                    "unknown protocol `{name}`{}",
                    suggestion(name, &specs.registry)
                )));
            }
        }
        let mut endpoints =
            target::resolve_endpoints(&specs.registry, &overrides, |k| std::env::var(k).ok());
        if let Some(server) = &server {
            for (name, endpoint) in &mut endpoints {
                if server.endpoints.contains_key(name) && !given.contains_key(name) {
                    endpoint.origin = target::Origin::Server;
                }
            }
        }
        for endpoint in endpoints.values_mut() {
            endpoint.target = endpoint.target.clone().with_access(&options.access);
        }
        // Each protocol compiles with the labels of the server behind its target in force.
        for protocol in &mut specs.registry.protocols {
            protocol.labels = targets
                .get(&protocol.name)
                .map(|t| t.labels.clone())
                .unwrap_or_default();
        }
        // Only the selected protocols are compiled; `compile` checks them all.
        let selected = |p: &Protocol| {
            if options.protocols.is_empty() {
                targets.contains_key(&p.name)
            } else {
                options.protocols.contains(&p.name)
            }
        };
        // Each protocol × driver is compiled on its own: the driver is a label, and its SQL
        // takes the driver's parameter style.
        let protocols: Vec<Protocol> = specs
            .registry
            .protocols
            .iter()
            .filter(|p| selected(p))
            .cloned()
            .collect();
        let registry = specs.registry.clone();
        specs.registry.protocols = cells(&protocols, &registry, &options.drivers)?;
        // A cell the server cannot serve at all is skipped with the server entry's reason.
        if let Some(server) = &server {
            for cell in &mut specs.registry.protocols {
                let Some(driver) = cell.driver.as_mut() else {
                    continue;
                };
                let name = format!("{}/{}", cell.name, driver.name);
                if let Some(reason) = server.skip.get(&name) {
                    driver
                        .skip
                        .get_or_insert_with(|| format!("{}: {reason}", server.name));
                }
            }
        }
        let mut notes = String::new();
        for p in &protocols {
            if !specs.registry.protocols.iter().any(|c| c.name == p.name) {
                notes.push_str(&format!(
                    "note: {} has none of the drivers asked for ({}); it does not run\n",
                    p.name,
                    options.drivers.join(", ")
                ));
            }
        }
        let mut plan = compile_protocols(&specs, &options.labels, |_| true, &mut diags);
        if diags.has_errors() {
            return Err(specs_error(diags, &specs));
        }
        let warnings = rendered(diags, &specs) + &notes;
        if let Some(dir) = scripts {
            plan = crate::script::read_plan(dir, plan, &registry).map_err(Error::Usage)?;
        }
        let case_filter = options
            .case
            .as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|e| Error::Usage(format!("--case is not a valid regular expression: {e}")))?;
        if plan.protocols.is_empty() {
            return Err(Error::Usage(
                "no protocol selected (none named with --protocol has a target, or none exists)"
                    .to_string(),
            ));
        }
        Ok(Selection {
            plan,
            targets,
            endpoints,
            registry,
            warnings,
            case_filter,
            priorities: options.priorities.clone(),
            shard: options.shard,
            tags: options.tags.clone(),
            server,
        })
    }

    /// The cases of each selected protocol (× driver) that pass the filters.
    pub fn selected(&self) -> Vec<Selected<'_>> {
        self.plan
            .protocols
            .iter()
            .map(|p| Selected {
                protocol: p,
                target: self.targets.get(&p.protocol.name).map(|t| t.target.clone()),
                endpoints: &self.endpoints,
                cases: p
                    .suites
                    .iter()
                    .flat_map(|s| s.cases.iter().map(move |c| (s, c)))
                    .filter(|(_, c)| {
                        self.priorities.is_empty() || self.priorities.contains(&c.priority)
                    })
                    .filter(|(_, c)| {
                        self.tags.is_empty() || c.tags.iter().any(|t| self.tags.contains(t))
                    })
                    .filter(|(_, c)| {
                        self.case_filter
                            .as_ref()
                            .is_none_or(|r| r.is_match(&c.id) || r.is_match(&c.name))
                    })
                    .filter(|(_, c)| self.shard.is_none_or(|s| s.holds(&p.protocol.name, &c.id)))
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let ids: Vec<String> = (0..300).map(|i| format!("CASE-{i:03}")).collect();
        let shards: Vec<Shard> = (1..=3).map(|k| Shard { index: k, count: 3 }).collect();
        for id in &ids {
            let holders = shards.iter().filter(|s| s.holds("postgresql", id)).count();
            assert_eq!(holders, 1, "{id} is in exactly one shard");
        }
        // Not all in one part: each gets a fair share of 300 cases.
        for s in &shards {
            let n = ids.iter().filter(|id| s.holds("postgresql", id)).count();
            assert!((60..=140).contains(&n), "{s:?} holds {n}");
        }
        // Stable: the same case, the same part, whatever else exists.
        let one = Shard { index: 1, count: 3 };
        assert_eq!(one.holds("mysql", "MY-001"), one.holds("mysql", "MY-001"));
    }
}
