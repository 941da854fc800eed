//! The JSON Schemas in schema/ (for editors) agree with the loader: every spec the project
//! ships validates, and malformed specs the schema can judge are rejected by it too. The
//! driver host protocol's schema is generated from its Rust types, and kept current.

use std::path::{Path, PathBuf};

use helios_matrix::diag::Diagnostics;
use helios_matrix::executor::{self, Executor};
use helios_matrix::source::FileId;
use helios_matrix::yaml;
use helios_matrix::yaml::decode::to_json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validator(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schema").join(name)).expect("schema present");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn yaml_as_json(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut d = Diagnostics::default();
    yaml::parse(&text, FileId(0), &mut d).map(|n| to_json(&n))
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect()
}

#[test]
fn shipped_specs_validate() {
    let suite = validator("suite.schema.json");
    let matrix = validator("matrix.schema.json");
    let mut checked = 0;
    for dir in [
        "specs",
        "tests/fixtures/edge",
        "tests/fixtures/http",
        "tests/fixtures/failing",
        "tests/fixtures/xpass",
    ] {
        for path in yaml_files(&root().join(dir)) {
            let doc = yaml_as_json(&path).expect("parses");
            let v = if path.file_name().is_some_and(|n| n == "matrix.yaml") {
                &matrix
            } else {
                &suite
            };
            let errors: Vec<String> = v
                .iter_errors(&doc)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 15);
}

#[test]
fn the_schema_rejects_malformed_specs_it_can_judge() {
    let suite = validator("suite.schema.json");
    // Problems that need more than one file, the registry, or running the SQL lexer or
    // templates are the loader's alone.
    let loader_only = [
        "bad_regex.yaml",
        "bad_template.yaml",
        "duplicate_id.yaml",
        "http_own_target_not_http.yaml",
        "params_mismatch.yaml",
        "repeat_over_limit.yaml",
        "zero_case_timeout.yaml",
        "undefined_template_var.yaml",
        "unknown_endpoint.yaml",
        "unknown_error_class.yaml",
        "unknown_fixture.yaml",
    ];
    for path in yaml_files(&root().join("tests/fixtures/malformed")) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if loader_only.contains(&name) {
            continue;
        }
        // Files YAML cannot parse are rejected before any schema applies.
        let Some(doc) = yaml_as_json(&path) else {
            continue;
        };
        assert!(
            !suite.is_valid(&doc),
            "{name} passes the schema but the loader rejects it"
        );
    }
}

#[test]
fn the_registry_schema_lists_exactly_the_executors_of_the_table() {
    let text = std::fs::read_to_string(root().join("schema/matrix.schema.json")).expect("read");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let branches = schema["$defs"]["protocol"]["properties"]["executor"]["anyOf"]
        .as_array()
        .expect("`executor` is an anyOf");
    let listed = branches
        .iter()
        .find_map(|b| b.get("enum"))
        .expect("`executor` lists its values");
    let listed: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("names are strings"))
        .collect();
    let known: Vec<&str> = Executor::names().collect();
    assert_eq!(listed, known);

    let built_in: Vec<&str> = executor::ALL
        .iter()
        .filter(|row| row.built_in)
        .map(|row| row.name)
        .collect();
    let description = branches
        .iter()
        .find_map(|b| b.get("description").and_then(|d| d.as_str()))
        .expect("described");
    let said = format!("Built into this version: {};", built_in.join(", "));
    assert!(
        description.contains(&said),
        "`{said}` not in: {description}"
    );
}

#[test]
fn the_schema_rejects_an_unknown_executor() {
    let matrix = validator("matrix.schema.json");
    let doc = serde_json::json!({"protocols": {"pg": {"tier": "gold", "executor": "postgress"}}});
    assert!(!matrix.is_valid(&doc));
    let doc = serde_json::json!({"protocols": {"db2": {"tier": "bronze", "executor": "drda"}}});
    assert!(matrix.is_valid(&doc));
}

/// `schema/driver-host.schema.json` is what the protocol's Rust types generate: the hosts
/// read the version and capability names from it, so a stale copy would tell them wrong.
#[test]
fn the_driver_host_schema_is_generated_from_the_protocol_types() {
    let path = root().join("schema/driver-host.schema.json");
    let generated = helios_matrix::exec::driver::protocol::schema_text();
    if std::env::var("HELIOS_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is not what src/exec/driver/protocol.rs generates: write it again with \
         `just driver-host-schema` (HELIOS_BLESS=1 cargo test --test schema) and commit it",
        path.display()
    );
}

/// Every line of the driver host transcripts (tests/fixtures/driver-host), but each file's
/// header, is a line the protocol's schema allows: the schema describes the conversations
/// the hosts replay.
#[test]
fn every_driver_host_transcript_line_is_a_protocol_line() {
    let protocol = validator("driver-host.schema.json");
    let dir = root().join("tests/fixtures/driver-host");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("the transcripts") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for (number, line) in text.lines().enumerate().skip(1) {
            let message: serde_json::Value = serde_json::from_str(line).expect("JSON");
            let errors: Vec<String> = protocol
                .iter_errors(&message)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{}:{}: {errors:#?}",
                path.display(),
                number + 1
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} lines");
    // And it is not a schema that allows anything.
    let answer_without_ok = serde_json::json!({"id": 1, "rows": []});
    assert!(!protocol.is_valid(&answer_without_ok));
}
