//! helios-matrix: write database protocol compatibility tests once, in YAML; compile them
//! into each protocol's dialect; run them against real servers; report JUnit.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! spec (YAML → located tree → suites)          spec, step, yaml, registry
//!   → plan (per protocol: labels resolved,       plan::compile
//!           placeholders & error codes native)
//!   → render (templates → generated/*.hmx)       render   ← script parses them back
//!     or (each case → sqllogictest, or a reason) render::sqllogictest
//!   → run (executor per protocol → events)       run, exec::{sqlite, …}
//!   → report (terminal, JUnit; shards merged)    report
//! ```
//!
//! Modules import only the layers below them (tests/layers.rs fails on a cycle):
//!
//! ```text
//! source, value, files, secret, executor     spans, typed values, files, masking, executor rows
//! diag → yaml (+ yaml::decode field readers)
//! registry (matrix.yaml) → target, step (what a case does) → spec → plan
//! render, exec → run, script, probe → conformance, baseline, import, select
//!   → report, record, ci → cli
//! ```
//!
//! Into the pipeline: `import` turns sqllogictest files into spec YAML.
//!
//! Back into the specs: `record` runs one protocol and writes its answers into the YAML
//! where they contradict it (text edits at the reader's spans; comments stay).
//!
//! Beside the pipeline: `probe` sends every protocol's opening handshake to the targets'
//! endpoints (which protocols each answers, and whether it refuses the others cleanly).
//!
//! Beside the specs: `conformance` runs a driver's own test suite (pinned upstream source)
//! against a target and reads its JUnit back as the cell's cases, into the same events.
//!
//! Judging: `baseline` holds the failures expected of one server, each with a reason;
//! `run --baseline` rewrites the run's verdicts by it between the runner and the reporters.
//!
//! Scale-out: `ci` writes the matrix as CI jobs (protocol × driver × shard) whose JUnit
//! reports `report::merge` makes one and gates on.
//!
//! What differs by executor is one row of [`executor::ALL`]: its name in `matrix.yaml` (the
//! registry accepts no other), whether an engine is built in, how its server keeps workers
//! apart, its probe handshake, the sqllogictest-rs engine that speaks it.
//!
//! To add a protocol: add an entry to `specs/matrix.yaml`, and if it needs a new executor,
//! a variant of [`executor::Executor`] with its row in [`executor::ALL`], and one file in
//! `src/exec/` implementing [`exec::Engine`], constructed in [`exec::native_engine`].

pub mod baseline;
pub mod ci;
pub mod cli;
pub mod conformance;
pub mod diag;
pub mod exec;
pub mod executor;
pub mod files;
pub mod import;
pub mod plan;
pub mod probe;
pub mod record;
pub mod registry;
pub mod render;
pub mod report;
pub mod run;
pub mod script;
pub mod secret;
pub mod select;
pub mod source;
pub mod spec;
pub mod step;
pub mod target;
pub mod value;
pub mod yaml;
