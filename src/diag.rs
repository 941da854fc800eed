//! Diagnostics: located errors and warnings about specs, rendered with miette.
//!
//! Loading never stops at the first problem: every stage pushes into a [`Diagnostics`]
//! collector, and the CLI prints them all before exiting with code 2.

use std::fmt;

use miette::{LabeledSpan, NamedSource, Severity, SourceSpan};

use crate::source::{SourceMap, Span};

/// One problem found in the specs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub severity: Level,
    pub span: Option<Span>,
    pub message: String,
    pub label: Option<String>,
    pub help: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// Collects diagnostics; de-duplicates the ones found again when a node is re-checked under
/// several labels.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diag>,
}

impl Diagnostics {
    pub fn error(&mut self, span: Span, message: impl Into<String>) -> &mut Diag {
        self.push(Level::Error, Some(span), message.into())
    }

    pub fn warning(&mut self, span: Span, message: impl Into<String>) -> &mut Diag {
        self.push(Level::Warning, Some(span), message.into())
    }

    /// An error that belongs to no place in a file (a missing directory, say).
    pub fn error_unlocated(&mut self, message: impl Into<String>) -> &mut Diag {
        self.push(Level::Error, None, message.into())
    }

    fn push(&mut self, severity: Level, span: Option<Span>, message: String) -> &mut Diag {
        let diag = Diag {
            severity,
            span,
            message,
            label: None,
            help: None,
        };
        let index = match self
            .items
            .iter()
            .position(|d| d.span == diag.span && d.message == diag.message)
        {
            Some(existing) => existing,
            None => {
                self.items.push(diag);
                self.items.len() - 1
            }
        };
        &mut self.items[index]
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Level::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Level::Error)
            .count()
    }

    pub fn items(&self) -> &[Diag] {
        &self.items
    }

    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            let pushed = self.push(d.severity, d.span, d.message);
            pushed.label = d.label;
            pushed.help = d.help;
        }
    }

    /// Sorts by file and position so output is stable whatever order stages ran in.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| {
            d.span
                .map(|s| (0, s.file, s.start, s.end))
                .unwrap_or((1, Default::default(), 0, 0))
        });
    }

    /// Renders every diagnostic as miette reports (file, line, column and snippet).
    pub fn render(&self, sources: &SourceMap) -> String {
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .with_context_lines(1);
        let mut out = String::new();
        for diag in &self.items {
            let report = ReportView::new(diag, sources);
            if handler.render_report(&mut out, &report).is_err() {
                out.push_str(&diag.message);
                out.push('\n');
            }
        }
        out
    }
}

impl Diag {
    pub fn label(&mut self, label: impl Into<String>) -> &mut Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }
}

/// Adapts a [`Diag`] to miette's `Diagnostic` trait for rendering.
struct ReportView {
    message: String,
    severity: Severity,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
}

impl ReportView {
    fn new(diag: &Diag, sources: &SourceMap) -> Self {
        let mut source = None;
        let mut labels = Vec::new();
        let mut message = diag.message.clone();
        if let Some(span) = diag.span
            && let Some(file) = sources.get(span.file)
        {
            source = Some(NamedSource::new(
                file.display.clone(),
                file.text.to_string(),
            ));
            let len = span.end.saturating_sub(span.start).max(1);
            let len = len.min(file.text.len().saturating_sub(span.start));
            labels.push(LabeledSpan::new_with_span(
                diag.label.clone().or_else(|| Some("here".to_string())),
                SourceSpan::new(span.start.into(), len),
            ));
            // The location also goes in the message itself, so it survives any renderer.
            message = format!("{}:{}:{}: {}", file.display, span.line, span.col, message);
        }
        Self {
            message,
            severity: match diag.severity {
                Level::Error => Severity::Error,
                Level::Warning => Severity::Warning,
            },
            help: diag.help.clone(),
            source,
            labels,
        }
    }
}

impl fmt::Debug for ReportView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for ReportView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReportView {}

impl miette::Diagnostic for ReportView {
    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
}

/// Suggests the closest known name, for "did you mean" help.
pub fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(unknown, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}
