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
    cases:
      - id: SLT-A
        name: a.test
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
