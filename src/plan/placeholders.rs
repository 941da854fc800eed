//! Finding `?` and `:name` placeholders in SQL and rewriting them into a dialect's form.
//!
//! The scanner knows enough of each dialect's lexical rules to leave alone anything inside a
//! quoted literal, a quoted identifier, a comment, a dollar-quoted string or a minijinja
//! `{{ … }}` expression. It never parses SQL beyond that.

use std::fmt;

use crate::registry::{Lexing, PlaceholderStyle};
use crate::step::Param;

/// A placeholder found in source SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Byte range in the SQL.
    pub start: usize,
    pub end: usize,
    /// `None` for `?`, the name for `:name`.
    pub name: Option<String>,
}

/// Finds the placeholders of `sql` under a dialect's lexical rules.
pub fn scan(sql: &str, lexing: &Lexing) -> Vec<Placeholder> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' => {
                let backslash = lexing.backslash_escapes
                    || (lexing.escape_strings
                        && i > 0
                        && matches!(bytes[i - 1], b'E' | b'e')
                        && !is_ident_byte(bytes.get(i.wrapping_sub(2)).copied()));
                i = skip_quoted(bytes, i, b'\'', backslash);
            }
            b'"' => i = skip_quoted(bytes, i, b'"', lexing.backslash_escapes),
            b'`' => i = skip_quoted(bytes, i, b'`', false),
            b'[' if lexing.bracket_identifiers => i = skip_until(bytes, i + 1, b"]"),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_line(bytes, i),
            b'#' if lexing.hash_comments => i = skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i, lexing.nested_comments)
            }
            b'{' if matches!(bytes.get(i + 1), Some(b'{')) => i = skip_until(bytes, i + 2, b"}}"),
            b'{' if matches!(bytes.get(i + 1), Some(b'%')) => i = skip_until(bytes, i + 2, b"%}"),
            b'$' if lexing.dollar_quotes => i = skip_dollar_quoted(bytes, i),
            b'?' => {
                out.push(Placeholder {
                    start: i,
                    end: i + 1,
                    name: None,
                });
                i += 1;
            }
            b':' => {
                if bytes.get(i + 1) == Some(&b':') {
                    // `::type` cast
                    i += 2;
                } else if i > 0 && bytes[i - 1] == b':' {
                    i += 1;
                } else if bytes
                    .get(i + 1)
                    .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
                {
                    let start = i;
                    i += 1;
                    while i < bytes.len() && is_ident_byte(Some(bytes[i])) {
                        i += 1;
                    }
                    out.push(Placeholder {
                        start,
                        end: i,
                        name: Some(sql[start + 1..i].to_string()),
                    });
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn is_ident_byte(b: Option<u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Skips a quoted run starting at `start`; a doubled quote is an escaped quote.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        let c = bytes[i];
        if backslash && c == b'\\' {
            i += 2;
            continue;
        }
        if c == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn skip_until(bytes: &[u8], from: usize, end: &[u8]) -> usize {
    let mut i = from;
    while i < bytes.len() {
        if bytes[i..].starts_with(end) {
            return i + end.len();
        }
        i += 1;
    }
    bytes.len()
}

fn skip_line(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |p| from + p + 1)
}

fn skip_block_comment(bytes: &[u8], start: usize, nested: bool) -> usize {
    let mut depth = 1;
    let mut i = start + 2;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else if nested && bytes[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// `$$ … $$` or `$tag$ … $tag$`; a `$` that opens neither (`$1`) is plain text.
fn skip_dollar_quoted(bytes: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < bytes.len()
        && (bytes[j].is_ascii_alphabetic()
            || bytes[j] == b'_'
            || (j > start + 1 && bytes[j].is_ascii_digit()))
    {
        j += 1;
    }
    if bytes.get(j) != Some(&b'$') {
        return start + 1;
    }
    let tag = &bytes[start..=j];
    skip_until(bytes, j + 1, tag)
}

/// Why a step's params do not fit its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    Mixed,
    CountMismatch { placeholders: usize, params: usize },
    MissingName(String),
    UnusedName(String),
    NamedWithList,
    PositionalWithMap,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Mixed => write!(
                f,
                "the SQL mixes `?` and `:name` placeholders; use one kind"
            ),
            ParamError::CountMismatch {
                placeholders,
                params,
            } => write!(
                f,
                "the SQL has {placeholders} placeholder{} but {params} param{} given",
                if *placeholders == 1 { "" } else { "s" },
                if *params == 1 { " is" } else { "s are" }
            ),
            ParamError::MissingName(n) => write!(f, "placeholder `:{n}` has no value in `params`"),
            ParamError::UnusedName(n) => write!(f, "param `{n}` is not used by the SQL"),
            ParamError::NamedWithList => write!(
                f,
                "the SQL uses `:name` placeholders, so `params` must be a mapping"
            ),
            ParamError::PositionalWithMap => write!(
                f,
                "the SQL uses `?` placeholders, so `params` must be a list"
            ),
        }
    }
}

/// Rewrites `sql` into `style`, returning the SQL and the params in binding order.
pub fn rewrite(
    sql: &str,
    lexing: &Lexing,
    style: PlaceholderStyle,
    params: &[Param],
) -> Result<(String, Vec<Param>), ParamError> {
    let found = scan(sql, lexing);
    let positional = found.iter().filter(|p| p.name.is_none()).count();
    let named = found.len() - positional;
    let params_named = params.iter().any(|p| p.name.is_some());
    if positional > 0 && named > 0 {
        return Err(ParamError::Mixed);
    }
    if named > 0 && !params_named {
        if params.is_empty() {
            return Err(ParamError::CountMismatch {
                placeholders: found.len(),
                params: 0,
            });
        }
        return Err(ParamError::NamedWithList);
    }
    if positional > 0 && params_named {
        return Err(ParamError::PositionalWithMap);
    }
    if found.is_empty() {
        if params.is_empty() {
            return Ok((sql.to_string(), Vec::new()));
        }
        return Err(ParamError::CountMismatch {
            placeholders: 0,
            params: params.len(),
        });
    }
    if positional > 0 && positional != params.len() {
        return Err(ParamError::CountMismatch {
            placeholders: positional,
            params: params.len(),
        });
    }
    // Unique names in order of first use, and the value of each.
    let mut order: Vec<String> = Vec::new();
    if named > 0 {
        for p in &found {
            let name = p.name.clone().unwrap_or_default();
            if !params
                .iter()
                .any(|q| q.name.as_deref() == Some(name.as_str()))
            {
                return Err(ParamError::MissingName(name));
            }
            if !order.contains(&name) {
                order.push(name);
            }
        }
        if let Some(unused) = params
            .iter()
            .filter_map(|p| p.name.as_ref())
            .find(|n| !order.contains(n))
        {
            return Err(ParamError::UnusedName(unused.clone()));
        }
    }
    let value_of = |name: &str| -> Param {
        params
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .cloned()
            .unwrap_or(Param {
                name: Some(name.to_string()),
                value: crate::value::Scalar::Null,
            })
    };

    let mut out = String::with_capacity(sql.len() + found.len() * 2);
    let mut bound: Vec<Param> = Vec::new();
    let mut last = 0;
    // `%s` drivers format the whole statement with its parameters: a literal `%` must be
    // doubled (`found` is not empty here, so the statement has parameters).
    let segment = |out: &mut String, text: &str| {
        if style == PlaceholderStyle::Format {
            push_percent_escaped(out, text);
        } else {
            out.push_str(text);
        }
    };
    for (index, p) in found.iter().enumerate() {
        segment(&mut out, &sql[last..p.start]);
        last = p.end;
        // 1-based number of this placeholder's value in the bound list.
        let number = match &p.name {
            None => index + 1,
            Some(name) => order.iter().position(|n| n == name).map_or(0, |i| i + 1),
        };
        match style {
            PlaceholderStyle::Qmark => {
                out.push('?');
                // `?` binds by position, so names are dropped (a name may repeat).
                bound.push(Param {
                    name: None,
                    value: match &p.name {
                        None => params[index].value.clone(),
                        Some(name) => value_of(name).value,
                    },
                });
            }
            PlaceholderStyle::ColonNamed => match &p.name {
                None => {
                    out.push_str(&format!(":p{number}"));
                    bound.push(Param {
                        name: Some(format!("p{number}")),
                        value: params[index].value.clone(),
                    });
                }
                Some(name) => {
                    out.push(':');
                    out.push_str(name);
                }
            },
            PlaceholderStyle::Format => match &p.name {
                None => out.push_str("%s"),
                Some(name) => {
                    out.push_str("%(");
                    out.push_str(name);
                    out.push_str(")s");
                }
            },
            PlaceholderStyle::None => out.push_str(&sql[p.start..p.end]),
            numbered => {
                let prefix = match numbered {
                    PlaceholderStyle::Dollar => "$",
                    PlaceholderStyle::NumberedQmark => "?",
                    PlaceholderStyle::AtP => "@P",
                    _ => ":",
                };
                out.push_str(prefix);
                out.push_str(&number.to_string());
            }
        }
    }
    segment(&mut out, &sql[last..]);
    match style {
        PlaceholderStyle::Qmark | PlaceholderStyle::None => {}
        PlaceholderStyle::ColonNamed if named == 0 => {}
        _ if named > 0 => bound = order.iter().map(|n| value_of(n)).collect(),
        _ => bound = params.to_vec(),
    }
    Ok((out, bound))
}

/// Appends `text` with every `%` doubled, except inside `{{ … }}` and `{% … %}`: those are
/// minijinja, rendered only when the step runs (`{{ i % 7 }}` must stay as it is).
fn push_percent_escaped(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let (before, from) = rest.split_at(open);
        out.push_str(&before.replace('%', "%%"));
        let close = match from.as_bytes().get(1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                out.push('{');
                rest = &from[1..];
                continue;
            }
        };
        match from[2..].find(close) {
            Some(end) => {
                let end = 2 + end + close.len();
                out.push_str(&from[..end]);
                rest = &from[end..];
            }
            None => {
                out.push_str(&from.replace('%', "%%"));
                rest = "";
            }
        }
    }
    out.push_str(&rest.replace('%', "%%"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Dialect;
    use crate::value::Scalar;

    #[test]
    fn format_drivers_get_percent_placeholders_and_doubled_percents() {
        let p = pos(&[1, 2]);
        assert_eq!(
            sql_for(
                "SELECT '50%', ? WHERE x LIKE 'a%' AND y = ?",
                "postgres",
                PlaceholderStyle::Format,
                &p
            ),
            "SELECT '50%%', %s WHERE x LIKE 'a%%' AND y = %s"
        );
        // Without parameters the driver formats nothing: `%` stays single.
        assert_eq!(
            sql_for("SELECT '50%'", "postgres", PlaceholderStyle::Format, &[]),
            "SELECT '50%'"
        );
        // A template is rendered later, so its own `%` is left alone.
        assert_eq!(
            sql_for(
                "SELECT ? % 7, '{{ i % 7 }}'",
                "postgres",
                PlaceholderStyle::Format,
                &pos(&[1])
            ),
            "SELECT %s %% 7, '{{ i % 7 }}'"
        );
        let named = vec![Param {
            name: Some("id".into()),
            value: Scalar::Int(1),
        }];
        let (sql, bound) = rewrite(
            "SELECT :id, :id",
            &lex("mysql"),
            PlaceholderStyle::Format,
            &named,
        )
        .expect("ok");
        assert_eq!(sql, "SELECT %(id)s, %(id)s");
        assert_eq!(bound, named, "named values bind by name, once each");
    }

    fn lex(dialect: &str) -> Lexing {
        Dialect::builtin(dialect)
            .map(|d| d.lexing)
            .unwrap_or_default()
    }

    fn pos(values: &[i64]) -> Vec<Param> {
        values
            .iter()
            .map(|v| Param {
                name: None,
                value: Scalar::Int(*v),
            })
            .collect()
    }

    fn named(pairs: &[(&str, i64)]) -> Vec<Param> {
        pairs
            .iter()
            .map(|(n, v)| Param {
                name: Some(n.to_string()),
                value: Scalar::Int(*v),
            })
            .collect()
    }

    fn sql_for(sql: &str, dialect: &str, style: PlaceholderStyle, params: &[Param]) -> String {
        rewrite(sql, &lex(dialect), style, params)
            .map(|(s, _)| s)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn positional_into_every_style() {
        let p = pos(&[1, 2]);
        let sql = "SELECT * FROM t WHERE a = ? AND b = ?";
        assert_eq!(
            sql_for(sql, "postgres", PlaceholderStyle::Dollar, &p),
            "SELECT * FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(sql_for(sql, "mysql", PlaceholderStyle::Qmark, &p), sql);
        assert_eq!(
            sql_for(sql, "sqlite", PlaceholderStyle::NumberedQmark, &p),
            "SELECT * FROM t WHERE a = ?1 AND b = ?2"
        );
        assert_eq!(
            sql_for(sql, "tsql", PlaceholderStyle::AtP, &p),
            "SELECT * FROM t WHERE a = @P1 AND b = @P2"
        );
        assert_eq!(
            sql_for(sql, "oracle", PlaceholderStyle::ColonNumbered, &p),
            "SELECT * FROM t WHERE a = :1 AND b = :2"
        );
        assert_eq!(
            sql_for(sql, "databricks", PlaceholderStyle::ColonNamed, &p),
            "SELECT * FROM t WHERE a = :p1 AND b = :p2"
        );
    }

    #[test]
    fn named_params_reuse_numbers_and_repeat_for_qmark() {
        let p = named(&[("id", 7), ("n", 1)]);
        let sql = "SELECT :id, :n, :id";
        assert_eq!(
            sql_for(sql, "postgres", PlaceholderStyle::Dollar, &p),
            "SELECT $1, $2, $1"
        );
        let (mysql, bound) = rewrite(sql, &lex("mysql"), PlaceholderStyle::Qmark, &p).expect("ok");
        assert_eq!(mysql, "SELECT ?, ?, ?");
        let values: Vec<_> = bound.iter().map(|b| b.value.clone()).collect();
        assert_eq!(values, vec![Scalar::Int(7), Scalar::Int(1), Scalar::Int(7)]);
        assert_eq!(
            sql_for(sql, "databricks", PlaceholderStyle::ColonNamed, &p),
            sql
        );
    }

    #[test]
    fn quotes_and_identifiers_hide_placeholders() {
        let p = pos(&[1]);
        assert_eq!(
            sql_for(
                "SELECT '?', \"a?\", `b?`, ?",
                "sqlite",
                PlaceholderStyle::NumberedQmark,
                &p
            ),
            "SELECT '?', \"a?\", `b?`, ?1"
        );
        // a doubled quote stays inside the literal
        assert_eq!(
            sql_for(
                "SELECT 'it''s ?', ?",
                "postgres",
                PlaceholderStyle::Dollar,
                &p
            ),
            "SELECT 'it''s ?', $1"
        );
        assert_eq!(
            sql_for(
                "SELECT \"a\"\"?\", ?",
                "postgres",
                PlaceholderStyle::Dollar,
                &p
            ),
            "SELECT \"a\"\"?\", $1"
        );
    }

    #[test]
    fn backslash_escapes_follow_the_dialect() {
        let p = pos(&[1]);
        // MySQL: \' does not end the string, so the ? inside is literal.
        assert_eq!(
            sql_for("SELECT 'a\\'?', ?", "mysql", PlaceholderStyle::Qmark, &p),
            "SELECT 'a\\'?', ?"
        );
        // PostgreSQL: 'C:\' ends at the quote; the following ? is a placeholder.
        assert_eq!(
            sql_for("SELECT 'C:\\', ?", "postgres", PlaceholderStyle::Dollar, &p),
            "SELECT 'C:\\', $1"
        );
        // ...but E'' strings take escapes.
        assert_eq!(
            sql_for(
                "SELECT E'a\\'?', ?",
                "postgres",
                PlaceholderStyle::Dollar,
                &p
            ),
            "SELECT E'a\\'?', $1"
        );
    }

    #[test]
    fn comments_hide_placeholders() {
        let p = pos(&[1]);
        assert_eq!(
            sql_for(
                "SELECT ? -- why?\n",
                "postgres",
                PlaceholderStyle::Dollar,
                &p
            ),
            "SELECT $1 -- why?\n"
        );
        assert_eq!(
            sql_for(
                "SELECT /* ? /* ? */ ? */ ?",
                "postgres",
                PlaceholderStyle::Dollar,
                &p
            ),
            "SELECT /* ? /* ? */ ? */ $1"
        );
        assert_eq!(
            sql_for("SELECT ? # what?", "mysql", PlaceholderStyle::Qmark, &p),
            "SELECT ? # what?"
        );
    }

    #[test]
    fn dollar_quotes_and_casts() {
        let p = pos(&[1]);
        assert_eq!(
            sql_for(
                "SELECT $$ ? $$, ?",
                "postgres",
                PlaceholderStyle::Dollar,
                &p
            ),
            "SELECT $$ ? $$, $1"
        );
        assert_eq!(
            sql_for(
                "SELECT $fn$ :x ? $fn$, ?::int",
                "postgres",
                PlaceholderStyle::Dollar,
                &p
            ),
            "SELECT $fn$ :x ? $fn$, $1::int"
        );
        let n = named(&[("v", 1)]);
        assert_eq!(
            sql_for("SELECT :v::text", "postgres", PlaceholderStyle::Dollar, &n),
            "SELECT $1::text"
        );
    }

    #[test]
    fn templates_are_left_alone() {
        let p = pos(&[1]);
        assert_eq!(
            sql_for(
                "SELECT {{ a ? 1 }}, ?",
                "sqlite",
                PlaceholderStyle::NumberedQmark,
                &p
            ),
            "SELECT {{ a ? 1 }}, ?1"
        );
    }

    #[test]
    fn mismatches_are_errors() {
        let lexing = lex("sqlite");
        assert_eq!(
            rewrite(
                "SELECT ?, ?",
                &lexing,
                PlaceholderStyle::NumberedQmark,
                &pos(&[1])
            )
            .err(),
            Some(ParamError::CountMismatch {
                placeholders: 2,
                params: 1
            })
        );
        assert_eq!(
            rewrite(
                "SELECT 1",
                &lexing,
                PlaceholderStyle::NumberedQmark,
                &pos(&[1])
            )
            .err(),
            Some(ParamError::CountMismatch {
                placeholders: 0,
                params: 1
            })
        );
        assert_eq!(
            rewrite(
                "SELECT ?, :a",
                &lexing,
                PlaceholderStyle::NumberedQmark,
                &pos(&[1])
            )
            .err(),
            Some(ParamError::Mixed)
        );
        assert_eq!(
            rewrite(
                "SELECT :a",
                &lexing,
                PlaceholderStyle::NumberedQmark,
                &named(&[("b", 1)])
            )
            .err(),
            Some(ParamError::MissingName("a".into()))
        );
        assert_eq!(
            rewrite(
                "SELECT :a",
                &lexing,
                PlaceholderStyle::NumberedQmark,
                &named(&[("a", 1), ("b", 2)])
            )
            .err(),
            Some(ParamError::UnusedName("b".into()))
        );
    }
}
