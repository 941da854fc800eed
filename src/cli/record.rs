//! `helios-matrix record`: one protocol's answers written into the specs where they
//! contradict them.

use clap::Args;

use super::{LimitArgs, SelectArgs, exit};
use crate::run::{Event, Outcome, RunConfig};

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print what would change, as a unified diff, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write answers into the steps' base expectations even though the protocol is not
    /// the reference (tier `reference`), instead of into `on: {PROTOCOL: …}` overrides:
    /// for a suite whose reference is this server (an imported corpus, say). An override
    /// already in force for the protocol is edited either way.
    #[arg(long)]
    pub base: bool,
    /// How long steps, cases and the whole run may take (a case that runs out of time is
    /// not recorded).
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Workers: how many cases run at once, each in a namespace of its own (see `run -j`).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

pub fn command(args: &RecordArgs) -> u8 {
    let selection = match args.select.load(None) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let config = RunConfig {
        fail_fast: false,
        jobs: args.jobs.map_or_else(crate::run::default_jobs, usize::from),
        keep_going: true,
        ..args.limits.config()
    };
    let recorded = super::block_on(crate::record::record(
        &selection,
        &args.select.specs,
        &config,
        args.base,
        |event| {
            if let Event::CaseFinished {
                case,
                outcome: Outcome::Failed(_),
                ..
            } = event
            {
                eprintln!("differs: {} ({})", case.id, case.location());
            }
        },
    ));
    let recording = match recorded {
        Ok(Ok(r)) => r,
        Err(code) => return code,
        Ok(Err(message)) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    for note in &recording.notes {
        eprintln!("note: {note}");
    }
    let steps: usize = recording.files.iter().map(|f| f.steps).sum();
    for file in &recording.files {
        if args.dry_run {
            print!("{}", file.diff());
        } else if let Err(e) = std::fs::write(&file.path, &file.after) {
            eprintln!("error: cannot write {}: {e}", file.path.display());
            return exit::IO;
        }
    }
    let verb = if args.dry_run {
        "would record"
    } else {
        "recorded"
    };
    println!(
        "{} case(s) run, {} differ; {verb} {steps} step(s) in {} file(s)",
        recording.cases,
        recording.failed,
        recording.files.len()
    );
    exit::OK
}
