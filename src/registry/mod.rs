//! The protocol registry (`specs/matrix.yaml`): which protocols exist, their tier, dialect,
//! executor and target, the dialects' placeholder styles, and the portable error classes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use conformance::Conformance;

use crate::diag::{Diagnostics, did_you_mean};
use crate::executor::Executor;
use crate::source::Span;
use crate::value::Scalar;
use crate::yaml::Node;
use crate::yaml::decode::{self, Fields};

pub mod conformance;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    P0,
    P1,
    P2,
}

impl Priority {
    pub const ALL: [&'static str; 3] = ["p0", "p1", "p2"];

    pub fn parse(s: &str) -> Option<Priority> {
        match s.to_ascii_lowercase().as_str() {
            "p0" => Some(Priority::P0),
            "p1" => Some(Priority::P1),
            "p2" => Some(Priority::P2),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P0 => "p0",
            Priority::P1 => "p1",
            Priority::P2 => "p2",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Gold,
    Silver,
    Bronze,
    Reference,
}

impl Tier {
    pub const ALL: [&'static str; 4] = ["gold", "silver", "bronze", "reference"];

    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "gold" => Some(Tier::Gold),
            "silver" => Some(Tier::Silver),
            "bronze" => Some(Tier::Bronze),
            "reference" => Some(Tier::Reference),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Gold => "gold",
            Tier::Silver => "silver",
            Tier::Bronze => "bronze",
            Tier::Reference => "reference",
        }
    }
}

/// Whether a protocol speaks SQL or vector operations; suites without `protocols:` apply to
/// every SQL protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolKind {
    Sql,
    Vector,
}

/// How a dialect writes bind parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PlaceholderStyle {
    /// `$1, $2` (PostgreSQL)
    #[serde(rename = "$n")]
    Dollar,
    /// `?, ?` (MySQL, DB2, Snowflake)
    #[serde(rename = "?")]
    Qmark,
    /// `?1, ?2` (SQLite)
    #[serde(rename = "?n")]
    NumberedQmark,
    /// `@P1, @P2` (SQL Server)
    #[serde(rename = "@Pn")]
    AtP,
    /// `:1, :2` (Oracle)
    #[serde(rename = ":n")]
    ColonNumbered,
    /// `:name` (Databricks); positional parameters become `:p1, :p2`.
    #[serde(rename = ":name")]
    ColonNamed,
    /// `%s` and `%(name)s` (psycopg2, PyMySQL, mysql-connector-python); a literal `%` is
    /// doubled when the statement has parameters.
    #[serde(rename = "%s")]
    Format,
    /// The protocol has no SQL (vector databases).
    #[serde(rename = "none")]
    None,
}

impl PlaceholderStyle {
    pub const ALL: [&'static str; 8] = ["$n", "?", "?n", "@Pn", ":n", ":name", "%s", "none"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "$n" => Self::Dollar,
            "?" => Self::Qmark,
            "?n" => Self::NumberedQmark,
            "@Pn" => Self::AtP,
            ":n" => Self::ColonNumbered,
            ":name" => Self::ColonNamed,
            "%s" => Self::Format,
            "none" => Self::None,
            _ => return None,
        })
    }
}

/// How a dialect's SQL is lexed when looking for placeholders: which quotes and comments
/// hide a `?` or `:name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Lexing {
    /// `'it\'s'` is one string (MySQL, Spark SQL).
    pub backslash_escapes: bool,
    /// `# comment` (MySQL).
    pub hash_comments: bool,
    /// `$$ … $$` and `$tag$ … $tag$` strings (PostgreSQL, Snowflake).
    pub dollar_quotes: bool,
    /// `/* /* */ */` nests (PostgreSQL).
    pub nested_comments: bool,
    /// `[identifier]` (SQL Server).
    pub bracket_identifiers: bool,
    /// `E'…'` strings take backslash escapes (PostgreSQL).
    pub escape_strings: bool,
}

/// Facts about a dialect that the compiler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dialect {
    pub placeholder: PlaceholderStyle,
    pub lexing: Lexing,
}

