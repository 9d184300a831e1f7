//! The agent's configuration.

use std::net::SocketAddr;
use std::num::NonZeroU8;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_allow::Allowlist;
use ferry_app_core::ConfigError;
use ferry_app_core::duration::de_duration;
use serde::Deserialize;

use super::flags::AgentFlags;
use super::{allowlist, quic_settings, quic_windows, read, syntax, with_path};

/// Default `udp_idle_timeout`: 60 s.
pub const DEFAULT_UDP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default timeout for dialing a destination: 5 s.
pub const DEFAULT_AGENT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default first reconnect delay: 1 s.
pub const DEFAULT_RECONNECT_MIN: Duration = Duration::from_secs(1);
/// Default longest reconnect delay: 60 s.
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(60);
/// Default time `transport = "auto"` gives QUIC before trying TCP: 3 s.
pub const DEFAULT_FALLBACK_AFTER: Duration = Duration::from_secs(3);
/// Default interval of the QUIC probes while on TCP in auto mode: 5 min.
pub const DEFAULT_QUIC_RETRY: Duration = Duration::from_secs(300);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentFile {
    gateway: String,
    server_name: Option<String>,
    ca: PathBuf,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    agent_id: String,
    token_file: Option<PathBuf>,
    token_env: Option<String>,
    #[serde(default)]
    insecure_no_auth: bool,
    allow: Vec<String>,
    #[serde(default)]
    allow_special_addresses: bool,
    #[serde(default, deserialize_with = "de_some")]
    connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    reconnect_min: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    reconnect_max: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    keep_alive: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    idle_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    udp_idle_timeout: Option<Duration>,
    stream_receive_window: Option<u64>,
    receive_window: Option<u64>,
    transport: Option<String>,
    tcp_port: Option<u16>,
    #[serde(default, deserialize_with = "de_some")]
    fallback_after: Option<Duration>,
    #[serde(default, deserialize_with = "de_some")]
    quic_retry: Option<Duration>,
    proxy: Option<String>,
    no_proxy: Option<String>,
    metrics: Option<String>,
    #[serde(default)]
    log_format: Option<ferry_app_core::log::LogFormat>,
    post_quantum: Option<bool>,
    connections: Option<u8>,
}

fn de_some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// Where the agent's secret (static token or JWT) comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentCredential {
    /// A file holding the secret (`token_file`), used as given (not relative to the config
    /// file). Surrounding whitespace is trimmed.
    File(PathBuf),
    /// An environment variable holding the secret (`token_env`).
    Env(String),
    /// No credentials (`insecure_no_auth = true`): only for gateways that do not check.
    None,
}

impl AgentCredential {
    /// Reads the secret: from the file, or from the environment through `env` (pass
    /// `|name| std::env::var(name).ok()`). `None` for [`AgentCredential::None`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when the file cannot be read; [`ConfigError::Invalid`] naming
    /// `token_file` or `token_env` when the secret is missing or empty.
    pub fn load(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<String>, ConfigError> {
        let (key, secret) = match self {
            Self::None => return Ok(None),
            Self::File(path) => ("token_file", read(path)?),
            Self::Env(name) => (
                "token_env",
                env(name).ok_or_else(|| {
                    ConfigError::invalid("token_env", format!("variable {name} is not set"))
                })?,
            ),
        };
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(ConfigError::invalid(key, "the secret is empty"));
        }
        Ok(Some(secret.to_owned()))
    }
}

/// The TLS client certificate an agent presents to the gateway (mTLS): `cert` and `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCertFiles {
    /// PEM chain, the agent's certificate first (`cert`, `--tls-cert`).
    pub cert: PathBuf,
    /// Its private key (`key`, `--tls-key`).
    pub key: PathBuf,
}

