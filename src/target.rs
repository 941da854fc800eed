//! Targets: where a protocol's server is, and how it is shown without its secrets.

use std::collections::BTreeMap;
use std::fmt;

use crate::registry::Registry;
use crate::secret::mask;

/// The flag and the environment variable that let helios-matrix contact hosts other than
/// loopback: suites DROP tables, so a remote server is tested only on purpose.
pub const ALLOW_REMOTE_FLAG: &str = "--allow-remote";
pub const ALLOW_REMOTE_ENV: &str = "HELIOS_MATRIX_ALLOW_REMOTE";

/// The target parameter naming a PEM file of certificates an HTTPS target is verified
/// against instead of the system's (a self-signed test certificate):
/// `https://127.0.0.1:8443/?ca-file=.services/tls/server.crt`. Relative to the current
/// directory.
pub const CA_FILE_PARAM: &str = "ca-file";

/// How the user lets helios-matrix reach its targets, from the command line.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `--allow-remote`: hosts other than loopback may be contacted.
    pub allow_remote: bool,
    /// `--ca-file`: trusted certificates for every HTTPS target that names none itself.
    pub ca_file: Option<std::path::PathBuf>,
}

/// A target URL. `Display` masks credentials; the raw URL is only handed to executors.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    url: String,
    /// The user allowed a host other than loopback (`--allow-remote`); it travels with the
    /// target so that URLs a server hands back (result chunks, index hosts) are held to it.
    remote_allowed: bool,
}

impl Target {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            remote_allowed: false,
        }
    }

    /// The same target, allowed to be (and to lead to) a host other than loopback.
    pub fn allowing_remote(mut self) -> Self {
        self.remote_allowed = true;
        self
    }

    /// The target as `access` lets it be reached.
    pub fn with_access(self, access: &Access) -> Self {
        let mut target = if access.allow_remote {
            self.allowing_remote()
        } else {
            self
        };
        if let Some(file) = &access.ca_file
            && target.url.starts_with("https://")
            && !target.has_query_param(CA_FILE_PARAM)
        {
            target = target.with_query_param(CA_FILE_PARAM, &file.to_string_lossy());
        }
        target
    }

    fn has_query_param(&self, key: &str) -> bool {
        reqwest::Url::parse(&self.url).is_ok_and(|u| u.query_pairs().any(|(k, _)| k == key))
    }

    /// Whether the user allowed hosts other than loopback for this target.
    pub fn remote_allowed(&self) -> bool {
        self.remote_allowed
    }

    /// The URL with credentials, for executors only. Never print it.
    pub fn expose_url(&self) -> &str {
        &self.url
    }

    /// The host part of a `scheme://[user[:pass]@]host[:port]/…` URL.
    pub fn host(&self) -> Option<String> {
        let rest = self.url.split_once("://")?.1;
        let authority = rest.split(['/', '?', '#']).next()?;
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if let Some(v6) = hostport.strip_prefix('[') {
            v6.split(']').next()?.to_string()
        } else {
            hostport.split(':').next()?.to_string()
        };
        (!host.is_empty()).then_some(host)
    }

    /// `host:port` of a network target, or the masked URL for anything else (a file).
    pub fn address(&self) -> String {
        let authority = self
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
            .map(|a| a.rsplit_once('@').map_or(a, |(_, h)| h));
        match authority {
            Some(a) if !a.is_empty() => a.to_string(),
            _ => self.to_string(),
        }
    }

    /// The percent-decoded segments of the URL's path (`/helios/public` → helios, public).
    pub fn path_segments(&self) -> Vec<String> {
        reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| {
                u.path_segments()
                    .map(|s| s.filter(|p| !p.is_empty()).map(percent_decode).collect())
            })
            .unwrap_or_default()
    }

    /// The same target with other path segments (`/helios_w1`).
    pub fn with_path_segments(&self, segments: &[&str]) -> Target {
        self.edited(|url| {
            if let Ok(mut path) = url.path_segments_mut() {
                path.clear().extend(segments);
            }
        })
    }

    /// The same target with a query parameter set, replacing any of the same name.
    pub fn with_query_param(&self, key: &str, value: &str) -> Target {
        self.edited(|url| {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != key)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair(key, value);
        })
    }

    /// The target with its URL edited; unchanged when it is not a URL.
    fn edited(&self, edit: impl FnOnce(&mut reqwest::Url)) -> Target {
        match reqwest::Url::parse(&self.url) {
            Ok(mut url) => {
                edit(&mut url);
                Target {
                    url: String::from(url),
                    remote_allowed: self.remote_allowed,
                }
            }
            Err(_) => self.clone(),
        }
    }

    /// Whether the target is on this machine (a loopback address, or no host: a file).
    pub fn is_loopback(&self) -> bool {
        match self.host() {
            None => true,
            Some(h) => {
                matches!(h.as_str(), "127.0.0.1" | "::1" | "localhost") || h.starts_with("127.")
            }
        }
    }

    /// Loopback always; another host only when the user allowed it.
    pub fn ensure_allowed(&self) -> Result<(), String> {
        if self.remote_allowed || self.is_loopback() {
            return Ok(());
        }
        Err(format!(
            "target {self} points at `{}`; helios-matrix contacts only loopback addresses \
             (127.0.0.1, ::1) unless told otherwise, because suites drop and create tables: \
             pass {ALLOW_REMOTE_FLAG} or set {ALLOW_REMOTE_ENV}=1 to test a remote server",
            self.host().unwrap_or_default()
        ))
    }
}

