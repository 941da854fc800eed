//! `helios-matrix compile`: specs → one script per protocol × suite (`--format native`), or
//! one sqllogictest script per exportable case (`--format sqllogictest`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{exit, report_diagnostics};
use crate::diag::Diagnostics;
use crate::render::{self, Layout, Output, RenderError, sqllogictest};
use crate::spec;

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The spec directory (holds matrix.yaml and the suite files).
    #[arg(default_value = "specs")]
    pub specs: PathBuf,
    /// Where the scripts go (default for the native format: `generated`; required for
    /// sqllogictest); scripts no longer produced are removed.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// `native`: helios-matrix's own scripts (`<protocol>/<suite>.hmx`) and manifest.json.
    /// `sqllogictest`: standard sqllogictest scripts for sqllogictest-rs, one per case
    /// (`<protocol>/<suite>/<CASE-ID>.slt`); cases the format cannot express are listed
    /// with the reason in `<protocol>/not-exported.txt` and in the summary.
    #[arg(long, value_enum, default_value_t = Format::Native)]
    pub format: Format,
    /// Write nothing; exit 1 naming each stale, missing or extra file.
    #[arg(long)]
    pub check: bool,
    /// An extra label every protocol carries (for `on`/`only`/`skip`/`xfail`). Repeatable.
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Native,
    Sqllogictest,
}

pub fn command(args: &CompileArgs) -> u8 {
    let (out, layout) = match (args.format, &args.out) {
        (Format::Native, out) => (
            out.clone().unwrap_or_else(|| PathBuf::from("generated")),
            Layout::Native,
        ),
        (Format::Sqllogictest, Some(out)) => (out.clone(), Layout::Sqllogictest),
        (Format::Sqllogictest, None) => {
            eprintln!("error: `--format sqllogictest` needs an output directory: -o DIR");
            return exit::USAGE;
        }
    };
    let out = &out;
    let mut diags = Diagnostics::default();
    let specs = spec::load(&args.specs, &args.labels, &mut diags);
    let output = if args.check {
        Output::check(out, layout)
    } else {
        match Output::write(out, layout) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: cannot write beside {}: {e}", out.display());
                return exit::IO;
            }
        }
    };
    // Scripts are compiled for each protocol's default target and its server labels.
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let compiled = match args.format {
        Format::Native => {
            render::compile_and_render(&specs, &args.labels, jobs, &output, &mut diags)
                .map(|cases| (cases, None))
        }
        Format::Sqllogictest => {
            sqllogictest::compile_and_export(&specs, &args.labels, &output, &mut diags)
                .map(|export| (export.exported(), Some(export)))
                .map_err(RenderError::Io)
        }
    };
    // With errors in the specs nothing is written: the staged files go with `output`.
    if !report_diagnostics(diags, &specs) {
        return exit::USAGE;
    }
    let (cases, export) = match compiled {
        Ok(done) => done,
        Err(RenderError::Template(e)) => {
            eprintln!("error: rendering failed: {e:#}");
            return exit::USAGE;
        }
        Err(RenderError::Io(e)) => {
            eprintln!("error: cannot read or stage {}: {e}", out.display());
            return exit::IO;
        }
    };
    if let Some(export) = &export {
        print!("{}", export.summary(out));
    }
    let staleness = match output.finish() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            return exit::IO;
        }
    };
    if !args.check {
        let what = if export.is_some() {
            "exported"
        } else {
            "compiled"
        };
        println!(
            "{what} {cases} case(s) into {}: {} written, {} removed",
            out.display(),
            staleness.missing.len() + staleness.changed.len(),
            staleness.extra.len(),
        );
        return exit::OK;
    }
    if staleness.is_clean() {
        println!("{} is up to date ({cases} cases)", out.display());
        return exit::OK;
    }
    for p in &staleness.missing {
        println!("missing: {}", out.join(p).display());
    }
    for p in &staleness.changed {
        println!("stale:   {}", out.join(p).display());
    }
    for p in &staleness.extra {
        println!("extra:   {}", out.join(p).display());
    }
    eprintln!(
        "error: {} is out of date; run `helios-matrix compile {} -o {}{}`",
        out.display(),
        args.specs.display(),
        out.display(),
        if export.is_some() {
            " --format sqllogictest"
        } else {
            ""
        }
    );
    exit::FAILED
}
