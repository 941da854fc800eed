//! Does a JSON answer contain what a step expects of it? The one containment rule, for an
//! `http` step's `expect` and for the vector checks (`each_match: {metadata: …}`, and
//! `expect` on an answer that is JSON, such as `describe_index`'s) alike.
//!
//! An object matches when every expected key is present with a matching value (other keys
//! are ignored); an array when it has exactly as many items, each matching the expected
//! item at the same position (so the items' objects, too, need only the keys expected); a
//! number when it is the same number (integers exactly when both sides are integers, and
//! otherwise as floats within the default relative tolerance, so `2` matches `2.0`);
//! anything else when it is equal, type included (`"1"` never matches `1`).
//!
//! The vector checks had a rule of their own, which compared integers as floats (so
//! `1000000000000` matched `1000000000001`) and arrays as wholes (so `[{"id": 1}]` did not
//! match `[{"id": 1, "x": 0}]`, nor `[2]` match `[2.0]`). This rule is stricter on the
//! first, as counts and ids must be, and looser on the second, as an object is; no spec's
//! vector check names an integer past 10^9 or an array, so none changes its verdict.

use serde_json::Value as Json;

use crate::value::{DEFAULT_TOLERANCE, approx_eq};

/// Where the answer first departs from the expectation, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `status.ready`, `items[1].name`; empty at the top level.
    pub path: String,
    pub reason: String,
}

impl Mismatch {
    /// `at `status.ready`: expected true, got false`.
    pub fn describe(&self) -> String {
        if self.path.is_empty() {
            format!("at the top level: {}", self.reason)
        } else {
            format!("at `{}`: {}", self.path, self.reason)
        }
    }
}

/// `Ok` when `actual` contains `expected`; otherwise the first mismatch, in document order.
pub fn check(expected: &Json, actual: &Json) -> Result<(), Mismatch> {
    walk(expected, actual, &mut String::new())
}

