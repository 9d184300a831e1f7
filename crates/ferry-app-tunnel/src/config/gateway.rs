//! The gateway's configuration.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_app_core::ConfigError;
use ferry_app_core::duration::{de_duration, de_opt_duration};
use ferry_app_core::proxy_protocol::AcceptProxyFile;
use ferry_auth::{Authenticator, JwtConfig, JwtVerifier, TokenStore, VerifyingKey};
use serde::Deserialize;

use super::client_certs::{AgentAuthMode, ClientCertSettings, ClientTlsFile};
use super::cluster::{ClusterConfig, ClusterFile};
use super::flags::GatewayFlags;
use super::service::{Inherited, ServiceConfig, ServiceFile};
use super::{
    CertFile, CertSpec, allowlist, parse_rate, quic_settings, quic_windows, read, syntax, with_path,
};
use crate::front::{FrontConfig, RevokedClientTunnels};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GatewayFile {
    listen: String,
    agent_listen: String,
    agent_listen_tcp: Option<String>,
    allow: Vec<String>,
    #[serde(default)]
    allow_special_addresses: bool,
    metrics: Option<String>,
    #[serde(default)]
    log_format: Option<ferry_app_core::log::LogFormat>,
    tls: CertFile,
    client_tls: Option<ClientTlsFile>,
    accept_proxy: Option<AcceptProxyFile>,
    auth: Option<AuthFile>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    timeouts: TimeoutsFile,
    cluster: Option<ClusterFile>,
    #[serde(default, rename = "service")]
    services: Vec<ServiceFile>,
    post_quantum: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthFile {
    tokens: Option<PathBuf>,
    #[serde(default)]
    jwt_keys: Vec<JwtKeyEntry>,
    audience: Option<String>,
    issuer: Option<String>,
    #[serde(default, deserialize_with = "de_some")]
    leeway: Option<Duration>,
    revoked_client_tunnels: Option<String>,
    agent_auth: Option<String>,
    agent_ca: Option<PathBuf>,
    #[serde(default)]
    agent_crl: Vec<PathBuf>,
    #[serde(default)]
    agent_revoked_serials: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JwtKeyEntry {
    path: PathBuf,
    kid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsFile {
    max_tunnels: Option<usize>,
    max_tunnels_per_client: Option<u32>,
    max_tunnels_per_agent: Option<u32>,
    max_connections_per_agent: Option<u8>,
    #[serde(default, deserialize_with = "ferry_app_core::size::de_some_size")]
    memory_budget: Option<u64>,
    client_rate: Option<String>,
    agent_rate: Option<String>,
    auth_failures: Option<String>,
    agent_stream_receive_window: Option<u64>,
    agent_receive_window: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TimeoutsFile {
    #[serde(default, deserialize_with = "de_some")]
    header: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    open: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    idle: Option<Option<Duration>>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    half_close: Option<Option<Duration>>,
    #[serde(default, deserialize_with = "de_some")]
    drain: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    agent_keep_alive: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    agent_idle: Option<Duration>,
}

fn de_some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// A JWT public key file and its optional `kid`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwtKeyFile {
    /// SPKI PEM file (one or more `PUBLIC KEY` blocks).
    pub path: PathBuf,
    /// Key id matched against the JWT header's `kid`. Default none (any `kid`).
    pub kid: Option<String>,
}

/// How the gateway verifies agents and clients. At least one of `tokens` and `jwt_keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayAuth {
    /// Token file (`auth.tokens`). Default none.
    pub tokens: Option<PathBuf>,
    /// JWT public keys (`auth.jwt_keys`). Default none.
    pub jwt_keys: Vec<JwtKeyFile>,
    /// JWT settings (`auth.audience`, `auth.issuer`, `auth.leeway`).
    pub jwt: JwtConfig,
    /// How agents authenticate (`auth.agent_auth`). Default [`AgentAuthMode::Token`].
    pub agent_mode: AgentAuthMode,
    /// Agent client certificates (`auth.agent_ca`, `auth.agent_crl`,
    /// `auth.agent_revoked_serials`), with a mode that uses them. Default none.
    pub agent_certs: Option<ClientCertSettings>,
}

impl GatewayAuth {
    /// Reads the token file and the key files into an [`Authenticator`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] for a file that cannot be read; [`ConfigError::Invalid`] naming
    /// `auth.tokens` or `auth.jwt_keys[i]` for a file that cannot be used.
    pub fn load(&self) -> Result<Authenticator, ConfigError> {
        let mut auth = Authenticator::new();
        if let Some(path) = &self.tokens {
            let store = TokenStore::parse(&read(path)?).map_err(|e| {
                ConfigError::invalid("auth.tokens", format!("{}: {e}", path.display()))
            })?;
            auth = auth.with_tokens(store);
        }
        if !self.jwt_keys.is_empty() {
            let mut keys = Vec::new();
            for (i, k) in self.jwt_keys.iter().enumerate() {
                let loaded =
                    VerifyingKey::from_pem(&read(&k.path)?, k.kid.as_deref()).map_err(|e| {
                        ConfigError::invalid(
                            format!("auth.jwt_keys[{i}]"),
                            format!("{}: {e}", k.path.display()),
                        )
                    })?;
                keys.extend(loaded);
            }
            auth = auth.with_jwt(JwtVerifier::new(keys, self.jwt.clone()));
        }
        Ok(auth)
    }
}

/// The gateway's validated configuration.
///
/// The file format, with every key:
///
/// ```toml
/// listen = "0.0.0.0:8080"          # client front (HTTP CONNECT); required
/// agent_listen = "0.0.0.0:4433"    # QUIC for agents (UDP); required
/// agent_listen_tcp = "0.0.0.0:4433" # TCP transport for agents (TLS + HTTP/2, for networks
///                                   # that block UDP); default: agent_listen's address on
///                                   # TCP; "off" for none
/// allow = ["*.internal:443"]       # destinations clients may ask for; required, non-empty
/// allow_special_addresses = false  # let the rules alone decide for loopback, private, ...
/// metrics = "127.0.0.1:9090"       # optional admin endpoint (/metrics, /healthz)
/// post_quantum = true              # X25519MLKEM768 key exchange first (agents, client TLS,
///                                  # cluster peers); false: classical groups only
/// # a TCP load balancer in front of `listen` sends the PROXY protocol; default none
/// accept_proxy = { trusted = ["10.0.0.0/8"], versions = ["v1", "v2"], timeout = "5s" }
///
/// [tls]            # the certificate agents verify (QUIC); required
/// cert = "gw.pem"
/// key = "gw.key"   # or: self_signed = true
///
/// # [client_tls]   # optional: TLS on the client listener (same keys as [tls]), and
/// # client_ca = "client-ca.pem"       # client certificates (mTLS); default none
/// # client_auth = "required"          # or "optional"; default "required"
/// # client_crl = ["client-ca.crl"]    # default none
/// # client_revoked_serials = ["0a:1b"]  # default none
///
/// [auth]           # at least one of tokens / jwt_keys (clients use them); required
/// tokens = "/etc/ferry/tokens"                     # token file (see ferry-auth)
/// jwt_keys = [{ path = "jwt.pub", kid = "2026" }]  # SPKI PEM public keys
/// audience = "ferry"      # required `aud` in JWTs; default none
/// issuer = "ops"          # required `iss`; default none
/// leeway = "60s"          # default 60 s
/// revoked_client_tunnels = "keep"  # or "cut": live tunnels of a client revoked by a reload
/// agent_auth = "token+certificate"  # default "token"; or "certificate" (mTLS for agents)
/// agent_ca = "agent-ca.pem"          # CA of agent certificates; with a certificate mode
/// agent_crl = ["agent-ca.crl"]       # CRLs (PEM or DER), every CA's; default none
/// agent_revoked_serials = ["3a:0f:11"]  # refused serials (hex, `:` optional); default none
///
/// [limits]
/// max_tunnels = 16384
/// max_tunnels_per_client = 256
/// max_tunnels_per_agent = 1024
/// max_connections_per_agent = 8       # connections in one agent's group (1-16)
/// memory_budget = "1GiB"              # buffers reserved by client connections; above: refused
/// client_rate = "50/s burst 100"      # or "off"
/// agent_rate = "500/s burst 1000"
/// auth_failures = "10/min burst 10"
/// agent_stream_receive_window = 2097152  # bytes an agent may send on one tunnel unread
/// agent_receive_window = 16777216        # ... on all its tunnels together (memory bound)
///
/// [timeouts]
/// header = "10s"       # TLS handshake + request head
/// open = "10s"         # tunnel open through the agent
/// idle = "5m"          # tunnel idle ("off" to disable)
/// half_close = "30s"
/// drain = "30s"
/// agent_keep_alive = "10s"  # QUIC keep-alive to agents
/// agent_idle = "30s"        # an agent silent this long is gone (its tunnels end)
///
/// # [cluster]     # optional: several gateways (keys in `ClusterConfig`)
///
/// # [[service]]   # optional, repeated: a public TCP port forwarded through an agent
/// # name = "ssh"  # (keys in `ServiceConfig`)
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Client listener (`listen`).
    pub listen: SocketAddr,
    /// QUIC listener for agents (`agent_listen`).
    pub agent_listen: SocketAddr,
    /// TCP listener for agents on the TCP transport (`agent_listen_tcp`: an address, or
    /// `"off"`). Default [`AgentTcpListen::SameAsQuic`].
    pub agent_listen_tcp: AgentTcpListen,
    /// Certificate agents verify (`[tls]`).
    pub agent_tls: CertSpec,
    /// TLS on the client listener (`[client_tls]`). Default none (plain HTTP CONNECT).
    pub client_tls: Option<CertSpec>,
    /// Client certificates on the client listener (`client_tls.client_ca`, `client_crl`,
    /// `client_revoked_serials`, `client_auth`). Default none (no certificate asked for).
    pub client_certs: Option<ClientCertSettings>,
    /// Credentials (`[auth]`).
    pub auth: GatewayAuth,
    /// Admin endpoint (`metrics`). Default none.
    pub metrics: Option<SocketAddr>,
    /// Log line format (`log_format`, top level, `text` or `json`; `--log-format`
    /// overrides it). Default text.
    pub log_format: ferry_app_core::log::LogFormat,
    /// The client front's settings (`allow`, `accept_proxy`, `[limits]`, `[timeouts]`).
    pub front: FrontConfig,
    /// Several gateways sharing agent ownership (`[cluster]`, see [`ClusterConfig`]). Default
    /// none: a single gateway.
    pub cluster: Option<ClusterConfig>,
    /// QUIC keep-alive interval and idle timeout towards agents (`timeouts.agent_keep_alive`,
    /// `timeouts.agent_idle`). Default [`ferry_tunnel::QuicSettings::default`] (10 s, 30 s);
    /// the idle timeout in use on a connection is the lower of the gateway's and the agent's.
    /// Also the receive windows per agent connection, in bytes
    /// (`limits.agent_stream_receive_window`, `limits.agent_receive_window`; default 2 MiB and
    /// 16 MiB, each 16 KiB..=1 GiB, the stream window at most the connection window and lowered to it when only the connection window is set): what an
    /// agent may send on one tunnel, and on all its tunnels together, before the gateway has
    /// read it. The connection window bounds what one agent can make the gateway buffer.
    pub agent_quic: ferry_tunnel::QuicSettings,
    /// TCP services (`[[service]]`, see [`ServiceConfig`]): public ports forwarded through an
    /// agent without CONNECT. Default none.
    pub services: Vec<ServiceConfig>,
    /// Key-exchange groups of every TLS handshake the gateway makes: agents (QUIC),
    /// `[client_tls]`, cluster peers (`post_quantum`). Default
    /// [`ferry_tls::KeyExchange::PostQuantum`]: `X25519MLKEM768` first, then `X25519`,
    /// `secp256r1`, `secp384r1`; `post_quantum = false` uses the classical groups only.
    pub key_exchange: ferry_tls::KeyExchange,
}

/// Where the gateway listens for agents on the TCP transport (`agent_listen_tcp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentTcpListen {
    /// `agent_listen`'s address and port, on TCP (with port 0: the port QUIC got). The
    /// default (key absent).
    #[default]
    SameAsQuic,
    /// This address (`agent_listen_tcp = "IP:PORT"`; port 0 picks a free one).
    Addr(SocketAddr),
    /// No TCP transport (`agent_listen_tcp = "off"`): agents on networks that block UDP
    /// cannot connect.
    Off,
}

