//! Label resolution: `on` precedence (server label > protocol name > dialect > tier >
//! command-line label), ties, `key: null`, `only`/`skip` with reasons, `xfail` (and what
//! it expects), unmapped error classes, unknown-label warnings.

use helios_matrix::diag::{Diagnostics, Level};
use helios_matrix::plan::compile::compile;
use helios_matrix::plan::{CasePlan, Plan};
use helios_matrix::spec;
use helios_matrix::step::Action;
use helios_matrix::value::Scalar;

const REGISTRY: &str = r#"
labels: [heliosdb, beta]
protocols:
  postgresql: {tier: gold, dialect: postgres, executor: postgres}
  mysql: {tier: gold, dialect: mysql, executor: mysql}
  databricks: {tier: silver, dialect: databricks, executor: databricks, labels: [minilake]}
  sqlite: {tier: reference, dialect: sqlite, executor: sqlite}
error_classes:
  unique_violation: {postgres: {sqlstate: "23505"}, mysql: {code: 1062}, sqlite: {message: UNIQUE}, databricks: {sqlstate: "23505"}}
  syntax_error: {postgres: {sqlstate: "42601"}, mysql: {code: 1064}, sqlite: {message: syntax}}
"#;

fn compile_suite(suite: &str, cli: &[&str]) -> (Plan, Diagnostics) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("matrix.yaml"), REGISTRY).expect("write");
    std::fs::write(dir.path().join("suite.yaml"), suite).expect("write");
    let cli: Vec<String> = cli.iter().map(|s| s.to_string()).collect();
    let mut d = Diagnostics::default();
    let specs = spec::load(dir.path(), &cli, &mut d);
    let plan = compile(&specs, &cli, &mut d);
    (plan, d)
}

fn case<'p>(plan: &'p Plan, protocol: &str) -> &'p CasePlan {
    plan.protocols
        .iter()
        .find(|p| p.protocol.name == protocol)
        .and_then(|p| p.suites.first())
        .and_then(|s| s.cases.first())
        .unwrap_or_else(|| panic!("no case for {protocol}"))
}

fn first_rows(plan: &Plan, protocol: &str) -> Vec<Vec<Scalar>> {
    match &case(plan, protocol).steps[0].action {
        Action::Query(q) => q.rows.clone().unwrap_or_default(),
        other => panic!("not a query: {other:?}"),
    }
}

fn rows(n: i64) -> Vec<Vec<Scalar>> {
    vec![vec![Scalar::Int(n)]]
}

#[test]
fn the_most_specific_label_wins() {
    let suite = r#"
cases:
  - id: C-1
    name: precedence
    steps:
      - query: SELECT 1
        rows: [[0]]
        on:
          heliosdb: {rows: [[1]]}
          gold: {rows: [[2]]}
          postgres: {rows: [[3]]}
          mysql: {rows: [[4]]}
"#;
    let (plan, d) = compile_suite(suite, &["heliosdb"]);
    assert!(!d.has_errors(), "{:?}", d.items());
    assert_eq!(
        first_rows(&plan, "postgresql"),
        rows(3),
        "dialect beats tier"
    );
    assert_eq!(
        first_rows(&plan, "mysql"),
        rows(4),
        "the protocol name (== dialect) wins"
    );
    assert_eq!(
        first_rows(&plan, "databricks"),
        rows(1),
        "a declared label applies when nothing closer does"
    );
    assert_eq!(first_rows(&plan, "sqlite"), rows(1));
    let (plan, _) = compile_suite(suite, &[]);
    assert_eq!(
        first_rows(&plan, "sqlite"),
        rows(0),
        "without the label, the base applies"
    );
}

#[test]
fn server_label_beats_protocol_name_and_tier_beats_command_line() {
    let suite = r#"
cases:
  - id: C-1
    name: precedence
    steps:
      - query: SELECT 1
        rows: [[0]]
        on:
          postgres: {rows: [[1]]}
          postgresql: {rows: [[2]]}
          silver: {rows: [[3]]}
          minilake: {rows: [[4]]}
"#;
    let (plan, d) = compile_suite(suite, &[]);
    assert!(!d.has_errors(), "{:?}", d.items());
    assert_eq!(first_rows(&plan, "postgresql"), rows(2));
    assert_eq!(
        first_rows(&plan, "databricks"),
        rows(4),
        "the label of the server behind the target is the most specific"
    );
}

