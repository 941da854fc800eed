//! `helios-matrix import`: sqllogictest files → YAML suites.

use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::diag::Diagnostics;
use crate::import::{self, Options};
use crate::spec;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// sqllogictest files, or directories searched for *.test, *.slt and *.sqllogictest.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Where the YAML suites go (one per file, at the file's relative path, `.yaml`);
    /// put it under the spec directory to run them.
    #[arg(short, long, value_name = "DIR")]
    pub out: PathBuf,
    /// The spec directory whose registry names the labels `skipif`/`onlyif` may map to.
    #[arg(long, default_value = "specs", value_name = "DIR")]
    pub specs: PathBuf,
    /// `protocols:` of the imported suites (repeatable or comma-separated). Default: every
    /// SQL protocol, each file's `skipif`/`onlyif` deciding per record.
    #[arg(
        long = "protocol",
        short = 'p',
        value_delimiter = ',',
        value_name = "PROTOCOL"
    )]
    pub protocols: Vec<String>,
    /// `priority:` of the imported suites (p0, p1, p2). Default: the format's (p1).
    #[arg(long, value_parser = super::parse_priority, value_name = "PRIORITY")]
    pub priority: Option<crate::registry::Priority>,
}

pub fn command(args: &ImportArgs) -> u8 {
    let sources = match import::sources(&args.inputs) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    // Only the registry matters here: which labels exist.
    let mut ignored = Diagnostics::default();
    let known_labels = spec::load(&args.specs, &[], &mut ignored)
        .registry
        .known_labels(&[]);
    let options = Options {
        protocols: args.protocols.clone(),
        priority: args.priority.map(|p| p.as_str().to_string()),
        known_labels,
    };
    let (mut files, mut steps, mut warnings, mut failed, mut skipped) = (0, 0, 0, 0, 0);
    for source in &sources {
        let text = match std::fs::read_to_string(&source.path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", source.path.display());
                return exit::IO;
            }
        };
        let imported = match import::import(&source.name, &text, &options) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
                continue;
            }
        };
        for w in &imported.warnings {
            eprintln!("warning: {}: {}", w.location, w.message);
        }
        warnings += imported.warnings.len();
        // A case needs steps: a suite without any would be refused by `run` and `compile`.
        if imported.steps == 0 {
            eprintln!(
                "warning: {}: skipped: none of its records becomes a statement or query step, so its case would have no steps; nothing was written for it",
                source.name
            );
            warnings += 1;
            skipped += 1;
            continue;
        }
        let out = source.output(&args.out);
        let written = out
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&out, &imported.yaml));
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", out.display());
            return exit::IO;
        }
        files += 1;
        steps += imported.steps;
    }
    let skipped_note = if skipped > 0 {
        format!(", {skipped} skipped (no steps)")
    } else {
        String::new()
    };
    println!(
        "imported {files} file(s){skipped_note}, {steps} record(s), into {} ({warnings} warning(s))",
        args.out.display()
    );
    if failed > 0 {
        eprintln!("error: {failed} file(s) could not be parsed; nothing was written for them");
        return exit::USAGE;
    }
    if files == 0 {
        eprintln!("error: no file had records to import; nothing was written");
        return exit::USAGE;
    }
    exit::OK
}
