//! A vector operation's answer against its step's checks: the names listed, the count
//! upserted, the matches (their count, ids, ranking, scores and metadata) and a JSON answer.

use crate::exec::{VectorAnswer, VectorMatch};
use crate::plan::VectorStep;
use crate::value::DEFAULT_TOLERANCE;

/// Checks a vector operation's answer against its step's checks.
pub(in crate::run) fn check_vector(step: &VectorStep, answer: &VectorAnswer) -> Result<(), String> {
    let checks = &step.checks;
    match answer {
        VectorAnswer::Indexes(names) | VectorAnswer::Vectors(names) => {
            if let Some(wanted) = &checks.contains {
                for name in wanted {
                    if !names.contains(name) {
                        return Err(format!("`{name}` is missing from the answer: {names:?}"));
                    }
                }
            }
            if let Some(n) = checks.count
                && names.len() as u64 != n
            {
                return Err(format!("{} item(s) came back, expected {n}", names.len()));
            }
        }
        VectorAnswer::Upserted(n) => {
            if let Some(expected) = checks.count
                && *n != expected
            {
                return Err(format!("{n} vector(s) upserted, expected {expected}"));
            }
        }
        VectorAnswer::Matches { matches, metric } => {
            check_ranking(matches, metric.as_deref())?;
            if let Some(m) = &checks.matches {
                if let Some(n) = m.count
                    && matches.len() as u64 != n
                {
                    return Err(format!("{} match(es), expected {n}", matches.len()));
                }
                if let Some(ids) = &m.ids {
                    let got: Vec<&str> = matches.iter().map(|x| x.id.as_str()).collect();
                    let ok = if m.ids_in_order {
                        got.iter().zip(ids).all(|(g, w)| *g == w) && got.len() == ids.len()
                    } else {
                        let mut a: Vec<&str> = got.clone();
                        let mut b: Vec<&str> = ids.iter().map(String::as_str).collect();
                        a.sort_unstable();
                        b.sort_unstable();
                        a == b
                    };
                    if !ok {
                        return Err(format!("match ids {got:?}, expected {ids:?}"));
                    }
                }
            }
            if let Some(each) = &checks.each_match {
                let zero_allowed = checks.matches.as_ref().and_then(|m| m.count) == Some(0);
                if matches.is_empty() && !zero_allowed {
                    return Err(
                        "`each_match` has nothing to check: the query returned no matches (write `matches: {count: 0}` if none are expected)"
                            .to_string(),
                    );
                }
                for found in matches {
                    if let Some(meta) = &each.metadata {
                        let have = found.metadata.clone().unwrap_or(serde_json::Value::Null);
                        if !json_contains(&have, meta) {
                            return Err(format!(
                                "match `{}` has metadata {have}, expected it to contain {meta}",
                                found.id
                            ));
                        }
                    }
                    if let Some(min) = each.min_score
                        && found.score < min
                    {
                        return Err(format!(
                            "match `{}` scores {}, below min_score {min}",
                            found.id, found.score
                        ));
                    }
                    if let Some(max) = each.max_score
                        && found.score > max
                    {
                        return Err(format!(
                            "match `{}` scores {}, above max_score {max}",
                            found.id, found.score
                        ));
                    }
                }
            }
        }
        VectorAnswer::Json(value) => {
            if let Some(expect) = &checks.expect
                && !json_contains(value, expect)
            {
                return Err(format!("the answer {value} does not contain {expect}"));
            }
        }
        VectorAnswer::Done => {}
    }
    Ok(())
}

/// Matches come ranked best first: by falling score for similarity metrics (cosine,
/// dot product), by rising distance for euclidean.
fn check_ranking(matches: &[VectorMatch], metric: Option<&str>) -> Result<(), String> {
    if matches.len() < 2 {
        return Ok(());
    }
    let ascending = match metric.map(str::to_ascii_lowercase).as_deref() {
        Some("cosine" | "dotproduct" | "dot_product") => false,
        Some("euclidean") => true,
        Some(other) => {
            return Err(format!(
                "the index's metric `{other}` is unknown, so the ranking of its matches cannot be checked"
            ));
        }
        None => {
            return Err(
                "the index description names no metric, so the ranking of its matches cannot be checked"
                    .to_string(),
            );
        }
    };
    for pair in matches.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let in_order = if ascending {
            a.score <= b.score
        } else {
            a.score >= b.score
        };
        if !in_order {
            return Err(format!(
                "matches are not ranked by the {} metric: `{}` ({}) comes before `{}` ({})",
                metric.unwrap_or_default(),
                a.id,
                a.score,
                b.id,
                b.score
            ));
        }
    }
    Ok(())
}

