//! The compiled scripts carry the whole plan: parse(render(plan)) == plan, for the
//! project's specs and for a fixture that exercises every corner of the format. Snapshots
//! pin what the compiler emits.

use std::path::Path;

use helios_matrix::diag::Diagnostics;
use helios_matrix::plan::{Plan, compile::compile};
use helios_matrix::{render, script, spec};

fn plan_of(dir: &str) -> Plan {
    let mut diags = Diagnostics::default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let specs = spec::load(&root, &[], &mut diags);
    let plan = compile(&specs, &[], &mut diags);
    assert!(!diags.has_errors(), "{}", diags.render(&specs.sources));
    plan
}

fn assert_round_trip(plan: &Plan) -> usize {
    let mut suites = 0;
    for protocol in &plan.protocols {
        for suite in &protocol.suites {
            let text = render::render_suite(protocol, suite).expect("renders");
            let parsed = script::parse(&text).unwrap_or_else(|e| {
                panic!("{}/{}: {e}\n{text}", protocol.protocol.name, suite.name)
            });
            assert_eq!(parsed.protocol, protocol.protocol.name);
            assert_eq!(
                &parsed.suite, suite,
                "{}/{} does not round-trip:\n{text}",
                protocol.protocol.name, suite.name
            );
            suites += 1;
        }
    }
    suites
}

#[test]
fn project_specs_round_trip() {
    assert!(assert_round_trip(&plan_of("specs")) >= 80);
}

#[test]
fn edge_fixture_round_trips() {
    assert!(assert_round_trip(&plan_of("tests/fixtures/edge")) >= 9);
}

#[test]
fn http_fixture_round_trips() {
    assert_eq!(assert_round_trip(&plan_of("tests/fixtures/http")), 3);
}

#[test]
fn rendered_http_steps_snapshot() {
    let plan = plan_of("tests/fixtures/http");
    for protocol in &plan.protocols {
        if !["sqlite", "pinecone"].contains(&protocol.protocol.name.as_str()) {
            continue;
        }
        for suite in &protocol.suites {
            let text = render::render_suite(protocol, suite).expect("renders");
            insta::assert_snapshot!(format!("{}__{}", protocol.protocol.name, suite.name), text);
        }
    }
}

#[test]
fn rendered_scripts_snapshot() {
    let plan = plan_of("tests/fixtures/edge");
    for protocol in &plan.protocols {
        if !["sqlite", "postgresql", "mysql", "databricks", "pinecone"]
            .contains(&protocol.protocol.name.as_str())
        {
            continue;
        }
        for suite in &protocol.suites {
            let text = render::render_suite(protocol, suite).expect("renders");
            insta::assert_snapshot!(format!("{}__{}", protocol.protocol.name, suite.name), text);
        }
    }
}

#[test]
fn manifest_lists_every_case_and_protocol() {
    let plan = plan_of("tests/fixtures/edge");
    let files = render::render(&plan).expect("renders");
    let manifest: serde_json::Value =
        serde_json::from_str(files.get(Path::new(render::MANIFEST)).expect("manifest"))
            .expect("json");
    let cases = manifest["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), plan.cases().count());
    let first = &cases[0];
    for key in [
        "protocol", "tier", "priority", "source", "script", "id", "name",
    ] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
    assert!(
        cases
            .iter()
            .any(|c| c["id"] == "EDGE-004" && c["skip"] == "only on postgresql")
    );
}
