//! Label resolution: `on` precedence (protocol name > dialect > tier > declared label),
//! ties, `key: null`, `only`/`skip` with reasons, `xfail`, unknown-label warnings.

use helios_matrix::diag::{Diagnostics, Level};
use helios_matrix::plan::compile::compile;
use helios_matrix::plan::{Action, CasePlan, Plan};
use helios_matrix::spec;
use helios_matrix::value::Scalar;

const REGISTRY: &str = r#"
labels: [heliosdb]
protocols:
  postgresql: {tier: gold, dialect: postgres, executor: postgres}
  mysql: {tier: gold, dialect: mysql, executor: mysql}
  databricks: {tier: silver, dialect: databricks, executor: databricks, labels: [minilake]}
  sqlite: {tier: reference, dialect: sqlite, executor: sqlite}
error_classes:
  unique_violation: {postgres: {sqlstate: "23505"}, mysql: {code: 1062}, sqlite: {message: UNIQUE}}
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
fn protocol_name_beats_dialect_and_tier_beats_declared() {
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
    assert_eq!(first_rows(&plan, "databricks"), rows(3));
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
          minilake: {rows: [[1]]}
          heliosdb: {rows: [[2]]}
"#;
    let (_, d) = compile_suite(suite, &["heliosdb"]);
    let errors: Vec<_> = d
        .items()
        .iter()
        .filter(|i| i.severity == Level::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .message
            .contains("both match protocol `databricks`"),
        "{}",
        errors[0].message
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
        case(&plan, "databricks").xfail.as_deref(),
        Some("silver gap")
    );
    assert_eq!(case(&plan, "postgresql").xfail, None);
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
