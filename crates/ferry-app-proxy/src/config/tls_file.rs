//! The TOML model of the TLS tables (`[listener.tls]`, `[[listener.tls.sni]]`,
//! `[pool.NAME.tls]`) and its validation; errors name the key.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use ferry_app_core::ConfigError;
use ferry_tls::{
    BusyPolicy, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HANDSHAKES, DEFAULT_SESSION_CACHE,
    DEFAULT_TICKET_ROTATION, KeyExchange, Tickets, TlsVersion,
};
use serde::Deserialize;

use super::file::de_some_duration;
use super::tls::{CertFiles, ClientCa, ListenerTls, SniCert, UpstreamTls};

#[derive(Debug, Clone, Copy, Deserialize)]
enum VersionFile {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

impl From<VersionFile> for TlsVersion {
    fn from(v: VersionFile) -> Self {
        match v {
            VersionFile::Tls12 => Self::Tls12,
            VersionFile::Tls13 => Self::Tls13,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum TicketsFile {
    Off,
    PerProcess,
    Shared,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ClientAuthFile {
    Required,
    Optional,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum BusyFile {
    Wait,
    Refuse,
}

/// `[listener.tls]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListenerTlsFile {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    #[serde(default)]
    self_signed: bool,
    #[serde(default)]
    sni: Vec<SniCertFile>,
    #[serde(default)]
    alpn: Vec<String>,
    min_version: Option<VersionFile>,
    session_cache: Option<usize>,
    tickets: Option<TicketsFile>,
    ticket_key_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_some_duration")]
    ticket_rotation: Option<Duration>,
    client_ca: Option<PathBuf>,
    client_auth: Option<ClientAuthFile>,
    #[serde(default, deserialize_with = "de_some_duration")]
    handshake_timeout: Option<Duration>,
    max_handshakes: Option<usize>,
    when_busy: Option<BusyFile>,
    post_quantum: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SniCertFile {
    name: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    cert: PathBuf,
    key: Option<PathBuf>,
}

/// `[pool.NAME.tls]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamTlsFile {
    ca: Option<PathBuf>,
    server_name: Option<String>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    #[serde(default)]
    alpn: Vec<String>,
    min_version: Option<VersionFile>,
    #[serde(default, deserialize_with = "de_some_duration")]
    handshake_timeout: Option<Duration>,
    #[serde(default)]
    insecure_skip_verify: bool,
    post_quantum: Option<bool>,
}

fn check_alpn(alpn: &[String], key: &str) -> Result<(), ConfigError> {
    for (i, p) in alpn.iter().enumerate() {
        if p.is_empty() || p.len() > 255 {
            return Err(ConfigError::invalid(
                format!("{key}.alpn[{i}]"),
                "an ALPN protocol name is 1 to 255 bytes",
            ));
        }
    }
    Ok(())
}

/// `post_quantum` (default `true`): the hybrid `X25519MLKEM768` group first, or classical
/// groups only.
fn key_exchange(post_quantum: Option<bool>) -> KeyExchange {
    if post_quantum.unwrap_or(true) {
        KeyExchange::PostQuantum
    } else {
        KeyExchange::Classical
    }
}

fn nonzero(d: Duration, key: String) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::invalid(key, "must be greater than zero"));
    }
    Ok(d)
}

impl ListenerTlsFile {
    /// Validate; `key` is the table's dotted path (`listener[0].tls`).
    pub(super) fn validate(self, key: &str) -> Result<ListenerTls, ConfigError> {
        let cert = match (self.cert, self.key, self.self_signed) {
            (Some(_), _, true) | (None, Some(_), true) => {
                return Err(ConfigError::invalid(
                    format!("{key}.self_signed"),
                    "conflicts with cert/key: use either files or a generated certificate",
                ));
            }
            (None, None, true) => Some(CertFiles::SelfSigned),
            (Some(cert), key_file, false) => Some(CertFiles::Files {
                key: key_file.unwrap_or_else(|| cert.clone()),
                cert,
            }),
            (None, Some(_), false) => {
                return Err(ConfigError::invalid(
                    format!("{key}.key"),
                    "a key without `cert`",
                ));
            }
            (None, None, false) => None,
        };
        if cert.is_none() && self.sni.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.cert"),
                "a certificate is required (`cert` and `key`, `self_signed = true`, or [[...tls.sni]] entries)",
            ));
        }
        let mut sni = Vec::with_capacity(self.sni.len());
        for (i, s) in self.sni.into_iter().enumerate() {
            let names: Vec<String> = s.name.into_iter().chain(s.names).collect();
            if names.is_empty() {
                return Err(ConfigError::invalid(
                    format!("{key}.sni[{i}].names"),
                    "give `name` or `names`",
                ));
            }
            sni.push(SniCert {
                names,
                key: s.key.unwrap_or_else(|| s.cert.clone()),
                cert: s.cert,
            });
        }
        check_alpn(&self.alpn, key)?;
        let tickets = match (self.tickets, self.ticket_key_file) {
            (Some(TicketsFile::Shared) | None, Some(path)) => Tickets::SharedKeyFile {
                path,
                rotation: nonzero(
                    self.ticket_rotation.unwrap_or(DEFAULT_TICKET_ROTATION),
                    format!("{key}.ticket_rotation"),
                )?,
            },
            (Some(TicketsFile::Shared), None) => {
                return Err(ConfigError::invalid(
                    format!("{key}.ticket_key_file"),
                    "required with tickets = \"shared\"",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    format!("{key}.ticket_key_file"),
                    "only used with tickets = \"shared\"",
                ));
            }
            (Some(TicketsFile::Off), None) => Tickets::Off,
            (Some(TicketsFile::PerProcess) | None, None) => Tickets::PerProcess,
        };
        if self.ticket_rotation.is_some() && !matches!(tickets, Tickets::SharedKeyFile { .. }) {
            return Err(ConfigError::invalid(
                format!("{key}.ticket_rotation"),
                "only used with a shared ticket_key_file",
            ));
        }
        let client_ca = match (self.client_ca, self.client_auth) {
            (None, None) => ClientCa::Off,
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    format!("{key}.client_ca"),
                    "client_auth needs the CA file that client certificates must chain to",
                ));
            }
            (Some(p), None | Some(ClientAuthFile::Required)) => ClientCa::Required(p),
            (Some(p), Some(ClientAuthFile::Optional)) => ClientCa::Optional(p),
        };
        let max_handshakes =
            NonZeroUsize::new(self.max_handshakes.unwrap_or(DEFAULT_MAX_HANDSHAKES.get()))
                .ok_or_else(|| {
                    ConfigError::invalid(format!("{key}.max_handshakes"), "must be at least 1")
                })?;
        Ok(ListenerTls {
            cert,
            sni,
            alpn: self.alpn,
            min_version: self.min_version.map_or(TlsVersion::Tls12, Into::into),
            session_cache: self.session_cache.unwrap_or(DEFAULT_SESSION_CACHE),
            tickets,
            client_ca,
            handshake_timeout: nonzero(
                self.handshake_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT),
                format!("{key}.handshake_timeout"),
            )?,
            max_handshakes,
            when_busy: match self.when_busy {
                Some(BusyFile::Refuse) => BusyPolicy::Refuse,
                Some(BusyFile::Wait) | None => BusyPolicy::Wait,
            },
            key_exchange: key_exchange(self.post_quantum),
        })
    }
}

