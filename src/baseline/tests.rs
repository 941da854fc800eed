use std::sync::Arc;

use super::judge::Cells;
use super::take::take;
use super::*;
use crate::exec::DbError;
use crate::registry::{Priority, Tier};
use crate::run::CaseInfo;

const FILE: &str = "\
# helios-matrix baseline: failures expected of one server, each with why. See docs/baselines.md.
# Reviewed by the storage team.
server: heliosdb-nano
version: 4.41.1
entries:
  # variance() is on the roadmap (ticket 12).
  - cell: postgresql
    case: CORE-AGG-001
    error: SQLSTATE 42883
    reason: the server has no variance() aggregate
  - cell: postgresql
    case: CORE-AGG-002
    diff: \"-1.5\"
    # numeric division
    reason:
  # gone soon
  - cell: postgresql/psycopg2
    case: CORE-TYPES-004
    message: the column names differ
    reason: |-
      psycopg2 folds names
      to lower case
# the end
";

fn baseline() -> Baseline {
    file::parse(FILE, "baselines/nano.yaml").expect("parses")
}

fn sqlstate_failure(sqlstate: &str) -> Failure {
    Failure {
        server_error: Some(Box::new(DbError {
            sqlstate: Some(sqlstate.into()),
            message: "no such function".into(),
            ..DbError::default()
        })),
        ..Failure::new(format!(
            "server error: [SQLSTATE {sqlstate}] no such function"
        ))
    }
}

fn judge(b: &Baseline, case: &str, outcome: Outcome) -> Outcome {
    b.judge("postgresql", case, outcome, |f| Seen::of(f, &[]))
}

#[test]
fn a_listed_failure_with_the_recorded_error_is_a_known_failure() {
    let b = baseline();
    let outcome = judge(
        &b,
        "CORE-AGG-001",
        Outcome::Failed(sqlstate_failure("42883")),
    );
    assert!(
        matches!(
            &outcome,
            Outcome::ExpectedFailure { reason, by: ExpectedBy::Baseline, .. }
                if reason == "the server has no variance() aggregate"
        ),
        "{outcome:?}"
    );
    assert!(!outcome.is_failure());
}

