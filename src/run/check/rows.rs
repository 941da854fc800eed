//! A result's rows, column types and cursor batches against the expected ones, and the
//! diff and notes that show how they differ.

use super::diff;
use crate::exec::{Batches, Column, Row};
use crate::step::{Fetch, Sort};
use crate::value::{Comparison, Mismatch, Scalar, SortKey, TypeClass, Value, compare};

/// A string that would read as another type in a diff line is shown quoted, so `"100"`
/// and `100` differ on the page as they do in the comparison.
fn shown(text: &str) -> String {
    let ambiguous = text.parse::<f64>().is_ok()
        || matches!(text, "true" | "false" | "NULL")
        || text.is_empty()
        || text.trim() != text;
    if ambiguous {
        format!("{text:?}")
    } else {
        text.to_string()
    }
}

fn expected_cell(cell: &Scalar) -> String {
    match cell {
        Scalar::Text(t) => shown(t),
        other => other.display_text(),
    }
}

fn actual_cell(cell: &Value) -> String {
    match cell {
        Value::Text(t) => shown(t),
        other => other.canonical_text(),
    }
}

/// One side of a comparison, as the lines a diff shows.
fn expected_line(row: &[Scalar]) -> String {
    row.iter()
        .map(expected_cell)
        .collect::<Vec<_>>()
        .join(" | ")
}

fn actual_line(row: &[Value]) -> String {
    row.iter().map(actual_cell).collect::<Vec<_>>().join(" | ")
}

fn row_matches(expected: &[Scalar], actual: &[Value], cells: Comparison) -> bool {
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual)
            .all(|(e, a)| compare(e, a, cells).is_ok())
}

