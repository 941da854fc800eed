//! Resolves the specs for each protocol into a [`Plan`]: labels and overrides applied,
//! placeholders rewritten into the dialect's form, error classes turned into native codes.

use std::time::Duration;

use crate::diag::{Diagnostics, did_you_mean};
use crate::plan::{CasePlan, FixturePlan, Plan, ProtocolPlan, SuitePlan, Xfail, placeholders};
use crate::registry::ErrorExpect;
use crate::registry::{PlaceholderStyle, Protocol, ProtocolKind, Rank, Registry};
use crate::source::join_display;
use crate::spec::{Case, SpecSet, Suite, step};
use crate::step::template::Expander;
use crate::step::{Action, CopyRows, HttpStep, Step};
use crate::yaml::decode::{self, Fields};

use crate::yaml::{Node, NodeKind};

/// Compiles every suite for every protocol of the registry.
pub fn compile(specs: &SpecSet, cli_labels: &[String], d: &mut Diagnostics) -> Plan {
    compile_protocols(specs, cli_labels, |_| true, d)
}

/// Compiles every suite for the protocols `keep` selects (a run needs only its own).
pub fn compile_protocols(
    specs: &SpecSet,
    cli_labels: &[String],
    keep: impl Fn(&Protocol) -> bool,
    d: &mut Diagnostics,
) -> Plan {
    let protocols = specs
        .registry
        .protocols
        .iter()
        .filter(|p| keep(p))
        .map(|protocol| {
            let labels = Labels {
                protocol,
                cli: cli_labels,
            };
            let suites = specs
                .suites
                .iter()
                .filter_map(|suite| compile_suite(specs, &labels, suite, d))
                .collect();
            ProtocolPlan {
                protocol: protocol.clone(),
                suites,
            }
        })
        .collect();
    Plan {
        labels: cli_labels.to_vec(),
        protocols,
    }
}

/// Compiles one suite for one protocol; `None` when the suite does not apply to it.
pub fn compile_suite_for(
    specs: &SpecSet,
    protocol: &Protocol,
    cli_labels: &[String],
    suite: &Suite,
    d: &mut Diagnostics,
) -> Option<SuitePlan> {
    let labels = Labels {
        protocol,
        cli: cli_labels,
    };
    compile_suite(specs, &labels, suite, d)
}

/// Label matching for one protocol.
struct Labels<'a> {
    protocol: &'a Protocol,
    cli: &'a [String],
}

impl Labels<'_> {
    fn rank(&self, label: &str) -> Option<Rank> {
        self.protocol.label_rank(label, self.cli)
    }

    /// The most specific entry of a label-keyed mapping that names this protocol; two
    /// matches of the same rank are an error.
    fn select<'n>(
        &self,
        map: &'n Node,
        what: &str,
        d: &mut Diagnostics,
    ) -> Option<(&'n Node, &'n Node)> {
        let Some(entries) = map.entries() else {
            d.error(
                map.span,
                format!(
                    "`{what}` must be a mapping of labels, found {}",
                    map.type_name()
                ),
            );
            return None;
        };
        let mut best: Option<(Rank, &Node, &Node)> = None;
        for (key, value) in entries {
            let Some(rank) = key.as_str().and_then(|l| self.rank(l)) else {
                continue;
            };
            match best {
                Some((r, k, _)) if r == rank => {
                    d.error(
                        key.span,
                        format!(
                            "labels `{}` and `{}` both match protocol `{}` as a {}; which override applies is ambiguous",
                            k.as_str().unwrap_or_default(),
                            key.as_str().unwrap_or_default(),
                            self.protocol.name,
                            rank.describe()
                        ),
                    )
                    .help("keep one of them, or key the override on a label of another rank (server label over protocol name over dialect over tier over command-line label)");
                    return None;
                }
                Some((r, _, _)) if r > rank => {}
                _ => best = Some((rank, key, value)),
            }
        }
        best.map(|(_, k, v)| (k, v))
    }

    /// `Some(reason)` when `only`/`skip` exclude this protocol.
    fn excluded(
        &self,
        only: Option<&Node>,
        skip: Option<&Node>,
        d: &mut Diagnostics,
    ) -> Option<String> {
        if let Some(skip) = skip {
            match &skip.kind {
                NodeKind::Map(_) => {
                    if let Some((label, reason)) = self.select(skip, "skip", d) {
                        let label = label.as_str().unwrap_or_default();
                        return Some(match reason.as_str() {
                            Some(r) => r.to_string(),
                            None => format!("skipped on {label}"),
                        });
                    }
                }
                _ => {
                    for label in decode::strings(skip, "skip", d).unwrap_or_default() {
                        if self.rank(&label).is_some() {
                            return Some(format!("skipped on {label}"));
                        }
                    }
                }
            }
        }
        if let Some(only) = only {
            let labels = decode::strings(only, "only", d).unwrap_or_default();
            if !labels.iter().any(|l| self.rank(l).is_some()) {
                return Some(format!("only on {}", labels.join(", ")));
            }
        }
        None
    }
}

