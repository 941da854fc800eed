//! Comparing what a step got with what its spec expected.

use regex::Regex;

use crate::exec::{DbError, Row};
use crate::plan::{ErrorExpect, Fetch, Sort};
use crate::value::{Scalar, SortKey, Value, matches};

/// Does a server error satisfy the expectation?
pub fn error_matches(expect: &ErrorExpect, actual: &DbError) -> bool {
    let sqlstate_ok = expect.sqlstate.as_ref().is_none_or(|s| {
        actual
            .sqlstate
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(s))
    });
    let code_ok = expect.code.as_ref().is_none_or(|c| {
        actual
            .code
            .as_deref()
            .is_some_and(|a| a == c || a.trim_start_matches('0') == c.trim_start_matches('0'))
    });
    let message_ok = expect
        .message
        .as_ref()
        .is_none_or(|m| Regex::new(m).is_ok_and(|re| re.is_match(&actual.message)));
    sqlstate_ok && code_ok && message_ok
}

/// One side of a comparison, as the lines a diff shows.
fn expected_line(row: &[Scalar]) -> String {
    row.iter()
        .map(Scalar::display_text)
        .collect::<Vec<_>>()
        .join(" | ")
}

fn actual_line(row: &[Value]) -> String {
    row.iter()
        .map(Value::canonical_text)
        .collect::<Vec<_>>()
        .join(" | ")
}

fn row_matches(expected: &[Scalar], actual: &[Value], tolerance: f64) -> bool {
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(e, a)| matches(e, a, tolerance))
}

/// Compares rows; on a mismatch returns a unified diff (expected → actual).
pub fn rows(
    expected: &[Vec<Scalar>],
    actual: &[Row],
    sort: Sort,
    tolerance: f64,
) -> Result<(), String> {
    let (expected, actual): (Vec<Vec<Scalar>>, Vec<Row>) = match sort {
        Sort::None => (expected.to_vec(), actual.to_vec()),
        Sort::Rows => {
            let mut e = expected.to_vec();
            let mut a = actual.to_vec();
            e.sort_by(|x, y| SortKey::compare_rows(&keys_s(x), &keys_s(y)));
            a.sort_by(|x, y| SortKey::compare_rows(&keys_v(x), &keys_v(y)));
            (e, a)
        }
        Sort::Values => {
            let mut e: Vec<Scalar> = expected.iter().flatten().cloned().collect();
            let mut a: Vec<Value> = actual.iter().flatten().cloned().collect();
            e.sort_by(|x, y| SortKey::compare(&SortKey::of_scalar(x), &SortKey::of_scalar(y)));
            a.sort_by(|x, y| SortKey::compare(&SortKey::of_value(x), &SortKey::of_value(y)));
            (
                e.into_iter().map(|v| vec![v]).collect(),
                a.into_iter().map(|v| vec![v]).collect(),
            )
        }
    };
    let all_match = expected.len() == actual.len()
        && expected
            .iter()
            .zip(&actual)
            .all(|(e, a)| row_matches(e, a, tolerance));
    if all_match {
        return Ok(());
    }
    // Rows that match are shown identically on both sides, so the diff shows only real changes.
    let mut left = Vec::with_capacity(expected.len());
    let mut right = Vec::with_capacity(actual.len());
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if row_matches(e, a, tolerance) => {
                left.push(actual_line(a));
                right.push(actual_line(a));
            }
            (e, a) => {
                if let Some(e) = e {
                    left.push(expected_line(e));
                }
                if let Some(a) = a {
                    right.push(actual_line(a));
                }
            }
        }
    }
    Err(diff(&left, &right))
}

fn keys_s(row: &[Scalar]) -> Vec<SortKey> {
    row.iter().map(SortKey::of_scalar).collect()
}

fn keys_v(row: &[Value]) -> Vec<SortKey> {
    row.iter().map(SortKey::of_value).collect()
}

/// A unified diff of two line lists.
pub fn diff(expected: &[String], actual: &[String]) -> String {
    let mut left = expected.join("\n");
    let mut right = actual.join("\n");
    left.push('\n');
    right.push('\n');
    similar::TextDiff::from_lines(&left, &right)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}

/// Checks the batches a cursor returned against the listed batch checks.
pub fn batches(fetch: &Fetch, got: &[Vec<Row>], tolerance: f64) -> Result<(), String> {
    for (index, check) in fetch.batches.iter().enumerate() {
        let Some(batch) = got.get(index) else {
            return Err(format!(
                "batch {} was expected but the cursor returned only {} batch(es)",
                index + 1,
                got.len()
            ));
        };
        if let Some(len) = check.len
            && batch.len() as u64 != len
        {
            return Err(format!(
                "batch {} has {} rows, expected {len}",
                index + 1,
                batch.len()
            ));
        }
        if let Some(first) = &check.first {
            match batch.first() {
                Some(row) if row_matches(first, row, tolerance) => {}
                Some(row) => {
                    return Err(format!(
                        "batch {} starts with the wrong row\n{}",
                        index + 1,
                        diff(&[expected_line(first)], &[actual_line(row)])
                    ));
                }
                None => return Err(format!("batch {} is empty", index + 1)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::DEFAULT_TOLERANCE;

    fn e(v: &[&[Scalar]]) -> Vec<Vec<Scalar>> {
        v.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn sorted_comparisons() {
        let expected = e(&[&[Scalar::Int(2)], &[Scalar::Int(1)]]);
        let actual = vec![vec![Value::Int(1)], vec![Value::Int(2)]];
        assert!(rows(&expected, &actual, Sort::None, DEFAULT_TOLERANCE).is_err());
        assert!(rows(&expected, &actual, Sort::Rows, DEFAULT_TOLERANCE).is_ok());
        let expected = e(&[&[Scalar::Int(2), Scalar::Int(1)]]);
        let actual = vec![vec![Value::Int(1), Value::Int(2)]];
        assert!(rows(&expected, &actual, Sort::Values, DEFAULT_TOLERANCE).is_ok());
    }

    #[test]
    fn diff_shows_only_the_changed_row() {
        let expected = e(&[
            &[Scalar::Text("Alice".into()), Scalar::Int(100)],
            &[Scalar::Text("Bob".into()), Scalar::Int(1)],
        ]);
        let actual = vec![
            vec![Value::Text("Alice".into()), Value::Int(100)],
            vec![Value::Text("Bob".into()), Value::Int(2)],
        ];
        let d = rows(&expected, &actual, Sort::None, DEFAULT_TOLERANCE).expect_err("differs");
        assert!(d.contains("-Bob | 1"), "{d}");
        assert!(d.contains("+Bob | 2"), "{d}");
        assert!(d.contains(" Alice | 100"), "{d}");
    }

    #[test]
    fn errors_match_by_code_sqlstate_and_message() {
        let err = DbError {
            sqlstate: Some("23505".into()),
            code: Some("1062".into()),
            message: "Duplicate entry '1' for key 'PRIMARY'".into(),
        };
        let by = |s: Option<&str>, c: Option<&str>, m: Option<&str>| ErrorExpect {
            class: None,
            sqlstate: s.map(Into::into),
            code: c.map(Into::into),
            message: m.map(Into::into),
        };
        assert!(error_matches(&by(Some("23505"), None, None), &err));
        assert!(error_matches(&by(None, Some("1062"), None), &err));
        assert!(error_matches(&by(None, None, Some("(?i)duplicate")), &err));
        assert!(error_matches(&ErrorExpect::default(), &err));
        assert!(!error_matches(&by(Some("42601"), None, None), &err));
        assert!(!error_matches(&by(None, Some("1064"), None), &err));
    }
}
