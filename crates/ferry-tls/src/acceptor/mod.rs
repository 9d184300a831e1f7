//! The server side: [`TlsAcceptor`].

pub(crate) mod build;
pub(crate) mod config;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::LazyConfigAcceptor;

use self::build::{Resumption, server_config};
use self::config::{AcceptorConfig, BusyPolicy, HandshakeLimits};
use crate::client_cert::SharedClientVerifier;
use crate::error::{HandshakeError, TlsConfigError};
use crate::info::HandshakeInfo;

/// A server-side TLS stream (the transport plus the rustls connection).
pub type ServerTlsStream<IO> = tokio_rustls::server::TlsStream<IO>;

/// What a reload swaps as a whole.
struct Snapshot {
    config: Arc<ServerConfig>,
    /// Checks the client certificate of a resumed session again (see [`accept`]).
    client_check: Option<SharedClientVerifier>,
    timeout: Duration,
    when_busy: BusyPolicy,
    /// `None` for configurations given by [`TlsAcceptor::from_rustls`].
    resumption: Option<Resumption>,
}

struct Inner {
    current: ArcSwap<Snapshot>,
    slots: Semaphore,
    max_in_flight: usize,
    /// Handshakes queued for a slot under [`BusyPolicy::Wait`].
    waiting: AtomicUsize,
}

