//! The driver host protocol's messages as types (docs/driver-host.md).
//!
//! Requests are built as [`Request`]s and serialized; each answer is read into the type of
//! its request's results, and those fields are required: a host that leaves out `rows` or
//! `batches` has broken the protocol, so its answer is an error, never an empty result
//! that an expectation of no rows would pass.
//!
//! The same types are the protocol's JSON Schema ([`schema_text`]), committed as
//! `schema/driver-host.schema.json`: the Python and Node hosts read the version and the
//! capability names from it, so [`PROTOCOL`] and [`Capability`] are their one source.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use base64::Engine as _;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

use crate::exec::{Capability, Column, DbError, ExecError, Row, VectorAnswer, VectorMatch};
use crate::registry::PlaceholderStyle;
use crate::secret::mask;
use crate::step::{Param, VectorOp};
use crate::value::{Scalar, TypeClass, Value};

/// The protocol version this helios-matrix speaks. Version 2 moved `cancel` from the
/// host's stdin to its own channel, [`CANCEL_FD`]; version 3 pipelines requests
/// ([`Request::pipelined`]).
pub const PROTOCOL: u64 = 3;

/// The descriptor on which a host reads `cancel` requests: a pipe helios-matrix hands it
/// when it starts it, so that the host can run requests on the thread that reads them and
/// still hear a cancel while one runs (docs/driver-host.md, Transport).
pub const CANCEL_FD: i32 = 3;

/// The environment variable that names [`CANCEL_FD`] to the host.
pub const CANCEL_FD_VAR: &str = "HELIOS_DRIVER_HOST_CANCEL_FD";

/// What a host's first line says it is.
pub const GREETING: &str = "helios-matrix-driver-host";

/// The line a host writes before reading anything.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Hello {
    #[schemars(extend("const" = GREETING))]
    pub hello: String,
    /// The version the host speaks; helios-matrix refuses any other.
    #[schemars(extend("const" = PROTOCOL))]
    pub protocol: u64,
    /// The driver's name (`psycopg2`), its version and the runtime it runs on, for reports.
    pub driver: String,
    pub driver_version: String,
    pub runtime: String,
    /// What the driver really does; a case needing anything else is skipped.
    pub capabilities: Vec<Capability>,
    /// After `disconnect` the host takes another `connect`, from a fresh start.
    #[serde(default)]
    pub reconnect: bool,
}

/// Why a first line is not a hello this helios-matrix accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloRefused {
    /// Not JSON, or no greeting (a traceback, say).
    NoHello,
    NoVersion,
    OtherVersion(u64),
    /// The right greeting and version, but a field missing or of the wrong type.
    Malformed(String),
}

impl Hello {
    /// Reads a host's first line. The greeting and version are checked before the rest, so
    /// that a host of another version is told about the version, not about a field that
    /// its version may not have.
    pub fn parse(line: &str) -> Result<Hello, HelloRefused> {
        let hello: Json = serde_json::from_str(line).map_err(|_| HelloRefused::NoHello)?;
        if hello.get("hello").and_then(Json::as_str) != Some(GREETING) {
            return Err(HelloRefused::NoHello);
        }
        match hello.get("protocol").and_then(Json::as_u64) {
            Some(PROTOCOL) => {}
            Some(other) => return Err(HelloRefused::OtherVersion(other)),
            None => return Err(HelloRefused::NoVersion),
        }
        Hello::deserialize(hello).map_err(|e| HelloRefused::Malformed(e.to_string()))
    }

    /// `node-postgres 8.13.1 on Node.js v20.20.2`.
    pub fn description(&self) -> String {
        format!(
            "{} {} on {}",
            self.driver, self.driver_version, self.runtime
        )
    }
}

/// One request: `{"id": N, "op": "<name>", …arguments}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Request<'a> {
    /// Increasing; the response carries the same.
    pub id: u64,
    #[serde(flatten)]
    pub op: Op<'a>,
    /// How helios-matrix expects the request to end; the host compares it with the
    /// outcome only to decide whether the pipelined requests after it run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// Sent before the answer to the request before it: it runs only if every request
    /// since the last one not pipelined ended as its `expect` said; otherwise the host
    /// answers it with an error of kind `skipped` and does not run it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pipelined: bool,
}

