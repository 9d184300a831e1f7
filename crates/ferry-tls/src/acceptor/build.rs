//! Turning an [`AcceptorConfig`] into a `rustls::ServerConfig`, fully validated.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{
    NoServerSessionStorage, ProducesTickets, ServerSessionMemoryCache, StoresServerSessions,
    WebPkiClientVerifier,
};

use super::config::{AcceptorConfig, ClientAuth};
use crate::cert::load_arc;
use crate::error::TlsConfigError;
use crate::pem::load_roots;
use crate::sni::{SniName, SniResolver};
use crate::tickets::Tickets;

/// Resumption state kept across reloads so that sessions and tickets issued before a reload
/// still resume after it.
#[derive(Clone)]
pub(super) struct Resumption {
    cache_size: usize,
    cache: Arc<dyn StoresServerSessions>,
    tickets: Tickets,
    ticketer: Option<Arc<dyn ProducesTickets>>,
}

impl Resumption {
    /// Build the state for `config`, reusing what `previous` already has when the settings are
    /// unchanged (the session cache, and per-process ticket keys). A shared key file is read
    /// again.
    fn new(config: &AcceptorConfig, previous: Option<&Self>) -> Result<Self, TlsConfigError> {
        let cache = match previous {
            Some(prev) if prev.cache_size == config.session_cache_size => Arc::clone(&prev.cache),
            _ if config.session_cache_size == 0 => Arc::new(NoServerSessionStorage {}),
            _ => ServerSessionMemoryCache::new(config.session_cache_size),
        };
        let ticketer = match previous {
            Some(prev) if prev.tickets == Tickets::PerProcess && config.tickets == prev.tickets => {
                prev.ticketer.clone()
            }
            _ => config.tickets.build()?,
        };
        Ok(Self {
            cache_size: config.session_cache_size,
            cache,
            tickets: config.tickets.clone(),
            ticketer,
        })
    }

    fn enabled(&self) -> bool {
        self.cache_size > 0 || self.ticketer.is_some()
    }
}

/// Build a complete `ServerConfig` from `config`, or fail without side effects.
pub(super) fn server_config(
    config: &AcceptorConfig,
    previous: Option<&Resumption>,
) -> Result<(Arc<ServerConfig>, Resumption), TlsConfigError> {
    let provider = crate::provider(config.key_exchange);
    let resolver = resolver(config, &provider)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(config.min_version.and_newer())
        .map_err(TlsConfigError::Rustls)?;
    let builder = match &config.client_auth {
        ClientAuth::Off => builder.with_no_client_auth(),
        ClientAuth::Shared(shared) => builder.with_client_cert_verifier(Arc::new(shared.clone())),
        ClientAuth::Optional(cas) | ClientAuth::Required(cas) => {
            let roots = Arc::new(load_roots(cas)?);
            let verifier =
                WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(&provider));
            let verifier = if matches!(config.client_auth, ClientAuth::Optional(_)) {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier.build().map_err(TlsConfigError::ClientVerifier)?,
            )
        }
    };
    let mut server = builder.with_cert_resolver(Arc::new(resolver));
    server.alpn_protocols.clone_from(&config.alpn);

    let resumption = Resumption::new(config, previous)?;
    server.session_storage = Arc::clone(&resumption.cache);
    if let Some(ticketer) = &resumption.ticketer {
        server.ticketer = Arc::clone(ticketer);
    }
    if !resumption.enabled() {
        server.send_tls13_tickets = 0;
    }
    Ok((Arc::new(server), resumption))
}

fn resolver(
    config: &AcceptorConfig,
    provider: &CryptoProvider,
) -> Result<SniResolver, TlsConfigError> {
    let default = config
        .default_cert
        .as_ref()
        .map(|source| load_arc(source, provider))
        .transpose()?;
    let mut resolver = SniResolver::new(default);
    for (names, source) in &config.sni_certs {
        if names.is_empty() {
            return Err(TlsConfigError::InvalidServerName {
                name: String::new(),
            });
        }
        // Validate the names before paying for the key load.
        let parsed = names
            .iter()
            .map(|name| SniName::parse(name))
            .collect::<Result<Vec<_>, _>>()?;
        let key = load_arc(source, provider)?;
        for name in parsed {
            resolver.add(name, Arc::clone(&key))?;
        }
        tracing::debug!(?names, "sni certificate loaded");
    }
    if resolver.is_empty() {
        return Err(TlsConfigError::NoCertificates);
    }
    Ok(resolver)
}
