//! Server-side configuration: certificates, SNI, ALPN, versions, resumption, client auth and
//! handshake limits.

use std::num::NonZeroUsize;
use std::time::Duration;

use crate::cert::CertSource;
use crate::info::TlsVersion;
use crate::pem::PemInput;
use crate::provider::KeyExchange;
use crate::tickets::Tickets;

/// Default size of the stateful session cache: 20 000 sessions, HAProxy's
/// `tune.ssl.cachesize` default (rustls' own default is 256). Each entry is a few hundred bytes.
pub const DEFAULT_SESSION_CACHE: usize = 20_000;
/// Default handshake deadline: 10 s, measured from the call to `accept`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on concurrent handshakes: 1024.
pub const DEFAULT_MAX_HANDSHAKES: NonZeroUsize = match NonZeroUsize::new(1024) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// What [`TlsAcceptor::accept`](crate::TlsAcceptor::accept) does when
/// [`HandshakeLimits::max_in_flight`] handshakes are already running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BusyPolicy {
    /// Queue (first come, first served) until a slot frees up or the handshake deadline passes
    /// ([`HandshakeError::Timeout`](crate::HandshakeError::Timeout)). **The default**: a burst
    /// of legitimate clients is smoothed rather than refused.
    #[default]
    Wait,
    /// Fail at once with [`HandshakeError::Busy`](crate::HandshakeError::Busy) (the caller then
    /// closes the connection), as HAProxy's `maxsslrate` does.
    Refuse,
}

/// Limits that keep a handshake flood from starving established connections.
///
/// A handshake goes through two phases under one deadline:
/// 1. reading the `ClientHello` (cheap: no crypto, a small bounded buffer); no slot is taken, so
///    clients that connect and stall cost a socket and a task until the deadline, and are
///    bounded by the caller's connection limits;
/// 2. the cryptographic part of the handshake, which holds one of `max_in_flight` slots until it
///    finishes or the deadline passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeLimits {
    pub(crate) timeout: Duration,
    pub(crate) max_in_flight: NonZeroUsize,
    pub(crate) when_busy: BusyPolicy,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_in_flight: DEFAULT_MAX_HANDSHAKES,
            when_busy: BusyPolicy::Wait,
        }
    }
}

impl HandshakeLimits {
    /// Total time allowed for a handshake, from the call to `accept` (reading the
    /// `ClientHello`, waiting for a slot and the handshake itself). Default 10 s.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Handshakes allowed in phase 2 at once. Default 1024.
    pub fn max_in_flight(&mut self, max: NonZeroUsize) -> &mut Self {
        self.max_in_flight = max;
        self
    }

    /// What to do when `max_in_flight` is reached. Default [`BusyPolicy::Wait`].
    pub fn when_busy(&mut self, policy: BusyPolicy) -> &mut Self {
        self.when_busy = policy;
        self
    }
}

/// Whether and how the acceptor asks clients for a certificate (mTLS).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// No client certificate is requested. **The default.**
    #[default]
    Off,
    /// A certificate is requested; clients without one are accepted, clients with one that does
    /// not chain to these CAs are rejected.
    Optional(Vec<PemInput>),
    /// A certificate chaining to one of these CAs is required.
    Required(Vec<PemInput>),
    /// The policy of a [`SharedClientVerifier`](crate::SharedClientVerifier): CAs, CRLs,
    /// revoked serials, required or optional, or no certificate asked for; changed with
    /// [`SharedClientVerifier::store`](crate::SharedClientVerifier::store) without a reload
    /// of the acceptor. The client certificate of a resumed session is checked again with
    /// the policy in force.
    Shared(crate::SharedClientVerifier),
}

/// Configuration for [`TlsAcceptor`](crate::TlsAcceptor).
///
/// ```
/// use ferry_tls::{AcceptorConfig, CertSource, TlsVersion};
///
/// let mut config = AcceptorConfig::new(CertSource::files("/etc/ferry/default.pem", "/etc/ferry/default.key"));
/// config
///     .sni_cert(["api.example.com", "*.api.example.com"], CertSource::files("api.pem", "api.key"))
///     .alpn(["h2", "http/1.1"])
///     .min_version(TlsVersion::Tls12)
///     .session_cache_size(50_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AcceptorConfig {
    pub(crate) default_cert: Option<CertSource>,
    pub(crate) sni_certs: Vec<(Vec<String>, CertSource)>,
    pub(crate) alpn: Vec<Vec<u8>>,
    pub(crate) min_version: TlsVersion,
    pub(crate) session_cache_size: usize,
    pub(crate) tickets: Tickets,
    pub(crate) client_auth: ClientAuth,
    pub(crate) limits: HandshakeLimits,
    pub(crate) key_exchange: KeyExchange,
}