impl Dialect {
    /// Built-in facts for the dialects helios-matrix knows; a registry `dialects:` entry
    /// can change the placeholder style, and unknown dialects get standard SQL lexing.
    pub fn builtin(name: &str) -> Option<Dialect> {
        let standard = Lexing::default();
        let (placeholder, lexing) = match name {
            "postgres" => (
                PlaceholderStyle::Dollar,
                Lexing {
                    dollar_quotes: true,
                    nested_comments: true,
                    escape_strings: true,
                    ..standard
                },
            ),
            "mysql" => (
                PlaceholderStyle::Qmark,
                Lexing {
                    backslash_escapes: true,
                    hash_comments: true,
                    ..standard
                },
            ),
            "sqlite" => (PlaceholderStyle::NumberedQmark, standard),
            "snowflake" => (
                PlaceholderStyle::Qmark,
                Lexing {
                    dollar_quotes: true,
                    ..standard
                },
            ),
            "databricks" => (
                PlaceholderStyle::ColonNamed,
                Lexing {
                    backslash_escapes: true,
                    ..standard
                },
            ),
            "tsql" => (
                PlaceholderStyle::AtP,
                Lexing {
                    bracket_identifiers: true,
                    ..standard
                },
            ),
            "db2" => (PlaceholderStyle::Qmark, standard),
            "oracle" => (PlaceholderStyle::ColonNumbered, standard),
            "vector" => (PlaceholderStyle::None, standard),
            _ => return None,
        };
        Some(Dialect {
            placeholder,
            lexing,
        })
    }
}

/// How to run a client driver: the command that starts its host (docs/driver-host.md)
/// and the parameter style its SQL is compiled to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Driver {
    pub name: String,
    /// The host's command line; relative paths are relative to the working directory.
    pub command: Vec<String>,
    pub placeholder: PlaceholderStyle,
    /// Every case through this driver is skipped with this reason (no server for it here).
    pub skip: Option<String>,
    /// The driver's own test suite, run as a cell by `run --conformance`.
    pub conformance: Option<Conformance>,
}

/// One protocol of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Protocol {
    pub name: String,
    pub tier: Tier,
    pub priority: Priority,
    pub dialect: String,
    pub executor: Executor,
    pub kind: ProtocolKind,
    /// The default target URL, if the registry names one.
    pub target: Option<String>,
    pub drivers: Vec<String>,
    /// Labels naming the server behind the default target (e.g. an emulator), as
    /// `matrix.yaml` writes them. They belong to that target, not to the protocol.
    pub default_target_labels: Vec<String>,
    /// Labels naming the server behind the target in force: the default target's, or only
    /// those given with a target from `--target` or the environment.
    pub labels: Vec<String>,
    /// The client driver this protocol's cases run through (`--driver`); `None` is the
    /// native executor.
    pub driver: Option<Driver>,
    #[serde(skip)]
    pub dialect_facts: Dialect,
}

/// How specific a label is for a protocol; the most specific matching override wins:
/// server (target) label over protocol name over dialect over tier over command-line label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// A label given with `--label`.
    CommandLine = 1,
    Tier = 2,
    Dialect = 3,
    Protocol = 4,
    /// A label of the server behind the target in force.
    Server = 5,
    /// The client driver a run goes through.
    Driver = 6,
}

impl Rank {
    pub fn describe(self) -> &'static str {
        match self {
            Rank::CommandLine => "command-line label",
            Rank::Tier => "tier",
            Rank::Dialect => "dialect",
            Rank::Protocol => "protocol name",
            Rank::Server => "server label",
            Rank::Driver => "driver",
        }
    }
}

impl Protocol {
    /// The rank with which `label` names this protocol, or `None` when it does not.
    pub fn label_rank(&self, label: &str, cli_labels: &[String]) -> Option<Rank> {
        if self.driver.as_ref().is_some_and(|d| d.name == label) {
            Some(Rank::Driver)
        } else if self.labels.iter().any(|l| l == label) {
            Some(Rank::Server)
        } else if label == self.name {
            Some(Rank::Protocol)
        } else if label == self.dialect {
            Some(Rank::Dialect)
        } else if label == self.tier.as_str() {
            Some(Rank::Tier)
        } else if cli_labels.iter().any(|l| l == label) {
            Some(Rank::CommandLine)
        } else {
            None
        }
    }

