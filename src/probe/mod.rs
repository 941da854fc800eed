//! `helios-matrix probe`: every protocol's opening handshake sent to each selected
//! target's endpoint, to see which protocols it answers, how fast, and whether it refuses
//! the others cleanly (closes or answers otherwise within a bound, never hangs): the seed's
//! "protocol autodetect works" check, against one multi-protocol server or several.

pub mod handshake;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

pub use handshake::{Handshake, Reply};

use crate::target::{CA_FILE_PARAM, Target};

/// A target to probe: the protocol it is for, and its executor's handshake.
pub struct Probed {
    pub protocol: String,
    pub handshake: Handshake,
    pub target: Target,
}

/// One handshake at one endpoint.
#[derive(Debug)]
pub struct Probe {
    pub handshake: Handshake,
    pub reply: Reply,
    pub took: Duration,
}

/// Everything sent to one endpoint (`host:port`).
#[derive(Debug)]
pub struct EndpointReport {
    pub address: String,
    pub tls: bool,
    /// The protocols whose targets name this endpoint, with their handshakes.
    pub expected: Vec<(String, Handshake)>,
    pub probes: Vec<Probe>,
}

impl EndpointReport {
    fn expects(&self, handshake: Handshake) -> bool {
        self.expected.iter().any(|(_, h)| *h == handshake)
    }

    /// What is wrong: an expected protocol not answered, or another handshake neither
    /// answered nor refused cleanly. Answering a protocol nobody expects here is fine: a
    /// multi-protocol server does.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for probe in &self.probes {
            let name = probe.handshake.name();
            if self.expects(probe.handshake) {
                if !matches!(probe.reply, Reply::Speaks(_)) {
                    problems.push(format!(
                        "does not answer {name}: {}",
                        describe(&probe.reply)
                    ));
                }
            } else if !matches!(probe.reply, Reply::Speaks(_))
                && !probe.reply.is_clean_refusal(probe.handshake)
            {
                problems.push(format!(
                    "does not refuse {name} cleanly: {}",
                    describe(&probe.reply)
                ));
            }
        }
        problems
    }
}

fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Speaks(how) => format!("answers ({how})"),
        Reply::Refused(how) => format!("refused ({how})"),
        Reply::Silent => "no answer within the bound (a client would hang)".to_string(),
        Reply::Unreachable(why) => format!("no connection ({why})"),
    }
}

/// Probes every endpoint the targets name with every handshake, all at once; each
/// handshake waits at most `bound` for an answer.
pub async fn probe(targets: &[Probed], bound: Duration) -> Vec<EndpointReport> {
    let mut endpoints: Vec<(String, Vec<&Probed>)> = Vec::new();
    for t in targets {
        let address = t.target.address();
        match endpoints.iter_mut().find(|(a, _)| *a == address) {
            Some((_, list)) => list.push(t),
            None => endpoints.push((address, vec![t])),
        }
    }
    join_all(
        endpoints
            .into_iter()
            .map(|(address, on)| probe_endpoint(address, on, bound)),
    )
    .await
}

async fn probe_endpoint(address: String, on: Vec<&Probed>, bound: Duration) -> EndpointReport {
    let tls = on
        .iter()
        .any(|p| p.target.expose_url().starts_with("https://"));
    let expected: Vec<(String, Handshake)> = on
        .iter()
        .map(|p| (p.protocol.clone(), p.handshake))
        .collect();
    let refusal = on.iter().find_map(|p| p.target.ensure_allowed().err());
    let generic = generic_http_target(&address, tls, &on);
    let probes = join_all(Handshake::ALL.into_iter().map(|handshake| {
        // An HTTP API is asked at the base path (and with the CA file) of the target
        // that names this endpoint for it, if one does.
        let http = on
            .iter()
            .find(|p| p.handshake == handshake)
            .map_or(&generic, |p| &p.target);
        let address = &address;
        let refusal = &refusal;
        async move {
            let start = Instant::now();
            let reply = match refusal {
                Some(why) => Reply::Unreachable(why.clone()),
                None => {
                    let destination = handshake::Destination { address, http };
                    handshake::send(handshake, &destination, bound).await
                }
            };
            Probe {
                handshake,
                reply,
                took: start.elapsed(),
            }
        }
    }))
    .await;
    EndpointReport {
        address,
        tls,
        expected,
        probes,
    }
}

/// The endpoint as an HTTP(S) URL without a path, with the CA file of its HTTPS targets.
fn generic_http_target(address: &str, tls: bool, on: &[&Probed]) -> Target {
    let scheme = if tls { "https" } else { "http" };
    let mut target = Target::new(format!("{scheme}://{address}/"));
    if let Some(ca) = on
        .iter()
        .find_map(|p| crate::exec::http::query_param(&p.target, CA_FILE_PARAM))
    {
        target = target.with_query_param(CA_FILE_PARAM, &ca);
    }
    if on.iter().any(|p| p.target.remote_allowed()) {
        target = target.allowing_remote();
    }
    target
}

/// The reports as a table (endpoints down, handshakes across; `*` marks what the
/// registry expects there), then each endpoint's verdict and what it said.
pub fn table(reports: &[EndpointReport]) -> String {
    let mut out = String::new();
    let width = reports
        .iter()
        .map(|r| r.address.len())
        .max()
        .unwrap_or(0)
        .max("endpoint".len());
    let _ = write!(out, "{:<width$}  {:<5}", "endpoint", "tls");
    for h in Handshake::ALL {
        let _ = write!(out, "  {:<16}", h.name());
    }
    out.push('\n');
    for r in reports {
        let _ = write!(
            out,
            "{:<width$}  {:<5}",
            r.address,
            if r.tls { "yes" } else { "no" }
        );
        for p in &r.probes {
            let mark = if r.expects(p.handshake) { "*" } else { " " };
            let cell = match &p.reply {
                Reply::Speaks(_) => format!("answers {}", millis(p.took)),
                Reply::Refused(_) => format!("refused {}", millis(p.took)),
                Reply::Silent => format!("silent {}", millis(p.took)),
                Reply::Unreachable(_) => "no connection".to_string(),
            };
            let _ = write!(out, "  {mark}{cell:<15}");
        }
        out.push('\n');
    }
    out.push_str(
        "(* the registry's target for that protocol is here; silent: no answer within the \
         bound, a refusal only for mysql, whose servers speak first)\n\n",
    );
    for r in reports {
        let names: Vec<&str> = r.expected.iter().map(|(p, _)| p.as_str()).collect();
        let problems = r.problems();
        let verdict = if problems.is_empty() {
            "OK".to_string()
        } else {
            format!("PROBLEM: {}", problems.join("; "))
        };
        let _ = writeln!(out, "{} ({}): {verdict}", r.address, names.join(", "));
        for p in &r.probes {
            if let Reply::Speaks(how) = &p.reply {
                let _ = writeln!(out, "  {}: {how}", p.handshake.name());
            }
        }
    }
    out
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}
