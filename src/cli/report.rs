//! `helios-matrix report`: `merge` makes the JUnit reports of a sharded run one, and gates;
//! `html` and `markdown` show the matrix they hold.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{EXIT_CODES, exit, parse_priority};
use crate::registry::Priority;
use crate::report::{matrix, merge, pages};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the JUnit reports of `run --shard K/N --junit …` (one per CI job) into one:
    /// suites of the same name become one, in the order they are first seen; totals are
    /// recomputed. Then gate on the whole as `run` does, printing its verdict line.
    #[command(after_help = EXIT_CODES)]
    Merge(MergeArgs),
    /// Write the matrix as one self-contained page, DIR/index.html (no scripts, no
    /// fetches): a row per protocol, a column per executor or driver, each cell's counts
    /// and colour, the gate verdict per tier; under it every cell's cases with verdict,
    /// time and spec file:line, and for failures the SQL as sent and the expected-vs-actual
    /// diff. With --baseline, cases that regressed, were fixed or changed are marked.
    /// Exit 0 when written, whatever the verdicts (`report merge` gates).
    #[command(after_help = EXIT_CODES)]
    Html(HtmlArgs),
    /// Print (or write) the matrix as Markdown, sized for a CI job summary or a pull
    /// request comment: gate verdicts, the table of cells, then the changed and failing
    /// cases (the first 25 of each).
    #[command(after_help = EXIT_CODES)]
    Markdown(MarkdownArgs),
}

/// What the pages are made of.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// JUnit reports written by `helios-matrix run --junit` (several: the shards of one
    /// run, merged as `report merge` does).
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// A report of an earlier run: cases whose verdict changed since are marked.
    #[arg(long, value_name = "REPORT")]
    pub baseline: Option<PathBuf>,
    /// The gate the verdicts are shown against (p0, p1, p2; comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_priority, default_value = "p0", value_name = "PRIORITIES")]
    pub gate: Vec<Priority>,
}

#[derive(Debug, Args)]
pub struct HtmlArgs {
    #[command(flatten)]
    pub matrix: MatrixArgs,
    /// The directory the page is written to, as index.html.
    #[arg(short, long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct MarkdownArgs {
    #[command(flatten)]
    pub matrix: MatrixArgs,
    /// Write here (e.g. $GITHUB_STEP_SUMMARY) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The JUnit reports to merge, written by `helios-matrix run --junit`.
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// Write the merged JUnit report here (whole, atomically, even when the gate fails).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The quality gate: failures of cases with these priorities (from each case's
    /// `priority` property) fail the merge (exit 1); others are reported only.
    #[arg(long, value_delimiter = ',', value_parser = parse_priority, default_value = "p0", value_name = "PRIORITIES")]
    pub gate: Vec<Priority>,
}

pub fn command(args: &ReportArgs) -> u8 {
    match &args.command {
        ReportCommand::Merge(merge_args) => merge_command(merge_args),
        ReportCommand::Html(html) => html_command(html),
        ReportCommand::Markdown(md) => markdown_command(md),
    }
}

fn load(args: &MatrixArgs) -> Result<matrix::Matrix, u8> {
    matrix::from_files(&args.reports, args.baseline.as_deref(), &args.gate).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })
}

fn html_command(args: &HtmlArgs) -> u8 {
    let m = match load(&args.matrix) {
        Ok(m) => m,
        Err(code) => return code,
    };
    write_page(
        &m,
        &args.matrix.reports,
        args.matrix.baseline.as_deref(),
        &args.out,
    )
}

/// Renders and writes the page; the exit code. Shared with `run --html`.
pub(super) fn write_page(
    m: &matrix::Matrix,
    inputs: &[PathBuf],
    baseline: Option<&Path>,
    dir: &Path,
) -> u8 {
    let page = match pages::html(m, inputs, baseline) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot render the report: {e}");
            return exit::IO;
        }
    };
    match pages::write_html(dir, &page) {
        Ok(path) => {
            eprintln!("HTML report: {}", path.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", dir.display());
            exit::IO
        }
    }
}

fn markdown_command(args: &MarkdownArgs) -> u8 {
    let m = match load(&args.matrix) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let text = match pages::markdown(&m) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot render the report: {e}");
            return exit::IO;
        }
    };
    match &args.out {
        None => {
            print!("{text}");
            exit::OK
        }
        Some(path) => match crate::files::write_atomically(path, text.as_bytes()) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                exit::IO
            }
        },
    }
}

fn merge_command(args: &MergeArgs) -> u8 {
    // An input that cannot be read or parsed is a usage error: nothing is merged.
    let merged = match args
        .reports
        .iter()
        .map(|p| merge::read(p))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|inputs| merge::merge(&inputs))
    {
        Ok(merged) => merged,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    for d in &merged.duplicates {
        eprintln!("warning: {d} (overlapping shards?)");
    }
    let mut out = String::new();
    if !merged.failures.is_empty() {
        out.push_str(&format!("{} failing case(s):\n", merged.failures.len()));
        for f in &merged.failures {
            out.push_str(&format!("  {f}\n"));
        }
        out.push('\n');
    }
    out.push_str(&merged.tally.summary(&args.gate));
    println!("{out}");
    let mut code = if merged.tally.gate_failures(&args.gate) > 0 {
        exit::FAILED
    } else {
        exit::OK
    };
    if let Some(path) = &args.out {
        let written = merged
            .report
            .to_string()
            .map_err(std::io::Error::other)
            .and_then(|xml| crate::files::write_atomically(path, xml.as_bytes()));
        match written {
            Ok(()) => eprintln!(
                "merged {} report(s) into {}",
                args.reports.len(),
                path.display()
            ),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                code = exit::IO;
            }
        }
    }
    code
}
