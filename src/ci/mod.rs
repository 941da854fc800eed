//! CI configuration generated from the registry: the matrix as jobs (one per protocol ×
//! driver × shard, [`jobs`]), written for a CI service ([`github`]). A suite that outgrows
//! one machine runs as these jobs, and `report merge` gates once on their reports.

pub mod github;
pub mod jobs;
