//! `compile --format sqllogictest`: what the exporter writes for each engine (snapshots),
//! and which cases it keeps out, with which reason. tests/live.rs runs the export of the
//! project's specs with sqllogictest-rs against the real servers.

use std::collections::BTreeMap;
use std::path::Path;

use helios_matrix::diag::Diagnostics;
use helios_matrix::executor::SqllogictestEngine;
use helios_matrix::plan::{Plan, compile::compile};
use helios_matrix::render::sqllogictest::export_case;
use helios_matrix::spec;

fn plan_of(dir: &str) -> Plan {
    let mut diags = Diagnostics::default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let specs = spec::load(&root, &[], &mut diags);
    let plan = compile(&specs, &[], &mut diags);
    assert!(!diags.has_errors(), "{}", diags.render(&specs.sources));
    plan
}

/// Per protocol: each case's exported script, or the reason it was not exported.
fn exports(plan: &Plan) -> BTreeMap<String, BTreeMap<String, Result<String, String>>> {
    let mut all = BTreeMap::new();
    for (protocol, suite, case) in plan.cases() {
        let Some(engine) = SqllogictestEngine::of(&protocol.protocol) else {
            continue;
        };
        all.entry(protocol.protocol.name.clone())
            .or_insert_with(BTreeMap::new)
            .insert(
                case.id.clone(),
                export_case(engine, &protocol.protocol.name, suite, case),
            );
    }
    all
}

#[test]
fn each_thing_sqllogictest_cannot_express_keeps_its_case_out_with_the_reason() {
    let all = exports(&plan_of("tests/fixtures/slt"));
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["mysql", "postgresql"],
        "sqlite has no engine"
    );
    let common = [
        ("NX-PARAMS", "binds parameters"),
        ("NX-FETCH", "in batches through a cursor"),
        ("NX-CANCEL", "cancels the query after 10ms"),
        ("NX-ROW-COUNT", "only the number of rows"),
        ("NX-COLUMNS", "checks column names"),
        ("NX-TYPES", "checks column types"),
        ("NX-AUTOCOMMIT", "autocommit off"),
        ("NX-TIMEOUT", "time limit"),
        ("NX-COPY", "`copy` bulk load"),
        ("NX-SKIP", "skipped on"),
        ("NX-XFAIL", "sqllogictest has no expected failures"),
        (
            "NX-FLOAT",
            "the float 1.5 compares within a relative tolerance",
        ),
        ("NX-TOLERANCE", "within a tolerance"),
        ("NX-TEXT-NUMBER", "compares the number \"1.50\" numerically"),
        (
            "NX-NUMBER-STRING",
            "the string \"42\" prints as a number would",
        ),
        ("NX-NULL-STRING", "the engine's mark for NULL"),
        ("NX-SPACES", "trims or collapses"),
        ("NX-BLANK-LINE", "would end a sqllogictest record"),
        ("NX-ANCHORED", "anchored"),
    ];
    let only_postgresql = [
        ("PG-NX-STATE-AND-MESSAGE", "both a SQLSTATE and a message"),
        ("PG-NX-NEWLINE", "can match a line break"),
        ("MY-NX-SET", "skipped on postgresql"),
    ];
    let only_mysql = [
        ("OK-SESSIONS", "`begin`: the sqllogictest-rs mysql engine"),
        ("OK-UPDATE-COUNT", "CLIENT_FOUND_ROWS"),
        ("MY-NX-SET", "pooled connection it resets first"),
    ];
    for (protocol, own) in [("postgresql", &only_postgresql), ("mysql", &only_mysql)] {
        let cases = &all[protocol];
        let mut expected: BTreeMap<&str, &str> = common.iter().copied().collect();
        expected.extend(own.iter().copied());
        let refused: BTreeMap<&str, &str> = cases
            .iter()
            .filter_map(|(id, r)| r.as_ref().err().map(|e| (id.as_str(), e.as_str())))
            .collect();
        assert_eq!(
            refused.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{protocol}: {refused:#?}"
        );
        for (id, reason) in &expected {
            assert!(
                refused[id].contains(reason),
                "{protocol} {id}: {:?} does not say {reason:?}",
                refused[id]
            );
        }
        // The step that keeps a case out is named by its line in the spec.
        assert!(
            refused["NX-PARAMS"].starts_with("step @"),
            "{}",
            refused["NX-PARAMS"]
        );
    }
}

#[test]
fn exported_scripts_snapshot() {
    for (protocol, cases) in exports(&plan_of("tests/fixtures/slt")) {
        let mut text = String::new();
        for (id, exported) in &cases {
            if let Ok(script) = exported {
                text.push_str(&format!("=== {id}.slt\n{script}\n"));
            }
        }
        insta::assert_snapshot!(format!("slt_export_{protocol}"), text);
    }
}

#[test]
fn expected_rows_are_written_in_the_order_sqllogictest_sorts_the_servers() {
    let all = exports(&plan_of("tests/fixtures/slt"));
    let rows = all["postgresql"]["OK-ROWS"].as_ref().expect("exported");
    // As lists of strings, the way sqllogictest-rs sorts what the server returns.
    assert!(
        rows.contains("query IT rowsort\nSELECT id, name FROM slt_things\n----\n1 b\n10 NULL\n2 (empty)\n3 two words\n"),
        "{rows}"
    );
    assert!(
        rows.contains("query I valuesort\nSELECT id FROM slt_things\n----\n1\n10\n2\n3\n"),
        "{rows}"
    );
    // The fixtures' connection is not the case's; teardown runs in reverse.
    let setup = rows.find("# fixture more: setup").expect("setup");
    let teardown_more = rows.find("# fixture more: teardown").expect("teardown");
    let teardown_things = rows.find("# fixture things: teardown").expect("teardown");
    assert!(setup < teardown_more && teardown_more < teardown_things);
    assert!(rows.contains("connection fixtures\nstatement ok\nDROP TABLE slt_more\n"));
    // A repeated step is unrolled, its template rendered per iteration.
    assert!(
        rows.contains("VALUES (0)\n") && rows.contains("VALUES (10)\n"),
        "{rows}"
    );
    let sessions = all["postgresql"]["OK-SESSIONS"].as_ref().expect("exported");
    let rollback = sessions
        .find("connection a\nstatement ok\nROLLBACK\n")
        .expect("what session a left open is rolled back");
    assert!(
        rollback
            < sessions
                .find("# fixture things: teardown")
                .expect("teardown")
    );
}

/// Most of the project's core suite exports on both engines.
#[test]
fn the_core_suite_mostly_exports() {
    let plan = plan_of("specs");
    for (protocol, cases) in exports(&plan) {
        let core: Vec<_> = plan
            .cases()
            .filter(|(p, s, _)| p.protocol.name == protocol && s.source.starts_with("specs/core/"))
            .map(|(_, _, c)| cases[&c.id].is_ok())
            .collect();
        let exported = core.iter().filter(|ok| **ok).count();
        assert!(
            exported * 2 > core.len(),
            "{protocol}: {exported} of {} core cases exported",
            core.len()
        );
    }
}