#[test]
fn a_listed_case_that_passes_is_fixed_and_fails_the_run() {
    let b = baseline();
    let outcome = judge(&b, "CORE-AGG-001", Outcome::Passed);
    let Outcome::UnexpectedPass {
        reason,
        by: ExpectedBy::Baseline,
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert!(outcome.is_failure());
    assert!(fixed_message(reason).starts_with("fixed: remove it from the baseline"));
}

#[test]
fn a_listed_case_that_fails_otherwise_fails_saying_what_was_expected_and_what_came() {
    let b = baseline();
    let Outcome::Failed(f) = judge(
        &b,
        "CORE-AGG-001",
        Outcome::Failed(sqlstate_failure("42P01")),
    ) else {
        panic!("another error is a failure");
    };
    assert!(
        f.message.contains(
            "the baseline expects it to fail with SQLSTATE 42883; it failed with SQLSTATE 42P01"
        ),
        "{}",
        f.message
    );
    // A diff entry holds the failure to its line.
    let differs = |line: &str| Failure {
        diff: Some(format!(
            "--- expected\n+++ actual\n@@ -1 +1 @@\n{line}\n+1.6\n"
        )),
        ..Failure::new("the result differs")
    };
    assert!(matches!(
        judge(&b, "CORE-AGG-002", Outcome::Failed(differs("-1.5"))),
        Outcome::ExpectedFailure { .. }
    ));
    assert!(matches!(
        judge(&b, "CORE-AGG-002", Outcome::Failed(differs("-2.5"))),
        Outcome::Failed(_)
    ));
}

#[test]
fn an_unlisted_failure_fails_as_usual_and_other_verdicts_pass_through() {
    let b = baseline();
    let failure = sqlstate_failure("42883");
    assert_eq!(
        judge(&b, "CORE-AGG-999", Outcome::Failed(failure.clone())),
        Outcome::Failed(failure.clone())
    );
    // The cell is part of the key: the entry is postgresql's, not mysql's.
    assert_eq!(
        b.judge(
            "mysql",
            "CORE-AGG-001",
            Outcome::Failed(failure.clone()),
            |f| Seen::of(f, &[])
        ),
        Outcome::Failed(failure)
    );
    let skipped = Outcome::Skipped("no cursors".into());
    assert_eq!(judge(&b, "CORE-AGG-001", skipped.clone()), skipped);
}

#[test]
fn infrastructure_failures_and_timeouts_are_never_absorbed() {
    let b = baseline();
    for failure in [
        Failure::infrastructure("cannot connect to postgres://127.0.0.1:5432"),
        Failure::timeout("step timed out after 30s"),
    ] {
        let Outcome::Failed(f) = judge(&b, "CORE-AGG-001", Outcome::Failed(failure)) else {
            panic!("absorbed");
        };
        assert!(
            f.message.contains("is never a known failure"),
            "{}",
            f.message
        );
    }
}

#[test]
fn the_file_reads_back_with_reasons_comments_and_a_canonical_order() {
    let b = baseline();
    assert_eq!(b.server, "heliosdb-nano");
    assert_eq!(b.version.as_deref(), Some("4.41.1"));
    assert_eq!(b.head_comments, vec!["# Reviewed by the storage team."]);
    assert_eq!(b.tail_comments, vec!["# the end"]);
    let agg1 = b.entry("postgresql", "CORE-AGG-001").expect("listed");
    assert_eq!(
        agg1.comments,
        vec!["# variance() is on the roadmap (ticket 12)."]
    );
    let agg2 = b.entry("postgresql", "CORE-AGG-002").expect("listed");
    assert_eq!(agg2.expected, Signature::Diff("-1.5".into()));
    assert_eq!(agg2.reason, "");
    assert_eq!(agg2.comments, vec!["# numeric division"]);
    let types = b
        .entry("postgresql/psycopg2", "CORE-TYPES-004")
        .expect("listed");
    assert_eq!(types.reason, "psycopg2 folds names\nto lower case");
    assert_eq!(types.comments, vec!["# gone soon"]);
    // What it writes reads back as the same baseline (lines aside).
    let again = file::parse(&b.to_yaml(), "again.yaml").expect("reads back");
    let lines_aside = |b: &Baseline| {
        let mut b = b.clone();
        b.entries.values_mut().for_each(|e| e.line = 0);
        b
    };
    assert_eq!(lines_aside(&again), lines_aside(&b));
    assert_eq!(again.to_yaml(), b.to_yaml(), "a rewrite is stable");
}

fn finished(cell: &str, id: &str, outcome: Outcome) -> (Arc<CaseInfo>, Outcome) {
    let (protocol, driver) = match cell.split_once('/') {
        Some((p, d)) => (p, Some(d.to_string())),
        None => (cell, None),
    };
    let info = CaseInfo {
        protocol: protocol.into(),
        driver,
        tier: Tier::Gold,
        suite: "core".into(),
        source: "specs/core.yaml".into(),
        id: id.into(),
        name: "a case".into(),
        line: 3,
        priority: Priority::P0,
        protocol_priority: Priority::P0,
    };
    (Arc::new(info), outcome)
}

#[test]
fn a_rewrite_keeps_reasons_and_comments_of_what_still_fails_and_drops_what_passes() {
    let previous = baseline();
    let differs = Failure {
        diff: Some("--- expected\n+++ actual\n@@ -1 +1 @@\n-1.5\n+1.6\n".into()),
        ..Failure::new("the result differs")
    };
    let run = vec![
        // Still failing, with another error now: the reason and comment stay.
        finished(
            "postgresql",
            "CORE-AGG-001",
            Outcome::Failed(sqlstate_failure("42P01")),
        ),
        finished("postgresql", "CORE-AGG-002", Outcome::Passed),
        finished(
            "postgresql",
            "CORE-NEW-001",
            Outcome::Failed(differs.clone()),
        ),
        finished(
            "postgresql",
            "CORE-DOWN-001",
            Outcome::Failed(Failure::infrastructure("connection refused")),
        ),
        finished(
            "postgresql",
            "CORE-X-001",
            Outcome::Failed(sqlstate_failure("42883")),
        ),
    ];
    // postgresql/psycopg2 did not run: its entry stays as it was.
    let cells = Cells::without_protocols(&[("postgresql", "CORE-X-001")]);
    let taken = take(
        "heliosdb-nano",
        Some("4.42.0".into()),
        Some(&previous),
        &run,
        &cells,
    );
    let b = &taken.baseline;
    assert_eq!(b.version.as_deref(), Some("4.42.0"));
    let keys: Vec<(&str, &str)> = b
        .entries
        .keys()
        .map(|(c, k)| (c.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("postgresql", "CORE-AGG-001"),
            ("postgresql", "CORE-NEW-001"),
            ("postgresql/psycopg2", "CORE-TYPES-004"),
        ]
    );
    let agg1 = b.entry("postgresql", "CORE-AGG-001").expect("kept");
    assert_eq!(agg1.reason, "the server has no variance() aggregate");
    assert_eq!(agg1.expected, Signature::Error("SQLSTATE 42P01".into()));
    assert_eq!(
        agg1.comments,
        vec!["# variance() is on the roadmap (ticket 12)."]
    );
    let new = b.entry("postgresql", "CORE-NEW-001").expect("added");
    assert_eq!(
        (new.expected.clone(), new.reason.as_str()),
        (Signature::Diff("-1.5".into()), "")
    );
    assert_eq!(
        (taken.added, taken.kept, taken.dropped),
        (1, 2, 1),
        "{:?}",
        taken.notes
    );
    assert!(
        taken
            .notes
            .iter()
            .any(|n| n == "postgresql CORE-AGG-002: dropped from the baseline: it passed"),
        "{:?}",
        taken.notes
    );
    assert!(
        taken.notes.iter().any(|n| n.contains("CORE-AGG-001: now fails with SQLSTATE 42P01 (was SQLSTATE 42883)")),
        "{:?}",
        taken.notes
    );
    // Neither an infrastructure failure nor a case the specs xfail is written.
    assert_eq!(taken.unabsorbed.len(), 2, "{:?}", taken.unabsorbed);
    assert!(taken.unabsorbed[0].contains("CORE-DOWN-001: could not run: connection refused"));
    assert!(taken.unabsorbed[1].contains("CORE-X-001: its xfail in the specs does not hold"));

    let text = b.to_yaml();
    assert!(
        text.starts_with(
            "# helios-matrix baseline: failures expected of one server, each with why. See docs/baselines.md.\n# Reviewed by the storage team.\nserver: heliosdb-nano\nversion: \"4.42.0\"\nentries:\n  # variance() is on the roadmap (ticket 12).\n  - cell: postgresql\n    case: CORE-AGG-001\n    error: SQLSTATE 42P01\n    reason: the server has no variance() aggregate\n  - cell: postgresql\n    case: CORE-NEW-001\n    diff: \"-1.5\"\n    reason:\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("# the end\n"), "{text}");
}

#[test]
fn a_malformed_file_is_reported_with_file_line_and_column() {
    let bad = "\
server: heliosdb-nano
entries:
  - cell: postgresql
    case: CORE-AGG-001
    eror: SQLSTATE 42883
  - cell: postgresql
    case: CORE-AGG-001
    error: SQLSTATE 42883
    diff: \"-1\"
";
    let Err(invalid) = file::parse(bad, "baselines/bad.yaml") else {
        panic!("a malformed baseline was read");
    };
    let report = &invalid.report;
    assert!(
        report.contains("baselines/bad.yaml:5:5: unknown key `eror` in a baseline entry"),
        "{report}"
    );
    assert!(
        report.contains("baselines/bad.yaml:3:5: a baseline entry states the failure it expects"),
        "{report}"
    );
    assert!(
        report.contains("baselines/bad.yaml:9:5: an entry states one failure"),
        "{report}"
    );
    assert!(report.contains("did you mean `error`?"), "{report}");
    assert_eq!(invalid.errors, 3, "{report}");

    let Err(syntax) = file::parse("server: [x\n", "b.yaml") else {
        panic!("read");
    };
    assert!(syntax.report.contains("b.yaml:"), "{}", syntax.report);
    let Err(duplicate) = file::parse(
        "server: s\nentries:\n  - {cell: c, case: A, error: x}\n  - {cell: c, case: A, error: y}\n",
        "d.yaml",
    ) else {
        panic!("read");
    };
    assert!(
        duplicate
            .report
            .contains("d.yaml:4:21: a second entry for case `A` in cell `c`"),
        "{}",
        duplicate.report
    );
}

#[test]
fn the_version_note_says_when_the_run_is_on_another_version() {
    let b = baseline();
    let note =
        |name, version| version_note(&b.server, b.version.as_deref(), RunServer { name, version });
    assert_eq!(note(Some("heliosdb-nano"), Some("4.41.1")), None);
    assert_eq!(
        note(None, Some("4.42.0")).as_deref(),
        Some("baseline taken on heliosdb-nano 4.41.1; this run: 4.42.0")
    );
    assert_eq!(
        note(None, None).as_deref(),
        Some("baseline taken on heliosdb-nano 4.41.1; this run: version unknown")
    );
    assert_eq!(
        note(Some("reference"), Some("4.41.1")).as_deref(),
        Some("baseline taken on heliosdb-nano 4.41.1; this run: reference 4.41.1")
    );
    assert_eq!(version_note("nano", None, RunServer::default()), None);
}