/// The entries of `base` with `over` applied: keys replaced, `key: null` removing a key.
fn merged<'n>(
    base: &'n Node,
    over: Option<&'n Node>,
    exclude: &[&str],
) -> Vec<(&'n Node, &'n Node)> {
    let mut out: Vec<(&Node, &Node)> = base
        .entries()
        .unwrap_or_default()
        .iter()
        .filter(|(k, _)| !k.as_str().is_some_and(|k| exclude.contains(&k)))
        .map(|(k, v)| (k, v))
        .collect();
    if let Some(entries) = over.and_then(Node::entries) {
        for (key, value) in entries {
            let slot = out.iter().position(|(k, _)| k.as_str() == key.as_str());
            match (slot, value.is_null()) {
                (Some(i), true) => {
                    out.remove(i);
                }
                (Some(i), false) => out[i].1 = value,
                (None, true) => {}
                (None, false) => out.push((key, value)),
            }
        }
    }
    out
}

/// The override for this protocol from a node's `on:`, checked to be a mapping.
fn override_for<'n>(
    node: &'n Node,
    labels: &Labels<'_>,
    forbidden: &[&str],
    d: &mut Diagnostics,
) -> Option<&'n Node> {
    let on = node.get("on")?;
    let (_, over) = labels.select(on, "on", d)?;
    let Some(entries) = over.entries() else {
        d.error(
            over.span,
            format!(
                "an override must be a mapping of fields, found {}",
                over.type_name()
            ),
        );
        return None;
    };
    for (key, _) in entries {
        if let Some(k) = key.as_str()
            && forbidden.contains(&k)
        {
            d.error(key.span, format!("an override cannot change `{k}`"));
        }
    }
    Some(over)
}

fn compile_suite(
    specs: &SpecSet,
    labels: &Labels<'_>,
    suite: &Suite,
    d: &mut Diagnostics,
) -> Option<SuitePlan> {
    let applies = match &suite.protocols {
        Some(list) => list.iter().any(|l| labels.rank(l).is_some()),
        None => labels.protocol.kind == ProtocolKind::Sql,
    };
    if !applies {
        return None;
    }
    let suite_skip = labels.excluded(suite.only.as_ref(), suite.skip.as_ref(), d);
    let mut expander = Expander::new();
    let fixtures = suite
        .fixtures
        .values()
        .map(|f| FixturePlan {
            name: f.name.clone(),
            setup: compile_steps(
                &specs.registry,
                labels,
                &f.setup,
                StepsOf::Fixture,
                &mut expander,
                d,
            ),
            teardown: compile_steps(
                &specs.registry,
                labels,
                &f.teardown,
                StepsOf::Fixture,
                &mut expander,
                d,
            ),
        })
        .collect();
    let cases = suite
        .cases
        .iter()
        .filter_map(|case| {
            compile_case(
                &specs.registry,
                labels,
                suite,
                case,
                suite_skip.clone(),
                &mut expander,
                d,
            )
        })
        .collect();
    let source = specs
        .sources
        .get(suite.file)
        .map(|f| join_display(&specs.root_display, &f.relative))
        .unwrap_or_default();
    Some(SuitePlan {
        name: suite.name.clone(),
        source,
        description: suite.description.clone(),
        fixtures,
        cases,
    })
}

