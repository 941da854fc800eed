//! Multi-row INSERT batches: the bulk path for servers without a COPY protocol.

use crate::step::Param;
use crate::value::Scalar;

/// One `INSERT … VALUES (…), (…)` statement and its parameters.
pub struct Batch {
    pub sql: String,
    pub params: Vec<Param>,
    pub rows: usize,
}

/// Groups `rows` into INSERT statements of at most `max_rows` rows and `max_params`
/// bound values each. `placeholder(n)` writes the n-th (1-based) placeholder.
pub fn insert_batches<'a>(
    table: &'a str,
    columns: &'a [String],
    rows: &'a mut (dyn Iterator<Item = Result<Vec<Scalar>, String>> + Send),
    max_rows: usize,
    max_params: usize,
    placeholder: fn(usize) -> String,
) -> impl Iterator<Item = Result<Batch, String>> + 'a {
    let width = columns.len().max(1);
    let per_batch = (max_params / width).clamp(1, max_rows.max(1));
    let head = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut rows = rows.peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        let mut sql = head.clone();
        let mut params = Vec::with_capacity(per_batch * width);
        let mut count = 0;
        while count < per_batch {
            let Some(row) = rows.next() else { break };
            let row = match row {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            };
            if row.len() != columns.len() {
                return Some(Err(format!(
                    "a copy row has {} values for {} columns",
                    row.len(),
                    columns.len()
                )));
            }
            if count > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (i, value) in row.into_iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                params.push(Param { name: None, value });
                sql.push_str(&placeholder(params.len()));
            }
            sql.push(')');
            count += 1;
        }
        Some(Ok(Batch {
            sql,
            params,
            rows: count,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_parameter_limit() {
        let columns = vec!["a".to_string(), "b".to_string()];
        let mut rows = (0..5).map(|i| Ok(vec![Scalar::Int(i), Scalar::Null]));
        let batches: Vec<Batch> =
            insert_batches("t", &columns, &mut rows, 100, 4, |n| format!("?{n}"))
                .collect::<Result<_, _>>()
                .expect("ok");
        assert_eq!(
            batches.iter().map(|b| b.rows).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        assert_eq!(
            batches[0].sql,
            "INSERT INTO t (a, b) VALUES (?1, ?2), (?3, ?4)"
        );
        assert_eq!(batches[2].params.len(), 2);
    }
}
