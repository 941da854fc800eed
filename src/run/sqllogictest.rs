//! `compare: sqllogictest`: results checked the way sqllogictest runners check them.
//!
//! Each value is first rendered as text by its column's type letter (`types:` integer →
//! `I`, float → `R`, anything else → `T`), exactly as the SQLite project's runner prints
//! it: NULL as `NULL`, integers in decimal, floats with three decimals, an empty string as
//! `(empty)` and unprintable characters as `@`. Sorting (`rowsort`, `valuesort`) then
//! orders those texts, and the texts are compared, or hashed into `N values hashing to
//! <md5>`. The type letters are how values are printed, not an assertion: that is what
//! they mean in a sqllogictest file, and what makes an imported file's verdicts the same
//! under helios-matrix as under its own runner.

use md5::{Digest, Md5};

use crate::exec::{ResultSet, Row};
use crate::step::{Query, RowsHash, Sort};
use crate::value::{Scalar, TypeClass, Value};

/// How one column's values are printed: sqllogictest's type letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letter {
    Integer,
    Real,
    Text,
}

impl Letter {
    pub fn of_class(class: TypeClass) -> Letter {
        match class {
            TypeClass::Integer => Letter::Integer,
            TypeClass::Float | TypeClass::Decimal => Letter::Real,
            _ => Letter::Text,
        }
    }

    /// `I`, `R` and `T`; any other letter (sqllogictest-rs files use a few more) prints
    /// as text.
    pub fn of_char(c: char) -> Letter {
        match c {
            'I' => Letter::Integer,
            'R' => Letter::Real,
            _ => Letter::Text,
        }
    }

    pub fn class(self) -> TypeClass {
        match self {
            Letter::Integer => TypeClass::Integer,
            Letter::Real => TypeClass::Float,
            Letter::Text => TypeClass::Text,
        }
    }
}

/// The letter each column of a query's result prints by: its `types:`, or by default
/// the column's own class.
pub fn letters(q: &Query, rs: &ResultSet) -> Vec<Letter> {
    match &q.types {
        Some(types) => types.iter().copied().map(Letter::of_class).collect(),
        None => rs
            .columns
            .iter()
            .map(|c| Letter::of_class(c.class))
            .collect(),
    }
}

/// One value as sqllogictest prints it in a column of this letter.
pub fn render(value: &Value, letter: Letter) -> String {
    match (value, letter) {
        (Value::Null, _) => "NULL".to_string(),
        (v, Letter::Integer) => integer_of(v).to_string(),
        (v, Letter::Real) => format!("{:.3}", real_of(v)),
        (v, Letter::Text) => text_of(v),
    }
}

/// What SQLite's `sqlite3_column_int64` makes of a value: floats truncate, text reads
/// its leading integer (0 when there is none).
fn integer_of(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        Value::Bool(b) => i64::from(*b),
        // `as` saturates, as SQLite does for out-of-range reals.
        Value::Float(f) => *f as i64,
        other => {
            let text = other.canonical_text();
            let numeric = leading_number(text.trim_start());
            numeric
                .parse::<i64>()
                .or_else(|_| numeric.parse::<f64>().map(|f| f as i64))
                .unwrap_or(0)
        }
    }
}

fn real_of(value: &Value) -> f64 {
    match value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => leading_number(other.canonical_text().trim_start())
            .parse()
            .unwrap_or(0.0),
    }
}

/// The longest prefix that reads as a number (`12abc` → `12`, `-1.5e3x` → `-1.5e3`).
fn leading_number(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut end = 0;
    let mut seen_digit = false;
    let mut seen_dot = false;
    let mut seen_exp = false;
    let mut last_good = 0;
    while end < bytes.len() {
        let b = bytes[end];
        match b {
            b'+' | b'-' if end == 0 || matches!(bytes[end - 1], b'e' | b'E') => {}
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_dot && !seen_exp => seen_dot = true,
            b'e' | b'E' if seen_digit && !seen_exp => seen_exp = true,
            _ => break,
        }
        end += 1;
        if seen_digit && bytes[end - 1].is_ascii_digit() {
            last_good = end;
        }
    }
    &text[..last_good]
}

