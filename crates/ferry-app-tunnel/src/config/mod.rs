//! The gateway's and the agent's configuration: TOML files (`deny_unknown_fields`, every error
//! names the key) validated into the types the programs run with.
//!
//! Validation reads no file; paths are kept as given (relative paths are relative to the
//! working directory, no `~` expansion). [`GatewayAuth::load`] and [`AgentCredential::load`]
//! read the credential files when the program starts.
//!
//! Both programs **fail closed**: a gateway without a token file or JWT public keys is a config
//! error, and so is an agent without `token_file` or `token_env` unless it says
//! `insecure_no_auth = true`.

mod agent;
mod agent_explain;
mod cluster;
mod flags;
mod gateway;
mod gateway_explain;
mod rate;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use ferry_allow::{Allowlist, SpecialAddresses};
use ferry_app_core::ConfigError;
use serde::Deserialize;

pub use self::agent::{
    AgentConfig, AgentCredential, DEFAULT_AGENT_CONNECT_TIMEOUT, DEFAULT_RECONNECT_MAX,
    DEFAULT_RECONNECT_MIN,
};
pub use self::cluster::{ClusterConfig, DEFAULT_REGISTRY_TIMEOUT, RegistrySpec};
pub use self::flags::{AgentFlags, GatewayFlags};
pub use self::gateway::{GatewayAuth, GatewayConfig, JwtKeyFile};
pub use self::rate::parse_rate;

/// A certificate for a TLS or QUIC listener.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertSpec {
    /// A PEM chain and its private key.
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// A self-signed certificate generated at start (development only).
    SelfSigned,
}

/// `[tls]` / `[client_tls]` in a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertFile {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    #[serde(default)]
    self_signed: bool,
}

impl CertFile {
    fn validate(self, table: &str) -> Result<CertSpec, ConfigError> {
        match (self.cert, self.key, self.self_signed) {
            (Some(cert), Some(key), false) => Ok(CertSpec::Files { cert, key }),
            (None, None, true) => Ok(CertSpec::SelfSigned),
            (Some(_), _, true) | (_, Some(_), true) => Err(ConfigError::invalid(
                format!("{table}.self_signed"),
                "self_signed = true cannot be combined with cert/key",
            )),
            (Some(_), None, false) => Err(ConfigError::invalid(
                format!("{table}.key"),
                "missing (cert is set)",
            )),
            (None, Some(_), false) => Err(ConfigError::invalid(
                format!("{table}.cert"),
                "missing (key is set)",
            )),
            (None, None, false) => Err(ConfigError::invalid(
                format!("{table}.cert"),
                "missing (set cert and key, or self_signed = true)",
            )),
        }
    }
}

/// Parses `key`'s allowlist entries; an empty list is refused (it would deny everything).
fn allowlist(key: &str, entries: &[String], special: bool) -> Result<Allowlist, ConfigError> {
    if entries.is_empty() {
        return Err(ConfigError::invalid(
            key,
            "empty: list the destinations allowed (an empty list denies everything)",
        ));
    }
    let list = Allowlist::from_entries(entries).map_err(|e| {
        let index = e.index().map_or_else(String::new, |i| format!("[{i}]"));
        ConfigError::invalid(format!("{key}{index}"), e.to_string())
    })?;
    Ok(if special {
        list.with_special_addresses(SpecialAddresses::Allow)
    } else {
        list
    })
}

/// The longest QUIC idle timeout accepted: 1 day.
const MAX_QUIC_IDLE: std::time::Duration = std::time::Duration::from_secs(86_400);

/// QUIC keep-alive and idle timeout from optional file values (defaults from
/// [`ferry_tunnel::QuicSettings::default`]): both above zero, the idle timeout above the
/// keep-alive interval (or the connection would idle out between keep-alives) and at most a day.
fn quic_settings(
    keys: (&str, &str),
    keep_alive: Option<std::time::Duration>,
    idle: Option<std::time::Duration>,
) -> Result<ferry_tunnel::QuicSettings, ConfigError> {
    let mut quic = ferry_tunnel::QuicSettings::default();
    quic.keep_alive_interval = keep_alive.unwrap_or(quic.keep_alive_interval);
    quic.idle_timeout = idle.unwrap_or(quic.idle_timeout);
    if quic.keep_alive_interval.is_zero() {
        return Err(ConfigError::invalid(keys.0, "must be longer than 0"));
    }
    if quic.idle_timeout <= quic.keep_alive_interval {
        return Err(ConfigError::invalid(
            keys.1,
            format!(
                "must be longer than {} ({:?})",
                keys.0, quic.keep_alive_interval
            ),
        ));
    }
    if quic.idle_timeout > MAX_QUIC_IDLE {
        return Err(ConfigError::invalid(keys.1, "must be at most 1 day"));
    }
    Ok(quic)
}

fn syntax(e: &toml::de::Error) -> ConfigError {
    ConfigError::Syntax {
        path: None,
        message: e.to_string().trim_end().replace('\n', " "),
    }
}

fn read(path: &std::path::Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

fn with_path(e: ConfigError, path: &std::path::Path) -> ConfigError {
    match e {
        ConfigError::Syntax { message, .. } => ConfigError::Syntax {
            path: Some(path.to_owned()),
            message,
        },
        other => other,
    }
}
