//! Source files and locations inside them.
//!
//! Every located thing in the pipeline (a YAML node, a step, a diagnostic) carries a [`Span`]:
//! a file id plus a byte range and the human line/column of its start. The [`SourceMap`] owns
//! the text so diagnostics can show the offending snippet long after parsing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A located range of source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: u32,
    /// 1-based column (in characters) of `start`.
    pub col: u32,
}

/// One loaded file.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user will recognise it (`specs/core/types.yaml`).
    pub display: String,
    /// The path relative to the spec root (`core/types.yaml`).
    pub relative: PathBuf,
    pub text: Arc<str>,
}

/// All files read during a run.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, display: String, relative: PathBuf, text: Arc<str>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile {
            display,
            relative,
            text,
        });
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn display(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", |f| f.display.as_str())
    }

    /// `file:line` of a span, the form failures and generated scripts use.
    pub fn location(&self, span: Span) -> String {
        format!("{}:{}", self.display(span.file), span.line)
    }
}

/// How a spec root is shown in messages and generated files: as given when relative, so output
/// does not depend on where the repository is checked out.
pub fn display_root(root: &Path) -> String {
    let shown = if root.is_absolute() {
        root.file_name().map(PathBuf::from).unwrap_or_default()
    } else {
        root.components().collect::<PathBuf>()
    };
    let text = shown.to_string_lossy().replace('\\', "/");
    text.trim_end_matches('/').to_string()
}

/// The file behind a display path made by [`join_display`] from `root`'s display root
/// (`specs/core/types.yaml` → `root/core/types.yaml`).
pub fn file_of(root: &Path, display: &str) -> PathBuf {
    let shown = display_root(root);
    let relative = if shown.is_empty() || shown == "." {
        Some(display)
    } else {
        display
            .strip_prefix(shown.as_str())
            .and_then(|r| r.strip_prefix('/'))
    };
    root.join(relative.unwrap_or(display))
}

/// Joins a display root and a relative path with `/`, whatever the platform.
pub fn join_display(root: &str, relative: &Path) -> String {
    let rel = relative.to_string_lossy().replace('\\', "/");
    if root.is_empty() || root == "." {
        rel
    } else {
        format!("{root}/{rel}")
    }
}