impl std::fmt::Display for AgentTcpListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SameAsQuic => f.write_str("agent_listen's address"),
            Self::Addr(a) => write!(f, "{a}"),
            Self::Off => f.write_str("off"),
        }
    }
}

fn addr(key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_bad| {
        ConfigError::invalid(key, format!("{text:?} is not IP:PORT or [IPv6]:PORT"))
    })
}

fn nonzero_usize(key: &str, v: usize) -> Result<NonZeroUsize, ConfigError> {
    NonZeroUsize::new(v).ok_or_else(|| ConfigError::invalid(key, "must be at least 1"))
}

fn nonzero_u32(key: &str, v: u32) -> Result<NonZeroU32, ConfigError> {
    NonZeroU32::new(v).ok_or_else(|| ConfigError::invalid(key, "must be at least 1"))
}

fn rate(key: &str, text: &str) -> Result<Option<ferry_limit::Quota>, ConfigError> {
    parse_rate(text).map_err(|reason| ConfigError::invalid(key, reason))
}

impl GatewayConfig {
    /// Reads and validates a TOML file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file and key.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Self::from_toml(&read(path)?).map_err(|e| with_path(e, path))
    }

    /// Validates TOML text (format in the type docs).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] for TOML errors, unknown keys and wrong types (the message names
    /// the key); [`ConfigError::Invalid`] naming the key for unacceptable values, including a
    /// missing `[auth]` or one with neither `tokens` nor `jwt_keys`.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: GatewayFile = toml::from_str(text).map_err(|e| syntax(&e))?;
        Self::validate(file)
    }

    /// Validates the command-line form (the same rules as the file; errors name the file
    /// key the flag stands for).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the key.
    pub fn from_flags(flags: &GatewayFlags) -> Result<Self, ConfigError> {
        let has_auth = flags.tokens.is_some() || !flags.jwt_public_keys.is_empty();
        Self::validate(GatewayFile {
            listen: flags.listen.clone(),
            agent_listen: flags.agent_listen.clone(),
            agent_listen_tcp: flags.agent_listen_tcp.clone(),
            allow: flags.allow.clone(),
            allow_special_addresses: flags.allow_special_addresses,
            metrics: flags.metrics.clone(),
            log_format: None,
            tls: CertFile {
                cert: flags.tls_cert.clone(),
                key: flags.tls_key.clone(),
                self_signed: flags.tls_self_signed,
            },
            client_tls: None,
            accept_proxy: None,
            auth: has_auth.then(|| AuthFile {
                tokens: flags.tokens.clone(),
                jwt_keys: flags
                    .jwt_public_keys
                    .iter()
                    .map(|path| JwtKeyEntry {
                        path: path.clone(),
                        kid: None,
                    })
                    .collect(),
                audience: flags.jwt_audience.clone(),
                issuer: None,
                leeway: None,
                revoked_client_tunnels: None,
                agent_auth: None,
                agent_ca: None,
                agent_crl: Vec::new(),
                agent_revoked_serials: Vec::new(),
            }),
            limits: LimitsFile::default(),
            timeouts: TimeoutsFile::default(),
            cluster: None,
            services: Vec::new(),
            post_quantum: None,
        })
    }

    pub(super) fn validate(file: GatewayFile) -> Result<Self, ConfigError> {
        let listen = addr("listen", &file.listen)?;
        let agent_listen = addr("agent_listen", &file.agent_listen)?;
        let agent_listen_tcp = match file.agent_listen_tcp.as_deref() {
            None => AgentTcpListen::SameAsQuic,
            Some("off") => AgentTcpListen::Off,
            Some(text) => AgentTcpListen::Addr(addr("agent_listen_tcp", text)?),
        };
        let log_format = file.log_format.unwrap_or_default();
        let metrics = file
            .metrics
            .as_deref()
            .map(|m| addr("metrics", m))
            .transpose()?;
        let agent_tls = file.tls.validate("tls")?;
        let (client_tls, client_certs) = match file.client_tls.map(ClientTlsFile::validate) {
            Some(result) => {
                let (spec, certs) = result?;
                (Some(spec), certs)
            }
            None => (None, None),
        };
        let revoked = file
            .auth
            .as_ref()
            .and_then(|a| a.revoked_client_tunnels.as_deref())
            .map(revoked_client_tunnels)
            .transpose()?
            .unwrap_or_default();
        let auth = validate_auth(file.auth)?;
        let cluster = file.cluster.map(ClusterFile::validate).transpose()?;
        let allow = allowlist("allow", &file.allow, file.allow_special_addresses)?;

        let accept_proxy = file
            .accept_proxy
            .map(|a| a.validate("accept_proxy"))
            .transpose()?;
        let mut front = FrontConfig {
            allow: Arc::new(allow),
            accept_proxy,
            revoked_client_tunnels: revoked,
            ..FrontConfig::default()
        };
        let l = file.limits;
        if let Some(v) = l.max_tunnels {
            front.limits.max_tunnels = nonzero_usize("limits.max_tunnels", v)?;
        }
        if let Some(v) = l.max_tunnels_per_client {
            front.limits.max_tunnels_per_client = nonzero_u32("limits.max_tunnels_per_client", v)?;
        }
        if let Some(v) = l.max_tunnels_per_agent {
            front.limits.max_tunnels_per_agent = nonzero_u32("limits.max_tunnels_per_agent", v)?;
        }
        if let Some(v) = l.max_connections_per_agent {
            front.limits.max_connections_per_agent = std::num::NonZeroU8::new(v)
                .filter(|n| n.get() <= ferry_tunnel::wire::MAX_GROUP_MEMBERS)
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "limits.max_connections_per_agent",
                        format!("{v}: must be 1-{}", ferry_tunnel::wire::MAX_GROUP_MEMBERS),
                    )
                })?;
        }
        if let Some(t) = &l.client_rate {
            front.limits.client_rate = rate("limits.client_rate", t)?;
        }
        if let Some(t) = &l.agent_rate {
            front.limits.agent_rate = rate("limits.agent_rate", t)?;
        }
        if let Some(t) = &l.auth_failures {
            front.limits.auth_failures = rate("limits.auth_failures", t)?;
        }
        let t = file.timeouts;
        for (key, v) in [("timeouts.header", t.header), ("timeouts.open", t.open)] {
            if v == Some(Duration::ZERO) {
                return Err(ConfigError::invalid(key, "must be longer than 0"));
            }
        }
        front.header_timeout = t.header.unwrap_or(front.header_timeout);
        front.open_timeout = t.open.unwrap_or(front.open_timeout);
        front.drain_timeout = t.drain.unwrap_or(front.drain_timeout);
        if let Some(idle) = t.idle {
            front.bridge = front.bridge.idle_timeout(idle);
        }
        if let Some(hc) = t.half_close {
            front.bridge = front.bridge.half_close_timeout(hc);
        }
        // A client forwarded to the owning peer gateway holds a TLS stream to it too.
        front.peer_tls_side = cluster.is_some();
        let reservation = front.memory_reservation(client_tls.is_some());
        if let Some(b) = l.memory_budget {
            front.memory_budget = ferry_app_core::memory::check_budget(b, reservation)
                .map_err(|reason| ConfigError::invalid("limits.memory_budget", reason))?;
        }
        let mut agent_quic = quic_settings(
            ("timeouts.agent_keep_alive", "timeouts.agent_idle"),
            t.agent_keep_alive,
            t.agent_idle,
        )?;
        quic_windows(
            (
                "limits.agent_stream_receive_window",
                "limits.agent_receive_window",
            ),
            l.agent_stream_receive_window,
            l.agent_receive_window,
            &mut agent_quic,
        )?;
        let mut listeners = vec![("listen", listen)];
        match agent_listen_tcp {
            AgentTcpListen::SameAsQuic => listeners.push(("agent_listen_tcp", agent_listen)),
            AgentTcpListen::Addr(a) => listeners.push(("agent_listen_tcp", a)),
            AgentTcpListen::Off => {}
        }
        listeners.extend(metrics.map(|m| ("metrics", m)));
        listeners.extend(
            cluster
                .as_ref()
                .map(|c| ("cluster.peer_listen", c.peer_listen)),
        );
        let services = super::service::validate(
            file.services,
            &Inherited {
                allow: &front.allow,
                limits: &front.limits,
                bridge: &front.bridge,
                listeners,
                udp_listeners: vec![("agent_listen", agent_listen)],
            },
        )?;
        Ok(Self {
            listen,
            agent_listen,
            agent_listen_tcp,
            agent_tls,
            client_tls,
            client_certs,
            auth,
            metrics,
            log_format,
            front,
            cluster,
            agent_quic,
            services,
            key_exchange: super::key_exchange(file.post_quantum),
        })
    }
}

