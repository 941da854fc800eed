//! What a case does: its steps (statements, queries, transactions, COPY, waits, vector
//! operations, HTTP calls) and the checks on their answers.
//!
//! One vocabulary for every stage: `spec` decodes steps from YAML, `plan::compile` rewrites
//! them into a protocol's form (placeholders, native error codes), `render` writes them as
//! scripts and `run` executes them. [`template`] renders `{{ }}` expressions in repeated
//! steps when they run.

pub mod template;

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::registry::ErrorExpect;
use crate::value::{Compare, Scalar, TypeClass};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Line of the step in the suite's source file.
    pub line: u32,
    /// The named session; `None` is the `default` session.
    pub session: Option<String>,
    /// Kept compact: expanded only when executing, so a 10,000-row loop stays one record.
    pub repeat: Option<Repeat>,
    /// Where the step came from before it was YAML (`select1.test:42` for an imported
    /// sqllogictest record): failures name it beside the spec's own line.
    pub origin: Option<String>,
    pub action: Action,
}

/// `for var in from..to` (end exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeat {
    pub var: String,
    pub from: i64,
    pub to: i64,
}

impl Repeat {
    pub fn len(&self) -> u64 {
        u64::try_from(self.to.saturating_sub(self.from)).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    Statement(Statement),
    /// Boxed, as is `Vector`: a plan holds every step of every case, and the largest
    /// variant sets every step's size.
    Query(Box<Query>),
    Begin,
    Commit,
    Rollback,
    Copy(Copy),
    Sleep {
        #[serde(with = "duration")]
        duration: Duration,
    },
    Vector(Box<VectorStep>),
    /// Sent by the runner itself, not by the protocol's executor, so it works in a case of
    /// any protocol.
    Http(Box<HttpStep>),
}

impl Action {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Action::Statement(_) => "statement",
            Action::Query(_) => "query",
            Action::Begin => "begin",
            Action::Commit => "commit",
            Action::Rollback => "rollback",
            Action::Copy(_) => "copy",
            Action::Sleep { .. } => "sleep",
            Action::Vector(v) => v.op.name(),
            Action::Http(_) => "http",
        }
    }
}

/// An HTTP request to the protocol's own target or a named endpoint, and the checks on
/// its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// Upper case: `GET`, `POST`, …
    pub method: String,
    /// A registry endpoint's name; `None` is the protocol's own target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A path joined to the target URL's path, or a full URL (then `target` is `None`).
    pub url: String,
    /// The request body, sent as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The statuses that pass; empty: any 2xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<u16>,
    /// A JSON subset the answer's body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<serde_json::Value>,
}

/// A bound parameter, in the order the rewritten SQL binds them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    /// Set for named placeholders (and for dialects that bind by name).
    pub name: Option<String>,
    pub value: Scalar,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
    pub count: Option<u64>,
    pub error: Option<ErrorExpect>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Param>,
    pub rows: Option<Vec<Vec<Scalar>>>,
    pub columns: Option<Vec<String>>,
    pub sort: Sort,
    pub row_count: Option<u64>,
    pub fetch: Option<Fetch>,
    pub error: Option<ErrorExpect>,
    #[serde(with = "opt_duration")]
    pub cancel_after: Option<Duration>,
    pub tolerance: Option<f64>,
    /// The portable type class expected of each column.
    pub types: Option<Vec<TypeClass>>,
    pub compare: Compare,
    /// `rows_hash: {values: N, md5: …}`: the result as sqllogictest's `N values hashing
    /// to …` line (only with `compare: sqllogictest`).
    pub rows_hash: Option<RowsHash>,
}

/// How many values a result has and the MD5 of their sqllogictest text, each value
/// followed by a newline, after sorting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsHash {
    pub values: u64,
    pub md5: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    None,
    Rows,
    Values,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "none" => Some(Sort::None),
            "rows" => Some(Sort::Rows),
            "values" => Some(Sort::Values),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::None => "none",
            Sort::Rows => "rows",
            Sort::Values => "values",
        }
    }
}

