//! What several test binaries share.

use quick_junit::{NonSuccessKind, TestCaseStatus};

/// A JUnit case's verdict in one word: pass, failure, error, xfail or skipped.
pub fn status_kind(status: &TestCaseStatus) -> &'static str {
    match status {
        TestCaseStatus::Success { .. } => "pass",
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            ..
        } => "failure",
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            ..
        } => "error",
        TestCaseStatus::Skipped { ty, .. } => match ty.as_ref().map(|t| t.as_str()) {
            Some("xfail") => "xfail",
            _ => "skipped",
        },
    }
}
