//! Everything a gateway config names, read and checked without binding anything: used at
//! start ([`super::bind`]), by `ferry-gateway check` ([`super::check`]) and before a reload
//! applies anything ([`super::Reloader`]).

use ferry_app_core::ConfigError;
use ferry_auth::Authenticator;
use ferry_tls::TlsAcceptor;

use super::load;
use crate::config::{CertSpec, ClusterConfig, GatewayConfig};

/// The credentials and certificates of a config, loaded.
pub(super) struct Loaded {
    pub(super) auth: Authenticator,
    pub(super) agent_tls: TlsAcceptor,
    pub(super) client_tls: Option<TlsAcceptor>,
}

impl Loaded {
    /// Reads the token file, the JWT keys and both certificates of `config`.
    pub(super) fn load(config: &GatewayConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            auth: config.auth.load()?,
            agent_tls: load::acceptor("tls", &config.agent_tls, true, config.key_exchange)?,
            client_tls: config
                .client_tls
                .as_ref()
                .map(|spec| load::acceptor("client_tls", spec, false, config.key_exchange))
                .transpose()?,
        })
    }
}

/// Reads what `[cluster]` names (the peer credential, the peer certificate, the peer CA)
/// without binding or connecting; returns the peer listener's acceptor.
pub(super) fn check_cluster(config: &GatewayConfig) -> Result<Option<TlsAcceptor>, ConfigError> {
    let Some(c) = &config.cluster else {
        return Ok(None);
    };
    c.load_credential()?;
    let tls = load::acceptor(
        "cluster.peer_tls",
        peer_cert(config, c),
        false,
        config.key_exchange,
    )?;
    load::connector("cluster.peer_ca", &c.peer_ca, config.key_exchange)?;
    Ok(Some(tls))
}

/// The peer listener's certificate: `[cluster.peer_tls]`, else `[tls]`.
pub(super) fn peer_cert<'a>(config: &'a GatewayConfig, c: &'a ClusterConfig) -> &'a CertSpec {
    c.peer_tls.as_ref().unwrap_or(&config.agent_tls)
}

/// Whether a certificate has to be loaded again at a reload: files are re-read (they may have
/// been renewed in place); a self-signed certificate that stays self-signed is kept (a new one
/// would lock out every agent that trusts the current one).
pub(super) fn reload_needed(old: &CertSpec, new: &CertSpec) -> bool {
    !(matches!(old, CertSpec::SelfSigned) && matches!(new, CertSpec::SelfSigned))
}
