//! Writing YAML text by hand: scalars quoted only where YAML would read them otherwise,
//! SQL as literal blocks. `import` and `record` write text rather than a serialised tree
//! so a file keeps its comments where they were, in the order a person reads it.

/// A string as a YAML scalar in block context (`key: <here>`).
pub fn block_scalar(text: &str, indent: usize) -> String {
    if text.contains('\n') && literal_block_fits(text) {
        let pad = " ".repeat(indent);
        let mut out = String::from("|-");
        for line in text.lines() {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&pad);
                out.push_str(line);
            }
        }
        return out;
    }
    if plain_is_safe(text, false) {
        text.to_string()
    } else {
        quoted(text)
    }
}

/// A string as a YAML scalar inside a flow sequence (`[a, <here>]`).
pub fn flow_scalar(text: &str) -> String {
    if plain_is_safe(text, true) {
        text.to_string()
    } else {
        quoted(text)
    }
}

/// A double-quoted scalar: JSON's string escapes are a subset of YAML's.
pub fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

/// A literal block keeps every character of lines that neither start with a space (which
/// would need an indentation indicator) nor hold a carriage return or tab-led indent.
fn literal_block_fits(text: &str) -> bool {
    !text.starts_with([' ', '\t'])
        && !text.contains('\r')
        && !text.ends_with('\n')
        && text
            .chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control())
}

/// Would this text read back as the same string if written plain? Conservative: anything
/// YAML could take for another type, an indicator, a comment or a mapping is quoted.
fn plain_is_safe(text: &str, in_flow: bool) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if text.trim() != text || text.contains(['\n', '\r']) || text.chars().any(char::is_control) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if text.contains(": ") || text.contains(" #") || text.ends_with(':') {
        return false;
    }
    if in_flow && text.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    !reads_as_other_type(text)
}

/// Words and numbers a YAML reader (1.2 core schema, or an older 1.1 one) types.
fn reads_as_other_type(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return true;
    }
    if matches!(
        lower.trim_start_matches(['+', '-']),
        ".inf" | ".nan" | "inf" | "nan"
    ) {
        return true;
    }
    let body = text.trim_start_matches(['+', '-']);
    if body.starts_with("0x") || body.starts_with("0o") {
        return true;
    }
    // Digits, dots, exponents and underscores only: a number to some reader.
    !body.is_empty()
        && body.chars().any(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use crate::value::Scalar;
    use crate::yaml::{self, NodeKind};

    /// Every form must read back, through the project's own YAML reader, as the string.
    fn reads_back(yaml_value: &str, expected: &str) {
        let text = format!("k: {yaml_value}\n");
        let mut d = crate::diag::Diagnostics::default();
        let root = yaml::parse(&text, FileId::default(), &mut d).expect("parses");
        let value = root.get("k").expect("has k");
        match &value.kind {
            NodeKind::Scalar(Scalar::Text(t)) => assert_eq!(t, expected, "{text}"),
            other => panic!("{text} read as {other:?}"),
        }
    }

    #[test]
    fn strings_that_look_like_something_else_are_quoted() {
        for s in [
            "1", "1.000", "-3", "1e5", "true", "NULL", "no", "", " x", "a: b", "x #y", "- a",
            "[a]", "{b}", "*x", "'q'", "12:30", ".inf", "0x1f", "(empty)", "a\tb",
        ] {
            reads_back(&block_scalar(s, 4), s);
        }
        assert_eq!(
            block_scalar("SELECT a, b FROM t1", 4),
            "SELECT a, b FROM t1"
        );
        assert_eq!(flow_scalar("a,b"), "\"a,b\"");
        assert_eq!(flow_scalar("abc"), "abc");
    }

    #[test]
    fn multi_line_sql_is_a_literal_block() {
        let sql = "SELECT a\n  FROM t1\n\n WHERE b > 0";
        let block = block_scalar(sql, 4);
        assert!(block.starts_with("|-\n    SELECT a\n      FROM t1\n\n     WHERE"));
        reads_back(&block, sql);
        let leading_space = " SELECT 1\nFROM t";
        reads_back(&block_scalar(leading_space, 4), leading_space);
    }
}