#[test]
fn two_labels_of_the_same_rank_are_an_error() {
    let suite = r#"
cases:
  - id: C-1
    name: tie
    steps:
      - query: SELECT 1
        on:
          beta: {rows: [[1]]}
          heliosdb: {rows: [[2]]}
"#;
    let (_, d) = compile_suite(suite, &["heliosdb", "beta"]);
    let errors: Vec<_> = d
        .items()
        .iter()
        .filter(|i| i.severity == Level::Error)
        .collect();
    // One tie per protocol, each reported.
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("both match protocol `databricks`")),
        "{errors:?}"
    );
}

#[test]
fn null_removes_a_key_and_overrides_replace_whole_values() {
    let suite = r#"
cases:
  - id: C-1
    name: null removes
    steps:
      - query: SELECT 1/0
        error: unique_violation
        on:
          sqlite: {error: null, rows: [[null]]}
"#;
    let (plan, d) = compile_suite(suite, &[]);
    assert!(!d.has_errors(), "{:?}", d.items());
    let Action::Query(q) = &case(&plan, "sqlite").steps[0].action else {
        panic!("query")
    };
    assert_eq!(q.error, None);
    assert_eq!(q.rows, Some(vec![vec![Scalar::Null]]));
    let Action::Query(q) = &case(&plan, "postgresql").steps[0].action else {
        panic!("query")
    };
    assert_eq!(
        q.error.as_ref().and_then(|e| e.sqlstate.as_deref()),
        Some("23505"),
        "class resolved to the native code"
    );
    let Action::Query(q) = &case(&plan, "mysql").steps[0].action else {
        panic!("query")
    };
    assert_eq!(
        q.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("1062")
    );
}

#[test]
fn only_and_skip_carry_reasons_and_steps_drop_out() {
    let suite = r#"
cases:
  - id: C-1
    name: skipped with a reason
    skip: {sqlite: "no server-side cursors"}
    steps:
      - query: SELECT 1
  - id: C-2
    name: only on gold
    only: [gold]
    steps:
      - query: SELECT 1
      - query: SELECT 2
        skip: [mysql]
      - query: SELECT 3
        only: [postgres]
"#;
    let (plan, d) = compile_suite(suite, &[]);
    assert!(!d.has_errors(), "{:?}", d.items());
    let sqlite = &plan
        .protocols
        .iter()
        .find(|p| p.protocol.name == "sqlite")
        .expect("sqlite")
        .suites[0];
    assert_eq!(
        sqlite.cases[0].skip.as_deref(),
        Some("no server-side cursors")
    );
    assert_eq!(sqlite.cases[1].skip.as_deref(), Some("only on gold"));
    let steps = |p: &str| {
        plan.protocols
            .iter()
            .find(|x| x.protocol.name == p)
            .expect("p")
            .suites[0]
            .cases[1]
            .steps
            .len()
    };
    assert_eq!(steps("postgresql"), 3);
    assert_eq!(steps("mysql"), 1);
}

#[test]
fn xfail_takes_the_most_specific_reason() {
    let suite = r#"
cases:
  - id: C-1
    name: xfail
    xfail: {minilake: "ignores parameters", silver: "silver gap"}
    steps:
      - query: SELECT 1
"#;
    let (plan, d) = compile_suite(suite, &[]);
    assert!(!d.has_errors(), "{:?}", d.items());
    assert_eq!(
        case(&plan, "databricks")
            .xfail
            .as_ref()
            .map(|x| x.reason.as_str()),
        Some("ignores parameters"),
        "the server label beats the tier"
    );
    assert_eq!(case(&plan, "postgresql").xfail, None);
}

