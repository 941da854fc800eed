//! Targets: where a protocol's server is, and how it is shown without its secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::registry::Registry;

/// A target URL. `Display` masks credentials; the raw URL is only handed to executors.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    url: String,
}

impl Target {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into() }
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

    /// helios-matrix only ever contacts loopback addresses.
    pub fn ensure_loopback(&self) -> Result<(), String> {
        match self.host() {
            None => Ok(()),
            Some(h)
                if matches!(h.as_str(), "127.0.0.1" | "::1" | "localhost")
                    || h.starts_with("127.") =>
            {
                Ok(())
            }
            Some(h) => Err(format!(
                "target {self} points at `{h}`; helios-matrix only contacts loopback addresses (127.0.0.1, ::1)"
            )),
        }
    }
}

static USERINFO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"://([^:/@?#]*):([^@/?#]*)@").expect("literal regex"));
static SECRET_PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)([?&;](?:password|passwd|pwd|token|access_token|api_key|apikey|secret)=)[^&;#]*",
    )
    .expect("literal regex")
});

/// Masks passwords and tokens in any text that may contain a URL.
pub fn mask(text: &str) -> String {
    let masked = USERINFO.replace_all(text, "://$1:****@");
    SECRET_PARAM.replace_all(&masked, "${1}****").into_owned()
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

/// Targets for every protocol: the registry's, then the environment's, then `--target`.
pub fn resolve(
    registry: &Registry,
    overrides: &BTreeMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, Target> {
    let mut out = BTreeMap::new();
    for p in &registry.protocols {
        let url = overrides
            .get(&p.name)
            .cloned()
            .or_else(|| env(&env_var(&p.name)).filter(|v| !v.is_empty()))
            .or_else(|| p.target.clone());
        if let Some(url) = url {
            out.insert(p.name.clone(), Target::new(url));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_and_tokens() {
        assert_eq!(
            mask("postgres://test:s3cret@127.0.0.1:5432/helios"),
            "postgres://test:****@127.0.0.1:5432/helios"
        );
        assert_eq!(
            mask("http://127.0.0.1:8444/?token=abc&x=1"),
            "http://127.0.0.1:8444/?token=****&x=1"
        );
        assert_eq!(
            mask("mysql://root@127.0.0.1/db"),
            "mysql://root@127.0.0.1/db"
        );
        assert_eq!(
            Target::new("postgres://u:p@127.0.0.1/x").to_string(),
            "postgres://u:****@127.0.0.1/x"
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
    fn only_loopback_is_allowed() {
        assert!(
            Target::new("postgres://u:p@127.0.0.1:5432/x")
                .ensure_loopback()
                .is_ok()
        );
        assert!(Target::new("http://[::1]:8443").ensure_loopback().is_ok());
        assert!(Target::new("sqlite::memory:").ensure_loopback().is_ok());
        assert!(
            Target::new("postgres://u:p@10.0.0.5/x")
                .ensure_loopback()
                .is_err()
        );
        assert!(
            Target::new("http://db.example.com")
                .ensure_loopback()
                .is_err()
        );
    }
}
