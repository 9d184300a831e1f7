//! Background work of a pool: active health checks and DNS re-resolution.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, interval, timeout};
use tokio_util::sync::CancellationToken;

use crate::config::HealthCheck;
use crate::metrics as m;
use crate::pool::Pool;
use crate::target::Target;

/// Shortest time between two on-demand resolutions of never-resolved host targets.
pub(crate) const ON_DEMAND_RETRY: Duration = Duration::from_secs(1);

/// How often gauges are refreshed so an ejection that ended shows as such.
const GAUGE_REFRESH: Duration = Duration::from_secs(1);

/// Why a health probe failed (logged at debug level).
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    #[error("send failed: {0}")]
    Send(std::io::Error),
    #[error("read failed: {0}")]
    Read(std::io::Error),
    #[error("upstream closed after {0} bytes of the expected answer")]
    Closed(usize),
    #[error("upstream answered unexpected bytes")]
    Mismatch,
    #[error("probe timed out")]
    TimedOut,
}

async fn probe_inner(addr: SocketAddr, check: &HealthCheck) -> Result<(), ProbeError> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(ProbeError::Connect)?;
    // Close with RST (SO_LINGER 0) however the probe ends, so probes leave no TIME_WAIT
    // sockets behind; a failure to set it only costs that.
    let _best_effort = s.set_zero_linger();
    if let Some(send) = &check.send {
        s.write_all(send).await.map_err(ProbeError::Send)?;
    }
    if let Some(expect) = &check.expect {
        let mut buf = vec![0u8; expect.len()];
        let mut got = 0;
        while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
            let n = s.read(rest).await.map_err(ProbeError::Read)?;
            if n == 0 {
                return Err(ProbeError::Closed(got));
            }
            // Compare as the bytes arrive, so a wrong answer fails without waiting for more.
            if buf.get(got..got + n) != expect.get(got..got + n) {
                return Err(ProbeError::Mismatch);
            }
            got += n;
        }
    }
    Ok(())
}

async fn probe(addr: SocketAddr, check: &HealthCheck) -> Result<(), ProbeError> {
    timeout(check.timeout, probe_inner(addr, check))
        .await
        .unwrap_or(Err(ProbeError::TimedOut))
}

impl Pool {
    /// Runs health checks (when configured) and DNS re-resolution of host targets until
    /// `shutdown` is cancelled. Spawn it once per pool; without it the pool still works
    /// (resolving hosts on first use, never re-resolving, never probing).
    pub async fn run_background(&self, shutdown: CancellationToken) {
        let dns = async {
            let has_hosts = self
                .inner
                .upstreams
                .iter()
                .any(|u| matches!(u.target, Target::Host { .. }));
            if !has_hosts {
                return std::future::pending().await;
            }
            let mut tick = interval(self.inner.config.dns_interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.resolve().await;
            }
        };
        let health = async {
            let Some(check) = &self.inner.config.health_check else {
                return std::future::pending().await;
            };
            let mut tick = interval(check.interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.check_health().await;
            }
        };
        let gauges = async {
            let mut tick = interval(GAUGE_REFRESH);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.publish_all();
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = dns => {}
            () = health => {}
            () = gauges => {}
        }
    }

    /// Runs one round of health probes (all endpoints concurrently) and applies the results.
    /// Does nothing when health checks are not configured. [`Pool::run_background`] calls it
    /// every interval; call it directly to check now.
    pub async fn check_health(&self) {
        let Some(check) = &self.inner.config.health_check else {
            return;
        };
        let check = Arc::new(check.clone());
        let addrs: Vec<SocketAddr> =
            self.with_table(|t| t.endpoints.iter().map(|e| e.addr).collect());
        let mut set = JoinSet::new();
        for addr in addrs {
            let check = Arc::clone(&check);
            set.spawn(async move { (addr, probe(addr, &check).await) });
        }
        let mut flipped = false;
        while let Some(joined) = set.join_next().await {
            let Ok((addr, result)) = joined else { continue };
            let outcome = if result.is_ok() { "ok" } else { "fail" };
            metrics::counter!(
                m::HEALTH_CHECKS,
                &m::labels_with_result(&self.inner.name, addr, outcome)
            )
            .increment(1);
            if let Err(e) = &result {
                tracing::debug!(pool = %self.inner.name, upstream = %addr, error = %e, "health probe failed");
            }
            let change = self.with_table(|t| {
                t.get_mut(addr)
                    .and_then(|e| e.health.on_probe(&check, result.is_ok()))
            });
            match change {
                Some(true) => {
                    tracing::info!(pool = %self.inner.name, upstream = %addr, "upstream is up (health check)");
                    flipped = true;
                }
                Some(false) => {
                    tracing::warn!(pool = %self.inner.name, upstream = %addr, "upstream is down (health check)");
                    flipped = true;
                }
                None => {}
            }
        }
        if flipped {
            self.publish_all();
        }
    }

    /// Re-resolves every host target once (each within the connect timeout). A failed or
    /// empty answer keeps the previous addresses and logs a warning.
    pub async fn resolve(&self) {
        self.resolve_where(|_| true).await;
    }

    /// Resolves the host targets that never resolved successfully, on behalf of
    /// [`Pool::connect`]: one resolution at a time (concurrent callers wait for it and then
    /// see its result), and at most one per [`ON_DEMAND_RETRY`] so a name that does not resolve
    /// does not turn every client connection into a DNS query.
    pub(crate) async fn resolve_missing(&self) {
        let mut last = self.inner.on_demand.lock().await;
        let now = Instant::now();
        if last.is_some_and(|t| now.saturating_duration_since(t) < ON_DEMAND_RETRY) {
            return;
        }
        let missing: Vec<bool> = self.with_table(|t| t.unresolved());
        if !missing.contains(&true) {
            return;
        }
        *last = Some(now);
        self.resolve_where(|i| missing.get(i).copied().unwrap_or(false))
            .await;
    }

    async fn resolve_where(&self, wanted: impl Fn(usize) -> bool) {
        let mut changed = false;
        for (i, u) in self.inner.upstreams.iter().enumerate() {
            let Target::Host { name, port } = &u.target else {
                continue;
            };
            if !wanted(i) {
                continue;
            }
            let started = Instant::now();
            let answer = timeout(
                self.inner.config.connect_timeout,
                self.inner.resolver.resolve(name, *port),
            )
            .await;
            let addrs = match answer {
                Ok(Ok(addrs)) if !addrs.is_empty() => addrs,
                Ok(Ok(_)) => {
                    tracing::warn!(pool = %self.inner.name, upstream = %u.target, "host resolved to no address; keeping the previous ones");
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::warn!(pool = %self.inner.name, upstream = %u.target, error = %e, "resolution failed; keeping the previous addresses");
                    continue;
                }
                Err(_elapsed) => {
                    tracing::warn!(pool = %self.inner.name, upstream = %u.target, took = ?started.elapsed(), "resolution timed out; keeping the previous addresses");
                    continue;
                }
            };
            if self.with_table(|t| t.set_addresses(&self.inner.upstreams, i, addrs)) {
                tracing::info!(pool = %self.inner.name, upstream = %u.target, "upstream addresses changed");
                changed = true;
            }
        }
        if changed {
            self.publish_all();
        }
    }
}
