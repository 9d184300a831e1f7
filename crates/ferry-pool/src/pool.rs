//! [`Pool`]: connect with per-attempt timeout and retry on the next endpoint within a total
//! budget, passive ejection, snapshot.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};

use crate::config::PoolConfig;
use crate::endpoints::Table;
use crate::error::{Attempt, AttemptError, ConnectError, PoolError};
use crate::metrics as m;
use crate::resolve::{Resolver, SystemResolver};
use crate::state::Transition;
use crate::target::{MAX_WEIGHT, Target, Upstream};

/// A pool of upstreams. Cheap to clone (all clones share state).
#[derive(Clone, Debug)]
pub struct Pool {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) config: PoolConfig,
    pub(crate) upstreams: Vec<Upstream>,
    pub(crate) resolver: Arc<dyn Resolver>,
    table: Mutex<Table>,
    changed: watch::Sender<u64>,
    /// Serialises on-demand resolution; holds the time of the last one.
    pub(crate) on_demand: tokio::sync::Mutex<Option<Instant>>,
}

/// A connection to an upstream endpoint.
#[derive(Debug)]
#[non_exhaustive]
pub struct Connected {
    /// The connected socket (`TCP_NODELAY` set).
    pub stream: TcpStream,
    /// The endpoint it is connected to.
    pub endpoint: SocketAddr,
    /// Index, in the list given to [`Pool::new`], of the upstream the endpoint belongs to
    /// (for example to verify a host target's name with TLS).
    pub upstream: usize,
    /// Counts the connection against the endpoint for least connections until dropped; keep
    /// it as long as the connection is in use.
    pub guard: ActiveGuard,
}

/// Decrements an endpoint's active-connection count when dropped.
#[derive(Debug)]
pub struct ActiveGuard {
    active: Arc<crate::endpoints::Shared>,
    gauge: metrics::Gauge,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.gauge.decrement(1.0);
    }
}

/// The state of one endpoint, as returned by [`Pool::snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStatus {
    /// The configured upstream this endpoint came from.
    pub upstream: Target,
    /// The endpoint address.
    pub address: SocketAddr,
    /// Its weight.
    pub weight: NonZeroU32,
    /// Whether active health checks consider it up (always true without health checks).
    pub healthy: bool,
    /// End of the passive ejection in force, if any.
    pub ejected_until: Option<Instant>,
    /// Connect failures since the last success.
    pub consecutive_failures: u32,
    /// Connections counted against it (connecting or in use).
    pub active: u64,
}

impl EndpointStatus {
    /// Whether the endpoint is picked by normal selection: healthy and not ejected.
    #[must_use]
    pub fn usable(&self) -> bool {
        self.healthy && self.ejected_until.is_none()
    }
}

