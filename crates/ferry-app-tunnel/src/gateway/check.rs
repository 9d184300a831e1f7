//! `ferry-gateway check`: everything the gateway would load, loaded, without binding.

use ferry_app_core::ConfigError;

use super::loaded::{Loaded, Verifiers, check_cluster};
use crate::config::GatewayConfig;

/// Reads and checks everything `config` names, as [`super::bind`] would (the token file, the
/// JWT public keys, every certificate and key, and with `[cluster]` the peer credential,
/// certificate and CA file) without binding a socket or contacting the registry, and returns
/// [`GatewayConfig::explain`]: the config with every default filled in (no secret is shown;
/// the token file and the keys are named by path).
///
/// # Errors
///
/// [`ConfigError::Read`] naming a file that cannot be read; [`ConfigError::Invalid`] naming
/// the key (`auth.tokens`, `auth.jwt_keys[0]`, `auth.agent_ca`, `auth.agent_crl`, `tls`,
/// `client_tls`, `client_tls.client_ca`, `cluster.peer_ca`, ...)
/// whose file cannot be used.
pub fn check(config: &GatewayConfig) -> Result<String, ConfigError> {
    Loaded::load(config, &Verifiers::new())?;
    check_cluster(config)?;
    Ok(config.explain())
}