/// Text as the SQLite runner prints it: `(empty)` for an empty string, `@` for each
/// character outside printable ASCII.
fn text_of(value: &Value) -> String {
    let text = match value {
        Value::Float(f) => sqlite_real_text(*f),
        other => other.canonical_text(),
    };
    if text.is_empty() {
        return "(empty)".to_string();
    }
    // The SQLite runner replaces bytes: a two-byte character becomes `@@`.
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            out.extend(std::iter::repeat_n('@', c.len_utf8()));
        }
    }
    out
}

/// A REAL printed as SQLite's `CAST(x AS TEXT)` does (`%!.15g`): `1.0`, `0.5`, `1.0e+20`.
fn sqlite_real_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        let shortest = format!("{f}");
        if shortest.len() <= 17 {
            shortest
        } else {
            format!("{:.15}", f)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        }
    }
}

/// An expected cell as text: YAML `null` is `NULL`, numbers and strings as written.
pub fn expected_text(cell: &Scalar) -> String {
    match cell {
        Scalar::Null => "NULL".to_string(),
        Scalar::Text(t) => t.clone(),
        other => other.display_text(),
    }
}

/// The result rendered and sorted as the step's sort mode asks: one line per row for
/// `none`/`rows` (values joined by a space), one line per value for `values`.
pub fn rendered(rows: &[Row], letters: &[Letter], sort: Sort) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, v)| render(v, letters.get(i).copied().unwrap_or(Letter::Text)))
                .collect()
        })
        .collect();
    sort_texts(&mut out, sort);
    out
}

/// Sorts rows of texts as sqllogictest does: `rows` compares rows value by value,
/// `values` sorts every value on its own (each then is a row of one).
pub fn sort_texts(rows: &mut Vec<Vec<String>>, sort: Sort) {
    match sort {
        Sort::None => {}
        Sort::Rows => rows.sort(),
        Sort::Values => {
            let mut values: Vec<String> = rows.drain(..).flatten().collect();
            values.sort();
            rows.extend(values.into_iter().map(|v| vec![v]));
        }
    }
}