fn compile_case(
    registry: &Registry,
    labels: &Labels<'_>,
    suite: &Suite,
    case: &Case,
    suite_skip: Option<String>,
    expander: &mut Expander,
    d: &mut Diagnostics,
) -> Option<CasePlan> {
    let node = &case.node;
    let over = override_for(node, labels, &["id", "on", "only", "skip"], d);
    let view = merged(node, over, &["on"]);
    let mut f = Fields::from_entries(view, "a case");
    f.allow(&["id", "only", "skip"]);
    let name = f
        .get("name")
        .and_then(|n| decode::string(n, "name", d))
        .unwrap_or_default();
    // Free text for readers of the spec: checked to be text, not carried into the plan.
    f.get("description")
        .and_then(|n| decode::string(n, "description", d));
    let priority = match f.get("priority") {
        Some(n) => crate::registry::priority(n, d)?,
        None => suite.priority,
    };
    let mut tags = f
        .get("tags")
        .and_then(|n| decode::strings(n, "tags", d))
        .unwrap_or_default();
    for t in &suite.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let fixtures = f
        .get("fixtures")
        .and_then(|n| decode::strings(n, "fixtures", d))
        .unwrap_or_default();
    let autocommit = f
        .get("autocommit")
        .and_then(|n| decode::boolean(n, "autocommit", d))
        .unwrap_or(true);
    let (timeout, case_timeout) = match f.get("timeout") {
        Some(n) => timeouts(n, d),
        None => (None, None),
    };
    let xfail_node = f.get("xfail");
    let step_nodes: Vec<Node> = match f.get("steps") {
        Some(n) => decode::list(n, "steps", d)
            .map(<[Node]>::to_vec)
            .unwrap_or_default(),
        None => {
            d.error(node.span, format!("case `{}` has no `steps`", case.id));
            Vec::new()
        }
    };
    f.finish(d);
    let skip = suite_skip.or_else(|| labels.excluded(node.get("only"), node.get("skip"), d));
    let of = if skip.is_some() {
        StepsOf::SkippedCase
    } else {
        StepsOf::Case
    };
    let xfail = match xfail_node {
        Some(x) => xfail(registry, labels, x, skip.is_none(), d),
        None => None,
    };
    let steps = compile_steps(registry, labels, &step_nodes, of, expander, d);
    Some(CasePlan {
        id: case.id.clone(),
        name,
        line: node.span.line,
        priority,
        tags,
        skip,
        xfail,
        autocommit,
        timeout,
        case_timeout,
        fixtures,
        steps,
    })
}

/// `timeout: 5s` (each step) or `timeout: {step: 5s, case: 2m}`.
fn timeouts(node: &Node, d: &mut Diagnostics) -> (Option<Duration>, Option<Duration>) {
    if node.entries().is_none() {
        return (decode::duration(node, "timeout", d), None);
    }
    let Some(mut f) = Fields::of(node, "timeout", d) else {
        return (None, None);
    };
    let step = f.get("step").and_then(|n| decode::duration(n, "step", d));
    let case = f.get("case").and_then(|n| decode::duration(n, "case", d));
    f.finish(d);
    for (limit, key) in [(step, "step"), (case, "case")] {
        if limit.is_some_and(|l| l.is_zero()) {
            let span = node.get(key).map_or(node.span, |n| n.span);
            d.error(span, format!("a {key} time limit must be longer than zero"));
        }
    }
    (step, case)
}

/// The `xfail` entry for this protocol: `{label: "reason"}` or
/// `{label: {reason: "…", error: class-or-map, step: N}}`.
fn xfail(
    registry: &Registry,
    labels: &Labels<'_>,
    node: &Node,
    runs: bool,
    d: &mut Diagnostics,
) -> Option<Xfail> {
    let (label, value) = labels.select(node, "xfail", d)?;
    let label = label.as_str().unwrap_or_default();
    // A more specific label's `null` holds the case to its full expectation there: a
    // driver that does not share its server's gap.
    if value.is_null() {
        return None;
    }
    if let Some(reason) = value.as_str() {
        return Some(Xfail {
            reason: reason.to_string(),
            label: label.to_string(),
            ..Xfail::default()
        });
    }
    let mut f = Fields::of(value, "an xfail entry", d)?;
    let reason = f
        .get("reason")
        .and_then(|n| decode::string(n, "reason", d))
        .unwrap_or_else(|| format!("expected to fail on {label}"));
    let error_node = f.get("error");
    let mut error = error_node.and_then(|n| step::error(n, d));
    let step = f
        .get("step")
        .and_then(|n| decode::count(n, "step", d))
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let timeout = f
        .get("timeout")
        .and_then(|n| decode::boolean(n, "timeout", d))
        .unwrap_or(false);
    f.finish(d);
    if timeout && error.is_some() {
        d.error(
            value.span,
            "an xfail expects either a server error (`error`) or a timeout, not both",
        );
        return None;
    }
    if step == Some(0) {
        d.error(value.span, "`step` counts the case's steps from 1");
        return None;
    }
    if let (Some(expect), Some(n)) = (error.as_mut(), error_node)
        && !resolve_class(registry, labels, n, expect, runs, d)
    {
        return None;
    }
    Some(Xfail {
        reason,
        label: label.to_string(),
        error,
        step,
        timeout,
    })
}

