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
mod client_certs;
#[cfg(test)]
mod client_certs_tests;
mod cluster;
mod flags;
mod gateway;
mod gateway_explain;
mod rate;
mod service;
#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use ferry_allow::{Allowlist, SpecialAddresses};
use ferry_app_core::ConfigError;
use serde::Deserialize;

pub use self::agent::{
    AgentConfig, AgentCredential, ClientCertFiles, DEFAULT_AGENT_CONNECT_TIMEOUT,
    DEFAULT_FALLBACK_AFTER, DEFAULT_QUIC_RETRY, DEFAULT_RECONNECT_MAX, DEFAULT_RECONNECT_MIN,
    DEFAULT_UDP_IDLE_TIMEOUT,
};
pub use self::client_certs::{AgentAuthMode, ClientCertSettings};
pub use self::cluster::{ClusterConfig, DEFAULT_REGISTRY_TIMEOUT, RegistrySpec};
pub use self::flags::{AgentFlags, GatewayFlags};
pub use self::gateway::{AgentTcpListen, GatewayAuth, GatewayConfig, JwtKeyFile};
pub use self::rate::parse_rate;
pub(crate) use self::service::gateway_allows;
pub use self::service::{
    DEFAULT_FLOW_IDLE_TIMEOUT, DEFAULT_MAX_FLOWS, MAX_SERVICE_NAME, ServiceConfig,
};

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
/// `post_quantum` (default `true`): the hybrid `X25519MLKEM768` group first, or classical
/// groups only.
fn key_exchange(post_quantum: Option<bool>) -> ferry_tls::KeyExchange {
    if post_quantum.unwrap_or(true) {
        ferry_tls::KeyExchange::PostQuantum
    } else {
        ferry_tls::KeyExchange::Classical
    }
}

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

/// The smallest QUIC flow-control window accepted: 16 KiB (below it every transfer crawls).
const MIN_QUIC_WINDOW: u64 = 16 * 1024;
/// The largest QUIC flow-control window accepted: 1 GiB.
const MAX_QUIC_WINDOW: u64 = 1024 * 1024 * 1024;

/// Sets the per-stream and per-connection receive windows of `quic` from optional file values
/// in bytes (`keys`: the stream key, then the connection key; defaults from
/// [`ferry_tunnel::QuicSettings::default`], 2 MiB and 16 MiB): each 16 KiB..=1 GiB, the stream
/// window at most the connection window (when only the connection window is given, the
/// stream window is lowered to it).
fn quic_windows(
    keys: (&str, &str),
    stream: Option<u64>,
    connection: Option<u64>,
    quic: &mut ferry_tunnel::QuicSettings,
) -> Result<(), ConfigError> {
    for (key, v, field) in [
        (keys.0, stream, &mut quic.stream_receive_window),
        (keys.1, connection, &mut quic.receive_window),
    ] {
        if let Some(v) = v {
            if !(MIN_QUIC_WINDOW..=MAX_QUIC_WINDOW).contains(&v) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{v} bytes: must be 16384 (16 KiB) to 1073741824 (1 GiB)"),
                ));
            }
            *field = u32::try_from(v).unwrap_or(u32::MAX);
        }
    }
    if stream.is_none() {
        // Only the connection window given: a stream cannot use more than it anyway.
        quic.stream_receive_window = quic.stream_receive_window.min(quic.receive_window);
    }
    if quic.stream_receive_window > quic.receive_window {
        return Err(ConfigError::invalid(
            keys.0,
            format!(
                "{} bytes: must be at most {} ({} bytes)",
                quic.stream_receive_window, keys.1, quic.receive_window
            ),
        ));
    }
    Ok(())
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