impl<'a> Request<'a> {
    /// A request on its own: run whatever came before it.
    pub fn new(id: u64, op: Op<'a>) -> Request<'a> {
        Request {
            id,
            op,
            expect: None,
            pipelined: false,
        }
    }
}

/// The outcome a request is expected to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// An answer with `ok: true`.
    Ok,
    /// An error of kind `db`: the server refused it.
    Error,
}

/// A request's operation and its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op<'a> {
    /// The first request after `hello` (and after `disconnect`): `target` is the URL with
    /// its credentials; `autocommit: false` is the driver's own transaction mode.
    Connect {
        target: Cow<'a, str>,
        autocommit: bool,
    },
    /// A statement; answered with its `rowcount`.
    Execute {
        sql: Cow<'a, str>,
        params: Params,
    },
    /// A query read whole; answered with its `columns` and `rows`.
    Query {
        sql: Cow<'a, str>,
        params: Params,
    },
    /// A query read through a cursor, `batch` rows at a time, stopping after `max_batches`;
    /// answered with its `columns` and `batches`.
    Fetch {
        sql: Cow<'a, str>,
        params: Params,
        batch: u64,
        max_batches: u64,
    },
    Begin,
    Commit,
    Rollback,
    /// Bulk-loads `rows` into `table`'s `columns`; answered with the `rowcount` loaded.
    Copy {
        table: Cow<'a, str>,
        columns: Cow<'a, [String]>,
        rows: Vec<Vec<Wire>>,
    },
    /// Cancels the request in flight, if any; sent on the host's cancel channel, never on
    /// its stdin, and answered at once.
    Cancel,
    /// A vector-database operation as the plan holds it; answered with its `answer`.
    Vector {
        operation: Cow<'a, VectorOp>,
    },
    /// Ends the session; the host stays for another `connect` (hosts that say `reconnect`).
    Disconnect,
    /// Ends the session; the host answers and exits.
    Close,
}

impl Op<'_> {
    /// The name the request carries as `op`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Connect { .. } => "connect",
            Op::Execute { .. } => "execute",
            Op::Query { .. } => "query",
            Op::Fetch { .. } => "fetch",
            Op::Begin => "begin",
            Op::Commit => "commit",
            Op::Rollback => "rollback",
            Op::Copy { .. } => "copy",
            Op::Cancel => "cancel",
            Op::Vector { .. } => "vector",
            Op::Disconnect => "disconnect",
            Op::Close => "close",
        }
    }
}

/// A statement's parameters: a list in binding order (`$1`, `?`, `%s`), or an object of
/// name → value for the styles that bind by name (`:name`, `%(name)s`). An empty list
/// means: call the driver without parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Params {
    Positional(Vec<Wire>),
    Named(BTreeMap<String, Wire>),
}

impl Params {
    /// By name when the driver's style binds by name and the spec named the values; by
    /// position otherwise (`$1` binds by position even when the spec named the value).
    pub fn new(params: &[Param], style: PlaceholderStyle) -> Params {
        let by_name = matches!(
            style,
            PlaceholderStyle::ColonNamed | PlaceholderStyle::Format
        ) && params.iter().any(|p| p.name.is_some());
        if by_name {
            Params::Named(
                params
                    .iter()
                    .map(|p| (p.name.clone().unwrap_or_default(), Wire::from(&p.value)))
                    .collect(),
            )
        } else {
            Params::Positional(params.iter().map(|p| Wire::from(&p.value)).collect())
        }
    }
}

/// A value as it travels (docs/driver-host.md, Values): plain JSON for null, booleans,
/// numbers and text; a one-key object tagging the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Wire {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer past i64 (an unsigned 64-bit column's upper half).
    UInt(u64),
    /// Finite; NaN and the infinities are tagged `float`.
    Float(f64),
    Text(String),
    Tagged(Tagged),
}

