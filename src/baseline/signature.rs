//! The failure a case had, as a baseline names it: the server's error (its error class
//! where exactly one fits best, else its SQLSTATE and code), else the first changed line
//! of the expected-vs-actual diff, else the first line of the message.

use std::fmt;

use crate::exec::DbError;
use crate::run::Failure;

/// What a baseline entry says its case fails with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// `error:` the server's error: `class undefined_table`, `SQLSTATE 42883`,
    /// `SQLSTATE 42000, code 1064` or `code 1064`.
    Error(String),
    /// `diff:` the first changed line of the expected-vs-actual diff (`-Bob | 1`).
    Diff(String),
    /// `message:` the first line of the failure's message.
    Message(String),
    /// `message_like:` a regular expression the message's first line matches whole, for a
    /// failure whose message carries what changes from run to run (a process id, a time).
    /// Written by hand only; `baseline` writes the exact message.
    MessageLike(String),
}

impl Signature {
    /// The keys an entry may state its failure with, one of them.
    pub const KEYS: [&'static str; 4] = ["error", "diff", "message", "message_like"];

    /// The signature an entry states under `key` (one of [`Signature::KEYS`]).
    pub fn new(key: &str, text: String) -> Option<Signature> {
        match key {
            "error" => Some(Signature::Error(text)),
            "diff" => Some(Signature::Diff(text)),
            "message" => Some(Signature::Message(text)),
            "message_like" => Some(Signature::MessageLike(text)),
            _ => None,
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            Signature::Error(_) => "error",
            Signature::Diff(_) => "diff",
            Signature::Message(_) => "message",
            Signature::MessageLike(_) => "message_like",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Signature::Error(t)
            | Signature::Diff(t)
            | Signature::Message(t)
            | Signature::MessageLike(t) => t,
        }
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signature::Error(t) => f.write_str(t),
            Signature::Diff(t) => write!(f, "the diff line `{t}`"),
            Signature::Message(t) => write!(f, "the message `{t}`"),
            Signature::MessageLike(t) => write!(f, "a message like `{t}`"),
        }
    }
}

/// A failure seen in a run, with every way a baseline entry may name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// What `baseline` writes for it.
    pub signature: Signature,
    /// Every name an entry may give it: for a server error each error class that matches
    /// it, its SQLSTATE and code together and each alone (a hand-written entry may be
    /// less precise than the one `baseline` writes); else the diff's or message's line.
    names: Vec<Signature>,
}

impl Seen {
    /// The failure as a baseline names it. `classes`: the error classes whose mapping for
    /// the case's protocol matches its server error, each with its precision (how many of
    /// SQLSTATE, code and message the mapping names).
    pub fn of(failure: &Failure, classes: &[(usize, String)]) -> Seen {
        if let Some(db) = &failure.server_error {
            let mut names: Vec<Signature> = classes
                .iter()
                .map(|(_, name)| Signature::Error(format!("class {name}")))
                .collect();
            names.extend(codes(db).into_iter().map(Signature::Error));
            // The class only where one fits best: Snowflake's 42000 is a syntax error and an
            // unknown column alike, and a baseline must not name the wrong one.
            let best = classes.iter().map(|(p, _)| *p).max();
            let mut precise = classes.iter().filter(|(p, _)| Some(*p) == best);
            let signature = match (precise.next(), precise.next()) {
                (Some((_, name)), None) => Some(Signature::Error(format!("class {name}"))),
                _ => codes(db).into_iter().next().map(Signature::Error),
            };
            if let Some(signature) = signature {
                return Seen { signature, names };
            }
        }
        let signature = match failure.diff.as_deref().and_then(first_changed_line) {
            Some(line) => Signature::Diff(line),
            None => Signature::Message(
                failure
                    .message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            ),
        };
        Seen {
            names: vec![signature.clone()],
            signature,
        }
    }

    /// Whether `expected` names this failure.
    pub fn matches(&self, expected: &Signature) -> bool {
        if let Signature::MessageLike(pattern) = expected {
            return match (&self.signature, whole_line(pattern)) {
                (Signature::Message(line), Ok(re)) => re.is_match(line),
                _ => false,
            };
        }
        let wanted = Signature::new(expected.key(), expected.text().trim().to_string());
        self.names.iter().any(|n| Some(n) == wanted.as_ref())
    }
}

/// `pattern` matching a whole line; an error when it is not a regular expression.
pub fn whole_line(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{})$", pattern.trim()))
}

/// A server error's codes, the most precise form first: `SQLSTATE S, code C`, then
/// `SQLSTATE S` and `code C` alone.
fn codes(db: &DbError) -> Vec<String> {
    let sqlstate = db.sqlstate.as_deref().map(|s| format!("SQLSTATE {s}"));
    let code = db.code.as_deref().map(|c| format!("code {c}"));
    match (sqlstate, code) {
        (Some(s), Some(c)) => vec![format!("{s}, {c}"), s, c],
        (Some(one), None) | (None, Some(one)) => vec![one],
        (None, None) => Vec::new(),
    }
}

