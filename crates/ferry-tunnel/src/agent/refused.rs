//! The gateway refusing this agent's TLS client certificate, told in plain words: quinn only
//! passes the TLS alert on (as a QUIC crypto error code, `0x100 + alert`).

use quinn::{ConnectionError, TransportErrorCode};

/// TLS alerts about the client's certificate (RFC 8446 §6.2) and what they mean here.
const ALERTS: [(u8, &str); 9] = [
    (42, "bad certificate"),
    (
        43,
        "unsupported certificate (not meant for TLS clients: no clientAuth usage)",
    ),
    (44, "certificate revoked"),
    (45, "certificate expired or not yet valid"),
    (46, "certificate unknown"),
    (
        48,
        "unknown CA (not signed by a CA the gateway trusts, or its revocation status is unknown)",
    ),
    (49, "access denied"),
    (
        51,
        "decrypt error (the certificate's signature does not verify)",
    ),
    (116, "certificate required"),
];

/// When `error` closed the connection because the gateway refused this agent's TLS client
/// certificate, why, in one sentence; `None` for any other error. `presented` says whether
/// this agent has a certificate configured.
pub(crate) fn certificate_refused(
    error: &ConnectionError,
    gateway: std::net::SocketAddr,
    presented: bool,
) -> Option<String> {
    let ConnectionError::ConnectionClosed(close) = error else {
        return None;
    };
    let alert = ALERTS
        .iter()
        .map(|(alert, _)| *alert)
        .find(|alert| close.error_code == TransportErrorCode::crypto(*alert))?;
    alert_refusal(alert, gateway, presented)
}

/// The sentence for TLS alert `alert` (its RFC 8446 code, e.g. `u8::from` a rustls
/// `AlertDescription` received over TLS on TCP) when it is about this agent's certificate;
/// `None` for other alerts.
pub(crate) fn alert_refusal(
    alert: u8,
    gateway: std::net::SocketAddr,
    presented: bool,
) -> Option<String> {
    let (_, meaning) = ALERTS.iter().find(|(a, _)| *a == alert)?;
    Some(if presented {
        format!(
            "the gateway at {gateway} refused this agent's TLS client certificate: {meaning}; \
             the gateway's log says which check failed"
        )
    } else {
        format!(
            "the gateway at {gateway} requires a TLS client certificate ({meaning}); give \
             this agent one (`cert` and `key` in its config, or --tls-cert/--tls-key), made \
             with `ferry-gateway cert --client --agent-id ID`"
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn closed(code: TransportErrorCode) -> ConnectionError {
        ConnectionError::ConnectionClosed(quinn::ConnectionClose {
            error_code: code,
            frame_type: None,
            reason: bytes::Bytes::new(),
        })
    }

    #[test]
    fn certificate_alerts_are_explained_and_others_are_not() {
        let gw = "192.0.2.1:4433".parse().unwrap();
        let revoked = certificate_refused(&closed(TransportErrorCode::crypto(44)), gw, true);
        assert!(
            revoked
                .unwrap()
                .contains("refused this agent's TLS client certificate: certificate revoked")
        );
        let required = certificate_refused(&closed(TransportErrorCode::crypto(116)), gw, false);
        assert!(
            required
                .unwrap()
                .contains("requires a TLS client certificate")
        );
        // handshake_failure (40) is not about the client's certificate.
        assert_eq!(
            certificate_refused(&closed(TransportErrorCode::crypto(40)), gw, true),
            None
        );
        assert_eq!(
            certificate_refused(&ConnectionError::TimedOut, gw, true),
            None
        );
    }
}