impl From<&Scalar> for Wire {
    fn from(value: &Scalar) -> Wire {
        match value {
            Scalar::Null => Wire::Null,
            Scalar::Bool(b) => Wire::Bool(*b),
            Scalar::Int(i) => Wire::Int(*i),
            Scalar::Float(f) => match NonFinite::of(*f) {
                Some(special) => Wire::Tagged(Tagged::Float(special)),
                None => Wire::Float(*f),
            },
            Scalar::Text(s) => Wire::Text(s.clone()),
        }
    }
}

/// The values plain JSON cannot carry, each as `{"<tag>": "<text>"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tagged {
    /// Exact text, scale kept: `1.50`.
    Decimal(String),
    Float(NonFinite),
    /// Base64.
    Bytes(String),
    Date(String),
    Time(String),
    /// With a `+00` style offset when the value has one.
    Timestamp(String),
    Interval(String),
    /// A JSON document's text.
    Json(String),
    Uuid(String),
    /// PostgreSQL's text form: `{1,2,3}`.
    Array(String),
    /// Anything else: the text the driver gives.
    Other(String),
}

/// The floats JSON has no number for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NonFinite {
    NaN,
    Infinity,
    #[serde(rename = "-Infinity")]
    NegInfinity,
}

impl NonFinite {
    fn of(f: f64) -> Option<NonFinite> {
        if f.is_nan() {
            Some(NonFinite::NaN)
        } else if f.is_infinite() {
            Some(if f > 0.0 {
                NonFinite::Infinity
            } else {
                NonFinite::NegInfinity
            })
        } else {
            None
        }
    }

    pub fn value(self) -> f64 {
        match self {
            NonFinite::NaN => f64::NAN,
            NonFinite::Infinity => f64::INFINITY,
            NonFinite::NegInfinity => f64::NEG_INFINITY,
        }
    }
}

impl Tagged {
    fn into_value(self) -> Result<Value, String> {
        let other = |class, text| Value::Other { class, text };
        Ok(match self {
            Tagged::Decimal(text) => Value::Decimal(text),
            Tagged::Float(special) => Value::Float(special.value()),
            Tagged::Bytes(text) => Value::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| format!("bad base64: {e}"))?,
            ),
            Tagged::Date(text) => other(TypeClass::Date, text),
            Tagged::Time(text) => other(TypeClass::Time, text),
            Tagged::Timestamp(text) => other(TypeClass::Timestamp, text),
            Tagged::Interval(text) => other(TypeClass::Interval, text),
            Tagged::Json(text) => other(TypeClass::Json, text),
            Tagged::Uuid(text) => other(TypeClass::Uuid, text),
            Tagged::Array(text) => other(TypeClass::Array, text),
            Tagged::Other(text) => other(TypeClass::Other, text),
        })
    }
}

/// A result cell from the host. Rows travel as JSON and are decoded cell by cell, so that
/// a value that does not decode is reported with its column.
pub fn decode(cell: &Json) -> Result<Value, String> {
    Ok(match cell {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.is_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, true) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            // An integer past i64 stays exact.
            (None, false) => Value::Decimal(n.to_string()),
        },
        Json::String(s) => Value::Text(s.clone()),
        Json::Object(_) => Tagged::deserialize(cell)
            .map_err(|e| e.to_string())?
            .into_value()?,
        Json::Array(_) => return Err(format!("not a value: {cell}")),
    })
}

/// What every response starts with: the request it answers and whether it succeeded. The
/// rest is read by the request's results type, or [`Refusal`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Envelope {
    /// `null` when the host could not read the request's id.
    pub id: Option<u64>,
    pub ok: bool,
}

