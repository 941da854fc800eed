//! The JSON Schemas in schema/ (for editors) agree with the loader: every spec the project
//! ships validates, and malformed specs the schema can judge are rejected by it too.

use std::path::{Path, PathBuf};

use helios_matrix::diag::Diagnostics;
use helios_matrix::source::FileId;
use helios_matrix::spec::decode::to_json;
use helios_matrix::yaml;

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