/// The agent's validated configuration.
///
/// The file format, with every key:
///
/// ```toml
/// gateway = "gw.example.com:4433"   # address of the gateway (QUIC, and TCP); required
/// server_name = "gw.example.com"    # name verified in its certificate; default: gateway's host
/// ca = "/etc/ferry/ca.pem"          # CA certificates for the gateway; required
/// cert = "/etc/ferry/edge-1.pem"    # client certificate for a gateway requiring one (mTLS);
/// key = "/etc/ferry/edge-1.key"     #   its one DNS subjectAltName is the agent id; default none
/// agent_id = "edge-1"               # required
/// token_file = "/etc/ferry/agent.token"   # or token_env = "FERRY_AGENT_TOKEN"
/// insecure_no_auth = false          # explicit opt-out when none of token/cert is set
/// allow = ["10.0.0.0/8:22", "*.internal:443"]   # required, non-empty
/// allow_special_addresses = false
/// connect_timeout = "5s"            # dialing a destination
/// reconnect_min = "1s"              # back-off after a lost gateway connection
/// reconnect_max = "60s"
/// keep_alive = "10s"                # QUIC keep-alive when nothing else is sent
/// idle_timeout = "30s"              # gateway connection lost after this long without a packet
/// udp_idle_timeout = "60s"          # a UDP tunnel (flow) ends after this long without a datagram
/// stream_receive_window = 2097152   # bytes the gateway may send on one tunnel before it is read
/// receive_window = 16777216         # bytes it may send on all tunnels together (memory bound)
/// transport = "auto"                # "auto" (QUIC, else TCP), "quic" or "tcp"
/// tcp_port = 4433                   # the gateway's TCP-transport port; default: gateway's port
/// fallback_after = "3s"             # auto: time QUIC gets before TCP is tried
/// quic_retry = "5m"                 # auto, while on TCP: how often QUIC is probed again
/// proxy = "http://user:pass@proxy.corp:3128"   # egress proxy to the gateway (TCP transport);
///                                   # socks5:// or socks5h:// too; default: HTTPS_PROXY etc.
/// no_proxy = "localhost,.internal"  # gateways reached directly; default: NO_PROXY
/// metrics = "127.0.0.1:9091"        # admin endpoint (/metrics, /healthz); default: none
/// post_quantum = true               # X25519MLKEM768 key exchange first; false: classical only
/// connections = 4                   # connections to the gateway (1-16); default 4 on TCP, 1 on QUIC
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The gateway's address, `HOST:PORT` (`gateway`), resolved when connecting: UDP for
    /// QUIC, and TCP (port `tcp_port` if set) for the TCP transport.
    pub gateway: (String, u16),
    /// The name verified in the gateway's certificate (`server_name`). Default: the gateway's
    /// host.
    pub server_name: String,
    /// CA certificates (PEM) the gateway's certificate must chain to (`ca`).
    pub ca: PathBuf,
    /// The TLS client certificate presented to the gateway (`cert`, `key`). Default none.
    /// With it, a token is optional (a gateway with `auth.agent_auth = "certificate"` needs
    /// none).
    pub client_cert: Option<ClientCertFiles>,
    /// The agent id (`agent_id`).
    pub agent_id: String,
    /// Where the secret comes from (`token_file`, `token_env`, `insecure_no_auth`).
    pub credential: AgentCredential,
    /// Destinations this agent dials (`allow`, `allow_special_addresses`).
    pub allow: Arc<Allowlist>,
    /// Timeout for dialing a destination (`connect_timeout`). Default
    /// [`DEFAULT_AGENT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// First reconnect delay (`reconnect_min`). Default [`DEFAULT_RECONNECT_MIN`].
    pub reconnect_min: Duration,
    /// Longest reconnect delay (`reconnect_max`). Default [`DEFAULT_RECONNECT_MAX`].
    pub reconnect_max: Duration,
    /// QUIC keep-alive interval (`keep_alive`) and idle timeout (`idle_timeout`): how soon a
    /// gateway that vanished without closing (crash, network loss) is noticed and the agent
    /// reconnects. Default [`ferry_tunnel::QuicSettings::default`] (10 s and 30 s); the
    /// idle timeout in use is the lower of the agent's and the gateway's. Also the receive
    /// windows, in bytes (`stream_receive_window`, `receive_window`; default 2 MiB and
    /// 16 MiB, each 16 KiB..=1 GiB, the stream window at most the connection window and lowered to it when only the connection window is set): what
    /// the gateway may send on one tunnel, and on all tunnels together, before the agent has
    /// read it, which bounds the agent's buffering per connection.
    pub quic: ferry_tunnel::QuicSettings,
    /// A UDP tunnel (one flow of a gateway UDP service) ends after this long without a
    /// datagram either way (`udp_idle_timeout`). Default 60 s
    /// ([`DEFAULT_UDP_IDLE_TIMEOUT`]).
    pub udp_idle_timeout: Duration,
    /// Which transport reaches the gateway (`transport`: `auto`, `quic`, `tcp`). Default
    /// `auto`: QUIC, and TLS + HTTP/2 over TCP when QUIC has not connected within
    /// `fallback_after` (networks that block UDP). The keep-alive, idle timeout and windows
    /// above apply to both.
    pub transport: ferry_tunnel::Transport,
    /// The gateway's port for the TCP transport (`tcp_port`). Default: the `gateway` port.
    pub tcp_port: Option<u16>,
    /// With `auto`: how long QUIC may take to connect and authenticate before the agent
    /// tries TCP (`fallback_after`). Default [`DEFAULT_FALLBACK_AFTER`].
    pub fallback_after: Duration,
    /// With `auto`, while on TCP: how often a QUIC handshake is tried in the background; once
    /// one succeeds the next connection uses QUIC (the live one is kept) (`quic_retry`).
    /// Default [`DEFAULT_QUIC_RETRY`].
    pub quic_retry: Duration,
    /// The egress proxy the gateway is reached through (`proxy`: `http://`, `socks5://` or
    /// `socks5h://` URL, credentials percent-encoded). Default: none here, and then the
    /// environment decides when the agent loads (`https_proxy`, `HTTPS_PROXY`, `all_proxy`,
    /// `ALL_PROXY`). A proxy carries the TCP transport only: with one, `auto` means TCP
    /// without trying QUIC, and `quic` is refused.
    pub proxy: Option<ferry_egress::EgressProxy>,
    /// Gateways reached without the proxy (`no_proxy`, curl's `NO_PROXY` rules plus ports).
    /// Default: none here, and then `no_proxy` / `NO_PROXY` from the environment.
    pub no_proxy: Option<ferry_egress::NoProxy>,
    /// Admin endpoint, `/metrics` and `/healthz` (`metrics`, `IP:PORT`; `ferry-agent
    /// --metrics` overrides it). Default none.
    pub metrics: Option<SocketAddr>,
    /// Log line format (`log_format`, top level, `text` or `json`; `--log-format`
    /// overrides it). Default text.
    pub log_format: ferry_app_core::log::LogFormat,
    /// Key-exchange groups offered to the gateway (`post_quantum`). Default
    /// [`ferry_tls::KeyExchange::PostQuantum`]: `X25519MLKEM768` first, then `X25519`,
    /// `secp256r1`, `secp384r1`; `post_quantum = false` offers the classical groups only.
    pub key_exchange: ferry_tls::KeyExchange,
    /// Connections held to the gateway as one connection group (`connections`, 1 to 16):
    /// the gateway spreads tunnels over them, so bulk through the agent uses more than one
    /// core at both ends. Default none: by transport, 4 on TCP
    /// ([`ferry_tunnel::DEFAULT_TCP_CONNECTIONS`]) and 1 on QUIC.
    pub connections: Option<NonZeroU8>,
}

