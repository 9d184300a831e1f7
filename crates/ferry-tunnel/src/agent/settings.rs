//! The agent's settings in force: one generation at a time, swapped whole by
//! [`Agent::update`](super::Agent::update).

use std::sync::Arc;

use ferry_bridge::Bridge;

use super::AgentConfig;
use crate::quic::{self, QuicConfigError};

/// One generation of settings and what is built from them. Readers take an `Arc` of the
/// generation at the moment they start (a connection attempt, a tunnel, a back-off delay) and
/// keep it: a later update never changes a connection or a tunnel already under way.
pub(crate) struct Generation {
    pub(crate) config: Arc<AgentConfig>,
    /// The quinn client config (roots, ALPN, transport settings) for the next connect.
    pub(crate) client: quinn::ClientConfig,
    /// The verifier in `client`: why it refused the gateway's certificate, after a failed
    /// handshake (one attempt at a time uses a generation).
    pub(crate) verifier: Arc<ferry_tls::RecordingVerifier>,
    /// The rustls client config of the TCP transport (the same verifier as `client`).
    pub(crate) tcp_tls: Arc<rustls::ClientConfig>,
    /// The bridge for new tunnels.
    pub(crate) bridge: Bridge,
}

impl Generation {
    /// Builds everything `config` needs; fails without side effects.
    pub(crate) fn build(config: AgentConfig) -> Result<Self, QuicConfigError> {
        let verifier = Arc::new(
            ferry_tls::RecordingVerifier::new(Arc::clone(&config.roots))
                .map_err(QuicConfigError::Roots)?,
        );
        let mut client = quinn::ClientConfig::new(quic::client_crypto_verified(
            Arc::clone(&verifier),
            config.client_cert.clone(),
            config.key_exchange,
        )?);
        client.transport_config(quic::transport_config(
            &config.quic,
            config.max_tunnels.get(),
        )?);
        // The same verifier and client certificate as on QUIC, ALPN `ferry-tunnel-h2/1`.
        let tcp_tls = Arc::new(quic::agent_client_tls(
            Arc::clone(&verifier),
            config.client_cert.clone(),
            config.key_exchange,
            crate::wire::ALPN_TCP,
        )?);
        let bridge = Bridge::new(config.bridge.clone());
        Ok(Self {
            config: Arc::new(config),
            client,
            verifier,
            tcp_tls,
            bridge,
        })
    }
}