#[test]
fn a_null_xfail_entry_holds_its_label_to_the_full_expectation() {
    let suite = r#"
cases:
  - id: C-1
    name: xfail
    xfail: {minilake: null, gold: "gold gap"}
    steps:
      - query: SELECT 1
"#;
    let (plan, d) = compile_suite(suite, &[]);
    assert!(!d.has_errors(), "{:?}", d.items());
    assert_eq!(
        case(&plan, "databricks").xfail,
        None,
        "minilake's null wins"
    );
    assert_eq!(
        case(&plan, "postgresql")
            .xfail
            .as_ref()
            .map(|x| x.reason.as_str()),
        Some("gold gap")
    );
}

#[test]
fn an_xfail_may_state_the_error_it_expects_in_native_form() {
    let suite = r#"
cases:
  - id: C-1
    name: xfail with an expectation
    xfail:
      gold: {reason: "known gap", error: syntax_error, step: 2}
    steps:
      - query: SELECT 1
      - query: SELECT 2
"#;
    let (plan, d) = compile_suite(suite, &[]);
    assert!(!d.has_errors(), "{:?}", d.items());
    let x = case(&plan, "postgresql").xfail.clone().expect("xfail");
    assert_eq!(x.reason, "known gap");
    assert_eq!(x.step, Some(2));
    let e = x.error.expect("error");
    assert_eq!(
        e.sqlstate.as_deref(),
        Some("42601"),
        "the class in native form"
    );
    let my = case(&plan, "mysql").xfail.clone().expect("xfail");
    assert_eq!(my.error.and_then(|e| e.code).as_deref(), Some("1064"));
}

#[test]
fn an_unmapped_error_class_is_an_error_where_the_case_runs() {
    let suite = r#"
cases:
  - id: C-1
    name: expects a class databricks has no code for
    steps:
      - query: SELCT 1
        error: syntax_error
"#;
    let (_, d) = compile_suite(suite, &[]);
    let errors: Vec<_> = d
        .items()
        .iter()
        .filter(|i| i.severity == Level::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains("`syntax_error`")
            && errors[0].message.contains("protocol `databricks`"),
        "{}",
        errors[0].message
    );
    // Skipped there, it is only a warning.
    let skipped = suite.replace(
        "    steps:",
        "    skip: {databricks: \"not here\"}\n    steps:",
    );
    let (_, d) = compile_suite(&skipped, &[]);
    assert!(!d.has_errors(), "{:?}", d.items());
    assert!(
        d.items()
            .iter()
            .any(|i| i.severity == Level::Warning && i.message.contains("syntax_error")),
        "{:?}",
        d.items()
    );
}

#[test]
fn a_repeat_beyond_its_limit_is_a_compile_error() {
    let suite = r#"
cases:
  - id: C-1
    name: runaway
    steps:
      - statement: SELECT 1
        repeat: {var: i, from: 0, to: 2000000000}
"#;
    let (_, d) = compile_suite(suite, &[]);
    let error = d
        .items()
        .iter()
        .find(|i| i.severity == Level::Error)
        .expect("an error");
    assert!(
        error.message.contains("2000000000 iterations"),
        "{}",
        error.message
    );
    assert!(
        error
            .help
            .as_deref()
            .is_some_and(|h| h.contains("limit: 2000000000")),
        "{error:?}"
    );
    let raised = suite.replace("to: 2000000000}", "to: 2000000000, limit: 2000000000}");
    let (_, d) = compile_suite(&raised, &[]);
    assert!(!d.has_errors(), "{:?}", d.items());
}

#[test]
fn unknown_labels_warn_with_a_suggestion() {
    let suite = r#"
cases:
  - id: C-1
    name: typo
    steps:
      - query: SELECT 1
        on:
          postgressql: {rows: [[1]]}
"#;
    let (_, d) = compile_suite(suite, &[]);
    assert!(!d.has_errors());
    let w = d
        .items()
        .iter()
        .find(|i| i.severity == Level::Warning)
        .expect("a warning");
    assert!(w.message.contains("postgressql"));
    assert!(
        w.help
            .as_deref()
            .is_some_and(|h| h.contains("did you mean `postgresql`")),
        "{w:?}"
    );
}