fn walk(expected: &Json, actual: &Json, path: &mut String) -> Result<(), Mismatch> {
    let fail = |path: &str, reason: String| {
        Err(Mismatch {
            path: path.to_string(),
            reason,
        })
    };
    match (expected, actual) {
        (Json::Object(want), Json::Object(have)) => {
            for (key, w) in want {
                let len = path.len();
                push_key(path, key);
                match have.get(key) {
                    Some(h) => walk(w, h, path)?,
                    None => return fail(path, format!("missing (expected {w})")),
                }
                path.truncate(len);
            }
            Ok(())
        }
        (Json::Array(want), Json::Array(have)) => {
            if want.len() != have.len() {
                return fail(
                    path,
                    format!(
                        "expected {} item(s), got {}: {actual}",
                        want.len(),
                        have.len()
                    ),
                );
            }
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(w, h, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Json::Number(w), Json::Number(h)) if same_number(w, h) => Ok(()),
        (w, h) if w == h => Ok(()),
        (w, h) if kind(w) != kind(h) => fail(
            path,
            format!("expected {w} ({}), got {h} ({})", kind(w), kind(h)),
        ),
        (w, h) => fail(path, format!("expected {w}, got {h}")),
    }
}

fn same_number(want: &serde_json::Number, have: &serde_json::Number) -> bool {
    match (want.as_i64(), have.as_i64(), want.as_u64(), have.as_u64()) {
        (Some(w), Some(h), _, _) => w == h,
        (_, _, Some(w), Some(h)) => w == h,
        _ => want
            .as_f64()
            .zip(have.as_f64())
            .is_some_and(|(w, h)| approx_eq(w, h, DEFAULT_TOLERANCE)),
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// `a.b` for identifier-like keys, `a["x y"]` for the rest.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Json::String(key.to_string()).to_string());
        path.push(']');
    }
}

/// The part of `actual` that `expected` looks at: the keys it names (recursively), so that
/// a diff of the two shows the differences and not the many keys nobody asked about.
pub fn projection(expected: &Json, actual: &Json) -> Json {
    match (expected, actual) {
        (Json::Object(want), Json::Object(have)) => Json::Object(
            want.iter()
                .filter_map(|(k, w)| have.get(k).map(|h| (k.clone(), projection(w, h))))
                .collect(),
        ),
        (Json::Array(want), Json::Array(have)) => Json::Array(
            have.iter()
                .enumerate()
                .map(|(i, h)| want.get(i).map_or_else(|| h.clone(), |w| projection(w, h)))
                .collect(),
        ),
        (_, h) => h.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(expected: Json, actual: Json) -> String {
        check(&expected, &actual)
            .expect_err("a mismatch")
            .describe()
    }

    #[test]
    fn objects_match_on_the_keys_they_name() {
        let answer =
            json!({"name": "idx", "dimension": 2, "status": {"ready": true, "state": "Ready"}});
        assert!(check(&json!({}), &answer).is_ok());
        assert!(check(&json!({"status": {"ready": true}}), &answer).is_ok());
        assert_eq!(
            at(json!({"status": {"ready": false}}), answer.clone()),
            "at `status.ready`: expected false, got true"
        );
        assert_eq!(
            at(json!({"host": "x"}), answer.clone()),
            "at `host`: missing (expected \"x\")"
        );
        assert_eq!(
            at(json!({"a b": 1}), json!({"a b": 2})),
            "at `[\"a b\"]`: expected 1, got 2"
        );
    }

    #[test]
    fn arrays_match_item_by_item_in_order_and_length() {
        let answer = json!({"items": [{"id": 1, "x": 0}, {"id": 2}]});
        assert!(check(&json!({"items": [{"id": 1}, {"id": 2}]}), &answer).is_ok());
        assert_eq!(
            at(json!({"items": [{"id": 2}, {"id": 1}]}), answer.clone()),
            "at `items[0].id`: expected 2, got 1"
        );
        assert!(
            at(json!({"items": [{"id": 1}]}), answer)
                .starts_with("at `items`: expected 1 item(s), got 2")
        );
    }

    #[test]
    fn scalars_match_by_type_and_value() {
        assert!(check(&json!(2), &json!(2.0)).is_ok());
        assert!(check(&json!(0.30000000000000004), &json!(0.3)).is_ok());
        assert_eq!(
            at(json!({"n": "1"}), json!({"n": 1})),
            "at `n`: expected \"1\" (a string), got 1 (a number)"
        );
        assert_eq!(
            at(json!(null), json!(false)),
            "at the top level: expected null (null), got false (a boolean)"
        );
        assert!(check(&json!(u64::MAX), &json!(u64::MAX)).is_ok());
    }

    #[test]
    fn integers_match_exactly_and_only_floats_within_the_tolerance() {
        // Once matched by the vector checks' own rule, as floats 1e-12 apart.
        assert_eq!(
            at(json!(1_000_000_000_000_i64), json!(1_000_000_000_001_i64)),
            "at the top level: expected 1000000000000, got 1000000000001"
        );
        assert!(check(&json!(1_000_000_000_000_i64), &json!(1e12)).is_ok());
        assert!(check(&json!(1e12), &json!(1_000_000_000_000.5)).is_ok());
        assert!(check(&json!(-3), &json!(3_u64)).is_err());
    }

    #[test]
    fn array_items_match_as_values_anywhere_do() {
        // Once refused by the vector checks' own rule, which compared arrays as wholes.
        assert!(
            check(
                &json!({"tags": [{"k": 1}]}),
                &json!({"tags": [{"k": 1, "x": 2}]})
            )
            .is_ok()
        );
        assert!(check(&json!([2, 0.5]), &json!([2.0, 0.5])).is_ok());
        assert!(check(&json!(["a", "b"]), &json!(["b", "a"])).is_err());
        assert!(check(&json!([]), &json!([1])).is_err());
    }

    #[test]
    fn the_projection_keeps_what_the_expectation_names() {
        let answer = json!({"name": "idx", "status": {"ready": false, "state": "x"}, "n": [1, 2]});
        assert_eq!(
            projection(
                &json!({"status": {"ready": true}, "n": [1], "gone": 1}),
                &answer
            ),
            json!({"status": {"ready": false}, "n": [1, 2]})
        );
    }
}