/// Partial match: every key of `want` is in `have` with a matching value.
fn json_contains(have: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (have, want) {
        (J::Object(h), J::Object(w)) => w
            .iter()
            .all(|(k, wv)| h.get(k).is_some_and(|hv| json_contains(hv, wv))),
        (J::Number(h), J::Number(w)) => h
            .as_f64()
            .zip(w.as_f64())
            .is_some_and(|(a, b)| crate::value::approx_eq(b, a, DEFAULT_TOLERANCE)),
        (h, w) => h == w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{EachMatch, MatchesCheck, VectorChecks, VectorOp};

    fn hit(id: &str, score: f64, category: &str) -> VectorMatch {
        VectorMatch {
            id: id.into(),
            score,
            metadata: Some(serde_json::json!({"category": category})),
        }
    }

    fn query_step(checks: VectorChecks) -> VectorStep {
        VectorStep {
            op: VectorOp::ListIndexes,
            checks,
        }
    }

    fn answer(matches: Vec<VectorMatch>, metric: &str) -> VectorAnswer {
        VectorAnswer::Matches {
            matches,
            metric: Some(metric.into()),
        }
    }

    #[test]
    fn each_match_needs_a_match_unless_none_are_expected() {
        let each = EachMatch {
            metadata: Some(serde_json::json!({"category": "A"})),
            ..EachMatch::default()
        };
        let step = query_step(VectorChecks {
            each_match: Some(each.clone()),
            ..VectorChecks::default()
        });
        let err = check_vector(&step, &answer(vec![], "cosine")).expect_err("vacuous");
        assert!(err.contains("no matches"), "{err}");
        let step = query_step(VectorChecks {
            each_match: Some(each),
            matches: Some(MatchesCheck {
                count: Some(0),
                ..MatchesCheck::default()
            }),
            ..VectorChecks::default()
        });
        assert!(check_vector(&step, &answer(vec![], "cosine")).is_ok());
    }

    #[test]
    fn each_match_checks_every_key() {
        let step = query_step(VectorChecks {
            each_match: Some(EachMatch {
                metadata: Some(serde_json::json!({"category": "A"})),
                min_score: Some(0.5),
                max_score: None,
            }),
            ..VectorChecks::default()
        });
        let good = vec![hit("a", 0.9, "A"), hit("b", 0.6, "A")];
        assert!(check_vector(&step, &answer(good, "cosine")).is_ok());
        let wrong_meta = vec![hit("a", 0.9, "A"), hit("b", 0.6, "B")];
        assert!(check_vector(&step, &answer(wrong_meta, "cosine")).is_err());
        let low = vec![hit("a", 0.9, "A"), hit("b", 0.4, "A")];
        let err = check_vector(&step, &answer(low, "cosine")).expect_err("below min");
        assert!(err.contains("min_score"), "{err}");
    }

    #[test]
    fn matches_must_be_ranked_as_the_metric_says() {
        let step = query_step(VectorChecks::default());
        let descending = vec![hit("a", 0.9, "A"), hit("b", 0.1, "A")];
        let ascending = vec![hit("a", 0.1, "A"), hit("b", 0.9, "A")];
        assert!(check_vector(&step, &answer(descending.clone(), "cosine")).is_ok());
        assert!(check_vector(&step, &answer(ascending.clone(), "cosine")).is_err());
        assert!(check_vector(&step, &answer(ascending.clone(), "euclidean")).is_ok());
        assert!(check_vector(&step, &answer(descending, "euclidean")).is_err());
        let unknown = VectorAnswer::Matches {
            matches: ascending,
            metric: None,
        };
        assert!(check_vector(&step, &unknown).is_err());
    }
}
