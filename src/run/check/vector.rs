//! A vector operation's answer against its step's checks: the names listed, the count
//! upserted, the matches (their count, ids, ranking, scores and metadata) and a JSON answer.

use super::json;
use crate::exec::{VectorAnswer, VectorMatch};
use crate::step::VectorStep;

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
                        if json::check(meta, &have).is_err() {
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
                && json::check(expect, value).is_err()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::{EachMatch, MatchesCheck, VectorChecks, VectorOp};

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
    fn metadata_and_json_answers_follow_the_one_containment_rule() {
        use serde_json::json;

        // Where the vector checks' old rule disagreed with the `http` steps': arrays item
        // by item, integers exactly (see `super::json`).
        let each = |metadata| {
            query_step(VectorChecks {
                each_match: Some(EachMatch {
                    metadata: Some(metadata),
                    ..EachMatch::default()
                }),
                ..VectorChecks::default()
            })
        };
        let found = VectorMatch {
            id: "a".into(),
            score: 0.9,
            metadata: Some(json!({"tags": [{"k": 1, "x": 0}], "n": 1_000_000_000_000_i64})),
        };
        let got = answer(vec![found], "cosine");
        assert!(check_vector(&each(json!({"tags": [{"k": 1}]})), &got).is_ok());
        assert!(check_vector(&each(json!({"tags": [{"k": 2}]})), &got).is_err());
        let err = check_vector(&each(json!({"n": 1_000_000_000_001_i64})), &got)
            .expect_err("integers compare exactly");
        assert!(err.contains("expected it to contain"), "{err}");

        let stats = query_step(VectorChecks {
            expect: Some(json!({"totalVectorCount": 100, "dimensions": [4]})),
            ..VectorChecks::default()
        });
        let described = json!({"totalVectorCount": 100, "dimensions": [4.0], "x": 1});
        assert!(check_vector(&stats, &VectorAnswer::Json(described)).is_ok());
        let other = json!({"totalVectorCount": 99, "dimensions": [4]});
        let err = check_vector(&stats, &VectorAnswer::Json(other)).expect_err("a count differs");
        assert!(err.contains("does not contain"), "{err}");
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