fn revoked_client_tunnels(text: &str) -> Result<RevokedClientTunnels, ConfigError> {
    match text {
        "keep" => Ok(RevokedClientTunnels::Keep),
        "cut" => Ok(RevokedClientTunnels::Cut),
        other => Err(ConfigError::invalid(
            "auth.revoked_client_tunnels",
            format!("{other:?}: expected \"keep\" or \"cut\""),
        )),
    }
}

fn validate_auth(file: Option<AuthFile>) -> Result<GatewayAuth, ConfigError> {
    let Some(a) = file else {
        return Err(ConfigError::invalid(
            "auth",
            "missing: the gateway needs auth.tokens or auth.jwt_keys (there is no unauthenticated mode)",
        ));
    };
    if a.tokens.is_none() && a.jwt_keys.is_empty() {
        return Err(ConfigError::invalid(
            "auth",
            "set auth.tokens or auth.jwt_keys (or both)",
        ));
    }
    for (i, k) in a.jwt_keys.iter().enumerate() {
        if let Some(kid) = &k.kid
            && (kid.is_empty()
                || kid.len() > ferry_auth::MAX_KID_LEN
                || kid.chars().any(char::is_control))
        {
            return Err(ConfigError::invalid(
                format!("auth.jwt_keys[{i}].kid"),
                "1-128 characters, no control characters",
            ));
        }
    }
    if a.jwt_keys.is_empty() && (a.audience.is_some() || a.issuer.is_some()) {
        return Err(ConfigError::invalid(
            "auth.audience",
            "set only with auth.jwt_keys",
        ));
    }
    let (agent_mode, agent_certs) = super::client_certs::agent(
        a.agent_auth.as_deref(),
        a.agent_ca,
        a.agent_crl,
        a.agent_revoked_serials,
    )?;
    let mut jwt = JwtConfig::default();
    if let Some(aud) = a.audience {
        jwt = jwt.with_audience(aud);
    }
    if let Some(iss) = a.issuer {
        jwt = jwt.with_issuer(iss);
    }
    if let Some(l) = a.leeway {
        jwt = jwt.with_leeway_secs(l.as_secs());
    }
    Ok(GatewayAuth {
        tokens: a.tokens,
        jwt_keys: a
            .jwt_keys
            .into_iter()
            .map(|k| JwtKeyFile {
                path: k.path,
                kid: k.kid,
            })
            .collect(),
        jwt,
        agent_mode,
        agent_certs,
    })
}
