//! Counters of a run and the [`Report`] returned when it stops.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a proxy run did, returned after it stopped.
///
/// Every accepted connection ends in exactly one of `completed`, `upstream_failures`,
/// `cut_at_drain`, `tls_handshake_failures`, `unrouted`, `upstream_tls_failures`,
/// `proxy_rejected` and `refused`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Client connections accepted.
    pub accepted: u64,
    /// Connections that ended on their own (normally, by timeout or by an error of one side).
    pub completed: u64,
    /// Connections closed because no upstream could be reached.
    pub upstream_failures: u64,
    /// Connections still running (or still setting up) when the drain timeout expired, and cut.
    pub cut_at_drain: u64,
    /// Bytes relayed from clients to upstreams.
    pub client_to_upstream: u64,
    /// Bytes relayed from upstreams to clients.
    pub upstream_to_client: u64,
    /// Client TLS handshakes completed on TLS listeners.
    pub tls_handshakes: u64,
    /// Of those, resumed (abbreviated) handshakes.
    pub tls_resumed: u64,
    /// Client connections closed because their TLS handshake failed or timed out.
    pub tls_handshake_failures: u64,
    /// Client connections closed because no SNI route matched and the listener has no default
    /// pool.
    pub unrouted: u64,
    /// Connections closed because the TLS handshake with the upstream failed (for example an
    /// upstream certificate that does not verify).
    pub upstream_tls_failures: u64,
    /// Connections closed on an `accept_proxy` listener: from an untrusted peer, or with a
    /// missing, invalid or late PROXY header.
    pub proxy_rejected: u64,
    /// Client connections refused at accept by a limit or an access rule (before any TLS
    /// handshake or upstream connect).
    pub refused: u64,
    /// Connections closed at accept because their reservation would have passed
    /// `server.memory_budget` (not counted in `accepted`: no handler ever saw them).
    pub memory_refused: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) accepted: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) upstream_failures: AtomicU64,
    pub(crate) cut_at_drain: AtomicU64,
    pub(crate) client_to_upstream: AtomicU64,
    pub(crate) upstream_to_client: AtomicU64,
    pub(crate) tls_handshakes: AtomicU64,
    pub(crate) tls_resumed: AtomicU64,
    pub(crate) tls_handshake_failures: AtomicU64,
    pub(crate) unrouted: AtomicU64,
    pub(crate) upstream_tls_failures: AtomicU64,
    pub(crate) proxy_rejected: AtomicU64,
    pub(crate) refused: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn report(&self) -> Report {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Report {
            accepted: get(&self.accepted),
            completed: get(&self.completed),
            upstream_failures: get(&self.upstream_failures),
            cut_at_drain: get(&self.cut_at_drain),
            client_to_upstream: get(&self.client_to_upstream),
            upstream_to_client: get(&self.upstream_to_client),
            tls_handshakes: get(&self.tls_handshakes),
            tls_resumed: get(&self.tls_resumed),
            tls_handshake_failures: get(&self.tls_handshake_failures),
            unrouted: get(&self.unrouted),
            upstream_tls_failures: get(&self.upstream_tls_failures),
            proxy_rejected: get(&self.proxy_rejected),
            refused: get(&self.refused),
            memory_refused: 0,
        }
    }
}
