//! TLS settings, validated: termination on a listener (`[listener.tls]`) and re-encryption to
//! a pool's upstreams (`[pool.NAME.tls]`); their explanation and conversion into `ferry-tls`
//! configurations. The file model is in `tls_file`.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use ferry_app_core::duration::format_duration;
use ferry_tls::{
    AcceptorConfig, BusyPolicy, CertSource, ClientAuth, ConnectorConfig, DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_MAX_HANDSHAKES, DEFAULT_SESSION_CACHE, HandshakeLimits, KeyExchange, PemInput, Tickets,
    TlsVersion,
};

/// Names a `--tls-self-signed` or `self_signed = true` certificate is valid for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Where a listener's certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertFiles {
    /// A PEM chain and its key (which may be the same file).
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key (PKCS#8, PKCS#1 or SEC1; not encrypted).
        key: PathBuf,
    },
    /// A self-signed certificate generated at start for [`SELF_SIGNED_NAMES`] (development only;
    /// kept across reloads).
    SelfSigned,
}

/// A certificate served to clients whose SNI matches one of `names`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SniCert {
    /// Exact DNS names or `*.` wildcards (one label, as in certificates).
    pub names: Vec<String>,
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Client-certificate policy (mTLS) of a listener.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientCa {
    /// No client certificate is asked for. The default.
    #[default]
    Off,
    /// A certificate chaining to the CAs in this file is required.
    Required(PathBuf),
    /// A certificate is asked for; clients without one are accepted, wrong ones are refused.
    Optional(PathBuf),
}

/// Validated TLS termination settings of a listener (`[listener.tls]`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerTls {
    /// The default certificate, served without SNI or for names no [`sni`](Self::sni) entry
    /// matches; `None` (only with `sni` entries) fails such handshakes.
    pub cert: Option<CertFiles>,
    /// Extra certificates chosen by SNI. Default: none.
    pub sni: Vec<SniCert>,
    /// ALPN protocols offered, in order of preference. Default: none.
    pub alpn: Vec<String>,
    /// Oldest TLS version accepted. Default TLS 1.2.
    pub min_version: TlsVersion,
    /// Stateful session cache size (0 disables it). Default 20 000.
    pub session_cache: usize,
    /// Session tickets. Default per-process keys.
    pub tickets: Tickets,
    /// Client certificates. Default off.
    pub client_ca: ClientCa,
    /// Total handshake deadline. Default 10 s.
    pub handshake_timeout: Duration,
    /// Concurrent cryptographic handshakes on this listener. Default 1024.
    pub max_handshakes: NonZeroUsize,
    /// What a handshake does at the cap: wait for a slot or be refused. Default wait.
    pub when_busy: BusyPolicy,
    /// Key-exchange groups accepted (`post_quantum`). Default [`KeyExchange::PostQuantum`]:
    /// `X25519MLKEM768` preferred, then `X25519`, `secp256r1`, `secp384r1`.
    pub key_exchange: KeyExchange,
}

impl ListenerTls {
    /// Defaults with `cert` as the default certificate (what `--tls-cert`/`--tls-key` and
    /// `--tls-self-signed` give).
    #[must_use]
    pub fn new(cert: CertFiles) -> Self {
        Self {
            cert: Some(cert),
            sni: Vec::new(),
            alpn: Vec::new(),
            min_version: TlsVersion::Tls12,
            session_cache: DEFAULT_SESSION_CACHE,
            tickets: Tickets::PerProcess,
            client_ca: ClientCa::Off,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            when_busy: BusyPolicy::Wait,
            key_exchange: KeyExchange::PostQuantum,
        }
    }

    /// Whether the default certificate is generated.
    #[must_use]
    pub fn is_self_signed(&self) -> bool {
        matches!(self.cert, Some(CertFiles::SelfSigned))
    }

    /// The `ferry-tls` configuration; `self_signed` replaces [`CertFiles::SelfSigned`].
    pub(crate) fn acceptor_config(&self, self_signed: Option<&CertSource>) -> AcceptorConfig {
        let default = match &self.cert {
            Some(CertFiles::Files { cert, key }) => Some(CertSource::files(cert, key)),
            Some(CertFiles::SelfSigned) => Some(
                self_signed
                    .cloned()
                    .unwrap_or_else(|| CertSource::self_signed(SELF_SIGNED_NAMES)),
            ),
            None => None,
        };
        let mut config = match default {
            Some(source) => AcceptorConfig::new(source),
            None => AcceptorConfig::without_default_cert(),
        };
        for s in &self.sni {
            config.sni_cert(s.names.iter().cloned(), CertSource::files(&s.cert, &s.key));
        }
        let mut limits = HandshakeLimits::default();
        limits
            .timeout(self.handshake_timeout)
            .max_in_flight(self.max_handshakes)
            .when_busy(self.when_busy);
        config
            .alpn(&self.alpn)
            .min_version(self.min_version)
            .session_cache_size(self.session_cache)
            .tickets(self.tickets.clone())
            .client_auth(match &self.client_ca {
                ClientCa::Off => ClientAuth::Off,
                ClientCa::Required(path) => ClientAuth::Required(vec![PemInput::file(path)]),
                ClientCa::Optional(path) => ClientAuth::Optional(vec![PemInput::file(path)]),
            })
            .limits(limits)
            .key_exchange(self.key_exchange);
        config
    }

