//! Building an access run's [`AccessCtx`]: the first one from a config, and each reload's from
//! the one in force (keeping the counters and the tokens), with the check of what a reload
//! cannot change.

use std::sync::Arc;

use ferry_app_core::reload::{ReloadError, Reloaded};
use ferry_bridge::{Bridge, BridgeConfig};
use tokio_util::sync::CancellationToken;

use super::route::Router;
use super::{AccessCtx, ListenerRt, Stats, mode_name};
use crate::config::{AccessConfig, AccessMode};

fn listeners(c: &AccessConfig) -> Vec<Arc<ListenerRt>> {
    c.listeners
        .iter()
        .map(|l| {
            Arc::new(ListenerRt {
                name: l.name.clone(),
                mode: l.mode.clone(),
                auth: l.auth.clone(),
            })
        })
        .collect()
}

impl AccessCtx {
    /// The first generation of an access run.
    pub(crate) fn first(config: AccessConfig) -> Self {
        Self {
            router: Router::new(&config),
            bridge: Bridge::new(BridgeConfig::default().idle_timeout(config.idle_timeout)),
            listeners: listeners(&config),
            stats: Arc::new(Stats::default()),
            stop: CancellationToken::new(),
            cut: CancellationToken::new(),
            config,
        }
    }

    /// The generation after `self` with `new`'s settings, and what changed.
    ///
    /// # Errors
    ///
    /// [`ReloadError::NeedsRestart`] when `new` changes the number of listeners, one's
    /// address or mode, or a UDP listener's destination.
    pub(crate) fn next(&self, mut new: AccessConfig) -> Result<(Self, Reloaded), ReloadError> {
        let old = &self.config;
        if new.listeners.len() != old.listeners.len() {
            return Err(ReloadError::changed(
                "listener",
                format!("{} listeners", old.listeners.len()),
                format!("{} listeners", new.listeners.len()),
            ));
        }
        let mut report = Reloaded::default();
        for (i, (o, n)) in old.listeners.iter().zip(&new.listeners).enumerate() {
            if o.bind != n.bind {
                return Err(ReloadError::changed(
                    format!("listener[{i}].bind"),
                    o.bind,
                    n.bind,
                ));
            }
            let fixed_udp = matches!(o.mode, AccessMode::Udp { .. });
            if mode_name(&o.mode) != mode_name(&n.mode) || (fixed_udp && o.mode != n.mode) {
                return Err(ReloadError::changed(
                    format!("listener[{i}].mode"),
                    describe(&o.mode),
                    describe(&n.mode),
                ));
            }
            if o.auth != n.auth {
                report.applied.push(format!("listener[{i}] credentials"));
            }
            if o.mode != n.mode {
                report.applied.push(format!("listener[{i}].destination"));
            }
        }
        // Keys are read again on every reload (and never compared: they are secrets).
        report
            .applied
            .extend(["chains and keys".to_owned(), "routes".to_owned()]);
        if (
            new.handshake_timeout,
            new.connect_timeout,
            new.idle_timeout,
            new.drain_timeout,
        ) != (
            old.handshake_timeout,
            old.connect_timeout,
            old.idle_timeout,
            old.drain_timeout,
        ) {
            report.applied.push("timeouts".to_owned());
        }
        if (new.udp_max_flows, new.udp_idle_timeout) != (old.udp_max_flows, old.udp_idle_timeout) {
            report.applied.push("udp flows".to_owned());
        }
        if new.memory_budget != old.memory_budget {
            report.applied.push("memory_budget".to_owned());
        }
        if new.max_connections != old.max_connections {
            report.kept("max_connections", old.max_connections, new.max_connections);
            new.max_connections = old.max_connections;
        }
        if new.metrics != old.metrics {
            let show = |a: Option<std::net::SocketAddr>| {
                a.map_or_else(|| "off".to_owned(), |a| a.to_string())
            };
            report.kept("metrics", show(old.metrics), show(new.metrics));
            new.metrics = old.metrics;
        }
        new.resolver = Arc::clone(&old.resolver);
        let bridge = if new.idle_timeout == old.idle_timeout {
            self.bridge.clone()
        } else {
            Bridge::new(BridgeConfig::default().idle_timeout(new.idle_timeout))
        };
        let next = Self {
            router: Router::new(&new),
            bridge,
            listeners: listeners(&new),
            stats: Arc::clone(&self.stats),
            stop: self.stop.clone(),
            cut: self.cut.clone(),
            config: new,
        };
        Ok((next, report))
    }
}

fn describe(mode: &AccessMode) -> String {
    match mode {
        AccessMode::Udp { destination } => format!("udp to {destination}"),
        other => mode_name(other).to_owned(),
    }
}