/// Whose steps are being compiled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StepsOf {
    Fixture,
    Case,
    /// Still compiled (so errors show), but it does not run here: no warnings about it.
    SkippedCase,
}

/// Resolves a list of step nodes for one protocol: `only`/`skip` drop steps, `on` overrides
/// merge in, and each step is turned into the dialect's form.
fn compile_steps(
    registry: &Registry,
    labels: &Labels<'_>,
    nodes: &[Node],
    of: StepsOf,
    expander: &mut Expander,
    d: &mut Diagnostics,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for node in nodes {
        // Fixture entries may be plain SQL strings.
        let fixture = of == StepsOf::Fixture;
        if fixture && node.as_str().is_some() {
            let Some(sql) = decode::sql(node, "a fixture statement", d) else {
                continue;
            };
            let mut step = Step {
                line: node.span.line,
                session: None,
                repeat: None,
                origin: None,
                action: Action::Statement(crate::step::Statement {
                    sql,
                    params: Vec::new(),
                    count: None,
                    error: None,
                }),
            };
            if dialectize(registry, labels, node, &mut step, true, expander, d) {
                steps.push(step);
            }
            continue;
        }
        if node.entries().is_some()
            && labels
                .excluded(node.get("only"), node.get("skip"), d)
                .is_some()
        {
            continue;
        }
        let over = if node.entries().is_some() {
            override_for(node, labels, &["on", "only", "skip"], d)
        } else {
            None
        };
        let view = merged(node, over, &["on", "only", "skip"]);
        let Some(mut step) = step::decode(node, view, d) else {
            continue;
        };
        if fixture && step.session.is_some() {
            let span = node.get("session").map_or(node.span, |n| n.span);
            d.error(
                span,
                "fixture steps run on the fixture's own session; `session` is not allowed here",
            );
            continue;
        }
        if dialectize(
            registry,
            labels,
            node,
            &mut step,
            of != StepsOf::SkippedCase,
            expander,
            d,
        ) {
            steps.push(step);
        }
    }
    steps
}

/// Turns a dialect-neutral step into the protocol's form. Returns false when it cannot be.
fn dialectize(
    registry: &Registry,
    labels: &Labels<'_>,
    node: &Node,
    step: &mut Step,
    runs: bool,
    expander: &mut Expander,
    d: &mut Diagnostics,
) -> bool {
    let protocol = labels.protocol;
    let facts = protocol.dialect_facts;
    if let Action::Http(http) = &step.action
        && !check_http(registry, protocol, node, http, runs, d)
    {
        return false;
    }
    let is_sql = !matches!(
        step.action,
        Action::Vector(_) | Action::Sleep { .. } | Action::Http(_)
    );
    let mismatch = (is_sql && facts.placeholder == PlaceholderStyle::None)
        || (matches!(step.action, Action::Vector(_)) && protocol.kind == ProtocolKind::Sql);
    if mismatch && !runs {
        // The case is skipped on this protocol: its steps need not fit it.
        return false;
    }
    if is_sql && facts.placeholder == PlaceholderStyle::None {
        d.error(
            node.span,
            format!(
                "protocol `{}` does not speak SQL; this step needs `only` or `skip`",
                protocol.name
            ),
        );
        return false;
    }
    if matches!(step.action, Action::Vector(_)) && protocol.kind == ProtocolKind::Sql {
        d.error(
            node.span,
            format!(
                "protocol `{}` has no vector operations; this step needs `only` or `skip`",
                protocol.name
            ),
        );
        return false;
    }
    let (sql, params, error) = match &mut step.action {
        Action::Statement(s) => (&mut s.sql, &mut s.params, &mut s.error),
        Action::Query(q) => (&mut q.sql, &mut q.params, &mut q.error),
        _ => return check_templates(node, step, expander, d),
    };
    match placeholders::rewrite(sql, &facts.lexing, facts.placeholder, params) {
        Ok((rewritten, bound)) => {
            *sql = rewritten;
            *params = bound;
        }
        Err(e) => {
            let span = node.get("params").map_or(node.span, |p| p.span);
            d.error(span, e.to_string()).label("params");
            return false;
        }
    }
    if let Some(expect) = error {
        if !resolve_class(registry, labels, node, expect, runs, d) {
            return false;
        }
        if expect.exception.is_some() && protocol.driver.is_none() && runs {
            let span = node.get("error").map_or(node.span, |e| e.span);
            d.warning(
                span,
                format!(
                    "`exception` can only match through a client driver; on {}'s built-in executor this step cannot pass",
                    protocol.name
                ),
            )
            .help("key it on the driver: `on: {psycopg2: {error: {exception: …}}}`");
        }
    }
    check_templates(node, step, expander, d)
}

