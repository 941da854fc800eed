//! Comparing what a step got with what its spec expected: server errors here, a result's
//! rows, column types and cursor batches in `rows`; the checks of a step's whole answer,
//! each failing one reported with the key it checks, in `query` (a query's result) and
//! `vector` (a vector operation's answer); whether a JSON answer contains what a step
//! expects of it, for `http` steps and vector checks alike, in [`json`].

pub mod json;
mod query;
mod rows;
mod vector;

use regex::Regex;

use crate::exec::DbError;
use crate::registry::ErrorExpect;

pub(super) use query::result_failures;
pub use rows::{RowsDiffer, batches, rows, types};
pub(super) use vector::check_vector;

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
    let exception_ok = expect
        .exception
        .as_ref()
        .is_none_or(|e| actual.exception.as_deref() == Some(e.as_str()));
    sqlstate_ok && code_ok && message_ok && exception_ok
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_match_by_code_sqlstate_and_message() {
        let err = DbError {
            sqlstate: Some("23505".into()),
            code: Some("1062".into()),
            message: "Duplicate entry '1' for key 'PRIMARY'".into(),
            ..DbError::default()
        };
        let by = |s: Option<&str>, c: Option<&str>, m: Option<&str>| ErrorExpect {
            class: None,
            sqlstate: s.map(Into::into),
            code: c.map(Into::into),
            message: m.map(Into::into),
            exception: None,
        };
        assert!(error_matches(&by(Some("23505"), None, None), &err));
        assert!(error_matches(&by(None, Some("1062"), None), &err));
        assert!(error_matches(&by(None, None, Some("(?i)duplicate")), &err));
        assert!(error_matches(&ErrorExpect::default(), &err));
        assert!(!error_matches(&by(Some("42601"), None, None), &err));
        assert!(!error_matches(&by(None, Some("1064"), None), &err));
        // The driver's exception class, when a driver reported one, matched exactly.
        let exception = |e: &str| ErrorExpect {
            exception: Some(e.into()),
            ..ErrorExpect::default()
        };
        assert!(!error_matches(
            &exception("pymysql.err.IntegrityError"),
            &err
        ));
        let from_driver = DbError {
            exception: Some("pymysql.err.IntegrityError".into()),
            ..err.clone()
        };
        assert!(error_matches(
            &exception("pymysql.err.IntegrityError"),
            &from_driver
        ));
        assert!(!error_matches(
            &exception("pymysql.err.ProgrammingError"),
            &from_driver
        ));
    }
}