/// For every cell whose expectation cannot match its value's type at all, a line naming
/// both types: the part of a failure a diff of texts cannot show.
fn type_notes(
    expected: &[Vec<Scalar>],
    actual: &[Row],
    columns: &[Column],
    cells: Comparison,
) -> Vec<String> {
    let mut notes = Vec::new();
    for (r, (e_row, a_row)) in expected.iter().zip(actual).enumerate() {
        for (c, (e, a)) in e_row.iter().zip(a_row).enumerate() {
            if let Err(Mismatch::Type { expected, actual }) = compare(e, a, cells) {
                let column = columns.get(c).map_or_else(
                    || format!("column {}", c + 1),
                    |col| format!("column `{}` ({})", col.name, col.native),
                );
                notes.push(format!(
                    "row {}, {column}: {expected} ({}) was expected, the server sent {} {actual} value",
                    r + 1,
                    expected_cell(e),
                    article(actual.as_str())
                ));
            }
        }
    }
    notes
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Why rows differ: a unified diff (expected → actual) and the type mismatches in it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowsDiffer {
    pub diff: String,
    pub notes: Vec<String>,
}

/// Compares rows; on a mismatch returns the diff and notes naming mismatched types.
pub fn rows(
    expected: &[Vec<Scalar>],
    actual: &[Row],
    columns: &[Column],
    sort: Sort,
    cells: Comparison,
) -> Result<(), RowsDiffer> {
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
            .all(|(e, a)| row_matches(e, a, cells));
    if all_match {
        return Ok(());
    }
    // Rows that match are shown identically on both sides, so the diff shows only real changes.
    let mut left = Vec::with_capacity(expected.len());
    let mut right = Vec::with_capacity(actual.len());
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if row_matches(e, a, cells) => {
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
    // Sorting by values loses the columns; the notes then cannot name them.
    let columns = if sort == Sort::Values {
        &[][..]
    } else {
        columns
    };
    Err(RowsDiffer {
        diff: diff(&left, &right),
        notes: type_notes(&expected, &actual, columns, cells),
    })
}

/// Checks the columns' portable type classes against `types:`.
pub fn types(expected: &[TypeClass], columns: &[Column]) -> Result<(), String> {
    let described =
        columns.len() == expected.len() && expected.iter().zip(columns).all(|(e, c)| *e == c.class);
    if described {
        return Ok(());
    }
    if columns.is_empty() {
        return Err(
            "the column types are unknown: the executor could not describe this result (no rows came back to read them from)"
                .to_string(),
        );
    }
    let want = expected.iter().map(|c| c.as_str()).collect::<Vec<_>>();
    let got = columns
        .iter()
        .map(|c| format!("{} ({})", c.class, c.native))
        .collect::<Vec<_>>();
    Err(format!(
        "the column types differ\n{}",
        diff(&[want.join(" | ")], &[got.join(" | ")])
    ))
}

fn keys_s(row: &[Scalar]) -> Vec<SortKey> {
    row.iter().map(SortKey::of_scalar).collect()
}

fn keys_v(row: &[Value]) -> Vec<SortKey> {
    row.iter().map(SortKey::of_value).collect()
}

/// Checks the batches a cursor returned against the listed batch checks.
pub fn batches(fetch: &Fetch, got: &Batches, cells: Comparison) -> Result<(), String> {
    for (index, check) in fetch.batches.iter().enumerate() {
        let Some(batch) = got.batches.get(index) else {
            return Err(format!(
                "batch {} was expected but the cursor returned only {} batch(es)",
                index + 1,
                got.batches.len()
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
            let Some(row) = batch.first() else {
                return Err(format!("batch {} is empty", index + 1));
            };
            if let Err(d) = rows(
                std::slice::from_ref(first),
                std::slice::from_ref(row),
                &got.columns,
                Sort::None,
                cells,
            ) {
                let mut message =
                    format!("batch {} starts with the wrong row\n{}", index + 1, d.diff);
                for note in d.notes {
                    message.push_str(&format!("\n{note}"));
                }
                return Err(message);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Compare;

    const TYPED: Comparison = Comparison {
        tolerance: None,
        mode: Compare::Typed,
    };

    fn e(v: &[&[Scalar]]) -> Vec<Vec<Scalar>> {
        v.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn sorted_comparisons() {
        let expected = e(&[&[Scalar::Int(2)], &[Scalar::Int(1)]]);
        let actual = vec![vec![Value::Int(1)], vec![Value::Int(2)]];
        assert!(rows(&expected, &actual, &[], Sort::None, TYPED).is_err());
        assert!(rows(&expected, &actual, &[], Sort::Rows, TYPED).is_ok());
        let expected = e(&[&[Scalar::Int(2), Scalar::Int(1)]]);
        let actual = vec![vec![Value::Int(1), Value::Int(2)]];
        assert!(rows(&expected, &actual, &[], Sort::Values, TYPED).is_ok());
    }

    #[test]
    fn a_type_mismatch_names_both_types() {
        let columns = [Column::new("value", TypeClass::Integer, "INT4")];
        let got = rows(
            &e(&[&[Scalar::Text("100".into())]]),
            &[vec![Value::Int(100)]],
            &columns,
            Sort::None,
            TYPED,
        )
        .expect_err("a string never matches an integer column");
        assert!(got.diff.contains("-\"100\""), "{}", got.diff);
        assert!(got.diff.contains("+100"), "{}", got.diff);
        assert_eq!(
            got.notes,
            vec![
                "row 1, column `value` (INT4): a string (\"100\") was expected, the server sent an integer value"
            ]
        );
        let columns = [Column::new("name", TypeClass::Text, "VARCHAR")];
        let got = rows(
            &e(&[&[Scalar::Int(100)]]),
            &[vec![Value::Text("100".into())]],
            &columns,
            Sort::None,
            TYPED,
        )
        .expect_err("an integer never matches a text column");
        assert_eq!(
            got.notes,
            vec![
                "row 1, column `name` (VARCHAR): an integer (100) was expected, the server sent a text value"
            ]
        );
    }

    #[test]
    fn types_are_checked_per_column() {
        let columns = [
            Column::new("a", TypeClass::Integer, "INT4"),
            Column::new("b", TypeClass::Text, "TEXT"),
        ];
        assert!(types(&[TypeClass::Integer, TypeClass::Text], &columns).is_ok());
        let e = types(&[TypeClass::Integer, TypeClass::Integer], &columns).expect_err("differs");
        assert!(e.contains("+integer (INT4) | text (TEXT)"), "{e}");
        assert!(types(&[TypeClass::Integer], &[]).is_err());
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
        let d = rows(&expected, &actual, &[], Sort::None, TYPED)
            .expect_err("differs")
            .diff;
        assert!(d.contains("-Bob | 1"), "{d}");
        assert!(d.contains("+Bob | 2"), "{d}");
        assert!(d.contains(" Alice | 100"), "{d}");
    }
}