    /// Of `items`, each named by a label, the one whose label names this protocol most
    /// specifically (see [`Rank`]); `None` when no label names it.
    pub fn most_specific<'a, T>(
        &self,
        items: impl IntoIterator<Item = (&'a str, T)>,
        cli_labels: &[String],
    ) -> Option<T> {
        items
            .into_iter()
            .filter_map(|(label, item)| self.label_rank(label, cli_labels).map(|r| (r, item)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, item)| item)
    }

    /// Every label in force for this protocol, most specific first.
    pub fn labels_in_force(&self, cli_labels: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self.driver.iter().map(|d| d.name.clone()).collect();
        out.extend(self.labels.iter().cloned());
        out.extend([
            self.name.clone(),
            self.dialect.clone(),
            self.tier.as_str().to_string(),
        ]);
        out.extend(cli_labels.iter().cloned());
        out.dedup();
        out
    }
}

/// What a failing step must report: a portable class and/or native codes. In a plan the
/// class is kept for display only; the native fields carry the protocol's codes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorExpect {
    pub class: Option<String>,
    pub sqlstate: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    /// The client driver's exception class (only a driver run can report one).
    #[serde(default)]
    pub exception: Option<String>,
}

impl ErrorExpect {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.class {
            parts.push(c.clone());
        }
        if let Some(s) = &self.sqlstate {
            parts.push(format!("SQLSTATE {s}"));
        }
        if let Some(c) = &self.code {
            parts.push(format!("code {c}"));
        }
        if let Some(m) = &self.message {
            parts.push(format!("message /{m}/"));
        }
        if let Some(e) = &self.exception {
            parts.push(format!("exception {e}"));
        }
        if parts.is_empty() {
            "an error".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// A portable error class's native form for one label.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassMapping {
    pub label: String,
    pub native: ErrorExpect,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorClass {
    pub name: String,
    pub span: Span,
    pub mappings: Vec<ClassMapping>,
}

impl ErrorClass {
    /// The mapping that applies to `protocol`: the one keyed on its most specific label.
    pub fn mapping_for(&self, protocol: &Protocol, cli_labels: &[String]) -> Option<&ClassMapping> {
        protocol.most_specific(
            self.mappings.iter().map(|m| (m.label.as_str(), m)),
            cli_labels,
        )
    }
}

/// A named HTTP endpoint that `http` steps address with `target: NAME` (the top-level
/// `endpoints:`), such as a server's admin API.
#[derive(Clone, PartialEq)]
pub struct Endpoint {
    pub name: String,
    /// The default target URL; `--target NAME=URL` and the environment override it.
    pub target: Option<String>,
    /// Sent with every request to the endpoint. Values may be secrets: never printed.
    pub headers: BTreeMap<String, String>,
    pub span: Span,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("target", &self.target.as_deref().map(crate::secret::mask))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A server under test (the top-level `servers:`): one deployment that speaks several
/// protocols, each at a target of its own, with the labels that name it. `run --server NAME`
/// runs every protocol it serves with its labels in force.
#[derive(Clone, PartialEq)]
pub struct Server {
    pub name: String,
    /// What the entry is, for `list`.
    pub description: Option<String>,
    /// The version the entry pins (what a baseline was taken on).
    pub version: Option<String>,
    /// Labels of the server, in force on each of its targets (above the protocol's name).
    pub labels: Vec<String>,
    /// Protocols served at a target of the server's own, by protocol name.
    pub targets: BTreeMap<String, String>,
    /// Protocols served at the registry's default target (with that target's labels).
    pub defaults: Vec<String>,
    /// Targets of the registry's named endpoints for this server, by endpoint name.
    pub endpoints: BTreeMap<String, String>,
    /// Cells (`protocol/driver`) that cannot work against this server at all, with why:
    /// their cases are skipped with that reason, as a driver's own `skip` does.
    pub skip: BTreeMap<String, String>,
    pub span: Span,
}

impl Server {
    /// Every protocol the server serves, in the registry's order.
    pub fn protocols<'r>(&self, registry: &'r Registry) -> Vec<&'r str> {
        registry
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|p| self.targets.contains_key(*p) || self.defaults.iter().any(|d| d == p))
            .collect()
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter()
                .map(|(k, v)| (k.clone(), crate::secret::mask(v)))
                .collect()
        };
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("labels", &self.labels)
            .field("targets", &masked(&self.targets))
            .field("defaults", &self.defaults)
            .field("endpoints", &masked(&self.endpoints))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub protocols: Vec<Protocol>,
    /// Labels users declared at the top level.
    pub labels: Vec<String>,
    pub error_classes: BTreeMap<String, ErrorClass>,
    /// How to run each client driver, by name (the top-level `drivers:`).
    pub drivers: BTreeMap<String, Driver>,
    /// Named HTTP endpoints for `http` steps, by name (the top-level `endpoints:`).
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Servers under test, by name (the top-level `servers:`).
    pub servers: BTreeMap<String, Server>,
}

