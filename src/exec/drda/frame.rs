//! DRDA's framing: DSS segments (data stream structures) carrying DDM objects, each a
//! length-prefixed code point with length-prefixed parameters inside.
//!
//! A DSS header is six bytes: its length (header included), 0xD0, a format byte (chaining
//! flags over the DSS type) and a correlation id. A DDM object is its length (four-byte
//! header included) and its code point, then its parameters, encoded the same way.
//! Everything the server sends is parsed into owned [`Object`]s with every length checked:
//! a malformed or truncated frame is an error, never a panic or a guess.

use tokio::io::{AsyncRead, AsyncReadExt};

/// DSS types (the format byte's low nibble).
pub const RQSDSS: u8 = 0x01;
pub const OBJDSS: u8 = 0x03;
/// Format flags: another DSS follows in the chain, with the same correlation id (`SAME`)
/// or the next one.
const CHAINED: u8 = 0x40;
const SAME_CORRELATOR: u8 = 0x10;

const MAGIC: u8 = 0xD0;
/// A DSS continued across segments sets the high bit of its length.
const CONTINUED: u16 = 0x8000;

/// A DDM object as received: its code point and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub codepoint: u16,
    pub body: Vec<u8>,
}

/// Why bytes from the server are not a DRDA reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed DRDA reply: {}", self.0)
    }
}

fn bad(what: impl Into<String>) -> FrameError {
    FrameError(what.into())
}

impl Object {
    /// The parameters inside this object's body.
    pub fn params(&self) -> Result<Vec<Object>, FrameError> {
        parse_objects(&self.body)
    }
}

/// `LL CP data` items, one after another, exactly filling `bytes`.
pub fn parse_objects(bytes: &[u8]) -> Result<Vec<Object>, FrameError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let [l0, l1, c0, c1, ..] = *rest else {
            return Err(bad(format!(
                "{} stray byte(s) after the last object",
                rest.len()
            )));
        };
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if len < 4 || len > rest.len() {
            return Err(bad(format!(
                "object {:04X} claims {len} bytes, {} remain",
                u16::from_be_bytes([c0, c1]),
                rest.len()
            )));
        }
        out.push(Object {
            codepoint: u16::from_be_bytes([c0, c1]),
            body: rest[4..len].to_vec(),
        });
        rest = &rest[len..];
    }
    Ok(out)
}

/// Reads one reply chain (DSSes until one without the chain flag), returning its objects
/// and each one's correlation id.
pub async fn read_chain<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Vec<(u16, Object)>, ReadError> {
    let mut out = Vec::new();
    loop {
        let mut header = [0u8; 6];
        reader
            .read_exact(&mut header)
            .await
            .map_err(ReadError::Io)?;
        let (len, format, correlation) = dss_header(&header).map_err(ReadError::Frame)?;
        let mut body = vec![0u8; len - 6];
        reader.read_exact(&mut body).await.map_err(ReadError::Io)?;
        // A long object continues in further segments: each a two-byte length (with the
        // continuation bit while more follow) and the next bytes.
        if u16::from_be_bytes([header[0], header[1]]) & CONTINUED != 0 {
            return Err(ReadError::Frame(bad(
                "continued DSS segments are not supported",
            )));
        }
        for object in parse_dss_body(&body).map_err(ReadError::Frame)? {
            out.push((correlation, object));
        }
        if format & CHAINED == 0 {
            return Ok(out);
        }
    }
}

/// A DSS body: one object, whose length may exceed 0x7FFF only through continuation
/// (refused above), so its own header decides.
fn parse_dss_body(body: &[u8]) -> Result<Vec<Object>, FrameError> {
    parse_objects(body)
}

fn dss_header(h: &[u8; 6]) -> Result<(usize, u8, u16), FrameError> {
    let len = usize::from(u16::from_be_bytes([h[0], h[1]]) & !CONTINUED);
    if h[2] != MAGIC {
        return Err(bad(format!("DSS magic byte is {:#04x}, not 0xd0", h[2])));
    }
    if len < 10 {
        return Err(bad(format!(
            "DSS length {len} is shorter than a header and an object"
        )));
    }
    Ok((len, h[3], u16::from_be_bytes([h[4], h[5]])))
}

/// Why a reply could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    Frame(FrameError),
}

/// Builds a request chain: DSSes, each holding one command or object.
#[derive(Debug, Default)]
pub struct Chain {
    bytes: Vec<u8>,
    /// Where the last DSS starts, to set its chain flag when another follows.
    last: Option<usize>,
    correlation: u16,
}