/// `{"id": N, "ok": false, "error": …}`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Refusal {
    /// `null` when the host could not read the request's id.
    #[serde(deserialize_with = "present")]
    #[schemars(with = "Present<u64>")]
    pub id: Option<u64>,
    #[schemars(extend("const" = false))]
    pub ok: bool,
    pub error: HostError,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct HostError {
    pub kind: ErrorKind,
    /// What `error:` expectations match, with `sqlstate` and `code`.
    pub message: String,
    #[serde(default)]
    pub sqlstate: Option<String>,
    /// The native error number or code, as text (MySQL's `"1062"`).
    #[serde(default)]
    pub code: Option<String>,
    /// The driver's exception class, fully qualified (`psycopg2.errors.UniqueViolation`).
    #[serde(default)]
    pub exception: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The server answered with an error.
    Db,
    /// Cannot connect: unreachable, TLS, login refused.
    Connect,
    /// The connection broke; the session is unusable.
    Lost,
    /// The driver has no API for this operation.
    Unsupported,
    /// Anything else in the driver or the host.
    Client,
    /// A pipelined request not run, because a request before it ended otherwise than its
    /// `expect` said.
    Skipped,
}

impl From<HostError> for ExecError {
    fn from(error: HostError) -> ExecError {
        let message = mask(&error.message);
        match error.kind {
            ErrorKind::Db => ExecError::Db(DbError {
                sqlstate: error.sqlstate,
                code: error.code,
                message,
                exception: error.exception,
            }),
            ErrorKind::Connect => ExecError::Connect(message),
            ErrorKind::Lost => ExecError::Lost(message),
            ErrorKind::Unsupported => ExecError::Unsupported(message),
            // The driver session sends a skipped request again; one never reaches a case.
            ErrorKind::Skipped => ExecError::Client(format!("not run: {message}")),
            ErrorKind::Client => ExecError::Client(match error.exception {
                Some(e) => format!("{e}: {message}"),
                None => message,
            }),
        }
    }
}

/// The results of `connect`, `begin`, `commit`, `rollback`, `cancel`, `disconnect` and
/// `close`: none.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Nothing {}

/// The results of `execute` and `copy`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Counted {
    /// `null` when the driver does not know (DB-API's -1); never left out.
    #[serde(deserialize_with = "present")]
    #[schemars(with = "Present<u64>")]
    pub rowcount: Option<u64>,
}

/// The results of `query`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Queried {
    pub columns: Vec<ColumnInfo>,
    /// Rows of cells, each a value as `Wire` encodes it.
    #[schemars(with = "Vec<Vec<Wire>>")]
    pub rows: Vec<Vec<Json>>,
}

/// The results of `fetch`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Fetched {
    pub columns: Vec<ColumnInfo>,
    /// The batches read, each a list of rows; at most `max_batches` of them.
    #[schemars(with = "Vec<Vec<Vec<Wire>>>")]
    pub batches: Vec<Vec<Vec<Json>>>,
}

/// A result column as the driver describes it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct ColumnInfo {
    pub name: String,
    /// From the driver's type metadata; for a driver with none, from the first non-null value.
    pub class: TypeClass,
    /// The driver's own name for the type, for messages.
    pub native: String,
}

impl From<ColumnInfo> for Column {
    fn from(column: ColumnInfo) -> Column {
        Column::new(column.name, column.class, column.native)
    }
}

/// Columns and rows decoded into values; a cell that does not decode is an error naming
/// its column.
pub fn decode_rows(rows: &[Vec<Json>], columns: &[Column]) -> Result<Vec<Row>, ExecError> {
    rows.iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, cell)| {
                    decode(cell).map_err(|e| {
                        let (name, native) = columns
                            .get(i)
                            .map_or(("", "?"), |c| (c.name.as_str(), c.native.as_str()));
                        crate::exec::undecodable(i, name, native, &e, None)
                    })
                })
                .collect()
        })
        .collect()
}

/// The results of `vector`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Vectored {
    pub answer: VectorResult,
}

