//! Minimal PEM (RFC 7468) reading and writing for the two labels this crate uses.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::KeyError;

/// Largest PEM input read: 1 MiB.
const MAX_PEM_LEN: usize = 1 << 20;

/// The DER contents of every block labelled `label`, in order.
pub(crate) fn decode_all(text: &str, label: &'static str) -> Result<Vec<Vec<u8>>, KeyError> {
    let bad = KeyError::Pem { label };
    if text.len() > MAX_PEM_LEN {
        return Err(bad);
    }
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let body_start = start + begin.len();
        let body_and_more = rest.get(body_start..).ok_or_else(|| bad.clone())?;
        let body_len = body_and_more.find(&end).ok_or_else(|| bad.clone())?;
        let body = body_and_more.get(..body_len).ok_or_else(|| bad.clone())?;
        let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD.decode(b64).map_err(|_not_base64| bad.clone())?;
        out.push(der);
        rest = body_and_more.get(body_len + end.len()..).unwrap_or("");
    }
    if out.is_empty() {
        return Err(bad);
    }
    Ok(out)
}

/// `der` as a PEM block labelled `label` (64-character lines, trailing newline).
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roundtrip_and_several_blocks() {
        let a = encode("PUBLIC KEY", &[1; 100]);
        let b = encode("PUBLIC KEY", &[2; 3]);
        let both = format!("comment\n{a}\n{b}");
        assert_eq!(
            decode_all(&both, "PUBLIC KEY").unwrap(),
            vec![vec![1; 100], vec![2; 3]]
        );
        assert!(decode_all(&a, "PRIVATE KEY").is_err());
        assert!(decode_all("-----BEGIN PUBLIC KEY-----\nAAA", "PUBLIC KEY").is_err());
        assert!(
            decode_all(
                "-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----",
                "PUBLIC KEY"
            )
            .is_err()
        );
    }
}