impl AcceptorConfig {
    /// A configuration whose default certificate is `default_cert`: it is served when the client
    /// sends no SNI or a name no [`sni_cert`](Self::sni_cert) entry matches.
    pub fn new(default_cert: CertSource) -> Self {
        Self {
            default_cert: Some(default_cert),
            ..Self::without_default_cert()
        }
    }

    /// A configuration with no default certificate: handshakes without SNI, or with a name no
    /// [`sni_cert`](Self::sni_cert) entry matches, fail with an alert. At least one `sni_cert`
    /// must be added.
    pub fn without_default_cert() -> Self {
        Self {
            default_cert: None,
            sni_certs: Vec::new(),
            alpn: Vec::new(),
            min_version: TlsVersion::Tls12,
            session_cache_size: DEFAULT_SESSION_CACHE,
            tickets: Tickets::PerProcess,
            client_auth: ClientAuth::Off,
            limits: HandshakeLimits::default(),
            key_exchange: KeyExchange::PostQuantum,
        }
    }

    /// Serve `cert` to clients whose SNI matches one of `names`: exact DNS names or `*.`
    /// wildcards (one label, as in certificates). Matching ignores ASCII case and a trailing dot;
    /// an exact name wins over a wildcard. The names are not checked against the certificate's
    /// subject alternative names (clients do that). Default: none.
    pub fn sni_cert<S: Into<String>>(
        &mut self,
        names: impl IntoIterator<Item = S>,
        cert: CertSource,
    ) -> &mut Self {
        self.sni_certs
            .push((names.into_iter().map(Into::into).collect(), cert));
        self
    }

    /// ALPN protocols offered, in order of preference. A client that offers ALPN with no
    /// protocol in common is refused (`no_application_protocol`); a client that offers none is
    /// accepted. Default: empty (no ALPN).
    pub fn alpn<P: AsRef<[u8]>>(&mut self, protocols: impl IntoIterator<Item = P>) -> &mut Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Oldest protocol version accepted. Default [`TlsVersion::Tls12`].
    pub fn min_version(&mut self, version: TlsVersion) -> &mut Self {
        self.min_version = version;
        self
    }

    /// Capacity of the in-memory stateful session cache (TLS 1.2 session IDs, TLS 1.3 stateful
    /// tickets), least recently used sessions evicted first; 0 disables it. Default
    /// [`DEFAULT_SESSION_CACHE`] (20 000).
    pub fn session_cache_size(&mut self, sessions: usize) -> &mut Self {
        self.session_cache_size = sessions;
        self
    }

    /// How session tickets are issued. Default [`Tickets::PerProcess`]. With tickets on, TLS 1.3
    /// resumption is stateless and the cache serves TLS 1.2 session IDs only.
    pub fn tickets(&mut self, tickets: Tickets) -> &mut Self {
        self.tickets = tickets;
        self
    }

    /// Client certificate policy. Default [`ClientAuth::Off`].
    pub fn client_auth(&mut self, client_auth: ClientAuth) -> &mut Self {
        self.client_auth = client_auth;
        self
    }

    /// Handshake deadline and concurrency cap. Default [`HandshakeLimits::default`] (10 s,
    /// 1024, wait). [`reload`](crate::TlsAcceptor::reload) applies the timeout and busy
    /// policy but not `max_in_flight`, which is fixed when the acceptor is created.
    pub fn limits(&mut self, limits: HandshakeLimits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// Key-exchange groups accepted, preferred first (table in [`mod@crate::provider`]). Default
    /// [`KeyExchange::PostQuantum`]: `X25519MLKEM768` when the client offers it, classical
    /// groups otherwise.
    pub fn key_exchange(&mut self, key_exchange: KeyExchange) -> &mut Self {
        self.key_exchange = key_exchange;
        self
    }
}