/// The first line a unified diff adds or removes (its `---`/`+++`/`@@` headers and
/// context lines say nothing about the failure).
fn first_changed_line(diff: &str) -> Option<String> {
    diff.lines()
        .filter(|l| !(l.starts_with("---") || l.starts_with("+++") || l.starts_with("@@")))
        .find(|l| l.starts_with('-') || l.starts_with('+'))
        .map(|l| l.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_failure(sqlstate: Option<&str>, code: Option<&str>) -> Failure {
        Failure {
            server_error: Some(Box::new(DbError {
                sqlstate: sqlstate.map(Into::into),
                code: code.map(Into::into),
                message: "function variance(integer) does not exist".into(),
                ..DbError::default()
            })),
            ..Failure::new(
                "server error: [SQLSTATE 42883] function variance(integer) does not exist",
            )
        }
    }

    #[test]
    fn a_server_error_is_named_by_its_sqlstate_or_code() {
        let seen = Seen::of(&server_failure(Some("42883"), None), &[]);
        assert_eq!(seen.signature, Signature::Error("SQLSTATE 42883".into()));
        assert!(seen.matches(&Signature::Error(" SQLSTATE 42883 ".into())));
        assert!(!seen.matches(&Signature::Error("SQLSTATE 42P01".into())));

        let mysql = Seen::of(&server_failure(Some("42000"), Some("1064")), &[]);
        assert_eq!(
            mysql.signature,
            Signature::Error("SQLSTATE 42000, code 1064".into())
        );
        // A hand-written entry may name either code alone.
        assert!(mysql.matches(&Signature::Error("code 1064".into())));
        assert!(mysql.matches(&Signature::Error("SQLSTATE 42000".into())));
        assert!(!mysql.matches(&Signature::Error("SQLSTATE 42000, code 1146".into())));

        let code_only = Seen::of(&server_failure(None, Some("001003")), &[]);
        assert_eq!(code_only.signature, Signature::Error("code 001003".into()));
    }

    #[test]
    fn an_error_class_names_it_only_where_one_fits_best() {
        let f = server_failure(Some("42P01"), None);
        let seen = Seen::of(&f, &[(1, "undefined_table".into())]);
        assert_eq!(
            seen.signature,
            Signature::Error("class undefined_table".into())
        );
        assert!(seen.matches(&Signature::Error("SQLSTATE 42P01".into())));
        // Two classes as precise as each other: the codes, which say no more than is known.
        let tie = Seen::of(
            &server_failure(Some("42000"), None),
            &[(1, "syntax_error".into()), (1, "undefined_column".into())],
        );
        assert_eq!(tie.signature, Signature::Error("SQLSTATE 42000".into()));
        assert!(tie.matches(&Signature::Error("class undefined_column".into())));
    }

    #[test]
    fn a_message_like_entry_matches_the_messages_first_line_whole() {
        let seen = Seen::of(
            &Failure::new("AssertionError: 2105764914 != 1169\nmore"),
            &[],
        );
        let like = |p: &str| Signature::MessageLike(p.to_string());
        assert!(seen.matches(&like(r"AssertionError: \d+ != \d+")));
        assert!(
            !seen.matches(&like(r"AssertionError: \d+")),
            "the whole line"
        );
        assert!(!seen.matches(&like(r"(")), "not a regular expression");
        let server = Seen::of(&server_failure(Some("42883"), None), &[]);
        assert!(
            !server.matches(&like(".*")),
            "a server error is named by its codes"
        );
    }

    #[test]
    fn a_failed_check_is_named_by_its_diffs_first_changed_line_else_its_message() {
        let differs = Failure {
            diff: Some(
                "--- expected\n+++ actual\n@@ -1,2 +1,2 @@\n Alice | 100\n-Bob | 1\n+Bob | 2\n"
                    .into(),
            ),
            ..Failure::new("the result differs\n  a note")
        };
        let seen = Seen::of(&differs, &[]);
        assert_eq!(seen.signature, Signature::Diff("-Bob | 1".into()));
        assert!(!seen.matches(&Signature::Diff("+Bob | 2".into())));

        let no_diff = Failure::new("the query returned 3 row(s), expected 2\n  more");
        assert_eq!(
            Seen::of(&no_diff, &[]).signature,
            Signature::Message("the query returned 3 row(s), expected 2".into())
        );
        // A server error without codes is named by the message too.
        let bare = Failure {
            server_error: Some(Box::new(DbError {
                message: "boom".into(),
                ..DbError::default()
            })),
            ..Failure::new("server error: boom")
        };
        assert_eq!(
            Seen::of(&bare, &[]).signature,
            Signature::Message("server error: boom".into())
        );
    }
}