impl UpstreamTlsFile {
    /// Validate; `key` is the table's dotted path (`pool.NAME.tls`).
    pub(super) fn validate(self, key: &str) -> Result<UpstreamTls, ConfigError> {
        match (&self.ca, self.insecure_skip_verify) {
            (None, false) => {
                return Err(ConfigError::invalid(
                    format!("{key}.ca"),
                    "a CA file to verify upstream certificates is required \
                     (no system roots are used)",
                ));
            }
            (Some(_), true) => {
                return Err(ConfigError::invalid(
                    format!("{key}.insecure_skip_verify"),
                    "conflicts with `ca`: verification is either on (with `ca`) or off",
                ));
            }
            _ => {}
        }
        let client_cert = match (self.client_cert, self.client_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (Some(c), None) => Some((c.clone(), c)),
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    format!("{key}.client_key"),
                    "a key without `client_cert`",
                ));
            }
            (None, None) => None,
        };
        if let Some(name) = &self.server_name {
            let ok = name.parse::<std::net::IpAddr>().is_ok()
                || crate::route::NamePattern::parse(name)
                    .is_ok_and(|p| matches!(p, crate::route::NamePattern::Exact(_)));
            if !ok {
                return Err(ConfigError::invalid(
                    format!("{key}.server_name"),
                    format!("{name:?} is not a DNS name or IP address"),
                ));
            }
        }
        check_alpn(&self.alpn, key)?;
        Ok(UpstreamTls {
            ca: self.ca,
            server_name: self.server_name,
            client_cert,
            alpn: self.alpn,
            min_version: self.min_version.map_or(TlsVersion::Tls12, Into::into),
            handshake_timeout: nonzero(
                self.handshake_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT),
                format!("{key}.handshake_timeout"),
            )?,
            insecure_skip_verify: self.insecure_skip_verify,
            key_exchange: key_exchange(self.post_quantum),
        })
    }
}
