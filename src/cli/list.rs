//! `helios-matrix list`: the selection `run` would use, without running it.

use clap::Args;

use super::{SelectArgs, exit};

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,
}

pub fn command(args: &ListArgs) -> u8 {
    let selection = match args.select.load(None) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let selected = selection.selected();
    // The deployments `--server NAME` can test; the one in force is marked.
    for (name, server) in &selection.registry.servers {
        let in_force = selection.server.as_ref().is_some_and(|s| &s.name == name);
        if selection.server.is_some() && !in_force {
            continue;
        }
        let version = server
            .version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        println!(
            "server {name}{version}{}: {}",
            if in_force {
                " (in force: --server)"
            } else {
                ""
            },
            server.protocols(&selection.registry).join(", ")
        );
        if let Some(description) = &server.description {
            println!("  {description}");
        }
        if !server.labels.is_empty() {
            println!("  labels: {}", server.labels.join(", "));
        }
    }
    // Header values may be secrets: only their names are shown.
    for (name, endpoint) in &selection.endpoints {
        println!(
            "endpoint {name} ({} from {})",
            endpoint.target,
            endpoint.origin.describe()
        );
        if !endpoint.headers.is_empty() {
            let names: Vec<&str> = endpoint.headers.keys().map(String::as_str).collect();
            println!("  headers: {} (values not shown)", names.join(", "));
        }
    }
    let mut total = 0;
    for s in &selected {
        let protocol = &s.protocol.protocol;
        let target = selection.targets.get(&protocol.name).map_or_else(
            || "no target".to_string(),
            |t| format!("{} from {}", t.target, t.origin.describe()),
        );
        let through = protocol
            .driver
            .as_ref()
            .map(|d| format!(", through {} (`{}`)", d.name, d.command.join(" ")))
            .unwrap_or_default();
        println!(
            "{} ({}, {}{through}): {} case(s)",
            s.cell(),
            protocol.tier.as_str(),
            target,
            s.cases.len()
        );
        if protocol.driver.is_none() && !protocol.drivers.is_empty() {
            println!("  drivers: {} (--driver)", protocol.drivers.join(", "));
        }
        println!(
            "  labels: {}",
            protocol.labels_in_force(&selection.plan.labels).join(", ")
        );
        let driver_skip = protocol.driver.as_ref().and_then(|d| d.skip.as_ref());
        for (suite, case) in &s.cases {
            let status = match (case.skip.as_ref().or(driver_skip), &case.xfail) {
                (Some(reason), _) => format!("skip: {reason}"),
                (None, Some(xfail)) => format!("xfail: {}", xfail.reason),
                (None, None) => "run".to_string(),
            };
            println!(
                "  {:<14} {} {:<40} {}:{}  [{status}]",
                case.id, case.priority, case.name, suite.source, case.line
            );
        }
        total += s.cases.len();
    }
    println!("{total} case(s) in {} cell(s)", selected.len());
    exit::OK
}
