//! What several test binaries share. Each binary uses part of it.
#![allow(dead_code)]

pub mod fault;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use quick_junit::{NonSuccessKind, TestCaseStatus};

/// The repository.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary run from the repository with `args`, with no SQLite target from the
/// environment.
pub fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_helios-matrix"))
        .current_dir(root())
        .env_remove("HELIOS_MATRIX_TARGET_SQLITE")
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A spec directory under `dir` with the project's registry and `suite.yaml`.
pub fn specs_with(dir: &Path, suite: &str) -> PathBuf {
    let specs = dir.join("specs");
    std::fs::create_dir_all(&specs).expect("mkdir");
    std::fs::copy(root().join("specs/matrix.yaml"), specs.join("matrix.yaml")).expect("registry");
    std::fs::write(specs.join("suite.yaml"), suite).expect("suite");
    specs
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn arg(p: &Path) -> &str {
    p.to_str().expect("utf8")
}

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