/// Read the result through a cursor in batches and check the listed ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fetch {
    pub batch: u64,
    pub batches: Vec<BatchCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchCheck {
    pub len: Option<u64>,
    pub first: Option<Vec<Scalar>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Copy {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: CopyRows,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyRows {
    Literal(Vec<Vec<Scalar>>),
    /// One templated row rendered for each value of the loop variable.
    Repeat {
        repeat: Repeat,
        row: Vec<Scalar>,
    },
}

/// A vector-database step and the checks on its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorStep {
    pub op: VectorOp,
    #[serde(default, skip_serializing_if = "VectorChecks::is_empty")]
    pub checks: VectorChecks,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum VectorOp {
    CreateIndex {
        name: String,
        dimension: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metric: Option<String>,
    },
    ListIndexes,
    DescribeIndex {
        name: String,
    },
    DeleteIndex {
        name: String,
    },
    Upsert {
        index: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        vectors: Vec<VectorRecord>,
    },
    VectorQuery {
        index: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vector: Option<VectorValues>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        top_k: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<serde_json::Value>,
        include_metadata: bool,
    },
    FetchVectors {
        index: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        ids: Vec<String>,
    },
    DeleteVectors {
        index: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ids: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        delete_all: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<serde_json::Value>,
    },
    DescribeIndexStats {
        index: String,
    },
}

impl VectorOp {
    /// The index this operation names, for a worker's suffix to go on (`None`: it names none).
    pub fn index_mut(&mut self) -> Option<&mut String> {
        match self {
            VectorOp::ListIndexes => None,
            VectorOp::CreateIndex { name, .. }
            | VectorOp::DescribeIndex { name }
            | VectorOp::DeleteIndex { name } => Some(name),
            VectorOp::Upsert { index, .. }
            | VectorOp::VectorQuery { index, .. }
            | VectorOp::FetchVectors { index, .. }
            | VectorOp::DeleteVectors { index, .. }
            | VectorOp::DescribeIndexStats { index } => Some(index),
        }
    }

    pub const NAMES: [&'static str; 9] = [
        "create_index",
        "list_indexes",
        "describe_index",
        "delete_index",
        "upsert",
        "vector_query",
        "fetch_vectors",
        "delete_vectors",
        "describe_index_stats",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            VectorOp::CreateIndex { .. } => "create_index",
            VectorOp::ListIndexes => "list_indexes",
            VectorOp::DescribeIndex { .. } => "describe_index",
            VectorOp::DeleteIndex { .. } => "delete_index",
            VectorOp::Upsert { .. } => "upsert",
            VectorOp::VectorQuery { .. } => "vector_query",
            VectorOp::FetchVectors { .. } => "fetch_vectors",
            VectorOp::DeleteVectors { .. } => "delete_vectors",
            VectorOp::DescribeIndexStats { .. } => "describe_index_stats",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorRecord {
    pub id: String,
    pub values: VectorValues,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VectorValues {
    List(Vec<Scalar>),
    /// A constant vector: `{fill: 0.2, dim: 4}`.
    Fill {
        fill: Scalar,
        dim: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorChecks {
    /// `list_indexes`: these names are listed. `fetch_vectors`: these ids came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<Vec<String>>,
    /// `upsert`: upserted count; `fetch_vectors`: vectors returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<MatchesCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub each_match: Option<EachMatch>,
    /// `describe_index`, `describe_index_stats`: a partial match of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<serde_json::Value>,
}

impl VectorChecks {
    pub fn is_empty(&self) -> bool {
        self == &VectorChecks::default()
    }
}

/// Checks every match of a vector query must pass; at least one match must come back
/// unless the step says `matches: {count: 0}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EachMatch {
    /// Metadata every match carries (a partial match: these keys with these values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Every score is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
    /// Every score is at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchesCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ids_in_order: bool,
}

/// Durations serialize as humantime text (`100ms`, `1s`) in scripts and templates.
pub mod duration {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

pub mod opt_duration {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}
