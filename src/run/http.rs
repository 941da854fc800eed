//! `http` steps: requests the runner sends itself, through [`HttpClient`] rather than the
//! protocol's executor (so they work in a case of any protocol), to the protocol's own
//! target or to a registry endpoint; and the checks on their answers.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value as Json;

use super::Failure;
use super::check::{self, json};
use crate::exec::ExecError;
use crate::exec::http::{HttpClient, credentials, query_param};
use crate::secret::mask;
use crate::step::HttpStep;
use crate::target::{ResolvedEndpoint, Target, env_var};

/// The most of an answer's body a failure quotes.
const EXCERPT: usize = 400;

/// Where one cell's `http` steps go, with a client per target made on first use.
pub struct HttpTargets<'a> {
    protocol: &'a str,
    /// The protocol's target in force as given (not a worker's edited copy).
    own: Option<&'a Target>,
    endpoints: &'a BTreeMap<String, ResolvedEndpoint>,
    /// By endpoint name (`""`: the protocol's own target).
    clients: Mutex<BTreeMap<String, HttpClient>>,
}

/// Where a step's request goes.
struct Destination<'t> {
    target: Target,
    /// The endpoint's headers from the registry.
    headers: Option<&'t BTreeMap<String, String>>,
    /// The client cache's key; `None` for a full URL, which gets a client of its own.
    key: Option<String>,
}

impl<'a> HttpTargets<'a> {
    pub fn new(
        protocol: &'a str,
        own: Option<&'a Target>,
        endpoints: &'a BTreeMap<String, ResolvedEndpoint>,
    ) -> Self {
        Self {
            protocol,
            own,
            endpoints,
            clients: Mutex::default(),
        }
    }

    /// Sends the step's request and checks the answer. Anything that keeps the request
    /// from getting an answer (no target, a refused connection) is an infrastructure
    /// failure; an answer that differs from the step's expectations is a check failure.
    pub async fn run(&self, step: &HttpStep) -> Result<(), Failure> {
        let destination = self.destination(step)?;
        let client = self.client(&destination)?;
        // A path is joined to the target's own path (`/api` + `/indexes`).
        let url = client
            .url(&step.url)
            .map_err(|e| Failure::infrastructure(mask(&e.to_string())))?;
        let shown = format!("{} {}", step.method, mask(&url));
        let method = reqwest::Method::from_bytes(step.method.as_bytes())
            .map_err(|_| Failure::new(format!("`{}` is not an HTTP method", step.method)))?;
        let mut headers = auth_headers(&destination.target);
        for (name, value) in destination
            .headers
            .into_iter()
            .flatten()
            .chain(&step.headers)
        {
            let (name, value) = header(name, value)?;
            headers.insert(name, value);
        }
        let mut request = client.request(method, &url);
        if let Some(body) = &step.json {
            request = request.json(body);
        }
        let (status, body) = client
            .send(request.headers(headers))
            .await
            .map_err(|e| match e {
                ExecError::Connect(m) => {
                    Failure::infrastructure(mask(&format!("cannot connect to send {shown}: {m}")))
                }
                other => Failure::infrastructure(mask(&format!("{shown} failed: {other}"))),
            })?;
        check_status(step, status, &body, &shown)?;
        check_body(step, &body, &shown)
    }

    fn destination(&self, step: &HttpStep) -> Result<Destination<'a>, Failure> {
        if !step.url.starts_with('/') {
            // A full URL may leave loopback only if the run's target may.
            let mut target = Target::new(step.url.clone());
            if self.own.is_some_and(Target::remote_allowed) {
                target = target.allowing_remote();
            }
            return Ok(Destination {
                target,
                headers: None,
                key: None,
            });
        }
        let (target, headers, key) = match &step.target {
            Some(name) => {
                let Some(endpoint) = self.endpoints.get(name) else {
                    // The compiler checked the name: a missing one has no target in force
                    // (or comes from a script compiled against another registry).
                    return Err(Failure::infrastructure(format!(
                        "no target configured for endpoint `{name}`: set it under `endpoints:` in matrix.yaml, {} or --target {name}=URL",
                        env_var(name)
                    )));
                };
                (
                    endpoint.target.clone(),
                    Some(&endpoint.headers),
                    name.clone(),
                )
            }
            None => {
                let Some(own) = self.own else {
                    return Err(Failure::infrastructure(format!(
                        "no target configured for {}",
                        self.protocol
                    )));
                };
                (own.clone(), None, String::new())
            }
        };
        let url = target.expose_url();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let whose = match &step.target {
                Some(name) => format!("endpoint `{name}`"),
                None => format!("{}'s target", self.protocol),
            };
            return Err(Failure::infrastructure(format!(
                "an `http` step cannot go to {whose}, {target}: it is not an HTTP URL"
            )));
        }
        target.ensure_allowed().map_err(Failure::infrastructure)?;
        Ok(Destination {
            target,
            headers,
            key: Some(key),
        })
    }

    fn client(&self, destination: &Destination<'_>) -> Result<HttpClient, Failure> {
        let make = || {
            HttpClient::at_target_path(&destination.target)
                .map_err(|e| Failure::infrastructure(mask(&e.to_string())))
        };
        let Some(key) = &destination.key else {
            return make();
        };
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(key) {
            return Ok(client.clone());
        }
        let client = make()?;
        clients.insert(key.clone(), client.clone());
        Ok(client)
    }
}

