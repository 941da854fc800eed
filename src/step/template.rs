//! minijinja expressions inside repeated steps (`"{{ i * 2 }}"`).
//!
//! Templates stay in the plan as written and are rendered only when a step runs, once per
//! value of the loop variable. A rendered parameter or cell is read back as a YAML plain
//! scalar, so `"{{ i }}"` binds an integer while `"row{{ i }}"` binds text.

use std::collections::{BTreeMap, HashMap};

use minijinja::{Environment, UndefinedBehavior};

use crate::step::{
    Action, Copy, CopyRows, HttpStep, Param, Query, Repeat, Statement, VectorOp, VectorRecord,
    VectorStep, VectorValues,
};
use crate::value::Scalar;
use crate::yaml::decode::has_template;
use crate::yaml::plain_scalar;

/// Renders templated strings for one loop variable, caching each compiled template.
pub struct Expander {
    env: Environment<'static>,
    known: HashMap<String, ()>,
}

impl Default for Expander {
    fn default() -> Self {
        Self::new()
    }
}

impl Expander {
    pub fn new() -> Self {
        let mut env = Environment::new();
        // A typo in a variable name must fail, not render as an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        Self {
            env,
            known: HashMap::new(),
        }
    }

    /// Renders `source` with `var = value`; strings without templates come back unchanged.
    pub fn text(&mut self, source: &str, var: &str, value: i64) -> Result<String, String> {
        if !has_template(source) {
            return Ok(source.to_string());
        }
        if !self.known.contains_key(source) {
            self.env
                .add_template_owned(source.to_string(), source.to_string())
                .map_err(|e| format!("template `{source}` does not parse: {e}"))?;
            self.known.insert(source.to_string(), ());
        }
        let template = self.env.get_template(source).map_err(|e| e.to_string())?;
        let mut ctx = BTreeMap::new();
        ctx.insert(var, value);
        template
            .render(ctx)
            .map_err(|e| format!("template `{source}` failed: {e}"))
    }

    /// Renders a templated scalar and gives the result its YAML type.
    pub fn scalar(&mut self, s: &Scalar, var: &str, value: i64) -> Result<Scalar, String> {
        match s {
            Scalar::Text(t) if has_template(t) => {
                Ok(plain_scalar(self.text(t, var, value)?.trim()))
            }
            other => Ok(other.clone()),
        }
    }

    fn params(&mut self, params: &[Param], var: &str, value: i64) -> Result<Vec<Param>, String> {
        params
            .iter()
            .map(|p| {
                Ok(Param {
                    name: p.name.clone(),
                    value: self.scalar(&p.value, var, value)?,
                })
            })
            .collect()
    }

    pub fn row(&mut self, row: &[Scalar], var: &str, value: i64) -> Result<Vec<Scalar>, String> {
        row.iter().map(|s| self.scalar(s, var, value)).collect()
    }

    fn rows(
        &mut self,
        rows: &[Vec<Scalar>],
        var: &str,
        value: i64,
    ) -> Result<Vec<Vec<Scalar>>, String> {
        rows.iter().map(|r| self.row(r, var, value)).collect()
    }

    fn json(
        &mut self,
        v: &serde_json::Value,
        var: &str,
        value: i64,
    ) -> Result<serde_json::Value, String> {
        use serde_json::Value as J;
        Ok(match v {
            J::String(s) if has_template(s) => {
                match self.scalar(&Scalar::Text(s.clone()), var, value)? {
                    Scalar::Null => J::Null,
                    Scalar::Bool(b) => J::Bool(b),
                    Scalar::Int(i) => J::from(i),
                    Scalar::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
                    Scalar::Text(t) => J::String(t),
                }
            }
            J::Array(items) => J::Array(
                items
                    .iter()
                    .map(|i| self.json(i, var, value))
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(v, var, value)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    /// One iteration of a repeated step's action.
    pub fn action(&mut self, action: &Action, var: &str, value: i64) -> Result<Action, String> {
        Ok(match action {
            Action::Statement(s) => Action::Statement(Statement {
                sql: self.text(&s.sql, var, value)?,
                params: self.params(&s.params, var, value)?,
                count: s.count,
                error: s.error.clone(),
            }),
            Action::Query(q) => Action::Query(Box::new(Query {
                sql: self.text(&q.sql, var, value)?,
                params: self.params(&q.params, var, value)?,
                rows: q
                    .rows
                    .as_ref()
                    .map(|r| self.rows(r, var, value))
                    .transpose()?,
                ..(**q).clone()
            })),
            Action::Copy(c) => Action::Copy(Copy {
                table: self.text(&c.table, var, value)?,
                columns: c.columns.clone(),
                rows: match &c.rows {
                    CopyRows::Literal(rows) => CopyRows::Literal(self.rows(rows, var, value)?),
                    repeated => repeated.clone(),
                },
            }),
            Action::Vector(v) => Action::Vector(Box::new(self.vector(v, var, value)?)),
            Action::Http(h) => Action::Http(Box::new(self.http(h, var, value)?)),
            other => other.clone(),
        })
    }

    /// The URL and header values render as text; string leaves of the body and of `expect`
    /// are read again as YAML scalars, as params are.
    fn http(&mut self, step: &HttpStep, var: &str, value: i64) -> Result<HttpStep, String> {
        Ok(HttpStep {
            url: self.text(&step.url, var, value)?,
            json: step
                .json
                .as_ref()
                .map(|j| self.json(j, var, value))
                .transpose()?,
            headers: step
                .headers
                .iter()
                .map(|(k, v)| Ok((k.clone(), self.text(v, var, value)?)))
                .collect::<Result<_, String>>()?,
            expect: step
                .expect
                .as_ref()
                .map(|j| self.json(j, var, value))
                .transpose()?,
            ..step.clone()
        })
    }

    fn vector(&mut self, step: &VectorStep, var: &str, value: i64) -> Result<VectorStep, String> {
        let values = |e: &mut Self, v: &VectorValues| -> Result<VectorValues, String> {
            Ok(match v {
                VectorValues::List(items) => VectorValues::List(e.row(items, var, value)?),
                VectorValues::Fill { fill, dim } => VectorValues::Fill {
                    fill: e.scalar(fill, var, value)?,
                    dim: *dim,
                },
            })
        };
        let op = match &step.op {
            VectorOp::Upsert {
                index,
                namespace,
                vectors,
            } => VectorOp::Upsert {
                index: self.text(index, var, value)?,
                namespace: namespace.clone(),
                vectors: vectors
                    .iter()
                    .map(|r| {
                        Ok(VectorRecord {
                            id: self.text(&r.id, var, value)?,
                            values: values(self, &r.values)?,
                            metadata: r
                                .metadata
                                .as_ref()
                                .map(|m| self.json(m, var, value))
                                .transpose()?,
                        })
                    })
                    .collect::<Result<_, String>>()?,
            },
            VectorOp::VectorQuery {
                index,
                namespace,
                vector,
                id,
                top_k,
                filter,
                include_metadata,
            } => VectorOp::VectorQuery {
                index: index.clone(),
                namespace: namespace.clone(),
                vector: vector.as_ref().map(|v| values(self, v)).transpose()?,
                id: id.as_ref().map(|i| self.text(i, var, value)).transpose()?,
                top_k: *top_k,
                filter: filter
                    .as_ref()
                    .map(|f| self.json(f, var, value))
                    .transpose()?,
                include_metadata: *include_metadata,
            },
            other => other.clone(),
        };
        Ok(VectorStep {
            op,
            checks: step.checks.clone(),
        })
    }
}

/// The values a repeat's variable takes.
pub fn values(repeat: &Repeat) -> std::ops::Range<i64> {
    repeat.from..repeat.to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_params_keep_their_yaml_type() {
        let mut e = Expander::new();
        assert_eq!(
            e.scalar(&Scalar::Text("{{ i }}".into()), "i", 7),
            Ok(Scalar::Int(7))
        );
        assert_eq!(
            e.scalar(&Scalar::Text("{{ i * 10 }}".into()), "i", 7),
            Ok(Scalar::Int(70))
        );
        assert_eq!(
            e.scalar(&Scalar::Text("row{{ i }}".into()), "i", 7),
            Ok(Scalar::Text("row7".into()))
        );
        assert_eq!(
            e.scalar(&Scalar::Text("{{ i / 2 }}".into()), "i", 1),
            Ok(Scalar::Float(0.5))
        );
        assert_eq!(e.scalar(&Scalar::Int(3), "i", 7), Ok(Scalar::Int(3)));
    }

    #[test]
    fn undefined_variables_fail() {
        let mut e = Expander::new();
        assert!(e.text("{{ j }}", "i", 1).is_err());
        assert!(e.text("{{ i + }}", "i", 1).is_err());
    }
}
