//! Validated configuration of the three modes and its TOML file model.
//!
//! Every file type uses `deny_unknown_fields`; every error is a [`ConfigError`] naming the key
//! (`chain[1].hops[0].key_id`) or the file. Keys never come from the command line: a
//! [`KeySource`] names a file or an environment variable holding `KEY_ID HEX` entries
//! (`docs/wire/chain-header.md`, "Key files").

mod access;
mod access_file;
mod access_flags;
mod explain;
mod serve;
mod serve_source;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_app_core::ConfigError;
use ferry_chain::Keyring;
use serde::Deserialize;

pub use self::access::{
    AccessConfig, AccessListener, AccessMode, ChainConfig, RouteAction, RouteRule, UserPass,
};
pub use self::access_flags::AccessFlags;
pub use self::serve::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, ServeConfig};
pub use self::serve_source::{ServeFlags, ServeSource};

/// Where a program reads its keys from. Never the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// A file of `KEY_ID HEX` entries.
    File(PathBuf),
    /// An environment variable holding the same text.
    Env(String),
}

impl KeySource {
    /// Reads and parses the keys. `key` is the config key named in errors.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `key` and the file or variable when it cannot be read or
    /// its text is not a valid key list (the message never contains key material).
    pub fn load(&self, key: &str) -> Result<Keyring, ConfigError> {
        let (text, from) = match self {
            Self::File(path) => (
                std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::invalid(
                        key,
                        format!("cannot read key file {}: {e}", path.display()),
                    )
                })?,
                format!("key file {}", path.display()),
            ),
            Self::Env(var) => (
                std::env::var(var).map_err(|e| {
                    ConfigError::invalid(key, format!("environment variable {var}: {e}"))
                })?,
                format!("environment variable {var}"),
            ),
        };
        let ring =
            Keyring::parse(&text).map_err(|e| ConfigError::invalid(key, format!("{from}: {e}")))?;
        if ring.is_empty() {
            return Err(ConfigError::invalid(key, format!("{from} holds no keys")));
        }
        Ok(ring)
    }
}

/// `[keys]`: exactly one of `file` and `env`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysFile {
    file: Option<PathBuf>,
    env: Option<String>,
}

impl KeysFile {
    pub(crate) fn from_parts(file: Option<PathBuf>, env: Option<String>) -> Self {
        Self { file, env }
    }

    pub(crate) fn source(self, key: &str) -> Result<KeySource, ConfigError> {
        match (self.file, self.env) {
            (Some(f), None) => Ok(KeySource::File(f)),
            (None, Some(e)) => Ok(KeySource::Env(e)),
            _ => Err(ConfigError::invalid(
                key,
                "give exactly one of `file` and `env` (keys are never taken on the command line)",
            )),
        }
    }
}

/// Reads a config file's text.
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Parses TOML text into a file model; the message names the key and line.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    path: Option<&Path>,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.map(Path::to_owned),
        message: e.to_string().trim_end().replace('\n', " "),
    })
}

/// The `metrics` key: the admin endpoint's address.
pub(crate) fn metrics_addr(text: &str) -> Result<std::net::SocketAddr, ConfigError> {
    text.parse().map_err(|_bad| {
        ConfigError::invalid("metrics", format!("{text:?} is not IP:PORT or [IPV6]:PORT"))
    })
}

/// A duration that must not be zero.
pub(crate) fn nonzero(d: Duration, key: &str) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        Err(ConfigError::invalid(key, "must be longer than 0"))
    } else {
        Ok(d)
    }
}

/// Serde helper: a required duration wrapped in `Some`.
pub(crate) fn de_some_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    ferry_app_core::duration::de_duration(d).map(Some)
}

/// A TLS connector verifying against the CA files `cas`; errors name `key`.
pub(crate) fn connector(
    cas: &[PathBuf],
    key: &str,
) -> Result<ferry_tls::TlsConnector, ConfigError> {
    if cas.is_empty() {
        return Err(ConfigError::invalid(key, "name at least one CA file"));
    }
    let mut c = ferry_tls::ConnectorConfig::new();
    for ca in cas {
        c.add_ca(ferry_tls::PemInput::file(ca.clone()));
    }
    ferry_tls::TlsConnector::new(&c)
        .map_err(|e| ConfigError::invalid(key, ferry_app_core::error::error_line(&e)))
}

/// Parses allowlist entries; the error names `key[i]`.
pub(crate) fn allowlist(
    entries: &[String],
    key: &str,
) -> Result<ferry_allow::Allowlist, ConfigError> {
    ferry_allow::Allowlist::from_entries(entries).map_err(|e| {
        let at = e
            .index()
            .map(|i| format!("{key}[{i}]"))
            .unwrap_or_else(|| key.to_owned());
        ConfigError::invalid(at, e.to_string())
    })
}

#[cfg(test)]
mod tests;
