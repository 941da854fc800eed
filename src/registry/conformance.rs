//! A driver's own test suite, declared under its `drivers:` entry (`conformance:`), run as a
//! matrix cell by `run --conformance` (docs/conformance.md). This is the declaration only;
//! fetching and running it is `crate::conformance`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{Priority, priority};
use crate::diag::Diagnostics;
use crate::yaml::Node;
use crate::yaml::decode::{self, Fields};

/// The upstream suite of one driver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conformance {
    /// Where its source comes from: a source distribution, pinned by its digest.
    pub sdist: Sdist,
    /// The priority each of its tests is reported with (the gate applies as to any case).
    pub priority: Priority,
    /// Longest the whole suite may run; it is then stopped and its cell is an error.
    pub timeout: Duration,
    /// The command line that runs it, from the unpacked source's root, writing JUnit XML to
    /// `{{ junit }}`. Every argument is a template (see [`Run`]).
    pub command: Vec<String>,
    /// How to point it at each protocol's target, by protocol name.
    pub protocols: BTreeMap<String, Run>,
}

/// A source distribution: an `https` URL of a `.tar.gz` and its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sdist {
    pub url: String,
    pub sha256: String,
}

impl Sdist {
    /// The archive's file name without `.tar.gz` (`psycopg2-2.9.13`): the folder it is
    /// unpacked into.
    pub fn stem(&self) -> &str {
        let file = self.url.rsplit('/').next().unwrap_or(&self.url);
        file.strip_suffix(".tar.gz").unwrap_or(file)
    }
}

/// What the suite is given for one protocol. Values are minijinja templates over the
/// target's parts: `host`, `port`, `user`, `password`, `database` (the suite's own
/// database, made fresh for the run), `params` (the URL's query), and `junit`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Run {
    /// Environment variables set for the suite.
    pub env: BTreeMap<String, String>,
    /// Arguments after the suite's `command`.
    pub args: Vec<String>,
    /// Statements run in the suite's fresh database before it starts (schemas it expects).
    pub setup: Vec<String>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// `conformance: {sdist: {url, sha256}, priority, timeout, command, protocols}`.
pub fn decode(driver: &str, node: &Node, d: &mut Diagnostics) -> Option<Conformance> {
    let mut f = Fields::of(node, "a driver's `conformance`", d)?;
    let sdist = match f.get("sdist") {
        Some(n) => decode_sdist(n, d)?,
        None => {
            d.error(
                node.span,
                format!("the conformance suite of `{driver}` has no `sdist`"),
            )
            .help("{url: https://…/name-version.tar.gz, sha256: <hex>}");
            return None;
        }
    };
    let priority = match f.get("priority") {
        Some(n) => priority(n, d)?,
        None => Priority::P1,
    };
    let timeout = match f.get("timeout") {
        Some(n) => decode::duration(n, "timeout", d)?,
        None => DEFAULT_TIMEOUT,
    };
    let command = match f.get("command") {
        Some(n) => decode::strings(n, "command", d)?,
        None => Vec::new(),
    };
    if command.is_empty() {
        d.error(
            node.span,
            format!("the conformance suite of `{driver}` has no `command`"),
        )
        .help("the command line that runs it and writes JUnit to {{ junit }}");
        return None;
    }
    let mut protocols = BTreeMap::new();
    if let Some(n) = f.get("protocols") {
        let runs = Fields::of(n, "`protocols`", d)?;
        for (key, value) in runs.keys() {
            let name = key.as_str().unwrap_or_default().to_string();
            protocols.insert(name, decode_run(value, d)?);
        }
    }
    if protocols.is_empty() {
        d.error(
            node.span,
            format!("the conformance suite of `{driver}` names no `protocols`"),
        )
        .help("e.g. protocols: {postgresql: {env: {PGHOST: \"{{ host }}\"}}}");
        return None;
    }
    f.finish(d);
    Some(Conformance {
        sdist,
        priority,
        timeout,
        command,
        protocols,
    })
}

fn decode_sdist(node: &Node, d: &mut Diagnostics) -> Option<Sdist> {
    let mut f = Fields::of(node, "an `sdist`", d)?;
    let url = decode::string(f.get("url").or_else(|| missing(node, "url", d))?, "url", d)?;
    let sha256 = decode::string(
        f.get("sha256").or_else(|| missing(node, "sha256", d))?,
        "sha256",
        d,
    )?;
    f.finish(d);
    if !url.starts_with("https://") || !url.ends_with(".tar.gz") {
        d.error(
            node.span,
            format!("`{url}` is not an https URL of a .tar.gz"),
        );
        return None;
    }
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        d.error(node.span, "`sha256` must be 64 hexadecimal digits");
        return None;
    }
    Some(Sdist {
        url,
        sha256: sha256.to_ascii_lowercase(),
    })
}

fn missing<'a>(node: &Node, key: &str, d: &mut Diagnostics) -> Option<&'a Node> {
    d.error(node.span, format!("an `sdist` needs `{key}`"));
    None
}

fn decode_run(node: &Node, d: &mut Diagnostics) -> Option<Run> {
    let mut f = Fields::of(node, "a conformance protocol entry", d)?;
    let mut run = Run::default();
    if let Some(n) = f.get("env") {
        for (key, value) in Fields::of(n, "`env`", d)?.keys() {
            let name = key.as_str().unwrap_or_default().to_string();
            run.env
                .insert(name, decode::string(value, "an environment value", d)?);
        }
    }
    if let Some(n) = f.get("args") {
        run.args = decode::strings(n, "args", d)?;
    }
    if let Some(n) = f.get("setup") {
        run.setup = decode::strings(n, "setup", d)?;
    }
    f.finish(d);
    Some(run)
}
