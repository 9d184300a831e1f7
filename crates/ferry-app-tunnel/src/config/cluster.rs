//! `[cluster]`: several gateways sharing agent ownership through a registry.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferry_app_core::ConfigError;
use ferry_app_core::duration::de_duration;
use ferry_registry::{Lease, Server};
use serde::Deserialize;

use super::{CertFile, CertSpec};
use crate::cluster::{
    CredentialError, DEFAULT_FORWARD_CONNECT_TIMEOUT, DEFAULT_LOOKUP_TIMEOUT, ForwardConfig,
    GatewayCredential, PeerConfig,
};
use crate::front::FrontConfig;

/// Default memcached operation timeout (`cluster.registry_timeout`): 500 ms.
pub const DEFAULT_REGISTRY_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterFile {
    registry: RegistryField,
    peer_listen: String,
    advertise: String,
    peer_ca: PathBuf,
    peer_server_name: Option<String>,
    peer_credential_file: PathBuf,
    peer_tls: Option<CertFile>,
    #[serde(default, deserialize_with = "de_some")]
    ttl: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    heartbeat: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    registry_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    lookup_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    forward_connect_timeout: Option<Duration>,
}

/// `registry = "..."` or `registry = ["...", ...]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RegistryField {
    One(String),
    Many(Vec<String>),
}

fn de_some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// Where agent ownership is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrySpec {
    /// In this process only (`registry = "memory"`): one gateway, or tests.
    Memory,
    /// One or several memcached servers (`registry = "memcached://HOST:PORT"`, a list of
    /// them, or one string of them separated by commas), sorted by name and distinct: each
    /// agent's record is on one server chosen by rendezvous hashing over the servers' names
    /// (`ferry_registry::server_for`), so their order does not matter. Host names are
    /// resolved when connecting and again when connecting fails.
    Memcached(Vec<Server>),
}

impl std::fmt::Display for RegistrySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Memcached(servers) => {
                for (i, s) in servers.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}memcached://{s}")?;
                }
                Ok(())
            }
        }
    }
}

const REGISTRY_FORMS: &str = "expected \"memcached://HOST:PORT\" (IP:PORT, [IPv6]:PORT or host name), a list of them, or \"memory\"";

/// One `memcached://HOST:PORT` entry of `cluster.registry` (named `key` in errors).
fn memcached_server(key: &str, text: &str) -> Result<Server, ConfigError> {
    let rest = text
        .strip_prefix("memcached://")
        .ok_or_else(|| ConfigError::invalid(key, format!("{text:?}: {REGISTRY_FORMS}")))?;
    match ferry_front::Address::parse_authority(rest) {
        Ok(ferry_front::Address::Ip(a)) => Ok(Server::Addr(a)),
        Ok(ferry_front::Address::Domain(host, port)) => Ok(Server::host(&host, port)),
        Ok(_) | Err(_) => Err(ConfigError::invalid(
            key,
            format!("{text:?}: the server is not IP:PORT, [IPv6]:PORT or HOST:PORT"),
        )),
    }
}

fn registry_spec(field: RegistryField) -> Result<RegistrySpec, ConfigError> {
    const KEY: &str = "cluster.registry";
    let entries: Vec<String> = match field {
        RegistryField::One(text) if text == "memory" => return Ok(RegistrySpec::Memory),
        RegistryField::One(text) if !text.contains(',') => {
            return Ok(RegistrySpec::Memcached(vec![memcached_server(KEY, &text)?]));
        }
        RegistryField::One(text) => text.split(',').map(|e| e.trim().to_owned()).collect(),
        RegistryField::Many(list) => list,
    };
    if entries.is_empty() {
        return Err(ConfigError::invalid(
            KEY,
            format!("empty list: {REGISTRY_FORMS}"),
        ));
    }
    let mut servers: Vec<Server> = Vec::with_capacity(entries.len());
    for (i, text) in entries.iter().enumerate() {
        let key = format!("{KEY}[{i}]");
        let server = memcached_server(&key, text)?;
        if servers.contains(&server) {
            return Err(ConfigError::invalid(
                key,
                format!("memcached://{server} is listed twice"),
            ));
        }
        servers.push(server);
    }
    servers.sort_by_key(ToString::to_string);
    Ok(RegistrySpec::Memcached(servers))
}