    /// One line for `ferry-proxy check`.
    pub(crate) fn explain(&self) -> String {
        let cert = match &self.cert {
            Some(CertFiles::Files { cert, key }) => {
                format!("cert={} key={}", cert.display(), key.display())
            }
            Some(CertFiles::SelfSigned) => format!(
                "cert=self-signed for [{}] (development only: clients cannot verify it)",
                SELF_SIGNED_NAMES.join(", ")
            ),
            None => "cert=none (handshakes without a matching SNI certificate fail)".to_owned(),
        };
        let sni: Vec<String> = self
            .sni
            .iter()
            .map(|s| format!("{} -> {}", s.names.join("|"), s.cert.display()))
            .collect();
        let tickets = match &self.tickets {
            Tickets::Off => "off".to_owned(),
            Tickets::SharedKeyFile { path, rotation } => format!(
                "shared key_file={} rotation={}",
                path.display(),
                format_duration(*rotation)
            ),
            _ => "per-process".to_owned(),
        };
        let client = match &self.client_ca {
            ClientCa::Off => "off".to_owned(),
            ClientCa::Required(p) => format!("required ca={}", p.display()),
            ClientCa::Optional(p) => format!("optional ca={}", p.display()),
        };
        format!(
            "{cert} sni=[{}] alpn=[{}] min_version={} session_cache={} tickets={tickets} \
             client_auth={client} handshake_timeout={} max_handshakes={} when_busy={} \
             key_exchange=[{}]",
            sni.join(", "),
            self.alpn.join(", "),
            self.min_version,
            self.session_cache,
            format_duration(self.handshake_timeout),
            self.max_handshakes,
            match self.when_busy {
                BusyPolicy::Refuse => "refuse",
                _ => "wait",
            },
            self.key_exchange.group_names().join(", "),
        )
    }
}

/// Validated TLS settings for a pool's upstream connections (`[pool.NAME.tls]`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamTls {
    /// CA certificates upstream certificates must chain to; `None` only with
    /// [`insecure_skip_verify`](Self::insecure_skip_verify). No system roots are used.
    pub ca: Option<PathBuf>,
    /// Name sent as SNI and verified in the certificate. Default: the upstream's host name, or
    /// its IP address for `IP:PORT` upstreams.
    pub server_name: Option<String>,
    /// Client certificate chain and key presented to upstreams that ask (mTLS). Default none.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// ALPN protocols offered. Default none.
    pub alpn: Vec<String>,
    /// Oldest TLS version accepted. Default TLS 1.2.
    pub min_version: TlsVersion,
    /// Upstream handshake deadline. Default 10 s.
    pub handshake_timeout: Duration,
    /// **Insecure**: accept any upstream certificate. Default false; logged as a warning.
    pub insecure_skip_verify: bool,
    /// Key-exchange groups offered to upstreams (`post_quantum`). Default
    /// [`KeyExchange::PostQuantum`]: an `X25519MLKEM768` and an `X25519` key share, then
    /// `secp256r1`, `secp384r1`.
    pub key_exchange: KeyExchange,
}

impl UpstreamTls {
    /// The `ferry-tls` connector configuration.
    pub(crate) fn connector_config(&self) -> ConnectorConfig {
        let mut config = ConnectorConfig::new();
        if let Some(ca) = &self.ca {
            config.add_ca(PemInput::file(ca));
        }
        if let Some((cert, key)) = &self.client_cert {
            config.client_cert(CertSource::files(cert, key));
        }
        if let Some(name) = &self.server_name {
            config.server_name(name);
        }
        if self.insecure_skip_verify {
            config.insecure_skip_verify();
        }
        config
            .alpn(&self.alpn)
            .min_version(self.min_version)
            .handshake_timeout(self.handshake_timeout)
            .key_exchange(self.key_exchange);
        config
    }

    /// One line for `ferry-proxy check`.
    pub(crate) fn explain(&self) -> String {
        let verify = if self.insecure_skip_verify {
            "verify=OFF (insecure_skip_verify: anyone on the path can impersonate upstreams)"
                .to_owned()
        } else {
            format!(
                "verify=on ca={}",
                self.ca
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |p| p.display().to_string())
            )
        };
        format!(
            "{verify} server_name={} client_cert={} alpn=[{}] min_version={} handshake_timeout={} \
             key_exchange=[{}]",
            self.server_name
                .as_deref()
                .unwrap_or("(upstream host or IP)"),
            self.client_cert
                .as_ref()
                .map_or("none".into(), |(c, _)| c.display().to_string()),
            self.alpn.join(", "),
            self.min_version,
            format_duration(self.handshake_timeout),
            self.key_exchange.group_names().join(", "),
        )
    }
}