/// `N values hashing to <md5>` of rendered rows (already sorted).
pub fn hash(rows: &[Vec<String>]) -> RowsHash {
    let mut hasher = Md5::new();
    let mut values = 0u64;
    for value in rows.iter().flatten() {
        hasher.update(value.as_bytes());
        hasher.update(b"\n");
        values += 1;
    }
    let digest = hasher.finalize();
    RowsHash {
        values,
        md5: digest.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Why a result differs, in the texts sqllogictest would show.
#[derive(Debug, Clone, PartialEq)]
pub struct Differs {
    pub message: String,
    pub expected: Vec<String>,
    pub actual: Vec<String>,
}

/// Checks a result against expected rows (as the file wrote them) or a hash.
pub fn check(
    actual: &[Row],
    letters: &[Letter],
    sort: Sort,
    expected_rows: Option<&[Vec<Scalar>]>,
    expected_hash: Option<&RowsHash>,
) -> Result<(), Differs> {
    let got = rendered(actual, letters, sort);
    if let Some(want) = expected_hash {
        let have = hash(&got);
        if &have == want {
            return Ok(());
        }
        return Err(Differs {
            message: "the result differs from its hash".to_string(),
            expected: vec![format!("{} values hashing to {}", want.values, want.md5)],
            actual: lines(&got)
                .into_iter()
                .chain([format!("({} values hashing to {})", have.values, have.md5)])
                .collect(),
        });
    }
    let Some(want) = expected_rows else {
        return Ok(());
    };
    let mut want: Vec<Vec<String>> = want
        .iter()
        .map(|row| row.iter().map(expected_text).collect())
        .collect();
    sort_texts(&mut want, sort);
    // A file may write a row's values on one line or one value per line: compare the
    // flattened values, so both forms (and a row written whole as one string) match.
    let want_values = flat(&want);
    let got_values = flat(&got);
    if want_values == got_values {
        return Ok(());
    }
    Err(Differs {
        message: "the result differs".to_string(),
        expected: lines(&want),
        actual: lines(&got),
    })
}

fn flat(rows: &[Vec<String>]) -> Vec<&str> {
    rows.iter()
        .flatten()
        .flat_map(|v| v.split_whitespace())
        .collect()
}

fn lines(rows: &[Vec<String>]) -> Vec<String> {
    rows.iter().map(|r| r.join(" ")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_the_sqlite_runner_prints_them() {
        assert_eq!(render(&Value::Null, Letter::Integer), "NULL");
        assert_eq!(render(&Value::Int(7), Letter::Integer), "7");
        assert_eq!(render(&Value::Float(2.9), Letter::Integer), "2");
        assert_eq!(render(&Value::Text("12abc".into()), Letter::Integer), "12");
        assert_eq!(render(&Value::Text("abc".into()), Letter::Integer), "0");
        assert_eq!(render(&Value::Int(3), Letter::Real), "3.000");
        assert_eq!(render(&Value::Float(1.0 / 3.0), Letter::Real), "0.333");
        assert_eq!(render(&Value::Text(String::new()), Letter::Text), "(empty)");
        assert_eq!(render(&Value::Text("a\tb".into()), Letter::Text), "a@b");
        assert_eq!(render(&Value::Text("é".into()), Letter::Text), "@@");
        assert_eq!(render(&Value::Int(5), Letter::Text), "5");
        assert_eq!(render(&Value::Float(1.5), Letter::Text), "1.5");
        assert_eq!(render(&Value::Float(2.0), Letter::Text), "2.0");
    }

    #[test]
    fn the_hash_is_the_one_sqllogictest_files_carry() {
        // sqllogictest-rs's tests/slt/basic.slt: `3 values hashing to b5b44e…`.
        let rows: Vec<Vec<String>> = ["Alice", "Bob", "Eve"]
            .iter()
            .map(|v| vec![v.to_string()])
            .collect();
        assert_eq!(hash(&rows).md5, "b5b44edac84d34d6af3be2a88bfae352");
    }

    #[test]
    fn the_hash_is_md5_of_each_value_and_a_newline() {
        // `printf '1\n2\n' | md5sum`
        let rows = vec![vec!["1".to_string()], vec!["2".to_string()]];
        assert_eq!(
            hash(&rows),
            RowsHash {
                values: 2,
                md5: "6ddb4095eb719e2a9f0a3f95677d24e0".to_string()
            }
        );
    }

    #[test]
    fn rowsort_and_valuesort_order_texts() {
        let actual = vec![
            vec![Value::Int(10), Value::Int(1)],
            vec![Value::Int(9), Value::Int(2)],
        ];
        let letters = [Letter::Integer, Letter::Integer];
        // As text, "10" sorts before "9", as in the SQLite runner.
        assert_eq!(
            rendered(&actual, &letters, Sort::Rows),
            vec![vec!["10", "1"], vec!["9", "2"]]
        );
        assert_eq!(
            rendered(&actual, &letters, Sort::Values),
            vec![vec!["1"], vec!["10"], vec!["2"], vec!["9"]]
        );
    }

    #[test]
    fn row_wise_and_value_wise_expectations_both_match() {
        let actual = vec![vec![Value::Int(1), Value::Text("x".into())]];
        let letters = [Letter::Integer, Letter::Text];
        let value_wise = vec![vec![Scalar::Int(1)], vec![Scalar::Text("x".into())]];
        let row_wise = vec![vec![Scalar::Text("1 x".into())]];
        let wrong = vec![vec![Scalar::Int(1), Scalar::Text("y".into())]];
        assert!(check(&actual, &letters, Sort::None, Some(&value_wise), None).is_ok());
        assert!(check(&actual, &letters, Sort::None, Some(&row_wise), None).is_ok());
        let differs =
            check(&actual, &letters, Sort::None, Some(&wrong), None).expect_err("y is not x");
        assert_eq!(differs.expected, vec!["1 y"]);
        assert_eq!(differs.actual, vec!["1 x"]);
    }

    #[test]
    fn a_hash_that_differs_shows_the_values() {
        let actual = vec![vec![Value::Int(1)]];
        let want = RowsHash {
            values: 1,
            md5: "0".repeat(32),
        };
        let differs = check(&actual, &[Letter::Integer], Sort::None, None, Some(&want))
            .expect_err("the digest differs");
        assert_eq!(differs.actual[0], "1");
        assert!(differs.actual[1].starts_with("(1 values hashing to "));
    }
}