impl Chain {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a request DSS (a command) with the next correlation id.
    pub fn command(&mut self, codepoint: u16, params: &[Vec<u8>]) -> &mut Self {
        self.correlation += 1;
        self.push(RQSDSS, codepoint, params, false)
    }

    /// An object DSS carrying the previous command's data (same correlation id).
    pub fn object(&mut self, codepoint: u16, body: &[u8]) -> &mut Self {
        self.push(OBJDSS, codepoint, &[body.to_vec()], true)
    }

    fn push(&mut self, kind: u8, codepoint: u16, params: &[Vec<u8>], same: bool) -> &mut Self {
        if let Some(at) = self.last {
            // The previous DSS is chained to this one.
            self.bytes[at + 3] |= CHAINED | if same { SAME_CORRELATOR } else { 0 };
        }
        let body: usize = params.iter().map(Vec::len).sum();
        let start = self.bytes.len();
        let dss_len = 6 + 4 + body;
        self.bytes.extend_from_slice(&len16(dss_len));
        self.bytes.extend_from_slice(&[MAGIC, kind]);
        self.bytes
            .extend_from_slice(&self.correlation.to_be_bytes());
        self.bytes.extend_from_slice(&len16(4 + body));
        self.bytes.extend_from_slice(&codepoint.to_be_bytes());
        for p in params {
            self.bytes.extend_from_slice(p);
        }
        self.last = Some(start);
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// A length as two bytes; requests here are far below 32 KiB (SQL longer than that is
/// refused before it is framed).
fn len16(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes()
}

/// A parameter: `LL CP data`.
pub fn param(codepoint: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + data.len());
    out.extend_from_slice(&len16(4 + data.len()));
    out.extend_from_slice(&codepoint.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// The largest body one DSS carries without continuation.
pub const MAX_BODY: usize = 0x7FFF - 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_sets_flags_and_correlation_ids() {
        let mut chain = Chain::new();
        chain.command(0x200A, &[param(0x2105, &[0xF1])]);
        chain.object(0x2414, b"x");
        chain.command(0x200E, &[]);
        let bytes = chain.into_bytes();
        // EXCSQLIMM: chained to an object with the same correlator.
        assert_eq!(&bytes[..6], &[0x00, 0x0F, 0xD0, 0x51, 0x00, 0x01]);
        // The object: chained to the next command, correlation 1.
        assert_eq!(&bytes[15..21], &[0x00, 0x0B, 0xD0, 0x43, 0x00, 0x01]);
        // The last command ends the chain, correlation 2.
        assert_eq!(&bytes[26..32], &[0x00, 0x0A, 0xD0, 0x01, 0x00, 0x02]);
    }

    #[test]
    fn truncated_and_lying_lengths_are_errors() {
        assert!(parse_objects(&[0x00, 0x08, 0x24, 0x08, 0x00]).is_err());
        assert!(parse_objects(&[0x00, 0x02, 0x24, 0x08]).is_err());
        assert!(parse_objects(&[0x00]).is_err());
        assert_eq!(
            parse_objects(&[0x00, 0x05, 0x24, 0x08, 0xFF]).expect("parses"),
            vec![Object {
                codepoint: 0x2408,
                body: vec![0xFF]
            }]
        );
    }

    #[tokio::test]
    async fn arbitrary_bytes_never_panic_the_reader() {
        // A small deterministic fuzz: every prefix and many mutations of a real reply.
        let reply: Vec<u8> = vec![
            0x00, 0x15, 0xD0, 0x42, 0x00, 0x01, 0x00, 0x0F, 0x12, 0x19, 0x00, 0x06, 0x11, 0x49,
            0x00, 0x00, 0x00, 0x05, 0x11, 0xA4, 0x00,
        ];
        let mut seed: u32 = 0x1234_5678;
        for round in 0..2000 {
            let mut bytes = reply.clone();
            let cut = round % (reply.len() + 1);
            bytes.truncate(cut.max(1));
            for _ in 0..(round % 4) {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let at = (seed as usize) % bytes.len();
                bytes[at] = (seed >> 16) as u8;
            }
            let mut reader = bytes.as_slice();
            if let Ok(objects) = read_chain(&mut reader).await {
                for (_, o) in objects {
                    let _ = o.params();
                }
            }
        }
    }
}
