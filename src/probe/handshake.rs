//! The opening of each protocol, sent to an endpoint, and what its answer says: whether
//! the endpoint speaks that protocol, refuses it cleanly, or stays silent.

use std::time::Duration;

use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::exec::ExecError;
use crate::exec::http::HttpClient;
use crate::exec::snowflake;
use crate::target::Target;

// The type is in the executor table (an executor's row names its handshake); what each
// one sends and how its answer reads are here.
pub use crate::executor::Handshake;

impl Handshake {
    /// Every handshake, in the order of the probe table's columns.
    pub const ALL: [Handshake; 6] = [
        Handshake::Postgres,
        Handshake::Mysql,
        Handshake::Tds,
        Handshake::Snowflake,
        Handshake::Databricks,
        Handshake::Pinecone,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Handshake::Postgres => "postgresql",
            Handshake::Mysql => "mysql",
            Handshake::Tds => "tds",
            Handshake::Snowflake => "snowflake",
            Handshake::Databricks => "databricks",
            Handshake::Pinecone => "pinecone",
        }
    }

    /// A server of this protocol waits for the client to speak first: silence from an
    /// endpoint that does not speak it is a clean refusal, not a hang.
    fn server_speaks_first(self) -> bool {
        self == Handshake::Mysql
    }
}

/// What an endpoint did with a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// It answered as the protocol does.
    Speaks(String),
    /// It closed the connection or answered with something else, within the bound.
    Refused(String),
    /// Nothing within the bound.
    Silent,
    /// No connection at all.
    Unreachable(String),
}

impl Reply {
    /// For a handshake the endpoint is not meant to speak: refused without hanging.
    pub fn is_clean_refusal(&self, handshake: Handshake) -> bool {
        match self {
            Reply::Refused(_) => true,
            Reply::Silent => handshake.server_speaks_first(),
            Reply::Speaks(_) | Reply::Unreachable(_) => false,
        }
    }
}

/// Where to send a handshake: the endpoint's address, and for the HTTP APIs the scheme,
/// base path and CA file of the target that names the endpoint for that protocol.
pub struct Destination<'a> {
    pub address: &'a str,
    pub http: &'a Target,
}

/// Sends one handshake and reads what comes back, never for longer than `bound`.
pub async fn send(handshake: Handshake, to: &Destination<'_>, bound: Duration) -> Reply {
    let answer = tokio::time::timeout(bound, async {
        match handshake {
            Handshake::Postgres => raw(to.address, &SSL_REQUEST, postgres).await,
            Handshake::Mysql => raw(to.address, &[], mysql).await,
            Handshake::Tds => raw(to.address, &tds_prelogin(), tds).await,
            Handshake::Snowflake => {
                let client = snowflake::api_client(to.http);
                http(
                    client,
                    reqwest::Method::POST,
                    "/queries/v1/abort-request",
                    |b| b.get("success").is_some_and(Json::is_boolean),
                )
                .await
            }
            Handshake::Databricks => {
                let client = HttpClient::at_target_path(to.http);
                http(
                    client,
                    reqwest::Method::GET,
                    "/api/2.0/sql/warehouses",
                    |b| b.get("warehouses").is_some() || b.get("error_code").is_some(),
                )
                .await
            }
            Handshake::Pinecone => {
                let client = HttpClient::at_target_path(to.http);
                http(client, reqwest::Method::GET, "/indexes", |b| {
                    b.get("indexes").is_some_and(Json::is_array)
                })
                .await
            }
        }
    })
    .await;
    answer.unwrap_or(Reply::Silent)
}

/// PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A TDS PRELOGIN packet with VERSION and ENCRYPTION (not supported) options.
fn tds_prelogin() -> Vec<u8> {
    // Option table: token, offset, length (big-endian), then the terminator 0xff.
    let options: [u8; 11] = [0x00, 0, 11, 0, 6, 0x01, 0, 17, 0, 1, 0xff];
    let data: [u8; 7] = [0, 0, 0, 0, 0, 0, 0x02];
    let length = (8 + options.len() + data.len()) as u16;
    let mut packet = vec![0x12, 0x01];
    packet.extend_from_slice(&length.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 1, 0]);
    packet.extend_from_slice(&options);
    packet.extend_from_slice(&data);
    packet
}

