//! The GitHub Actions workflow of the matrix (`ci github`): a build job, one run job per
//! [`Job`] (a matrix entry each) uploading its JUnit report, and a gate job that merges
//! the reports with `report merge` and fails the workflow once, on the gate's priorities.
//! Rendered through `templates/ci/github.yml.j2`; the same registry gives the same bytes.

use std::fmt;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::jobs::{Job, Jobs};
use crate::registry::Priority;

/// The workflow template, embedded so the binary works from any directory.
const TEMPLATE: &str = include_str!("../../templates/ci/github.yml.j2");

/// The most jobs one GitHub Actions matrix may hold.
pub const MAX_MATRIX_JOBS: usize = 256;

/// What the workflow is generated with.
pub struct Workflow<'a> {
    pub jobs: &'a Jobs,
    /// The spec directory as the run jobs name it (relative to the repository root).
    pub specs: &'a str,
    /// The priorities whose failures fail the workflow (`report merge --gate`).
    pub gate: &'a [Priority],
    /// The command line that writes this file again, for its header.
    pub regenerate: &'a str,
}

#[derive(Debug)]
pub enum Error {
    /// More jobs than one matrix holds.
    TooManyJobs(usize),
    /// The template failed to render (a bug in it).
    Template(minijinja::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooManyJobs(n) => write!(
                f,
                "{n} jobs is more than one GitHub Actions matrix holds ({MAX_MATRIX_JOBS}); use fewer shards (--shards)"
            ),
            Error::Template(e) => write!(f, "the workflow template failed: {e:#}"),
        }
    }
}

impl std::error::Error for Error {}

/// One matrix entry, as the template writes it.
#[derive(Serialize)]
struct Entry<'a> {
    job: &'a str,
    protocol: &'a str,
    driver: &'a str,
    priority: String,
    shard: String,
    server: bool,
}

impl<'a> Entry<'a> {
    fn of(job: &'a Job) -> Self {
        Entry {
            job: &job.id,
            protocol: &job.protocol,
            driver: &job.driver,
            priority: priorities(&job.priorities),
            shard: format!("{}/{}", job.shard.index, job.shard.count),
            server: job.server,
        }
    }
}

fn priorities(list: &[Priority]) -> String {
    list.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The workflow's text.
pub fn render(workflow: &Workflow) -> Result<String, Error> {
    let count = workflow.jobs.jobs.len();
    if count > MAX_MATRIX_JOBS {
        return Err(Error::TooManyJobs(count));
    }
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Block tags on lines of their own leave no blank lines; the file ends with a newline.
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(Error::Template)?,
    );
    env.add_filter("yaml", |s: String| yaml_scalar(&s));
    env.add_filter("comment", |s: String| comment(&s));
    env.add_template("github.yml", TEMPLATE)
        .map_err(Error::Template)?;
    let entries: Vec<Entry> = workflow.jobs.jobs.iter().map(Entry::of).collect();
    let omitted: Vec<(&str, &str)> = workflow
        .jobs
        .omitted
        .iter()
        .map(|o| (o.cell.as_str(), o.reason.as_str()))
        .collect();
    env.get_template("github.yml")
        .and_then(|t| {
            t.render(context! {
                regenerate => workflow.regenerate,
                specs => workflow.specs,
                gate => priorities(workflow.gate),
                jobs => Value::from(minijinja::value::Serde(&entries)),
                omitted => Value::from(minijinja::value::Serde(&omitted)),
            })
        })
        .map_err(Error::Template)
}

/// A string as a YAML scalar that reads back as the same string in any context, flow
/// mappings included: plain when it is a simple word YAML would not take for a boolean,
/// null or number, double-quoted (JSON's escaping is YAML's) otherwise.
fn yaml_scalar(s: &str) -> String {
    // YAML 1.1's booleans and nulls, which some readers still apply to plain words.
    const KEYWORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && !KEYWORDS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// Text for a `#` comment: one line.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_the_same_string() {
        assert_eq!(yaml_scalar("postgresql"), "postgresql");
        assert_eq!(
            yaml_scalar("mysql-connector-python"),
            "mysql-connector-python"
        );
        assert_eq!(yaml_scalar("p0"), "p0");
        for quoted in [
            "on", "No", "1/3", "p0,p1", "a b", "", "x: y", "{x}", "#x", "\"", "1e3",
        ] {
            let written = yaml_scalar(quoted);
            assert!(written.starts_with('"'), "{quoted} → {written}");
            let back: String = serde_json::from_str(&written).expect("json string");
            assert_eq!(back, quoted);
        }
        assert_eq!(comment("two\nlines"), "two lines");
    }
}
