//! `helios-matrix compile`: specs → one script per protocol × suite.

use std::path::PathBuf;

use clap::Args;

use super::{exit, report_diagnostics};
use crate::diag::Diagnostics;
use crate::render::{self, Output, RenderError};
use crate::spec;

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The spec directory (holds matrix.yaml and the suite files).
    #[arg(default_value = "specs")]
    pub specs: PathBuf,
    /// Where the scripts go; scripts no longer produced are removed.
    #[arg(short, long, default_value = "generated")]
    pub out: PathBuf,
    /// Write nothing; exit 1 naming each stale, missing or extra file.
    #[arg(long)]
    pub check: bool,
    /// An extra label every protocol carries (for `on`/`only`/`skip`/`xfail`). Repeatable.
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
}

pub fn command(args: &CompileArgs) -> u8 {
    let mut diags = Diagnostics::default();
    let specs = spec::load(&args.specs, &args.labels, &mut diags);
    let out = &args.out;
    let output = if args.check {
        Output::check(out)
    } else {
        match Output::write(out) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: cannot write beside {}: {e}", out.display());
                return exit::IO;
            }
        }
    };
    // Scripts are compiled for each protocol's default target and its server labels.
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let compiled = render::compile_and_render(&specs, &args.labels, jobs, &output, &mut diags);
    // With errors in the specs nothing is written: the staged files go with `output`.
    if !report_diagnostics(diags, &specs) {
        return exit::USAGE;
    }
    let cases = match compiled {
        Ok(cases) => cases,
        Err(RenderError::Template(e)) => {
            eprintln!("error: rendering failed: {e:#}");
            return exit::USAGE;
        }
        Err(RenderError::Io(e)) => {
            eprintln!("error: cannot read or stage {}: {e}", out.display());
            return exit::IO;
        }
    };
    let staleness = match output.finish() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            return exit::IO;
        }
    };
    if !args.check {
        println!(
            "compiled {cases} case(s) into {}: {} written, {} removed",
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
        "error: {} is out of date; run `helios-matrix compile {} -o {}`",
        out.display(),
        args.specs.display(),
        out.display()
    );
    exit::FAILED
}