/// Counts one queued handshake for as long as it lives (including when the future is dropped).
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts TLS connections: certificate selection by SNI, ALPN, session resumption, a total
/// handshake deadline and a cap on concurrent handshakes; the configuration can be replaced at
/// run time with [`reload`](Self::reload).
///
/// Cloning is cheap and clones share the configuration, the session cache and the handshake
/// slots.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.inner.current.load();
        f.debug_struct("TlsAcceptor")
            .field("timeout", &current.timeout)
            .field("when_busy", &current.when_busy)
            .field("max_in_flight", &self.inner.max_in_flight)
            .field("in_flight", &self.handshakes_in_flight())
            .field("waiting", &self.handshakes_waiting())
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Build an acceptor: read and check every certificate and key, the client CAs and the ticket
    /// key file.
    ///
    /// # Errors
    ///
    /// Any [`TlsConfigError`]: unreadable or invalid PEM, a key that does not match its
    /// certificate, an invalid SNI name, no certificate at all, a bad ticket key file.
    pub fn new(config: &AcceptorConfig) -> Result<Self, TlsConfigError> {
        let (server, resumption) = server_config(config, None)?;
        Ok(Self::with_snapshot(
            Snapshot {
                config: server,
                client_check: shared_verifier(config),
                timeout: config.limits.timeout,
                when_busy: config.limits.when_busy,
                resumption: Some(resumption),
            },
            config.limits.max_in_flight.get(),
        ))
    }

    /// Wrap a hand-built rustls configuration, with the default [`HandshakeLimits`]. The caller
    /// is responsible for everything in it (build it with
    /// `ServerConfig::builder_with_provider`, not the process-default provider).
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self::from_rustls_with_limits(config, HandshakeLimits::default())
    }

    /// [`from_rustls`](Self::from_rustls) with explicit limits.
    pub fn from_rustls_with_limits(config: Arc<ServerConfig>, limits: HandshakeLimits) -> Self {
        Self::with_snapshot(
            Snapshot {
                config,
                client_check: None,
                timeout: limits.timeout,
                when_busy: limits.when_busy,
                resumption: None,
            },
            limits.max_in_flight.get(),
        )
    }

    fn with_snapshot(snapshot: Snapshot, max_in_flight: usize) -> Self {
        let max_in_flight = max_in_flight.min(Semaphore::MAX_PERMITS);
        Self {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(snapshot),
                slots: Semaphore::new(max_in_flight),
                max_in_flight,
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// Replace the configuration for new handshakes. The new configuration is built and checked
    /// completely first; on error the old one stays in force. Connections already established
    /// (or mid-handshake) keep the configuration they started with.
    ///
    /// The session cache is kept when its size is unchanged, and per-process ticket keys are kept
    /// when tickets stay [`Tickets::PerProcess`](crate::Tickets::PerProcess), so clients resume
    /// across reloads; a shared ticket key file is read again. `max_in_flight` keeps the value
    /// the acceptor was created with.
    ///
    /// # Errors
    ///
    /// The same as [`new`](Self::new).
    pub fn reload(&self, config: &AcceptorConfig) -> Result<(), TlsConfigError> {
        let current = self.inner.current.load();
        let (server, resumption) = server_config(config, current.resumption.as_ref())?;
        self.inner.current.store(Arc::new(Snapshot {
            config: server,
            client_check: shared_verifier(config),
            timeout: config.limits.timeout,
            when_busy: config.limits.when_busy,
            resumption: Some(resumption),
        }));
        tracing::info!("tls configuration reloaded");
        Ok(())
    }

    /// The rustls configuration new handshakes use.
    pub fn rustls_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.inner.current.load().config)
    }

    /// Handshakes currently holding a slot (phase 2 in [`HandshakeLimits`]).
    pub fn handshakes_in_flight(&self) -> usize {
        self.inner
            .max_in_flight
            .saturating_sub(self.inner.slots.available_permits())
    }

    /// Handshakes that have sent their `ClientHello` and are queued for a slot
    /// ([`BusyPolicy::Wait`]).
    pub fn handshakes_waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// Run the server side of a TLS handshake on `io`.
    ///
    /// Reads the `ClientHello`, takes a handshake slot (waiting or failing per
    /// [`BusyPolicy`]), then completes the handshake with the configuration current at that
    /// moment. The whole call is bounded by the handshake timeout.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Timeout`] past the deadline, [`HandshakeError::Busy`] when the cap is
    /// reached under [`BusyPolicy::Refuse`], [`HandshakeError::Tls`] for a protocol error, an
    /// alert or a rejected client certificate, [`HandshakeError::Io`] for transport errors
    /// (including EOF before the handshake finished). The caller should close `io` (it is
    /// dropped here).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops `io` and frees the slot.
    pub async fn accept<IO>(
        &self,
        io: IO,
    ) -> Result<(ServerTlsStream<IO>, HandshakeInfo), HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let (timeout, when_busy) = {
            let current = self.inner.current.load();
            (current.timeout, current.when_busy)
        };
        let deadline = deadline_after(timeout);
        let timed_out = |_| HandshakeError::Timeout(timeout);

        let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
        let start = timeout_at(deadline, hello)
            .await
            .map_err(timed_out)?
            .map_err(HandshakeError::from_io)?;

        let _slot = match when_busy {
            BusyPolicy::Wait => {
                let _queued = WaitingGuard::new(&self.inner.waiting);
                timeout_at(deadline, self.inner.slots.acquire())
                    .await
                    .map_err(timed_out)?
                    .map_err(|_closed| HandshakeError::Busy)?
            }
            BusyPolicy::Refuse => self
                .inner
                .slots
                .try_acquire()
                .map_err(|_no_permit| HandshakeError::Busy)?,
        };

        // A handshake that queued until its deadline gives up before doing any crypto.
        if Instant::now() >= deadline {
            return Err(HandshakeError::Timeout(timeout));
        }
        // The configuration current when the handshake proper starts: a reload while this
        // client was sending its ClientHello or queueing already applies.
        let (config, client_check) = {
            let current = self.inner.current.load();
            (Arc::clone(&current.config), current.client_check.clone())
        };
        let stream = timeout_at(deadline, start.into_stream(config))
            .await
            .map_err(timed_out)?
            .map_err(HandshakeError::from_io)?;
        let (_, conn) = stream.get_ref();
        let sni = conn.server_name().map(str::to_owned);
        let info = HandshakeInfo::from_state(conn, sni)
            .ok_or(HandshakeError::Tls(rustls::Error::HandshakeNotComplete))?;
        // A resumed session carries the client certificate of its first handshake, unchecked
        // since: it must still pass the policy in force (not revoked since, not expired).
        if info.resumed
            && let Some(shared) = client_check
        {
            let chain = conn.peer_certificates().unwrap_or_default();
            shared
                .check(chain, rustls_pki_types::UnixTime::now())
                .map_err(HandshakeError::ClientCertificate)?;
        }
        Ok((stream, info))
    }
}

/// `now + timeout`, saturating at one year for absurd timeouts.
/// The shared client verifier of `config`, if it has one.
fn shared_verifier(config: &AcceptorConfig) -> Option<SharedClientVerifier> {
    match &config.client_auth {
        config::ClientAuth::Shared(shared) => Some(shared.clone()),
        _ => None,
    }
}

pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    const ONE_YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(ONE_YEAR))
        .unwrap_or(now)
}
