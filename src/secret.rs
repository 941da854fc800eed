//! Secrets are never printed: passwords and tokens are masked in any text that may hold a
//! URL (targets, endpoints, error messages that quote them).

use std::sync::LazyLock;

use regex::Regex;

static USERINFO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"://([^:/@?#]*):([^@/?#]*)@").expect("literal regex"));
static SECRET_PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)([?&;](?:password|passwd|pwd|token|access_token|api_key|apikey|secret)=)[^&;#]*",
    )
    .expect("literal regex")
});

/// `password=secret` in a libpq-style connection string (`dbname=x password=secret`), as
/// a driver's own messages quote it.
static KEYWORD_PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)((?:^|[\s'\x22(,])(?:password|passwd|pwd)\s*=\s*)('[^']*'|[^\s'\x22&;,)]+)")
        .expect("literal regex")
});

/// Masks passwords and tokens in any text that may contain a URL or a connection string.
pub fn mask(text: &str) -> String {
    let masked = USERINFO.replace_all(text, "://$1:****@");
    let masked = SECRET_PARAM.replace_all(&masked, "${1}****");
    KEYWORD_PARAM.replace_all(&masked, "${1}****").into_owned()
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_passwords_and_tokens() {
        assert_eq!(
            mask("postgres://test:s3cret@127.0.0.1:5432/helios"),
            "postgres://test:****@127.0.0.1:5432/helios"
        );
        assert_eq!(
            mask("http://127.0.0.1:8444/?token=abc&x=1"),
            "http://127.0.0.1:8444/?token=****&x=1"
        );
        assert_eq!(
            mask("connection to dbname=helios host=127.0.0.1 password=s3cret failed"),
            "connection to dbname=helios host=127.0.0.1 password=**** failed"
        );
        assert_eq!(
            mask("dsn='dbname=x password = \'a b\'' and PWD=xyz)"),
            "dsn='dbname=x password = ****' and PWD=****)"
        );
        assert_eq!(
            mask("mysql://root@127.0.0.1/db"),
            "mysql://root@127.0.0.1/db"
        );
    }
}