fn host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || (host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err()) {
        return None;
    }
    Some((host.to_owned(), port))
}

impl AgentConfig {
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
    /// [`ConfigError::Syntax`] for TOML errors, unknown keys and wrong types;
    /// [`ConfigError::Invalid`] naming the key otherwise, in particular when no credential
    /// source is set and `insecure_no_auth` is not `true` (fail closed).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let f: AgentFile = toml::from_str(text).map_err(|e| syntax(&e))?;
        Self::validate(f)
    }

    /// Validates the command-line form (the same rules as the file; errors name the file
    /// key the flag stands for).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the key, in particular when no credential source is
    /// given and `insecure_no_auth` is not set.
    pub fn from_flags(flags: &AgentFlags) -> Result<Self, ConfigError> {
        Self::validate(AgentFile {
            gateway: flags.gateway.clone(),
            server_name: flags.server_name.clone(),
            ca: flags.ca.clone(),
            cert: flags.tls_cert.clone(),
            key: flags.tls_key.clone(),
            agent_id: flags.id.clone(),
            token_file: flags.token_file.clone(),
            token_env: flags.token_env.clone(),
            insecure_no_auth: flags.insecure_no_auth,
            allow: flags.allow.clone(),
            allow_special_addresses: flags.allow_special_addresses,
            connect_timeout: None,
            reconnect_min: None,
            reconnect_max: None,
            keep_alive: None,
            idle_timeout: None,
            udp_idle_timeout: None,
            stream_receive_window: None,
            receive_window: None,
            transport: flags.transport.clone(),
            tcp_port: None,
            fallback_after: None,
            quic_retry: None,
            proxy: flags.proxy.clone(),
            no_proxy: flags.no_proxy.clone(),
            metrics: None,
            log_format: None,
            post_quantum: None,
            connections: flags.connections,
        })
    }

    pub(super) fn validate(f: AgentFile) -> Result<Self, ConfigError> {
        let gateway = host_port(&f.gateway).ok_or_else(|| {
            ConfigError::invalid("gateway", format!("{:?} is not HOST:PORT", f.gateway))
        })?;
        let server_name = f.server_name.unwrap_or_else(|| gateway.0.clone());
        if server_name.is_empty() {
            return Err(ConfigError::invalid("server_name", "empty"));
        }
        if !ferry_auth::is_valid_agent_id(&f.agent_id) {
            return Err(ConfigError::invalid(
                "agent_id",
                "1-128 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        let client_cert = match (f.cert, f.key) {
            (Some(cert), Some(key)) => Some(ClientCertFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::invalid("key", "missing (cert is set)")),
            (None, Some(_)) => return Err(ConfigError::invalid("cert", "missing (key is set)")),
        };
        let credential = match (f.token_file, f.token_env, f.insecure_no_auth) {
            (Some(_), Some(_), _) => {
                return Err(ConfigError::invalid(
                    "token_env",
                    "set token_file or token_env, not both",
                ));
            }
            (Some(_), None, true) | (None, Some(_), true) => {
                return Err(ConfigError::invalid(
                    "insecure_no_auth",
                    "true contradicts the token_file/token_env also set",
                ));
            }
            (Some(path), None, false) => AgentCredential::File(path),
            (None, Some(name), false) => {
                if name.is_empty() || name.contains('=') || name.contains('\0') {
                    return Err(ConfigError::invalid(
                        "token_env",
                        "not a valid variable name",
                    ));
                }
                AgentCredential::Env(name)
            }
            (None, None, true) => AgentCredential::None,
            // The certificate is the credential (a gateway with agent_auth = "certificate").
            (None, None, false) if client_cert.is_some() => AgentCredential::None,
            (None, None, false) => {
                return Err(ConfigError::invalid(
                    "token_file",
                    "no credentials: set token_file or token_env, or cert and key (or insecure_no_auth = true)",
                ));
            }
        };
        let allow = allowlist("allow", &f.allow, f.allow_special_addresses)?;
        let connect_timeout = f.connect_timeout.unwrap_or(DEFAULT_AGENT_CONNECT_TIMEOUT);
        let reconnect_min = f.reconnect_min.unwrap_or(DEFAULT_RECONNECT_MIN);
        let reconnect_max = f.reconnect_max.unwrap_or(DEFAULT_RECONNECT_MAX);
        let udp_idle_timeout = f.udp_idle_timeout.unwrap_or(DEFAULT_UDP_IDLE_TIMEOUT);
        for (key, v) in [
            ("connect_timeout", connect_timeout),
            ("reconnect_min", reconnect_min),
            ("udp_idle_timeout", udp_idle_timeout),
        ] {
            if v.is_zero() {
                return Err(ConfigError::invalid(key, "must be longer than 0"));
            }
        }
        if reconnect_max < reconnect_min {
            return Err(ConfigError::invalid(
                "reconnect_max",
                "shorter than reconnect_min",
            ));
        }
        let mut quic = quic_settings(("keep_alive", "idle_timeout"), f.keep_alive, f.idle_timeout)?;
        quic_windows(
            ("stream_receive_window", "receive_window"),
            f.stream_receive_window,
            f.receive_window,
            &mut quic,
        )?;
        let transport = match f.transport.as_deref() {
            None => ferry_tunnel::Transport::Auto,
            Some(t) => t.parse().map_err(|e: ferry_tunnel::UnknownTransport| {
                ConfigError::invalid("transport", e.to_string())
            })?,
        };
        if f.tcp_port == Some(0) {
            return Err(ConfigError::invalid("tcp_port", "must be 1-65535"));
        }
        let fallback_after = f.fallback_after.unwrap_or(DEFAULT_FALLBACK_AFTER);
        let quic_retry = f.quic_retry.unwrap_or(DEFAULT_QUIC_RETRY);
        if fallback_after.is_zero() {
            return Err(ConfigError::invalid(
                "fallback_after",
                "must be longer than 0",
            ));
        }
        if quic_retry < Duration::from_secs(1) {
            return Err(ConfigError::invalid("quic_retry", "must be at least 1s"));
        }
        // The URL is never echoed: it may hold the password.
        let proxy = f
            .proxy
            .map(|p| {
                ferry_egress::EgressProxy::parse(&p)
                    .map_err(|e| ConfigError::invalid("proxy", e.to_string()))
            })
            .transpose()?;
        let no_proxy = f
            .no_proxy
            .map(|n| {
                ferry_egress::NoProxy::parse(&n)
                    .map_err(|e| ConfigError::invalid("no_proxy", e.to_string()))
            })
            .transpose()?;
        let connections = match f.connections {
            None => None,
            Some(n) => NonZeroU8::new(n)
                .filter(|n| n.get() <= ferry_tunnel::wire::MAX_GROUP_MEMBERS)
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "connections",
                        format!("{n}: must be 1-{}", ferry_tunnel::wire::MAX_GROUP_MEMBERS),
                    )
                })
                .map(Some)?,
        };
        let metrics = f
            .metrics
            .map(|m| {
                m.parse::<SocketAddr>().map_err(|_bad| {
                    ConfigError::invalid("metrics", format!("{m:?} is not IP:PORT or [IPv6]:PORT"))
                })
            })
            .transpose()?;
        Ok(Self {
            gateway,
            server_name,
            ca: f.ca,
            client_cert,
            agent_id: f.agent_id,
            credential,
            allow: Arc::new(allow),
            connect_timeout,
            reconnect_min,
            reconnect_max,
            quic,
            udp_idle_timeout,
            transport,
            tcp_port: f.tcp_port,
            fallback_after,
            quic_retry,
            proxy,
            no_proxy,
            metrics,
            log_format: f.log_format.unwrap_or_default(),
            key_exchange: super::key_exchange(f.post_quantum),
            connections,
        })
    }
}
