//! A query's result against its step's checks: column names, column types, row count and
//! rows, typed, as text or as sqllogictest prints them.

use super::diff;
use crate::exec::ResultSet;
use crate::run::sqllogictest;
use crate::run::{Failure, Key};
use crate::step::Query;
use crate::value::{Compare, Comparison};

/// Every check of a query's result that fails, in the order they are reported, each with
/// the key it checks: `record` rewrites exactly those keys.
pub(in crate::run) fn result_failures(
    q: &Query,
    rs: &ResultSet,
    cells: Comparison,
) -> Vec<(Key, Failure)> {
    if q.compare == Compare::Sqllogictest {
        return sqllogictest_failures(q, rs);
    }
    let mut out = Vec::new();
    if let Some(columns) = &q.columns {
        let got = rs.column_names();
        if columns != &got {
            let failure = Failure {
                message: "the column names differ".to_string(),
                diff: Some(diff(&[columns.join(" | ")], &[got.join(" | ")])),
                ..Failure::default()
            };
            out.push((Key::Columns, failure));
        }
    }
    if let Some(types) = &q.types
        && let Err(message) = super::types(types, &rs.columns)
    {
        out.push((Key::Types, Failure::new(message)));
    }
    if let Some(failure) = row_count_failure(q, rs) {
        out.push((Key::RowCount, failure));
    }
    if let Some(rows) = &q.rows
        && let Err(differ) = super::rows(rows, &rs.rows, &rs.columns, q.sort, cells)
    {
        let mut message = "the result differs".to_string();
        for note in &differ.notes {
            message.push_str("\n  ");
            message.push_str(note);
        }
        let failure = Failure {
            message,
            diff: Some(differ.diff),
            ..Failure::default()
        };
        out.push((Key::Rows, failure));
    }
    out
}

fn row_count_failure(q: &Query, rs: &ResultSet) -> Option<Failure> {
    let n = q.row_count?;
    (rs.rows.len() as u64 != n).then(|| {
        Failure::new(format!(
            "the query returned {} row(s), expected {n}",
            rs.rows.len()
        ))
    })
}

/// `compare: sqllogictest`: `types:` says how each column prints (by default, the
/// column's own class), `row_count` still counts rows.
fn sqllogictest_failures(q: &Query, rs: &ResultSet) -> Vec<(Key, Failure)> {
    let mut out = Vec::new();
    // As sqllogictest's runners do, a result with another number of columns than the
    // type string has letters is wrong whatever its values.
    if let Some(types) = &q.types
        && !rs.columns.is_empty()
        && rs.columns.len() != types.len()
    {
        let failure = Failure::new(format!(
            "the query returned {} column(s), its `types` name {}",
            rs.columns.len(),
            types.len()
        ));
        out.push((Key::Types, failure));
        return out;
    }
    if let Some(failure) = row_count_failure(q, rs) {
        out.push((Key::RowCount, failure));
    }
    let checked = sqllogictest::check(
        &rs.rows,
        &sqllogictest::letters(q, rs),
        q.sort,
        q.rows.as_deref(),
        q.rows_hash.as_ref(),
    );
    if let Err(d) = checked {
        let failure = Failure {
            message: d.message,
            diff: Some(diff(&d.expected, &d.actual)),
            ..Failure::default()
        };
        let key = if q.rows_hash.is_some() {
            Key::RowsHash
        } else {
            Key::Rows
        };
        out.push((key, failure));
    }
    out
}
