//! Where a hop's settings come from ([`ServeSource`]): a TOML file, or the command-line flags
//! ([`ServeFlags`]). Loaded at start-up and again on every reload.

use std::path::PathBuf;

use ferry_app_core::ConfigError;

use super::{KeySource, ServeConfig};

/// The `ferry-hop serve` flags that build a config without a file. Loading them reads the files
/// they name (keys, certificate and key, CA files), so a reload picks up new contents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeFlags {
    /// `--listen`: IP:PORT. No default.
    pub listen: String,
    /// `--key-file` or `--key-env`. No default (required).
    pub keys: Option<KeySource>,
    /// `--allow`: comma-separated ferry-allow patterns. Default none: deny everything.
    pub allow: Option<String>,
    /// `--udp`. Default `false`.
    pub udp: bool,
    /// `--tls-cert` and `--tls-key`. Default none (plain TCP).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `ferry-hop serve --tls-ca` (repeatable). Default none (plain TCP to the next hop).
    pub next_hop_tls_ca: Vec<PathBuf>,
}

impl ServeFlags {
    /// Flags with every value at its default (set `listen` and `keys` before loading).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates the flags and loads every file they name.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the flag at fault (`--listen`, `--key-file`,
    /// `--allow`, `--tls-cert`, `--tls-ca`).
    pub fn load(&self) -> Result<ServeConfig, ConfigError> {
        let Some(keys) = &self.keys else {
            return Err(ConfigError::invalid(
                "--key-file",
                "required (or --key-env VAR); keys are never taken on the command line",
            ));
        };
        let mut config = ServeConfig::from_flags(&self.listen, keys, self.allow.as_deref())?;
        config.udp = self.udp;
        if let Some((cert, key)) = &self.tls {
            config.set_tls_files(cert, key, "--tls-cert")?;
        }
        if !self.next_hop_tls_ca.is_empty() {
            config.set_next_hop_tls_cas(&self.next_hop_tls_ca, "--tls-ca")?;
        }
        Ok(config)
    }
}

/// Where a hop's settings come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServeSource {
    /// A TOML file ([`ServeConfig::from_file`]).
    File(PathBuf),
    /// Command-line flags.
    Flags(ServeFlags),
}

impl ServeSource {
    /// Reads and validates the settings, loading every file they name.
    ///
    /// # Errors
    ///
    /// As [`ServeConfig::from_file`] or [`ServeFlags::load`].
    pub fn load(&self) -> Result<ServeConfig, ConfigError> {
        match self {
            Self::File(path) => ServeConfig::from_file(path),
            Self::Flags(flags) => flags.load(),
        }
    }
}
