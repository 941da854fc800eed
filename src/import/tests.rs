use super::*;

fn options() -> Options {
    Options {
        known_labels: [
            "sqlite",
            "mysql",
            "postgresql",
            "postgres",
            "sqlserver",
            "oracle",
        ]
        .map(String::from)
        .to_vec(),
        ..Options::default()
    }
}

fn imported(name: &str, text: &str) -> Imported {
    import(name, text, &options()).expect("parses")
}

#[test]
fn records_become_steps_with_their_origin() {
    let got = imported(
        "a.test",
        "# a table\nstatement ok\nCREATE TABLE t(x INTEGER)\n\nquery I rowsort\nSELECT x\n  FROM t\n----\n1\n2\n",
    );
    insta::assert_snapshot!(got.yaml, @r###"
    # Imported from a.test by `helios-matrix import`. Each step's `origin` is its
    # record there; `compare: sqllogictest` checks a result as sqllogictest prints it.
    suite: slt_a
    description: sqllogictest file a.test
    tags: [sqllogictest]
    fixtures:
      # sqllogictest runs each file on a fresh database: what this one creates is
      # dropped before it (whatever an earlier run left) and after it.
      clean_slate:
        setup:
          - DROP TABLE IF EXISTS t
        teardown:
          - DROP TABLE IF EXISTS t
    cases:
      - id: SLT-A
        name: a.test
        fixtures: [clean_slate]
        steps:
          # a table
          - statement: CREATE TABLE t(x INTEGER)
            origin: a.test:2
          - query: |-
              SELECT x
                FROM t
            origin: a.test:5
            compare: sqllogictest
            types: [integer]
            sort: rows
            rows:
              - [1]
              - [2]
    "###);
    assert_eq!(got.steps, 2);
    assert!(got.warnings.is_empty());
}

#[test]
fn creates_reads_plain_names_of_tables_and_views_only() {
    let table = |name: &str| {
        Some(Ok(Created {
            kind: ObjectKind::Table,
            name: name.to_string(),
        }))
    };
    let view = |name: &str| {
        Some(Ok(Created {
            kind: ObjectKind::View,
            name: name.to_string(),
        }))
    };
    assert_eq!(
        creates("CREATE TABLE t1(a INTEGER, b INTEGER)"),
        table("t1")
    );
    assert_eq!(creates("create temp table T2 (x int)"), table("T2"));
    assert_eq!(
        creates("CREATE TEMPORARY TABLE IF NOT EXISTS s.t3 AS SELECT 1"),
        table("s.t3")
    );
    assert_eq!(creates("-- why\n  CREATE\nTABLE\tt4\n(x)"), table("t4"));
    assert_eq!(creates("CREATE VIEW v1 AS SELECT 1"), view("v1"));
    assert_eq!(
        creates("CREATE OR REPLACE TEMP VIEW v2(a) AS SELECT 1"),
        view("v2")
    );
    assert_eq!(
        creates("CREATE VIEW IF NOT EXISTS view_1 AS SELECT 1"),
        view("view_1")
    );
    // Quoted names are quoted differently on each server: left out, with a warning.
    for quoted in [
        "CREATE TABLE \"t\"(x)",
        "CREATE TABLE `t`(x)",
        "CREATE TABLE [t](x)",
        "CREATE VIEW 1v AS SELECT 1",
    ] {
        assert_eq!(creates(quoted), Some(Err(())), "{quoted}");
    }
    for other in [
        "CREATE INDEX t1i1 ON t1(a)",
        "CREATE UNIQUE INDEX i ON t(x)",
        "CREATE MATERIALIZED VIEW mv AS SELECT 1",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
        "INSERT INTO t1 VALUES(1)",
        "CREATE TABLES",
        "SELECT 'CREATE TABLE x(y)'",
    ] {
        assert_eq!(creates(other), None, "{other}");
    }
}

#[test]
fn the_clean_slate_drops_views_then_tables_latest_first() {
    let got = imported(
        "v.test",
        "statement ok\nCREATE TABLE t1(x INTEGER)\n\n\
         statement ok\nCREATE TABLE t2(x INTEGER)\n\n\
         statement ok\nCREATE VIEW v1 AS SELECT x FROM t1\n\n\
         statement ok\nCREATE VIEW v2 AS SELECT x FROM v1\n\n\
         onlyif sqlite\nstatement ok\nCREATE TEMP TABLE t3(x)\n\n\
         statement error\nCREATE TABLE t1(x INTEGER)\n\n\
         statement error\nCREATE TABLE never(x INTEGER)\n\n\
         statement ok\nDROP TABLE t2\n\n\
         statement ok\nCREATE TABLE t2(y INTEGER)\n\n\
         statement ok\nCREATE TABLE \"quoted\"(x)\n",
    );
    let fixture = "\
  clean_slate:
    setup:
      - DROP VIEW IF EXISTS v2
      - DROP VIEW IF EXISTS v1
      - DROP TABLE IF EXISTS t2
      - DROP TABLE IF EXISTS t3
      - DROP TABLE IF EXISTS t1
    teardown:
      - DROP VIEW IF EXISTS v2
      - DROP VIEW IF EXISTS v1
      - DROP TABLE IF EXISTS t2
      - DROP TABLE IF EXISTS t3
      - DROP TABLE IF EXISTS t1
cases:
  - id: SLT-V
    name: v.test
    fixtures: [clean_slate]
";
    assert!(got.yaml.contains(fixture), "{}", got.yaml);
    // A record expected to fail creates nothing.
    assert!(!got.yaml.contains("EXISTS never"), "{}", got.yaml);
    assert_eq!(
        got.warnings,
        vec![Warning {
            location: "v.test:29".to_string(),
            message: "what this CREATE makes has no plain name (letters, digits, `_`): the clean-slate fixture does not drop it".to_string(),
        }]
    );
}

#[test]
fn a_name_both_table_and_view_is_left_out_and_nothing_created_means_no_fixture() {
    let got = imported(
        "m.test",
        "statement ok\nCREATE TABLE x(a INTEGER)\n\n\
         statement ok\nDROP TABLE x\n\n\
         statement ok\nCREATE VIEW X AS SELECT 1\n\n\
         statement ok\nCREATE TABLE y(a INTEGER)\n",
    );
    assert!(
        got.yaml
            .contains("    setup:\n      - DROP TABLE IF EXISTS y\n    teardown:\n"),
        "{}",
        got.yaml
    );
    assert!(!got.yaml.contains("EXISTS x") && !got.yaml.contains("EXISTS X"));
    assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    assert_eq!(got.warnings[0].location, "m.test:1");
    assert!(
        got.warnings[0]
            .message
            .contains("`x` is created both as a table and as a view")
    );

    let plain = imported("p.test", "query I\nSELECT 1\n----\n1\n");
    assert!(!plain.yaml.contains("fixtures"), "{}", plain.yaml);
}

#[test]
fn a_file_without_records_has_no_steps() {
    for text in [
        "",
        "# only a comment\n",
        "hash-threshold 8\n",
        "halt\n\nstatement ok\nSELECT 1\n",
    ] {
        let got = imported("e.test", text);
        assert_eq!(got.steps, 0, "{text:?}");
    }
}