impl Registry {
    pub fn protocol(&self, name: &str) -> Option<&Protocol> {
        self.protocols.iter().find(|p| p.name == name)
    }

    /// Every label a spec may use: protocol names, tiers, dialects, declared labels.
    pub fn known_labels(&self, cli_labels: &[String]) -> Vec<String> {
        let mut known: Vec<String> = Tier::ALL.iter().map(|s| s.to_string()).collect();
        for p in &self.protocols {
            known.push(p.name.clone());
            known.push(p.dialect.clone());
            known.extend(p.default_target_labels.iter().cloned());
            known.extend(p.labels.iter().cloned());
            known.extend(p.drivers.iter().cloned());
        }
        for server in self.servers.values() {
            known.extend(server.labels.iter().cloned());
        }
        known.extend(self.labels.iter().cloned());
        known.extend(self.drivers.keys().cloned());
        known.extend(cli_labels.iter().cloned());
        known.sort();
        known.dedup();
        known
    }

    /// Reads `matrix.yaml`.
    pub fn decode(root: &Node, d: &mut Diagnostics) -> Registry {
        let mut registry = Registry::default();
        let Some(mut fields) = Fields::of(root, "the registry", d) else {
            return registry;
        };
        if let Some(labels) = fields.get("labels") {
            registry.labels = decode::strings(labels, "labels", d).unwrap_or_default();
        }
        let mut dialect_overrides: BTreeMap<String, (PlaceholderStyle, Span)> = BTreeMap::new();
        if let Some(dialects) = fields.get("dialects")
            && let Some(entries) =
                Fields::of(dialects, "dialects", d).map(|f| f.keys().collect::<Vec<_>>())
        {
            for (key, value) in entries {
                let name = key.as_str().unwrap_or_default().to_string();
                let Some(mut df) = Fields::of(value, "a dialect", d) else {
                    continue;
                };
                if let Some(p) = df.get("placeholder")
                    && let Some(text) = decode::string(p, "placeholder", d)
                {
                    match PlaceholderStyle::parse(&text) {
                        Some(style) => {
                            dialect_overrides.insert(name, (style, p.span));
                        }
                        None => {
                            d.error(p.span, format!("unknown placeholder style `{text}`"))
                                .help(format!("one of: {}", PlaceholderStyle::ALL.join(", ")));
                        }
                    }
                }
                df.finish(d);
            }
        }
        match fields.get("protocols") {
            Some(protocols) => {
                if let Some(pf) = Fields::of(protocols, "protocols", d) {
                    for (key, value) in pf.keys() {
                        let name = key.as_str().unwrap_or_default().to_string();
                        if !crate::files::is_file_safe(&name) {
                            d.error(key.span, format!("protocol name `{name}` must be letters, digits, `_`, `-` or `.`"))
                                .help("it names a directory of compiled scripts");
                            continue;
                        }
                        if let Some(p) = decode_protocol(&name, value, &dialect_overrides, d) {
                            registry.protocols.push(p);
                        }
                    }
                }
            }
            None => {
                d.error(root.span, "the registry has no `protocols:`");
            }
        }
        if let Some(drivers) = fields.get("drivers")
            && let Some(df) = Fields::of(drivers, "drivers", d)
        {
            for (key, value) in df.keys() {
                let name = key.as_str().unwrap_or_default().to_string();
                if let Some(driver) = decode_driver(&name, value, d) {
                    registry.drivers.insert(name, driver);
                }
            }
        }
        if let Some(endpoints) = fields.get("endpoints")
            && let Some(ef) = Fields::of(endpoints, "endpoints", d)
        {
            for (key, value) in ef.keys() {
                let name = key.as_str().unwrap_or_default().to_string();
                if let Some(endpoint) = decode_endpoint(&name, key.span, value, &registry, d) {
                    registry.endpoints.insert(name, endpoint);
                }
            }
        }
        if let Some(servers) = fields.get("servers")
            && let Some(sf) = Fields::of(servers, "servers", d)
        {
            for (key, value) in sf.keys() {
                let name = key.as_str().unwrap_or_default().to_string();
                if let Some(server) = decode_server(&name, key.span, value, &registry, d) {
                    registry.servers.insert(name, server);
                }
            }
        }
        if let Some(classes) = fields.get("error_classes")
            && let Some(cf) = Fields::of(classes, "error_classes", d)
        {
            for (key, value) in cf.keys() {
                let name = key.as_str().unwrap_or_default().to_string();
                let class = decode_class(&name, key.span, value, d);
                registry.error_classes.insert(name, class);
            }
        }
        fields.finish(d);
        registry.check_labels(d);
        registry
    }

