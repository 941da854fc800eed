//! `helios-matrix probe`: the selected targets' endpoints, asked in every protocol.

use std::time::Duration;

use clap::Args;

use super::{SelectArgs, exit};
use crate::probe::{self, Probed};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Longest each handshake waits for an answer; silence past it is a hang (except for
    /// MySQL's, where the server speaks first and silence is a refusal).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

pub fn command(args: &ProbeArgs) -> u8 {
    let selection = match args.select.load(None) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut targets = Vec::new();
    for s in selection.selected() {
        let protocol = &s.protocol.protocol;
        // Driver cells share their protocol's target: probed once.
        if protocol.driver.is_some() {
            continue;
        }
        match (protocol.executor.info().handshake, s.target) {
            (Some(handshake), Some(target)) => targets.push(Probed {
                protocol: protocol.name.clone(),
                handshake,
                target,
            }),
            (None, _) => eprintln!(
                "note: {}: its executor `{}` has no network handshake to probe",
                protocol.name, protocol.executor
            ),
            (_, None) => eprintln!("note: {}: no target configured", protocol.name),
        }
    }
    if targets.is_empty() {
        eprintln!("error: none of the selected protocols has a network target to probe");
        return exit::USAGE;
    }
    let reports = match super::block_on(probe::probe(&targets, args.timeout)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    print!("{}", probe::table(&reports));
    if reports.iter().all(|r| r.problems().is_empty()) {
        exit::OK
    } else {
        exit::FAILED
    }
}