/// A vector operation's answer, one shape per kind of operation.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum VectorResult {
    /// `create_index`, `delete_index`, `delete_vectors`.
    Done { done: bool },
    /// `list_indexes`.
    Indexes { indexes: Vec<String> },
    /// `upsert`: the count the server answered.
    Upserted { upserted: u64 },
    /// `vector_query`: `metric` as the index describes itself, or `null`.
    Matches {
        matches: Vec<MatchInfo>,
        #[serde(deserialize_with = "present")]
        #[schemars(with = "Present<String>")]
        metric: Option<String>,
    },
    /// `fetch_vectors`.
    Ids { ids: Vec<String> },
    /// `describe_index`, `describe_index_stats`.
    Json { json: Json },
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchInfo {
    pub id: String,
    pub score: f64,
    #[serde(default)]
    pub metadata: Option<Json>,
}

impl From<VectorResult> for VectorAnswer {
    fn from(answer: VectorResult) -> VectorAnswer {
        match answer {
            VectorResult::Done { .. } => VectorAnswer::Done,
            VectorResult::Indexes { indexes } => VectorAnswer::Indexes(indexes),
            VectorResult::Upserted { upserted } => VectorAnswer::Upserted(upserted),
            VectorResult::Matches { matches, metric } => VectorAnswer::Matches {
                matches: matches
                    .into_iter()
                    .map(|m| VectorMatch {
                        id: m.id,
                        score: m.score,
                        metadata: m.metadata,
                    })
                    .collect(),
                metric,
            },
            VectorResult::Ids { mut ids } => {
                // Which ids came back, not in which order.
                ids.sort();
                VectorAnswer::Vectors(ids)
            }
            VectorResult::Json { json } => VectorAnswer::Json(json),
        }
    }
}

/// For an `Option` field that must be there, as a value or `null`: serde reads a missing
/// `Option` as `None` unless its field says otherwise.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::deserialize(deserializer)
}

/// The schema of a [`present`] field: `T` or `null`, and required (schemars leaves an
/// `Option` out of `required`).
struct Present<T>(PhantomData<T>);

impl<T: JsonSchema> JsonSchema for Present<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Present_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        Option::<T>::json_schema(generator)
    }
}

/// One line of the protocol, either way: the host's hello, a request, or a response.
/// Only its schema is used: it is what `schema/driver-host.schema.json` describes.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(
    title = "helios-matrix driver host protocol",
    description = "One line of the driver host protocol (docs/driver-host.md): the hello a host writes first, a request helios-matrix writes, or a host's response. Generated from src/exec/driver/protocol.rs; `just driver-host-schema` writes it again."
)]
#[allow(dead_code)]
enum Line<'a> {
    Hello(Hello),
    Request(Request<'a>),
    Answer(Answer),
    Refusal(Refusal),
}

/// `{"id": N, "ok": true, …results}`, the results being those of the request's op.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct Answer {
    id: u64,
    #[schemars(extend("const" = true))]
    ok: bool,
    #[serde(flatten)]
    results: Results,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Results {
    Counted(Counted),
    Queried(Queried),
    Fetched(Fetched),
    Vectored(Vectored),
    Nothing(Nothing),
}