/// A percent-encoded URL part, decoded (invalid UTF-8 replaced).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask(&self.url))
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// The environment variable that overrides a protocol's target.
pub fn env_var(protocol: &str) -> String {
    format!(
        "HELIOS_MATRIX_TARGET_{}",
        protocol.to_ascii_uppercase().replace('-', "_")
    )
}

/// The environment variable naming the server labels of a target given by [`env_var`].
pub fn env_labels_var(protocol: &str) -> String {
    format!(
        "HELIOS_MATRIX_TARGET_LABELS_{}",
        protocol.to_ascii_uppercase().replace('-', "_")
    )
}

/// Where a target in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The registry's default target (`matrix.yaml`).
    Registry,
    /// `HELIOS_MATRIX_TARGET_<PROTOCOL>`.
    Environment,
    /// `--target PROTOCOL=URL`.
    CommandLine,
    /// The registry's entry of the server `--server NAME` names.
    Server,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Registry => "matrix.yaml",
            Origin::Environment => "environment",
            Origin::CommandLine => "--target",
            Origin::Server => "--server",
        }
    }
}

/// A protocol's target in force, with the labels of the server behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub target: Target,
    /// The registry's target carries the registry's server labels; a target given by the
    /// environment or the command line carries only the labels given with it, so a real
    /// server is held to every expectation an emulator is excused from.
    pub labels: Vec<String>,
    pub origin: Origin,
}