/// An `http` step's target: an endpoint the registry names, or, without `target:`, the
/// protocol's own target, which must then be an HTTP URL.
fn check_http(
    registry: &Registry,
    protocol: &Protocol,
    node: &Node,
    http: &HttpStep,
    runs: bool,
    d: &mut Diagnostics,
) -> bool {
    let inside = node.get("http");
    let span = |key: &str| {
        inside
            .and_then(|h| h.get(key))
            .or(inside)
            .map_or(node.span, |n| n.span)
    };
    match &http.target {
        Some(name) if !registry.endpoints.contains_key(name) => {
            let diag = d.error(span("target"), format!("unknown endpoint `{name}`"));
            match did_you_mean(name, registry.endpoints.keys().map(String::as_str)) {
                Some(s) => diag.help(format!("did you mean `{s}`?")),
                None => diag.help("endpoints are declared in matrix.yaml under `endpoints:`"),
            };
            false
        }
        Some(_) => true,
        None if http.url.starts_with('/') && runs => {
            // Without a target of its own, the cases report that they have none.
            let speaks_http = protocol
                .target
                .as_deref()
                .is_none_or(|t| t.starts_with("http://") || t.starts_with("https://"));
            if !speaks_http {
                d.error(
                    span("url"),
                    format!(
                        "this `http` step goes to protocol `{}`'s own target, which is not an HTTP URL",
                        protocol.name
                    ),
                )
                .help("name an endpoint from matrix.yaml `endpoints:` with `target:`, or give a full http:// URL");
            }
            speaks_http
        }
        None => true,
    }
}

/// Fills an error class's native codes for this protocol.
fn resolve_class(
    registry: &Registry,
    labels: &Labels<'_>,
    node: &Node,
    expect: &mut ErrorExpect,
    runs: bool,
    d: &mut Diagnostics,
) -> bool {
    let Some(class_name) = expect.class.clone() else {
        return true;
    };
    let span = node.get("error").map_or(node.span, |e| e.span);
    let Some(class) = registry.error_classes.get(&class_name) else {
        let diag = d.error(span, format!("unknown error class `{class_name}`"));
        match did_you_mean(
            &class_name,
            registry.error_classes.keys().map(String::as_str),
        ) {
            Some(s) => diag.help(format!("did you mean `{s}`?")),
            None => diag.help("error classes are declared in matrix.yaml `error_classes:`"),
        };
        return false;
    };
    match class.mapping_for(labels.protocol, labels.cli) {
        Some(mapping) => {
            expect.sqlstate = expect
                .sqlstate
                .take()
                .or_else(|| mapping.native.sqlstate.clone());
            expect.code = expect.code.take().or_else(|| mapping.native.code.clone());
            expect.message = expect
                .message
                .take()
                .or_else(|| mapping.native.message.clone());
        }
        None if !runs => {
            // Reported once per class and protocol, at the class in matrix.yaml.
            let message = format!(
                "error class `{class_name}` has no mapping for protocol `{}` (the cases expecting it are skipped there)",
                labels.protocol.name
            );
            d.warning(class.span, message).help(format!(
                "map it under error_classes.{class_name} for `{}` or its dialect",
                labels.protocol.name
            ));
        }
        None => {
            // Without a mapping the expectation would accept any error at all.
            d.error(
                span,
                format!(
                    "error class `{class_name}` has no mapping for protocol `{}`, where this case runs",
                    labels.protocol.name
                ),
            )
            .help(format!(
                "map it under error_classes.{class_name} in matrix.yaml for `{}` or its dialect, or skip the case there",
                labels.protocol.name
            ));
            return false;
        }
    }
    true
}

/// Renders a repeated step once, so broken expressions are reported at compile time.
fn check_templates(node: &Node, step: &Step, expander: &mut Expander, d: &mut Diagnostics) -> bool {
    let mut result = Ok(());
    if let Some(repeat) = &step.repeat {
        result = expander
            .action(&step.action, &repeat.var, repeat.from)
            .map(|_| ());
    }
    if let (Ok(()), Action::Copy(copy)) = (&result, &step.action)
        && let CopyRows::Repeat { repeat, row } = &copy.rows
    {
        result = expander.row(row, &repeat.var, repeat.from).map(|_| ());
    }
    match result {
        Ok(()) => true,
        Err(e) => {
            d.error(node.span, e);
            false
        }
    }
}
