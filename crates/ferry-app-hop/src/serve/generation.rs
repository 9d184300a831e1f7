//! Building a hop's [`ServeCtx`]: the first one from a config, and each reload's from the one
//! in force, keeping what must survive (the replay guard, the counters, the drain token, and
//! the limiters whose limits did not change).

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use ferry_app_core::reload::Reloaded;
use ferry_bridge::{Bridge, BridgeConfig};
use ferry_chain::ReplayGuard;
use ferry_limit::{ClientKeyer, ConcurrencyLimiter, LimiterConfig, Quota, RateLimiter, V6Prefix};
use ring::rand::SystemRandom;
use tokio_util::sync::CancellationToken;

use super::conn::{ServeCtx, Stats};
use crate::ServeConfig;

/// The per-client rate limiter of `rate` new connections per second (burst twice that).
fn rate_limiter(rate: Option<NonZeroU32>) -> Option<Arc<RateLimiter>> {
    rate.and_then(|r| {
        let burst = r.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        Quota::per_second(r)
            .and_then(|q| q.with_burst(burst))
            .ok()
            .map(|q| {
                Arc::new(RateLimiter::new(
                    q,
                    &LimiterConfig::default(),
                    tokio::time::Instant::now().into_std(),
                ))
            })
    })
}

fn conns(c: &ServeConfig) -> ConcurrencyLimiter {
    ConcurrencyLimiter::new(c.max_connections, c.per_client_connections)
}

fn handshakes(c: &ServeConfig) -> ConcurrencyLimiter {
    ConcurrencyLimiter::new(c.max_handshakes, c.per_client_handshakes)
}

fn bridge(c: &ServeConfig) -> Bridge {
    Bridge::new(BridgeConfig::default().idle_timeout(c.idle_timeout))
}

impl ServeCtx {
    /// The first generation of a hop.
    pub(crate) fn first(config: ServeConfig) -> Self {
        Self {
            guard: Arc::new(Mutex::new(ReplayGuard::new(config.replay))),
            keyer: ClientKeyer::new(V6Prefix::DEFAULT),
            rate: rate_limiter(config.per_client_rate),
            conns: conns(&config),
            handshakes: handshakes(&config),
            bridge: bridge(&config),
            rng: SystemRandom::new(),
            cut: CancellationToken::new(),
            stats: Arc::new(Stats::default()),
            config,
        }
    }

    /// The generation after `self` with `new`'s settings, and what changed. `new` must have
    /// the same `listen` and `udp` (the reloader refuses others first). The replay guard is
    /// kept (a fresh one would let replays of recent records through), so a changed replay
    /// window or capacity is reported as kept; so is a changed clock or admin address. A
    /// limiter whose limits did not change is kept with its counts.
    pub(crate) fn next(&self, mut new: ServeConfig) -> (Self, Reloaded) {
        let old = &self.config;
        let mut report = Reloaded::default();
        let mut applied = |what: &str, changed: bool| {
            if changed {
                report.applied.push(what.to_owned());
            }
        };
        // Keys are read again on every reload (and never compared: they are secrets).
        applied("keys", true);
        applied("allowlist", allow_text(&new) != allow_text(old));
        let rate = if new.per_client_rate == old.per_client_rate {
            self.rate.clone()
        } else {
            applied("per_client_rate", true);
            rate_limiter(new.per_client_rate)
        };
        let same_conns = (new.max_connections, new.per_client_connections)
            == (old.max_connections, old.per_client_connections);
        applied("max_connections, per_client_connections", !same_conns);
        let same_hs = (new.max_handshakes, new.per_client_handshakes)
            == (old.max_handshakes, old.per_client_handshakes);
        applied("max_handshakes, per_client_handshakes", !same_hs);
        applied("memory_budget", new.memory_budget != old.memory_budget);
        let same_bridge = new.idle_timeout == old.idle_timeout;
        applied(
            "timeouts",
            !same_bridge
                || (
                    new.handshake_timeout,
                    new.connect_timeout,
                    new.drain_timeout,
                ) != (
                    old.handshake_timeout,
                    old.connect_timeout,
                    old.drain_timeout,
                ),
        );
        applied(
            "trusted_senders",
            new.trusted_senders != old.trusted_senders,
        );
        applied(
            "udp flows",
            (new.udp_max_flows, new.udp_idle_timeout) != (old.udp_max_flows, old.udp_idle_timeout),
        );
        // Certificates are read again on every reload, so a renewed file under the same name
        // is applied too.
        applied("tls certificate", new.tls.is_some() || old.tls.is_some());
        applied(
            "next-hop tls",
            new.next_hop_tls.is_some() || old.next_hop_tls.is_some(),
        );
        if new.replay != old.replay {
            report.kept(
                "replay_window, replay_capacity",
                format!("{:?}/{}", old.replay.window, old.replay.capacity),
                format!("{:?}/{}", new.replay.window, new.replay.capacity),
            );
            new.replay = old.replay;
        }
        if new.metrics != old.metrics {
            report.kept("metrics", addr(old.metrics), addr(new.metrics));
            new.metrics = old.metrics;
        }
        new.clock = Arc::clone(&old.clock);
        new.resolver = Arc::clone(&old.resolver);
        let next = Self {
            guard: Arc::clone(&self.guard),
            keyer: self.keyer.clone(),
            rate,
            conns: if same_conns {
                self.conns.clone()
            } else {
                conns(&new)
            },
            handshakes: if same_hs {
                self.handshakes.clone()
            } else {
                handshakes(&new)
            },
            bridge: if same_bridge {
                self.bridge.clone()
            } else {
                bridge(&new)
            },
            rng: self.rng.clone(),
            cut: self.cut.clone(),
            stats: Arc::clone(&self.stats),
            config: new,
        };
        (next, report)
    }
}

fn allow_text(c: &ServeConfig) -> Vec<String> {
    c.allow.rules().map(|r| r.entry().to_owned()).collect()
}

fn addr(a: Option<std::net::SocketAddr>) -> String {
    a.map_or_else(|| "off".to_owned(), |a| a.to_string())
}