/// The validated `[cluster]` table.
///
/// ```toml
/// [cluster]
/// registry = "memcached://10.0.0.9:11211"  # or "memcached://cache.internal:11211", a list
///                                          # of them, or "memory"; required
/// peer_listen = "0.0.0.0:7443"        # inter-gateway listener (TLS); required
/// advertise = "10.0.0.5:7443"         # address other gateways dial; required, not 0.0.0.0;
///                                     # port 0: the port peer_listen is bound to
/// peer_ca = "/etc/ferry/peer-ca.pem"  # CA that signed the peers' certificates; required
/// peer_server_name = "gw.internal"    # name peer certificates carry; default: the peer's IP
/// peer_credential_file = "/etc/ferry/peer.secret"  # shared secret, 16-512 bytes; required
/// ttl = "30s"                # record TTL; whole seconds, >= 2 s
/// heartbeat = "10s"          # record refresh; < ttl / 2
/// registry_timeout = "500ms" # per memcached round trip
/// lookup_timeout = "1s"      # registry lookup for a remote agent
/// forward_connect_timeout = "2s"  # TCP + TLS to the owner
///
/// # [cluster.peer_tls]   # the peer listener's certificate; default: the one in [tls]
/// # cert = "peer.pem"
/// # key = "peer.key"
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// The registry (`cluster.registry`).
    pub registry: RegistrySpec,
    /// Inter-gateway listener (`cluster.peer_listen`).
    pub peer_listen: SocketAddr,
    /// Address written into the registry for other gateways (`cluster.advertise`). Port 0
    /// stands for the port the peer listener is bound to (for `peer_listen` on port 0).
    pub advertise: SocketAddr,
    /// The peer listener's certificate (`[cluster.peer_tls]`). Default `None`: the `[tls]`
    /// certificate.
    pub peer_tls: Option<CertSpec>,
    /// CA file to verify other gateways with (`cluster.peer_ca`).
    pub peer_ca: PathBuf,
    /// Shared gateway credential file (`cluster.peer_credential_file`).
    pub peer_credential_file: PathBuf,
    /// Record TTL and heartbeat (`cluster.ttl`, `cluster.heartbeat`). Default 30 s / 10 s.
    pub lease: Lease,
    /// memcached operation timeout (`cluster.registry_timeout`). Default
    /// [`DEFAULT_REGISTRY_TIMEOUT`].
    pub registry_timeout: Duration,
    /// Registry lookup bound (`cluster.lookup_timeout`). Default [`DEFAULT_LOOKUP_TIMEOUT`].
    pub lookup_timeout: Duration,
    /// Forwarding settings (`cluster.forward_connect_timeout`, `cluster.peer_server_name`).
    pub forward: ForwardConfig,
}

impl ClusterConfig {
    /// Reads [`ClusterConfig::peer_credential_file`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when it cannot be read; [`ConfigError::Invalid`] naming
    /// `cluster.peer_credential_file` when it is not a usable credential.
    pub fn load_credential(&self) -> Result<GatewayCredential, ConfigError> {
        let path = &self.peer_credential_file;
        GatewayCredential::from_file(path).map_err(|e| match e {
            CredentialError::Read(source) => ConfigError::Read {
                path: path.clone(),
                source,
            },
            other => ConfigError::invalid(
                "cluster.peer_credential_file",
                format!("{}: {other}", path.display()),
            ),
        })
    }

    /// The peer listener's settings, derived from the client front's (`allow`, header, open
    /// and drain timeouts, relay settings, total tunnel cap).
    #[must_use]
    pub fn peer_config(&self, front: &FrontConfig) -> PeerConfig {
        PeerConfig {
            allow: std::sync::Arc::clone(&front.allow),
            header_timeout: front.header_timeout,
            open_timeout: front.open_timeout,
            drain_timeout: front.drain_timeout,
            bridge: front.bridge.clone(),
            max_tunnels: front.limits.max_tunnels,
            ..PeerConfig::default()
        }
    }
}

fn addr(key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_bad| {
        ConfigError::invalid(key, format!("{text:?} is not IP:PORT or [IPv6]:PORT"))
    })
}

impl ClusterFile {
    pub(super) fn validate(self) -> Result<ClusterConfig, ConfigError> {
        let registry = registry_spec(self.registry)?;
        let peer_listen = addr("cluster.peer_listen", &self.peer_listen)?;
        let advertise = addr("cluster.advertise", &self.advertise)?;
        if advertise.ip().is_unspecified() {
            return Err(ConfigError::invalid(
                "cluster.advertise",
                "must be an address other gateways can dial (not 0.0.0.0 or [::])",
            ));
        }
        if let Some(name) = &self.peer_server_name
            && ferry_front::Address::from_domain(name, 1).is_err()
        {
            return Err(ConfigError::invalid(
                "cluster.peer_server_name",
                format!("{name:?} is not a DNS name or IP address"),
            ));
        }
        let peer_tls = self
            .peer_tls
            .map(|t| t.validate("cluster.peer_tls"))
            .transpose()?;
        let defaults = Lease::default();
        let lease = Lease::new(
            self.ttl.unwrap_or(defaults.ttl()),
            self.heartbeat.unwrap_or(defaults.heartbeat()),
        )
        .map_err(|e| {
            let key = match e {
                ferry_registry::LeaseError::Ttl => "cluster.ttl",
                _ => "cluster.heartbeat",
            };
            ConfigError::invalid(key, e.to_string())
        })?;
        for (key, v) in [
            ("cluster.registry_timeout", self.registry_timeout),
            ("cluster.lookup_timeout", self.lookup_timeout),
            (
                "cluster.forward_connect_timeout",
                self.forward_connect_timeout,
            ),
        ] {
            if v == Some(Duration::ZERO) {
                return Err(ConfigError::invalid(key, "must be longer than 0"));
            }
        }
        let forward = ForwardConfig {
            connect_timeout: self
                .forward_connect_timeout
                .unwrap_or(DEFAULT_FORWARD_CONNECT_TIMEOUT),
            server_name: self.peer_server_name,
            ..ForwardConfig::default()
        };
        Ok(ClusterConfig {
            registry,
            peer_listen,
            advertise,
            peer_tls,
            peer_ca: self.peer_ca,
            peer_credential_file: self.peer_credential_file,
            lease,
            registry_timeout: self.registry_timeout.unwrap_or(DEFAULT_REGISTRY_TIMEOUT),
            lookup_timeout: self.lookup_timeout.unwrap_or(DEFAULT_LOOKUP_TIMEOUT),
            forward,
        })
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
