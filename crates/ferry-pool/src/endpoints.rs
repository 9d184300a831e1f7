//! The pool's mutable endpoint table: one entry per resolved address, with its health, passive
//! ejection state and active-connection count. Guarded by a `std` mutex that is never held
//! across an `.await`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use crate::config::AllDown;
use crate::select::{Candidate, Policy, Selector, endpoint_key};
use crate::state::{Health, Passive};
use crate::target::{Target, Upstream};

#[derive(Debug)]
pub(crate) struct Endpoint {
    /// Index into the pool's upstream list.
    pub(crate) upstream: usize,
    pub(crate) addr: SocketAddr,
    pub(crate) key: u64,
    pub(crate) weight: NonZeroU32,
    pub(crate) active: Arc<Shared>,
    pub(crate) health: Health,
    pub(crate) passive: Passive,
}

impl Endpoint {
    fn new(upstream: usize, addr: SocketAddr, weight: NonZeroU32) -> Self {
        Self {
            upstream,
            addr,
            key: endpoint_key(addr),
            weight,
            active: Arc::default(),
            health: Health::default(),
            passive: Passive::default(),
        }
    }

    pub(crate) fn usable(&self, now: Instant) -> bool {
        self.health.up && !self.passive.is_ejected(now)
    }
}

/// What [`Table::pick`] chose.
#[derive(Debug)]
pub(crate) struct Picked {
    pub(crate) addr: SocketAddr,
    /// Index of the configured upstream the endpoint came from.
    pub(crate) upstream: usize,
    /// Already incremented for this connection.
    pub(crate) active: Arc<Shared>,
}

/// What connections to one endpoint share: the active-connection count, and the metric
/// handles of its connects, resolved at the first use (after the program installed its
/// recorder) instead of by name and labels on every connect.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    count: AtomicU64,
    /// `ferry_upstream_active_connections`.
    gauge: OnceLock<metrics::Gauge>,
    /// `ferry_upstream_connects_total{result="ok"}`, resolved at the first successful connect
    /// (so the series appears only then, as before).
    connected: OnceLock<metrics::Counter>,
}

impl Shared {
    pub(crate) fn load(&self, order: Ordering) -> u64 {
        self.count.load(order)
    }

    pub(crate) fn fetch_add(&self, n: u64, order: Ordering) -> u64 {
        self.count.fetch_add(n, order)
    }

    pub(crate) fn fetch_sub(&self, n: u64, order: Ordering) -> u64 {
        self.count.fetch_sub(n, order)
    }

    /// The endpoint's active-connections gauge in pool `pool`.
    pub(crate) fn gauge(&self, pool: &str, addr: SocketAddr) -> &metrics::Gauge {
        self.gauge.get_or_init(|| {
            metrics::gauge!(crate::metrics::ACTIVE, &crate::metrics::labels(pool, addr))
        })
    }

    /// The endpoint's successful-connects counter in pool `pool`.
    pub(crate) fn connected(&self, pool: &str, addr: SocketAddr) -> &metrics::Counter {
        self.connected.get_or_init(|| {
            metrics::counter!(
                crate::metrics::CONNECTS,
                &crate::metrics::labels_with_result(pool, addr, "ok")
            )
        })
    }
}

#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) endpoints: Vec<Endpoint>,
    /// Addresses per upstream; `None` for a host target never resolved successfully.
    resolved: Vec<Option<Vec<SocketAddr>>>,
    selector: Selector,
    scratch: Vec<Candidate>,
}

impl Table {
    pub(crate) fn new(policy: Policy, upstreams: &[Upstream]) -> Self {
        let resolved = upstreams
            .iter()
            .map(|u| match &u.target {
                Target::Addr(a) => Some(vec![*a]),
                Target::Host { .. } => None,
            })
            .collect();
        let mut t = Self {
            endpoints: Vec::new(),
            resolved,
            selector: Selector::new(policy),
            scratch: Vec::new(),
        };
        t.rebuild(upstreams);
        t
    }

    /// Whether some host target has never been resolved.
    pub(crate) fn needs_resolution(&self) -> bool {
        self.resolved.iter().any(Option::is_none)
    }

    /// Per upstream: whether it is a host target never resolved.
    pub(crate) fn unresolved(&self) -> Vec<bool> {
        self.resolved.iter().map(Option::is_none).collect()
    }

    /// Sets the addresses of upstream `index`; returns whether the endpoint set changed.
    pub(crate) fn set_addresses(
        &mut self,
        upstreams: &[Upstream],
        index: usize,
        mut addrs: Vec<SocketAddr>,
    ) -> bool {
        addrs.sort_unstable();
        addrs.dedup();
        let Some(slot) = self.resolved.get_mut(index) else {
            return false;
        };
        if slot.as_ref() == Some(&addrs) {
            return false;
        }
        *slot = Some(addrs);
        self.rebuild(upstreams);
        true
    }

    /// Rebuilds the endpoint list from the resolved addresses, keeping the state of endpoints
    /// that remain. An address listed by two upstreams is one endpoint (the first upstream's).
    fn rebuild(&mut self, upstreams: &[Upstream]) {
        let mut old = std::mem::take(&mut self.endpoints);
        for (i, (u, addrs)) in upstreams.iter().zip(&self.resolved).enumerate() {
            for &addr in addrs.iter().flatten() {
                if self.endpoints.iter().any(|e| e.addr == addr) {
                    continue;
                }
                let kept = old
                    .iter()
                    .position(|e| e.addr == addr && e.upstream == i)
                    .map(|p| old.swap_remove(p));
                self.endpoints
                    .push(kept.unwrap_or_else(|| Endpoint::new(i, addr, u.weight)));
            }
        }
        self.fill_scratch(|_| true);
        self.selector.reset(&self.scratch);
    }

    fn fill_scratch(&mut self, available: impl Fn(&Endpoint) -> bool) {
        self.scratch.clear();
        self.scratch
            .extend(self.endpoints.iter().map(|e| Candidate {
                key: e.key,
                weight: e.weight,
                active: e.active.load(Ordering::Relaxed),
                available: available(e),
            }));
    }

    /// Picks an endpoint not in `tried`, preferring usable ones; with [`AllDown::TryAll`] falls
    /// back to the unusable ones once no usable one is left. Counts the pick as active.
    pub(crate) fn pick(
        &mut self,
        client: IpAddr,
        tried: &[SocketAddr],
        all_down: AllDown,
        now: Instant,
    ) -> Option<Picked> {
        self.fill_scratch(|e| e.usable(now) && !tried.contains(&e.addr));
        let mut idx = self.selector.pick(&self.scratch, client);
        if idx.is_none() && all_down == AllDown::TryAll {
            self.fill_scratch(|e| !tried.contains(&e.addr));
            idx = self.selector.pick(&self.scratch, client);
        }
        let e = self.endpoints.get(idx?)?;
        e.active.fetch_add(1, Ordering::Relaxed);
        Some(Picked {
            addr: e.addr,
            upstream: e.upstream,
            active: Arc::clone(&e.active),
        })
    }

    pub(crate) fn get_mut(&mut self, addr: SocketAddr) -> Option<&mut Endpoint> {
        self.endpoints.iter_mut().find(|e| e.addr == addr)
    }
}
