//! `helios-matrix compile`: specs → one script per protocol × suite.

use std::path::PathBuf;

use clap::Args;

use super::{exit, report_diagnostics};
use crate::diag::Diagnostics;
use crate::plan::compile::compile;
use crate::render;
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
    // Scripts are compiled for each protocol's default target and its server labels.
    let plan = compile(&specs, &args.labels, &mut diags);
    if !report_diagnostics(diags, &specs) {
        return exit::USAGE;
    }
    let files = match render::render(&plan) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: rendering failed: {e:#}");
            return exit::USAGE;
        }
    };
    let out = &args.out;
    if args.check {
        return match render::check(out, &files) {
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", out.display());
                exit::IO
            }
            Ok(s) if s.is_clean() => {
                println!("{} is up to date ({} files)", out.display(), files.len());
                exit::OK
            }
            Ok(s) => {
                for p in &s.missing {
                    println!("missing: {}", out.join(p).display());
                }
                for p in &s.changed {
                    println!("stale:   {}", out.join(p).display());
                }
                for p in &s.extra {
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
        };
    }
    match render::write(out, &files) {
        Ok(s) => {
            println!(
                "compiled {} case(s) into {}: {} written, {} removed, {} unchanged",
                plan.cases().count(),
                out.display(),
                s.missing.len() + s.changed.len(),
                s.extra.len(),
                files.len() - s.missing.len() - s.changed.len()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            exit::IO
        }
    }
}