fn lock(t: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // The table stays consistent between statements; a panic elsewhere must not stop the pool.
    t.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// A pool named `name` (used in logs and metric labels) that resolves host targets with
    /// the system resolver.
    ///
    /// # Errors
    ///
    /// [`PoolError`] when the configuration is invalid, `upstreams` is empty or a weight is
    /// above [`MAX_WEIGHT`].
    pub fn new(
        name: impl Into<String>,
        config: PoolConfig,
        upstreams: Vec<Upstream>,
    ) -> Result<Self, PoolError> {
        Self::with_resolver(name, config, upstreams, Arc::new(SystemResolver))
    }

    /// Like [`Pool::new`] with another [`Resolver`].
    ///
    /// # Errors
    ///
    /// As [`Pool::new`].
    pub fn with_resolver(
        name: impl Into<String>,
        config: PoolConfig,
        upstreams: Vec<Upstream>,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, PoolError> {
        let name = name.into();
        config.validate()?;
        if upstreams.is_empty() {
            return Err(PoolError::NoUpstreams { pool: name });
        }
        if let Some(u) = upstreams.iter().find(|u| u.weight.get() > MAX_WEIGHT) {
            return Err(PoolError::WeightTooLarge {
                pool: name,
                upstream: u.target.to_string(),
                weight: u.weight.get(),
            });
        }
        let table = Table::new(config.policy, &upstreams);
        let (changed, _) = watch::channel(0);
        let pool = Self {
            inner: Arc::new(Inner {
                name,
                config,
                upstreams,
                resolver,
                table: Mutex::new(table),
                changed,
                on_demand: tokio::sync::Mutex::new(None),
            }),
        };
        pool.publish_all();
        Ok(pool)
    }

    /// The pool's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The pool's configuration.
    #[must_use]
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// A receiver whose value changes whenever an endpoint goes up or down, is ejected or
    /// recovers, or the endpoint set changes (DNS).
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Every endpoint's state, in upstream order.
    #[must_use]
    pub fn snapshot(&self) -> Vec<EndpointStatus> {
        let now = Instant::now();
        let t = lock(&self.inner.table);
        t.endpoints
            .iter()
            .map(|e| EndpointStatus {
                upstream: self
                    .inner
                    .upstreams
                    .get(e.upstream)
                    .map_or(Target::Addr(e.addr), |u| u.target.clone()),
                address: e.addr,
                weight: e.weight,
                healthy: e.health.up,
                ejected_until: e.passive.ejected_until.filter(|&u| now < u),
                consecutive_failures: e.passive.consecutive_failures,
                active: e.active.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Connects to an endpoint chosen by the policy for `client`. A failed or timed-out
    /// attempt is recorded for passive ejection and the next endpoint is tried, until one
    /// succeeds, every endpoint was tried once, or the connect budget is spent. An attempt that
    /// the end of the budget cut short (before its own timeout) is not held against the
    /// endpoint for passive ejection. Host targets
    /// never resolved yet are resolved first, within the budget (one resolution at a time
    /// for all callers, at most one per second while the name does not resolve).
    ///
    /// # Errors
    ///
    /// [`ConnectError`] naming every attempt, or saying that no endpoint could be tried.
    pub async fn connect(&self, client: SocketAddr) -> Result<Connected, ConnectError> {
        let cfg = &self.inner.config;
        let deadline = Instant::now() + cfg.connect_budget;
        if lock(&self.inner.table).needs_resolution() {
            let _partial = timeout_at(deadline, self.resolve_missing()).await;
        }
        let mut tried = Vec::new();
        let mut attempts = Vec::new();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(ConnectError::BudgetSpent {
                    pool: self.inner.name.clone(),
                    budget: cfg.connect_budget,
                    attempts,
                });
            }
            let picked = lock(&self.inner.table).pick(client.ip(), &tried, cfg.all_down, now);
            let Some(picked) = picked else {
                let pool = self.inner.name.clone();
                if attempts.is_empty() {
                    metrics::counter!(m::NO_HEALTHY, "pool" => pool.clone()).increment(1);
                    return Err(ConnectError::NoHealthyUpstream { pool });
                }
                return Err(ConnectError::Exhausted { pool, attempts });
            };
            let addr = picked.addr;
            tried.push(addr);
            let gauge = picked.active.gauge(&self.inner.name, addr).clone();
            gauge.increment(1.0);
            let guard = ActiveGuard {
                active: picked.active,
                gauge,
            };
            let attempt_deadline = deadline.min(now + cfg.connect_timeout);
            let mut cut = false;
            let error = match timeout_at(attempt_deadline, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    guard.active.connected(&self.inner.name, addr).increment(1);
                    // Without Nagle's algorithm small writes leave at once; failure is harmless.
                    let _best_effort = stream.set_nodelay(true);
                    self.record(addr, true);
                    return Ok(Connected {
                        stream,
                        endpoint: addr,
                        upstream: picked.upstream,
                        guard,
                    });
                }
                Ok(Err(e)) => {
                    metrics::counter!(
                        m::CONNECTS,
                        &m::labels_with_result(&self.inner.name, addr, "error")
                    )
                    .increment(1);
                    AttemptError::Io(e)
                }
                Err(_elapsed) => {
                    // Cut short by the budget rather than by its own timeout: the endpoint had
                    // less time than it is owed, so the attempt says nothing about it.
                    cut = attempt_deadline < now + cfg.connect_timeout;
                    let result = if cut { "budget" } else { "timeout" };
                    metrics::counter!(
                        m::CONNECTS,
                        &m::labels_with_result(&self.inner.name, addr, result)
                    )
                    .increment(1);
                    AttemptError::TimedOut(attempt_deadline.saturating_duration_since(now))
                }
            };
            tracing::debug!(pool = %self.inner.name, upstream = %addr, error = %error, "upstream connect failed");
            drop(guard);
            if !cut {
                self.record(addr, false);
            }
            attempts.push(Attempt {
                endpoint: addr,
                error,
            });
        }
    }

    /// Records a connect outcome for passive ejection.
    fn record(&self, addr: SocketAddr, ok: bool) {
        let cfg = self.inner.config.ejection.as_ref();
        let now = Instant::now();
        let transition = {
            let mut t = lock(&self.inner.table);
            let Some(e) = t.get_mut(addr) else { return };
            if ok {
                e.passive.on_success(now)
            } else {
                e.passive.on_failure(cfg, now)
            }
        };
        match transition {
            Transition::None => return,
            Transition::Ejected(period) => {
                tracing::warn!(pool = %self.inner.name, upstream = %addr, ?period, "upstream ejected after connect failures");
                metrics::counter!(m::EJECTIONS, &m::labels(&self.inner.name, addr)).increment(1);
            }
            Transition::Recovered => {
                tracing::info!(pool = %self.inner.name, upstream = %addr, "upstream recovered from ejection");
            }
        }
        self.publish_all();
    }

    /// Runs `f` on the table under the lock.
    pub(crate) fn with_table<R>(&self, f: impl FnOnce(&mut Table) -> R) -> R {
        f(&mut lock(&self.inner.table))
    }

    /// Updates every gauge and wakes [`Pool::watch`] receivers.
    pub(crate) fn publish_all(&self) {
        let now = Instant::now();
        let name = &self.inner.name;
        {
            let t = lock(&self.inner.table);
            for e in &t.endpoints {
                let labels = m::labels(name, e.addr);
                let ejected = e.passive.is_ejected(now);
                metrics::gauge!(m::UP, &labels).set(m::flag(e.health.up && !ejected));
                metrics::gauge!(m::HEALTHY, &labels).set(m::flag(e.health.up));
                metrics::gauge!(m::EJECTED, &labels).set(m::flag(ejected));
            }
            #[allow(clippy::cast_precision_loss)] // endpoint counts are far below 2^52
            let n = t.endpoints.len() as f64;
            metrics::gauge!(m::ENDPOINTS, "pool" => name.clone()).set(n);
        }
        self.inner.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}