/// Targets for every protocol: the registry's, then the environment's, then `--target`.
/// `labels` are the server labels given on the command line (`--target-label`).
pub fn resolve(
    registry: &Registry,
    overrides: &BTreeMap<String, String>,
    labels: &BTreeMap<String, Vec<String>>,
    env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, Resolved> {
    let mut out = BTreeMap::new();
    for p in &registry.protocols {
        let from_env = || env(&env_var(&p.name)).filter(|v| !v.is_empty());
        let given_labels = || {
            labels.get(&p.name).cloned().unwrap_or_else(|| {
                env(&env_labels_var(&p.name))
                    .map(|v| split_labels(&v))
                    .unwrap_or_default()
            })
        };
        let resolved = if let Some(url) = overrides.get(&p.name) {
            Some((url.clone(), given_labels(), Origin::CommandLine))
        } else if let Some(url) = from_env() {
            Some((url, given_labels(), Origin::Environment))
        } else {
            p.target.clone().map(|url| {
                let mut l = p.default_target_labels.clone();
                l.extend(labels.get(&p.name).cloned().unwrap_or_default());
                (url, l, Origin::Registry)
            })
        };
        if let Some((url, labels, origin)) = resolved {
            out.insert(
                p.name.clone(),
                Resolved {
                    target: Target::new(url),
                    labels,
                    origin,
                },
            );
        }
    }
    out
}

/// A named endpoint's target in force (see [`resolve_endpoints`]).
#[derive(Clone, PartialEq)]
pub struct ResolvedEndpoint {
    pub target: Target,
    pub origin: Origin,
    /// The registry's headers for the endpoint. Values may be secrets: never printed.
    pub headers: BTreeMap<String, String>,
}

impl fmt::Debug for ResolvedEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedEndpoint")
            .field("target", &self.target)
            .field("origin", &self.origin)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Targets for the registry's named endpoints, with the protocols' precedence: the
/// registry's, then `HELIOS_MATRIX_TARGET_<NAME>`, then `--target NAME=URL`. An endpoint
/// with none of them is left out.
pub fn resolve_endpoints(
    registry: &Registry,
    overrides: &BTreeMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, ResolvedEndpoint> {
    let mut out = BTreeMap::new();
    for (name, endpoint) in &registry.endpoints {
        let given = overrides
            .get(name)
            .map(|url| (url.clone(), Origin::CommandLine))
            .or_else(|| {
                env(&env_var(name))
                    .filter(|v| !v.is_empty())
                    .map(|url| (url, Origin::Environment))
            })
            .or_else(|| endpoint.target.clone().map(|url| (url, Origin::Registry)));
        if let Some((url, origin)) = given {
            out.insert(
                name.clone(),
                ResolvedEndpoint {
                    target: Target::new(url),
                    origin,
                    headers: endpoint.headers.clone(),
                },
            );
        }
    }
    out
}

/// `a,b, c` → `[a, b, c]`.
pub fn split_labels(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_shows_its_url_masked() {
        assert_eq!(
            Target::new("postgres://u:p@127.0.0.1/x").to_string(),
            "postgres://u:****@127.0.0.1/x"
        );
    }

    #[test]
    fn a_workers_target_edits_the_path_or_the_query() {
        let t = Target::new("postgres://u:p@127.0.0.1:5432/helios?sslmode=require");
        assert_eq!(t.path_segments(), ["helios"]);
        assert_eq!(
            t.with_path_segments(&["helios_w2"]).expose_url(),
            "postgres://u:p@127.0.0.1:5432/helios_w2?sslmode=require"
        );
        assert_eq!(
            t.with_query_param("options", "-c search_path=w1,public")
                .expose_url(),
            "postgres://u:p@127.0.0.1:5432/helios?sslmode=require&options=-c+search_path%3Dw1%2Cpublic"
        );
        assert_eq!(
            Target::new("http://127.0.0.1:8444/?schema=a&x=1")
                .with_query_param("schema", "b")
                .expose_url(),
            "http://127.0.0.1:8444/?x=1&schema=b"
        );
        assert!(
            Target::new("mysql://u@127.0.0.1:3306")
                .path_segments()
                .is_empty()
        );
        assert_eq!(
            Target::new("no url").with_query_param("a", "b"),
            Target::new("no url")
        );
    }

    #[test]
    fn addresses_drop_credentials() {
        assert_eq!(
            Target::new("postgres://u:p@127.0.0.1:5432/x?sslmode=require").address(),
            "127.0.0.1:5432"
        );
        assert_eq!(Target::new("http://[::1]:8443").address(), "[::1]:8443");
        assert_eq!(Target::new("sqlite::memory:").address(), "sqlite::memory:");
    }

    #[test]
    fn server_labels_belong_to_the_registry_target_only() {
        let mut p = crate::registry::Protocol {
            name: "snowflake".into(),
            tier: crate::registry::Tier::Silver,
            priority: crate::registry::Priority::P1,
            dialect: "snowflake".into(),
            executor: crate::executor::Executor::Snowflake,
            kind: crate::registry::ProtocolKind::Sql,
            target: Some("http://127.0.0.1:8443".into()),
            drivers: Vec::new(),
            default_target_labels: vec!["fakesnow".into()],
            labels: vec!["fakesnow".into()],
            driver: None,
            dialect_facts: crate::registry::Dialect::builtin("snowflake").expect("builtin"),
        };
        let registry = Registry {
            protocols: vec![p.clone()],
            ..Registry::default()
        };
        let none: BTreeMap<String, String> = BTreeMap::new();
        let no_labels: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let no_env = |_: &str| None;
        let default = resolve(&registry, &none, &no_labels, no_env);
        assert_eq!(default["snowflake"].labels, vec!["fakesnow"]);
        assert_eq!(default["snowflake"].origin, Origin::Registry);

        let url = BTreeMap::from([("snowflake".to_string(), "http://127.0.0.1:9999".to_string())]);
        let given = resolve(&registry, &url, &no_labels, no_env);
        assert!(
            given["snowflake"].labels.is_empty(),
            "a real server gets no emulator excuses"
        );
        let labels = BTreeMap::from([("snowflake".to_string(), vec!["heliosdb".to_string()])]);
        let given = resolve(&registry, &url, &labels, no_env);
        assert_eq!(given["snowflake"].labels, vec!["heliosdb"]);

        let env = |k: &str| match k {
            "HELIOS_MATRIX_TARGET_SNOWFLAKE" => Some("http://127.0.0.1:7777".to_string()),
            "HELIOS_MATRIX_TARGET_LABELS_SNOWFLAKE" => Some("heliosdb, beta".to_string()),
            _ => None,
        };
        let from_env = resolve(&registry, &none, &no_labels, env);
        assert_eq!(from_env["snowflake"].labels, vec!["heliosdb", "beta"]);
        assert_eq!(from_env["snowflake"].origin, Origin::Environment);
        p.target = None;
        let registry = Registry {
            protocols: vec![p],
            ..Registry::default()
        };
        assert!(resolve(&registry, &none, &no_labels, no_env).is_empty());
    }

    #[test]
    fn endpoints_take_targets_as_protocols_do() {
        let endpoint = |target: Option<&str>| crate::registry::Endpoint {
            name: "admin".into(),
            target: target.map(str::to_string),
            headers: BTreeMap::from([("X-Key".to_string(), "s3cret".to_string())]),
            span: crate::source::Span::default(),
        };
        let registry = Registry {
            endpoints: BTreeMap::from([
                ("admin".to_string(), endpoint(Some("http://127.0.0.1:8445"))),
                ("bare".to_string(), endpoint(None)),
            ]),
            ..Registry::default()
        };
        let none: BTreeMap<String, String> = BTreeMap::new();
        let default = resolve_endpoints(&registry, &none, |_| None);
        assert_eq!(default["admin"].origin, Origin::Registry);
        assert_eq!(default["admin"].headers["X-Key"], "s3cret");
        assert!(!default.contains_key("bare"), "no target, no entry");
        let env = |k: &str| {
            (k == "HELIOS_MATRIX_TARGET_ADMIN").then(|| "http://u:pw@127.0.0.1:9000".to_string())
        };
        let from_env = resolve_endpoints(&registry, &none, env);
        assert_eq!(from_env["admin"].origin, Origin::Environment);
        assert_eq!(
            from_env["admin"].target.to_string(),
            "http://u:****@127.0.0.1:9000"
        );
        let given = BTreeMap::from([("admin".to_string(), "http://127.0.0.1:9001".to_string())]);
        let from_flag = resolve_endpoints(&registry, &given, env);
        assert_eq!(from_flag["admin"].origin, Origin::CommandLine);
        assert_eq!(
            from_flag["admin"].target.expose_url(),
            "http://127.0.0.1:9001"
        );
        let shown = format!("{:?}", from_flag["admin"]);
        assert!(
            shown.contains("X-Key") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn only_loopback_is_allowed_unless_the_user_says_otherwise() {
        assert!(
            Target::new("postgres://u:p@127.0.0.1:5432/x")
                .ensure_allowed()
                .is_ok()
        );
        assert!(Target::new("http://[::1]:8443").ensure_allowed().is_ok());
        assert!(Target::new("sqlite::memory:").ensure_allowed().is_ok());
        let remote = Target::new("postgres://u:secret@10.0.0.5/x");
        let refused = remote.ensure_allowed().unwrap_err();
        assert!(refused.contains("--allow-remote"), "{refused}");
        assert!(refused.contains("HELIOS_MATRIX_ALLOW_REMOTE"), "{refused}");
        assert!(!refused.contains("secret"), "{refused}");
        assert!(
            Target::new("http://db.example.com")
                .ensure_allowed()
                .is_err()
        );
        assert!(remote.clone().allowing_remote().ensure_allowed().is_ok());
        // A worker's edited target keeps the permission.
        assert!(
            remote
                .allowing_remote()
                .with_path_segments(&["y"])
                .ensure_allowed()
                .is_ok()
        );
    }
}