/// Connects, sends `hello` (if any), reads the first answer and judges it.
async fn raw(address: &str, hello: &[u8], judge: fn(&[u8]) -> Reply) -> Reply {
    let mut stream = match TcpStream::connect(address).await {
        Ok(s) => s,
        Err(e) => return Reply::Unreachable(e.to_string()),
    };
    if !hello.is_empty()
        && let Err(e) = stream.write_all(hello).await
    {
        return Reply::Refused(format!("closed before the handshake was sent: {e}"));
    }
    let mut buffer = vec![0u8; 512];
    match stream.read(&mut buffer).await {
        Ok(0) => Reply::Refused("closed the connection".to_string()),
        Ok(n) => judge(&buffer[..n]),
        Err(e) => Reply::Refused(format!("reset the connection ({e})")),
    }
}

fn postgres(answer: &[u8]) -> Reply {
    match answer {
        [b'S'] => Reply::Speaks("SSLRequest: S (TLS offered)".to_string()),
        [b'N'] => Reply::Speaks("SSLRequest: N (no TLS)".to_string()),
        // A server that does not take SSLRequest may answer with an ErrorResponse.
        [b'E', ..] if answer.len() > 5 => Reply::Speaks("an ErrorResponse".to_string()),
        other => Reply::Refused(not_it(other)),
    }
}

fn mysql(answer: &[u8]) -> Reply {
    let payload = answer.get(4..).unwrap_or_default();
    match payload.first() {
        Some(10) => {
            let version = payload[1..]
                .split(|b| *b == 0)
                .next()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            Reply::Speaks(format!("greeting, server {version}"))
        }
        // A MySQL server that refuses the host still greets with an error packet.
        Some(0xff) => Reply::Speaks("an error packet".to_string()),
        _ => Reply::Refused(not_it(answer)),
    }
}

fn tds(answer: &[u8]) -> Reply {
    match answer.first() {
        Some(0x04) => Reply::Speaks("PRELOGIN answered".to_string()),
        _ => Reply::Refused(not_it(answer)),
    }
}

/// A short description of an answer in the wrong protocol.
fn not_it(answer: &[u8]) -> String {
    let text: String = answer
        .iter()
        .take(24)
        .map(|b| {
            if b.is_ascii_graphic() || *b == b' ' {
                char::from(*b)
            } else {
                '.'
            }
        })
        .collect();
    format!(
        "answered {} byte(s) of something else ({text:?})",
        answer.len()
    )
}

/// One API request through the client its executor would use (the base path is read from
/// the target as the executor reads it); `speaks` says whether the JSON answer is that API's.
async fn http(
    client: Result<HttpClient, ExecError>,
    method: reqwest::Method,
    path: &str,
    speaks: fn(&Json) -> bool,
) -> Reply {
    let client = match client {
        Ok(c) => c,
        Err(e) => return Reply::Unreachable(e.to_string()),
    };
    let url = match client.url(path) {
        Ok(u) => u,
        Err(e) => return Reply::Unreachable(e.to_string()),
    };
    let request = client
        .request(method, &url)
        .header("Accept", "application/json");
    match client.send(request).await {
        Ok((status, body)) if speaks(&body) => Reply::Speaks(format!("HTTP {status}, its JSON")),
        Ok((status, _)) => Reply::Refused(format!("HTTP {status}, not this API's answer")),
        Err(ExecError::Connect(m)) if !m.contains("TLS") => Reply::Unreachable(m),
        Err(e) => Reply::Refused(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_by_their_first_bytes() {
        assert!(matches!(postgres(b"S"), Reply::Speaks(_)));
        assert!(matches!(postgres(b"N"), Reply::Speaks(_)));
        assert!(matches!(postgres(b"HTTP/1.1 400"), Reply::Refused(_)));
        let greeting = b"\x5b\0\0\0\x0a10.11.6-MariaDB\0rest";
        assert_eq!(
            mysql(greeting),
            Reply::Speaks("greeting, server 10.11.6-MariaDB".to_string())
        );
        assert!(matches!(mysql(b"N"), Reply::Refused(_)));
        assert!(matches!(mysql(b""), Reply::Refused(_)));
        assert!(matches!(tds(b"\x04\x01\0\x25"), Reply::Speaks(_)));
        assert!(matches!(tds(b"E\0\0\0"), Reply::Refused(_)));
    }

    #[test]
    fn silence_is_clean_only_where_the_server_would_speak_first() {
        assert!(Reply::Silent.is_clean_refusal(Handshake::Mysql));
        assert!(!Reply::Silent.is_clean_refusal(Handshake::Postgres));
        assert!(!Reply::Silent.is_clean_refusal(Handshake::Snowflake));
        assert!(Reply::Refused(String::new()).is_clean_refusal(Handshake::Tds));
        assert!(!Reply::Speaks(String::new()).is_clean_refusal(Handshake::Tds));
    }

    #[test]
    fn the_prelogin_packet_says_its_length() {
        let p = tds_prelogin();
        assert_eq!(p[0], 0x12);
        assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len());
    }
}