/// What the target URL says about authentication: `token=` is sent as a bearer token,
/// else `user:password@` as basic auth; `api_key=` as an `Api-Key` header.
fn auth_headers(target: &Target) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let secret = |text: String| {
        HeaderValue::from_str(&text).ok().map(|mut v| {
            v.set_sensitive(true);
            v
        })
    };
    let authorization = match (query_param(target, "token"), credentials(target)) {
        (Some(token), _) => secret(format!("Bearer {token}")),
        (None, (Some(user), password)) => {
            let pair = format!("{user}:{}", password.unwrap_or_default());
            secret(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        }
        (None, (None, _)) => None,
    };
    if let Some(value) = authorization {
        headers.insert(AUTHORIZATION, value);
    }
    if let Some(value) = query_param(target, "api_key").and_then(secret) {
        headers.insert(HeaderName::from_static("api-key"), value);
    }
    headers
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Failure> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Failure::new(format!("`{name}` is not a valid HTTP header name")))?;
    let value = HeaderValue::from_str(value).map_err(|_| {
        Failure::new(format!(
            "the value of header `{name}` is not valid in HTTP (visible ASCII only)"
        ))
    })?;
    Ok((name, value))
}

fn check_status(step: &HttpStep, status: u16, body: &Json, shown: &str) -> Result<(), Failure> {
    let ok = if step.status.is_empty() {
        (200..300).contains(&status)
    } else {
        step.status.contains(&status)
    };
    if ok {
        return Ok(());
    }
    let expected = match step.status.as_slice() {
        [] => "a 2xx status".to_string(),
        [one] => one.to_string(),
        many => format!(
            "one of {}",
            many.iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(Failure::new(mask(&format!(
        "{shown} answered status {status}, expected {expected}\n  the answer: {}",
        excerpt(body)
    ))))
}

fn check_body(step: &HttpStep, body: &Json, shown: &str) -> Result<(), Failure> {
    let Some(expect) = &step.expect else {
        return Ok(());
    };
    let Err(mismatch) = json::check(expect, body) else {
        return Ok(());
    };
    let lines = |v: &Json| -> Vec<String> {
        serde_json::to_string_pretty(v)
            .unwrap_or_default()
            .lines()
            .map(mask)
            .collect()
    };
    let seen = json::projection(expect, body);
    Err(Failure {
        message: mask(&format!(
            "the answer to {shown} differs {}",
            mismatch.describe()
        )),
        diff: Some(check::diff(&lines(expect), &lines(&seen))),
        ..Failure::default()
    })
}

/// The body as one line, cut short.
fn excerpt(body: &Json) -> String {
    let text = match body {
        Json::Null => return "(empty)".to_string(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_say_how_to_authenticate() {
        let basic = auth_headers(&Target::new("http://admin:pw@127.0.0.1:1"));
        assert_eq!(basic[AUTHORIZATION], "Basic YWRtaW46cHc=");
        assert!(basic[AUTHORIZATION].is_sensitive());
        let bearer = auth_headers(&Target::new("http://u:p@127.0.0.1:1/?token=t0k"));
        assert_eq!(bearer[AUTHORIZATION], "Bearer t0k");
        let key = auth_headers(&Target::new("http://127.0.0.1:1?api_key=k3y"));
        assert_eq!(key["api-key"], "k3y");
        assert!(!key.contains_key(AUTHORIZATION));
        assert!(auth_headers(&Target::new("http://127.0.0.1:1")).is_empty());
    }
}