/// The protocol's JSON Schema (draft 2020-12), as `schema/driver-host.schema.json` holds it.
pub fn schema_text() -> String {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<Line>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_decode_by_their_json_form() {
        assert_eq!(decode(&json!(42)), Ok(Value::Int(42)));
        assert_eq!(decode(&json!(0.5)), Ok(Value::Float(0.5)));
        assert_eq!(
            decode(&json!(18446744073709551615u64)),
            Ok(Value::Decimal("18446744073709551615".into()))
        );
        assert_eq!(decode(&json!("x")), Ok(Value::Text("x".into())));
        assert_eq!(
            decode(&json!({"decimal": "1.50"})),
            Ok(Value::Decimal("1.50".into()))
        );
        assert_eq!(
            decode(&json!({"bytes": "CgD/"})),
            Ok(Value::Bytes(vec![10, 0, 255]))
        );
        assert_eq!(
            decode(&json!({"date": "2024-01-02"})),
            Ok(Value::Other {
                class: TypeClass::Date,
                text: "2024-01-02".into()
            })
        );
        assert!(matches!(decode(&json!({"float": "NaN"})), Ok(Value::Float(f)) if f.is_nan()));
        assert_eq!(
            decode(&json!({"float": "-Infinity"})),
            Ok(Value::Float(f64::NEG_INFINITY))
        );
        for bad in [
            json!({"mystery": "x"}),
            json!({"float": "1.5"}),
            json!({"date": 5}),
            json!({"date": "2024-01-02", "time": "03:04"}),
            json!({"bytes": "not base64!"}),
            json!([1]),
        ] {
            assert!(decode(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hellos_are_checked() {
        let ok = r#"{"hello": "helios-matrix-driver-host", "protocol": 3, "driver": "pg", "driver_version": "8", "runtime": "Node.js v20", "capabilities": ["sql", "cancel"]}"#;
        let hello = Hello::parse(ok).expect("accepted");
        assert_eq!(
            hello.capabilities,
            vec![Capability::Sql, Capability::Cancel]
        );
        assert!(!hello.reconnect, "reconnect defaults to false");
        assert_eq!(hello.description(), "pg 8 on Node.js v20");
        // Protocol 1 read `cancel` from stdin: its hosts would never hear one now. Protocol 2
        // hosts would run pipelined requests after one that failed.
        for old in [1, 2] {
            assert_eq!(
                Hello::parse(&ok.replace("\"protocol\": 3", &format!("\"protocol\": {old}"))),
                Err(HelloRefused::OtherVersion(old))
            );
        }
        assert_eq!(
            Hello::parse(&ok.replace("\"protocol\": 3, ", "")),
            Err(HelloRefused::NoVersion)
        );
        assert_eq!(
            Hello::parse("Traceback (most recent call last):"),
            Err(HelloRefused::NoHello)
        );
        // A capability protocol 3 does not have, and a field left out, are not protocol 3.
        for broken in [
            ok.replace("\"cancel\"", "\"teleport\""),
            ok.replace("\"driver\": \"pg\", ", ""),
        ] {
            assert!(
                matches!(Hello::parse(&broken), Err(HelloRefused::Malformed(_))),
                "{broken}"
            );
        }
    }

    #[test]
    fn host_errors_keep_their_codes_and_exception() {
        let error: HostError = serde_json::from_value(
            json!({"kind": "db", "message": "duplicate key", "sqlstate": "23505", "code": null, "exception": "psycopg2.errors.UniqueViolation"}),
        )
        .expect("an error");
        assert_eq!(
            ExecError::from(error),
            ExecError::Db(DbError {
                sqlstate: Some("23505".into()),
                code: None,
                message: "duplicate key".into(),
                exception: Some("psycopg2.errors.UniqueViolation".into()),
            })
        );
        let lost: HostError =
            serde_json::from_value(json!({"kind": "lost", "message": "gone"})).expect("an error");
        assert!(matches!(ExecError::from(lost), ExecError::Lost(_)));
        for broken in [
            json!({"message": "no kind"}),
            json!({"kind": "db"}),
            json!({"kind": "teleport", "message": "an unknown kind"}),
        ] {
            assert!(
                serde_json::from_value::<HostError>(broken.clone()).is_err(),
                "{broken}"
            );
        }
    }

    #[test]
    fn parameters_go_as_a_list_or_by_name() {
        let positional = [Param {
            name: None,
            value: Scalar::Int(1),
        }];
        let json = |params: Params| serde_json::to_value(params).expect("serializes");
        assert_eq!(
            json(Params::new(&positional, PlaceholderStyle::Dollar)),
            json!([1])
        );
        let named = [Param {
            name: Some("id".into()),
            value: Scalar::Float(f64::INFINITY),
        }];
        assert_eq!(
            json(Params::new(&named, PlaceholderStyle::ColonNamed)),
            json!({"id": {"float": "Infinity"}})
        );
        // `$1` binds by position even when the spec named the value.
        assert_eq!(
            json(Params::new(&named, PlaceholderStyle::Dollar)),
            json!([{"float": "Infinity"}])
        );
    }

    #[test]
    fn requests_carry_id_then_op_then_arguments() {
        let line = |op| serde_json::to_string(&Request::new(7, op)).expect("serializes");
        assert_eq!(line(Op::Begin), r#"{"id":7,"op":"begin"}"#);
        assert_eq!(
            line(Op::Fetch {
                sql: "SELECT 1".into(),
                params: Params::Positional(vec![]),
                batch: 2,
                max_batches: 3
            }),
            r#"{"id":7,"op":"fetch","sql":"SELECT 1","params":[],"batch":2,"max_batches":3}"#
        );
    }

    #[test]
    fn op_names_are_the_names_on_the_wire() {
        let ops = [
            Op::Connect {
                target: "".into(),
                autocommit: true,
            },
            Op::Execute {
                sql: "".into(),
                params: Params::Positional(vec![]),
            },
            Op::Query {
                sql: "".into(),
                params: Params::Positional(vec![]),
            },
            Op::Fetch {
                sql: "".into(),
                params: Params::Positional(vec![]),
                batch: 1,
                max_batches: 1,
            },
            Op::Begin,
            Op::Commit,
            Op::Rollback,
            Op::Copy {
                table: "".into(),
                columns: Cow::Owned(vec![]),
                rows: vec![],
            },
            Op::Cancel,
            Op::Vector {
                operation: Cow::Owned(VectorOp::ListIndexes),
            },
            Op::Disconnect,
            Op::Close,
        ];
        for op in ops {
            let name = op.name();
            let wire = serde_json::to_value(Request::new(1, op)).expect("serializes");
            assert_eq!(wire["op"], name);
        }
    }

    #[test]
    fn answers_missing_their_results_are_refused() {
        let answer = |line: &str| serde_json::from_str::<Json>(line).expect("JSON");
        assert!(
            serde_json::from_value::<Queried>(answer(r#"{"id":1,"ok":true,"columns":[]}"#))
                .is_err()
        );
        assert!(
            serde_json::from_value::<Fetched>(answer(r#"{"id":1,"ok":true,"columns":[]}"#))
                .is_err()
        );
        assert!(
            serde_json::from_value::<Queried>(answer(r#"{"id":1,"ok":true,"rows":[]}"#)).is_err()
        );
        assert!(serde_json::from_value::<Counted>(answer(r#"{"id":1,"ok":true}"#)).is_err());
        assert!(serde_json::from_value::<Vectored>(answer(r#"{"id":1,"ok":true}"#)).is_err());
        // A row that is not a list of cells, a column without its class.
        assert!(serde_json::from_value::<Queried>(answer(r#"{"columns":[],"rows":[1]}"#)).is_err());
        assert!(
            serde_json::from_value::<Queried>(answer(
                r#"{"columns":[{"name":"a","native":"int4"}],"rows":[]}"#
            ))
            .is_err()
        );
        let counted: Counted =
            serde_json::from_value(answer(r#"{"id":1,"ok":true,"rowcount":null}"#))
                .expect("null is a count unknown");
        assert_eq!(counted.rowcount, None);
    }

    #[test]
    fn vector_answers_have_one_shape_each() {
        let read =
            |answer: Json| serde_json::from_value::<VectorResult>(answer).map(VectorAnswer::from);
        assert_eq!(read(json!({"done": true})).ok(), Some(VectorAnswer::Done));
        assert_eq!(
            read(json!({"ids": ["b", "a"]})).ok(),
            Some(VectorAnswer::Vectors(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            read(json!({"matches": [{"id": "v", "score": 0.5}], "metric": null})).ok(),
            Some(VectorAnswer::Matches {
                matches: vec![VectorMatch {
                    id: "v".into(),
                    score: 0.5,
                    metadata: None
                }],
                metric: None
            })
        );
        for broken in [
            json!({}),
            json!({"matches": [{"id": "v"}], "metric": "cosine"}),
            json!({"matches": [{"id": "v", "score": 0.5}]}),
            json!({"upserted": -1}),
            json!({"done": true, "ids": []}),
        ] {
            assert!(read(broken.clone()).is_err(), "{broken}");
        }
    }
}
