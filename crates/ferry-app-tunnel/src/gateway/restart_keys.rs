//! The settings a reload cannot change: comparing the running config with a new one.

use std::fmt::Display;
use std::net::SocketAddr;

use ferry_app_core::duration::format_duration;
use ferry_app_core::reload::{ReloadError, Reloaded};

use crate::config::{ClusterConfig, GatewayConfig, RegistrySpec};

fn addr(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "none".to_owned(), |a| a.to_string())
}

fn changed<T: PartialEq + Display>(key: &str, old: &T, new: &T) -> Result<(), ReloadError> {
    if old == new {
        Ok(())
    } else {
        Err(ReloadError::changed(key, old, new))
    }
}

fn toggled(key: &str, on: bool) -> ReloadError {
    ReloadError::NeedsRestart {
        key: key.to_owned(),
        reason: if on { "turned on" } else { "turned off" }.to_owned(),
    }
}

fn registry(r: &RegistrySpec) -> String {
    match r {
        RegistrySpec::Memory => "memory".to_owned(),
        RegistrySpec::Memcached(a) => format!("memcached://{a}"),
    }
}

fn cluster(old: &ClusterConfig, new: &ClusterConfig) -> Result<(), ReloadError> {
    changed(
        "cluster.registry",
        &registry(&old.registry),
        &registry(&new.registry),
    )?;
    changed("cluster.peer_listen", &old.peer_listen, &new.peer_listen)?;
    changed("cluster.advertise", &old.advertise, &new.advertise)?;
    if old != new {
        return Err(ReloadError::NeedsRestart {
            key: "cluster".to_owned(),
            reason: "changed (the [cluster] settings are applied at start only)".to_owned(),
        });
    }
    Ok(())
}

/// Refuses a reload that changes a setting only a restart can change: the listen addresses
/// (`listen`, `agent_listen`, `metrics`, `cluster.peer_listen`), the registry, turning
/// `[client_tls]` or `[cluster]` on or off, any other `[cluster]` setting, the agent transport's
/// QUIC timers (`timeouts.agent_keep_alive`, `timeouts.agent_idle`) and its stream cap
/// (`limits.max_tunnels_per_agent`).
pub(super) fn check(old: &GatewayConfig, new: &GatewayConfig) -> Result<(), ReloadError> {
    changed("listen", &old.listen, &new.listen)?;
    changed("agent_listen", &old.agent_listen, &new.agent_listen)?;
    changed("metrics", &addr(old.metrics), &addr(new.metrics))?;
    if old.client_tls.is_some() != new.client_tls.is_some() {
        return Err(toggled("client_tls", new.client_tls.is_some()));
    }
    match (&old.cluster, &new.cluster) {
        (Some(o), Some(n)) => cluster(o, n)?,
        (None, None) => {}
        (_, n) => return Err(toggled("cluster", n.is_some())),
    }
    let (oq, nq) = (&old.agent_quic, &new.agent_quic);
    changed(
        "timeouts.agent_keep_alive",
        &format_duration(oq.keep_alive_interval),
        &format_duration(nq.keep_alive_interval),
    )?;
    changed(
        "timeouts.agent_idle",
        &format_duration(oq.idle_timeout),
        &format_duration(nq.idle_timeout),
    )?;
    changed(
        "limits.max_tunnels_per_agent",
        &old.front.limits.max_tunnels_per_agent,
        &new.front.limits.max_tunnels_per_agent,
    )?;
    Ok(())
}

/// Settings the client front applies at once while the agent transport keeps its start-up
/// value: named in the report (and logged as needing a restart for that part).
pub(super) fn kept_by_transport(old: &GatewayConfig, new: &GatewayConfig, report: &mut Reloaded) {
    let (o, n) = (&old.front, &new.front);
    if o.open_timeout != n.open_timeout {
        report.kept(
            "timeouts.open (agent transport's own bound; the client front uses the new value)",
            format_duration(o.open_timeout),
            format_duration(n.open_timeout),
        );
    }
    if o.drain_timeout != n.drain_timeout {
        report.kept(
            "timeouts.drain (agent connections at shutdown; the client front uses the new value)",
            format_duration(o.drain_timeout),
            format_duration(n.drain_timeout),
        );
    }
}