    fn check_labels(&self, d: &mut Diagnostics) {
        for class in self.error_classes.values() {
            for m in &class.mappings {
                let matches_any = self
                    .protocols
                    .iter()
                    .any(|p| p.label_rank(&m.label, &[]).is_some());
                if !matches_any {
                    let candidates = self.known_labels(&[]);
                    let diag = d.warning(
                        class.span,
                        format!(
                            "error class `{}` maps label `{}`, which names no protocol",
                            class.name, m.label
                        ),
                    );
                    if let Some(s) = did_you_mean(&m.label, candidates.iter().map(String::as_str)) {
                        diag.help(format!("did you mean `{s}`?"));
                    }
                }
            }
        }
    }
}

/// `{target: URL, headers: {NAME: VALUE}}`. The name shares `--target NAME=URL` and
/// `HELIOS_MATRIX_TARGET_<NAME>` with the protocols, so it must not be one of theirs.
fn decode_endpoint(
    name: &str,
    span: Span,
    node: &Node,
    registry: &Registry,
    d: &mut Diagnostics,
) -> Option<Endpoint> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        d.error(
            span,
            format!("endpoint name `{name}` must be letters, digits, `_` or `-`"),
        )
        .help("it names an environment variable: HELIOS_MATRIX_TARGET_<NAME>");
        return None;
    }
    if registry.protocol(name).is_some() {
        d.error(span, format!("endpoint `{name}` has the name of a protocol"))
            .help("`--target NAME=URL` and HELIOS_MATRIX_TARGET_<NAME> must name one thing: rename the endpoint");
        return None;
    }
    let mut f = Fields::of(node, "an endpoint", d)?;
    let target = f.get("target").and_then(|n| decode::string(n, "target", d));
    let headers = match f.get("headers") {
        Some(n) => decode::headers(n, d)?,
        None => BTreeMap::new(),
    };
    f.finish(d);
    Some(Endpoint {
        name: name.to_string(),
        target,
        headers,
        span,
    })
}

