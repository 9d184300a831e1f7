//! Everything a gateway config names, read and checked without binding anything: used at
//! start ([`super::bind`]), by `ferry-gateway check` ([`super::check`]) and before a reload
//! applies anything ([`super::Reloader`]).

use ferry_app_core::ConfigError;
use ferry_auth::Authenticator;
use ferry_tls::{ClientCertChecker, SharedClientVerifier, TlsAcceptor};

use super::load;
use crate::config::{CertSpec, ClusterConfig, GatewayConfig};

/// The client-certificate verifiers of the agent endpoint and of the client front: made once
/// at start, their policies replaced at each reload (so that a reload never rebuilds a TLS
/// configuration to change them).
#[derive(Clone, Debug)]
pub(super) struct Verifiers {
    pub(super) agents: SharedClientVerifier,
    pub(super) clients: SharedClientVerifier,
}

impl Verifiers {
    pub(super) fn new() -> Self {
        Self {
            agents: SharedClientVerifier::new("an agent", None),
            clients: SharedClientVerifier::new("a client", None),
        }
    }
}

/// The credentials and certificates of a config, loaded.
pub(super) struct Loaded {
    pub(super) auth: Authenticator,
    pub(super) agent_tls: TlsAcceptor,
    pub(super) client_tls: Option<TlsAcceptor>,
    /// The agent certificate policy (`auth.agent_ca`, ...), for [`Verifiers::agents`].
    pub(super) agent_certs: Option<ClientCertChecker>,
    /// The client certificate policy (`client_tls.client_ca`, ...), for
    /// [`Verifiers::clients`].
    pub(super) client_certs: Option<ClientCertChecker>,
}

impl Loaded {
    /// Reads the token file, the JWT keys, both certificates of `config` and the client
    /// certificate CAs, CRLs and serials; the acceptors use `verifiers`.
    pub(super) fn load(config: &GatewayConfig, verifiers: &Verifiers) -> Result<Self, ConfigError> {
        Ok(Self {
            auth: config.auth.load()?,
            agent_tls: load::acceptor_with(
                "tls",
                &config.agent_tls,
                true,
                config.key_exchange,
                Some(&verifiers.agents),
            )?,
            client_tls: config
                .client_tls
                .as_ref()
                .map(|spec| {
                    load::acceptor_with(
                        "client_tls",
                        spec,
                        false,
                        config.key_exchange,
                        Some(&verifiers.clients),
                    )
                })
                .transpose()?,
            agent_certs: config
                .auth
                .agent_certs
                .as_ref()
                .map(|c| c.load())
                .transpose()?,
            client_certs: config.client_certs.as_ref().map(|c| c.load()).transpose()?,
        })
    }

    /// Puts the certificate policies in force in `verifiers` (for the next handshakes and
    /// checks).
    pub(super) fn apply_certificates(&mut self, verifiers: &Verifiers) {
        verifiers.agents.store(self.agent_certs.take());
        verifiers.clients.store(self.client_certs.take());
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