/// `{description, version, labels, targets: {PROTOCOL: URL}, protocols: [PROTOCOL],
/// endpoints: {NAME: URL}}`: protocols and endpoints must be the registry's (declared
/// above `servers:`).
fn decode_server(
    name: &str,
    span: Span,
    node: &Node,
    registry: &Registry,
    d: &mut Diagnostics,
) -> Option<Server> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        d.error(
            span,
            format!("server name `{name}` must be letters, digits, `_`, `-` or `.`"),
        );
        return None;
    }
    let mut f = Fields::of(node, "a server", d)?;
    let description = f
        .get("description")
        .and_then(|n| decode::string(n, "description", d));
    let version = f
        .get("version")
        .and_then(|n| decode::string(n, "version", d));
    let labels = match f.get("labels") {
        Some(n) => decode::strings(n, "labels", d).unwrap_or_default(),
        None => Vec::new(),
    };
    let targets = keyed_texts(
        f.get("targets"),
        KeyedTexts {
            what: "targets",
            value: "target",
            known: &|protocol| registry.protocol(protocol).is_some(),
            unknown: &|protocol| format!("server `{name}` names no protocol `{protocol}`"),
            help: "a key of `targets:` is a protocol of the registry",
        },
        d,
    );
    let mut defaults = Vec::new();
    if let Some(n) = f.get("protocols") {
        for protocol in decode::strings(n, "protocols", d).unwrap_or_default() {
            match registry.protocol(&protocol) {
                Some(p) if p.target.is_some() => defaults.push(protocol),
                Some(_) => {
                    d.error(n.span, format!("server `{name}` serves `{protocol}` at its default target, which the registry does not give"))
                        .help("give the server's own target under `targets:`");
                }
                None => {
                    d.error(
                        n.span,
                        format!("server `{name}` names no protocol `{protocol}`"),
                    );
                }
            }
        }
    }
    let endpoints = keyed_texts(
        f.get("endpoints"),
        KeyedTexts {
            what: "endpoints",
            value: "endpoint target",
            known: &|endpoint| registry.endpoints.contains_key(endpoint),
            unknown: &|endpoint| format!("server `{name}` names no endpoint `{endpoint}`"),
            help: "declare it under the top-level `endpoints:` first",
        },
        d,
    );
    let skip = keyed_texts(
        f.get("skip"),
        KeyedTexts {
            what: "skip",
            value: "skip reason",
            known: &|cell| {
                cell.split_once('/').is_some_and(|(protocol, driver)| {
                    registry
                        .protocol(protocol)
                        .is_some_and(|p| p.drivers.iter().any(|d| d == driver))
                })
            },
            unknown: &|cell| {
                format!("server `{name}` skips `{cell}`, which is no protocol/driver cell")
            },
            help: "a key of `skip:` is PROTOCOL/DRIVER, with a driver the protocol lists",
        },
        d,
    );
    f.finish(d);
    if targets.is_empty() && defaults.is_empty() {
        d.error(span, format!("server `{name}` serves no protocol"))
            .help("give `targets: {PROTOCOL: URL}` or `protocols: [PROTOCOL]`");
        return None;
    }
    Some(Server {
        name: name.to_string(),
        description,
        version,
        labels,
        targets,
        defaults,
        endpoints,
        skip,
        span,
    })
}

/// How to read one of a server's `{KEY: TEXT}` maps whose keys must name something the
/// registry has (a protocol, an endpoint, a cell).
struct KeyedTexts<'a> {
    /// The map's key in the server entry, for messages.
    what: &'static str,
    /// What each value is, for messages.
    value: &'static str,
    known: &'a dyn Fn(&str) -> bool,
    /// The error for a key `known` refuses.
    unknown: &'a dyn Fn(&str) -> String,
    help: &'static str,
}

/// The map under `node` (empty when absent); a key the registry does not know is an error
/// and left out.
fn keyed_texts(
    node: Option<&Node>,
    how: KeyedTexts<'_>,
    d: &mut Diagnostics,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(fields) = node.and_then(|n| Fields::of(n, how.what, d)) else {
        return out;
    };
    for (key, value) in fields.keys() {
        let name = key.as_str().unwrap_or_default().to_string();
        if !(how.known)(&name) {
            d.error(key.span, (how.unknown)(&name)).help(how.help);
            continue;
        }
        if let Some(text) = decode::string(value, how.value, d) {
            out.insert(name, text);
        }
    }
    out
}

/// `{command: [..], placeholder: "%s", skip: "reason", conformance: {..}}`.
fn decode_driver(name: &str, node: &Node, d: &mut Diagnostics) -> Option<Driver> {
    let mut f = Fields::of(node, "a driver entry", d)?;
    let command = match f.get("command") {
        Some(n) => decode::strings(n, "command", d)?,
        None => {
            d.error(node.span, format!("driver `{name}` has no `command`"))
                .help("the command line that starts its host, e.g. [node, drivers/node/host.mjs]");
            return None;
        }
    };
    if command.is_empty() {
        d.error(node.span, format!("driver `{name}` has an empty `command`"));
        return None;
    }
    let placeholder = match f.get("placeholder") {
        Some(p) => {
            let text = decode::string(p, "placeholder", d)?;
            match PlaceholderStyle::parse(&text) {
                Some(style) => style,
                None => {
                    d.error(p.span, format!("unknown placeholder style `{text}`"))
                        .help(format!("one of: {}", PlaceholderStyle::ALL.join(", ")));
                    return None;
                }
            }
        }
        None => {
            d.error(node.span, format!("driver `{name}` has no `placeholder`"))
                .help(format!("one of: {}", PlaceholderStyle::ALL.join(", ")));
            return None;
        }
    };
    let skip = f.get("skip").and_then(|n| decode::string(n, "skip", d));
    let conformance = match f.get("conformance") {
        Some(n) => Some(conformance::decode(name, n, d)?),
        None => None,
    };
    f.finish(d);
    Some(Driver {
        name: name.to_string(),
        command,
        placeholder,
        skip,
        conformance,
    })
}

fn decode_protocol(
    name: &str,
    node: &Node,
    dialect_overrides: &BTreeMap<String, (PlaceholderStyle, Span)>,
    d: &mut Diagnostics,
) -> Option<Protocol> {
    let mut f = Fields::of(node, "a protocol entry", d)?;
    let tier = match f.get("tier") {
        Some(t) => {
            let text = decode::string(t, "tier", d)?;
            match Tier::parse(&text) {
                Some(t) => t,
                None => {
                    d.error(t.span, format!("unknown tier `{text}`"))
                        .help(format!("one of: {}", Tier::ALL.join(", ")));
                    return None;
                }
            }
        }
        None => {
            d.error(node.span, format!("protocol `{name}` has no `tier`"));
            return None;
        }
    };
    let priority = match f.get("priority") {
        Some(p) => priority(p, d)?,
        None => Priority::P1,
    };
    let dialect = match f.get("dialect") {
        Some(n) => decode::string(n, "dialect", d)?,
        None => name.to_string(),
    };
    let executor = match f.get("executor") {
        Some(n) => {
            let text = decode::string(n, "executor", d)?;
            match Executor::parse(&text) {
                Some(e) => e,
                None => {
                    d.error(n.span, format!("unknown executor `{text}`"))
                        .help(executor_help(&text));
                    return None;
                }
            }
        }
        None => match Executor::parse(name) {
            Some(e) => e,
            None => {
                d.error(
                    node.span,
                    format!(
                        "protocol `{name}` has no `executor`, and no executor is named `{name}`"
                    ),
                )
                .help(format!(
                    "name its executor with `executor:`, one of: {}",
                    Executor::names().collect::<Vec<_>>().join(", ")
                ));
                return None;
            }
        },
    };
    let target = f.get("target").and_then(|n| decode::string(n, "target", d));
    let drivers = f
        .get("drivers")
        .and_then(|n| decode::strings(n, "drivers", d))
        .unwrap_or_default();
    let labels = f
        .get("labels")
        .and_then(|n| decode::strings(n, "labels", d))
        .unwrap_or_default();
    let mut facts = Dialect::builtin(&dialect).unwrap_or(Dialect {
        placeholder: PlaceholderStyle::Qmark,
        lexing: Lexing::default(),
    });
    if let Some((style, _)) = dialect_overrides.get(&dialect) {
        facts.placeholder = *style;
    }
    let default_kind = if facts.placeholder == PlaceholderStyle::None {
        ProtocolKind::Vector
    } else {
        ProtocolKind::Sql
    };
    let kind = match f.get("kind") {
        Some(k) => match decode::string(k, "kind", d)?.as_str() {
            "sql" => ProtocolKind::Sql,
            "vector" => ProtocolKind::Vector,
            other => {
                d.error(k.span, format!("unknown kind `{other}`"))
                    .help("one of: sql, vector");
                return None;
            }
        },
        None => default_kind,
    };
    f.finish(d);
    Some(Protocol {
        name: name.to_string(),
        tier,
        priority,
        dialect,
        executor,
        kind,
        target,
        drivers,
        default_target_labels: labels.clone(),
        labels,
        driver: None,
        dialect_facts: facts,
    })
}

/// The help for a name that is no executor: the closest one, and all of them.
fn executor_help(unknown: &str) -> String {
    let all = Executor::names().collect::<Vec<_>>().join(", ");
    match did_you_mean(unknown, Executor::names()) {
        Some(s) => format!("did you mean `{s}`? The executors: {all}"),
        None => format!("one of: {all}"),
    }
}

pub fn priority(node: &Node, d: &mut Diagnostics) -> Option<Priority> {
    let text = decode::string(node, "priority", d)?;
    match Priority::parse(&text) {
        Some(p) => Some(p),
        None => {
            d.error(node.span, format!("unknown priority `{text}`"))
                .help("one of: p0, p1, p2");
            None
        }
    }
}

fn decode_class(name: &str, span: Span, node: &Node, d: &mut Diagnostics) -> ErrorClass {
    let mut class = ErrorClass {
        name: name.to_string(),
        span,
        mappings: Vec::new(),
    };
    let Some(f) = Fields::of(node, "an error class", d) else {
        return class;
    };
    for (key, value) in f.keys() {
        let label = key.as_str().unwrap_or_default().to_string();
        if let Some(native) = native_error(value, d) {
            class.mappings.push(ClassMapping { label, native });
        }
    }
    class
}

/// `{sqlstate: "23505"}`, `{code: 1062}`, `{message: "regex"}` in any combination.
pub fn native_error(node: &Node, d: &mut Diagnostics) -> Option<ErrorExpect> {
    let mut f = Fields::of(node, "an error code mapping", d)?;
    let mut out = ErrorExpect::default();
    if let Some(n) = f.get("sqlstate") {
        out.sqlstate = sqlstate(n, d);
    }
    if let Some(n) = f.get("code") {
        out.code = decode::string(n, "code", d);
    }
    if let Some(n) = f.get("message") {
        out.message = message_regex(n, d);
    }
    f.finish(d);
    Some(out)
}

pub fn sqlstate(node: &Node, d: &mut Diagnostics) -> Option<String> {
    match node.scalar() {
        Some(Scalar::Text(s)) if s.len() == 5 && s.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Some(s.clone())
        }
        Some(Scalar::Int(_)) => {
            d.error(
                node.span,
                "a SQLSTATE must be quoted (`\"23505\"`): as a number it loses leading zeros",
            );
            None
        }
        _ => {
            d.error(
                node.span,
                "a SQLSTATE is five letters or digits, e.g. \"23505\"",
            );
            None
        }
    }
}

pub fn message_regex(node: &Node, d: &mut Diagnostics) -> Option<String> {
    let text = decode::string(node, "message", d)?;
    // Parsed, not compiled: the runner compiles it when a case checks an error.
    match regex_syntax::Parser::new().parse(&text) {
        Ok(_) => Some(text),
        Err(e) => {
            d.error(
                node.span,
                format!("`message` is not a valid regular expression: {e}"),
            );
            None
        }
    }
}
