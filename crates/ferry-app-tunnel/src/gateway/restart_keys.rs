//! The settings a reload cannot change: comparing the running config with a new one.

use std::fmt::Display;
use std::net::SocketAddr;

use ferry_app_core::duration::format_duration;
use ferry_app_core::reload::{ReloadError, Reloaded};

use crate::config::{ClusterConfig, GatewayConfig};

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

fn cluster(old: &ClusterConfig, new: &ClusterConfig) -> Result<(), ReloadError> {
    changed(
        "cluster.registry",
        &old.registry.to_string(),
        &new.registry.to_string(),
    )?;
    changed("cluster.peer_listen", &old.peer_listen, &new.peer_listen)?;
    changed("cluster.advertise", &old.advertise, &new.advertise)?;
    let path = |p: &std::path::Path| p.display().to_string();
    changed("cluster.peer_ca", &path(&old.peer_ca), &path(&new.peer_ca))?;
    changed(
        "cluster.peer_credential_file",
        &path(&old.peer_credential_file),
        &path(&new.peer_credential_file),
    )?;
    changed(
        "cluster.ttl",
        &format_duration(old.lease.ttl()),
        &format_duration(new.lease.ttl()),
    )?;
    changed(
        "cluster.heartbeat",
        &format_duration(old.lease.heartbeat()),
        &format_duration(new.lease.heartbeat()),
    )?;
    changed(
        "cluster.registry_timeout",
        &format_duration(old.registry_timeout),
        &format_duration(new.registry_timeout),
    )?;
    // Whatever else differs must be one of the reloadable settings.
    let mut rest = new.clone();
    rest.lookup_timeout = old.lookup_timeout;
    rest.forward = old.forward.clone();
    rest.peer_tls.clone_from(&old.peer_tls);
    if *old != rest {
        return Err(ReloadError::NeedsRestart {
            key: "cluster".to_owned(),
            reason: "changed (the [cluster] settings are applied at start only)".to_owned(),
        });
    }
    Ok(())
}

/// Refuses a reload that changes a setting only a restart can change: the listen addresses
/// (`listen`, `agent_listen`, `agent_listen_tcp`, `metrics`, `cluster.peer_listen`), the registry, turning
/// `[client_tls]` or `[cluster]` on or off, the `[cluster]` settings other than
/// `lookup_timeout`, `forward_connect_timeout`, `peer_server_name` and `[cluster.peer_tls]`
/// (`advertise`, `peer_ca`, `peer_credential_file`, `ttl`, `heartbeat`,
/// `registry_timeout`), the agent transport's
/// QUIC timers (`timeouts.agent_keep_alive`, `timeouts.agent_idle`), its receive windows
/// (`limits.agent_stream_receive_window`, `limits.agent_receive_window`), its stream cap
/// (`limits.max_tunnels_per_agent`) and its connection-group cap
/// (`limits.max_connections_per_agent`).
pub(super) fn check(old: &GatewayConfig, new: &GatewayConfig) -> Result<(), ReloadError> {
    changed("listen", &old.listen, &new.listen)?;
    changed("agent_listen", &old.agent_listen, &new.agent_listen)?;
    changed(
        "agent_listen_tcp",
        &old.agent_listen_tcp,
        &new.agent_listen_tcp,
    )?;
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
        "limits.agent_stream_receive_window",
        &oq.stream_receive_window,
        &nq.stream_receive_window,
    )?;
    changed(
        "limits.agent_receive_window",
        &oq.receive_window,
        &nq.receive_window,
    )?;
    changed(
        "limits.max_tunnels_per_agent",
        &old.front.limits.max_tunnels_per_agent,
        &new.front.limits.max_tunnels_per_agent,
    )?;
    changed(
        "limits.max_connections_per_agent",
        &old.front.limits.max_connections_per_agent,
        &new.front.limits.max_connections_per_agent,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config(extra: &str, cluster: &str) -> GatewayConfig {
        GatewayConfig::from_toml(&format!(
            "listen = \"127.0.0.1:8080\"\nagent_listen = \"127.0.0.1:4433\"\n\
             allow = [\"*.internal:443\"]\n{extra}\n[tls]\nself_signed = true\n\
             [auth]\ntokens = \"tokens\"\n{cluster}"
        ))
        .unwrap()
    }

    fn cluster(extra: &str) -> String {
        format!(
            "[cluster]\nregistry = \"memory\"\npeer_listen = \"127.0.0.1:7443\"\n\
             advertise = \"127.0.0.1:7443\"\npeer_ca = \"ca.pem\"\n\
             peer_credential_file = \"peer.secret\"\n{extra}"
        )
    }

    fn key(old: &GatewayConfig, new: &GatewayConfig) -> Option<String> {
        match check(old, new) {
            Ok(()) => None,
            Err(ReloadError::NeedsRestart { key, .. }) => Some(key),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn restart_only_settings_are_named_and_reloadable_ones_pass() {
        let base = config("", &cluster(""));
        assert_eq!(key(&base, &base), None);
        let reloadable = config(
            "",
            &cluster(
                "lookup_timeout = \"3s\"\nforward_connect_timeout = \"4s\"\npeer_server_name = \"gw\"",
            ),
        );
        assert_eq!(key(&base, &reloadable), None);
        for (new, expected) in [
            (config("metrics = \"127.0.0.1:9\"", &cluster("")), "metrics"),
            (config("", ""), "cluster"),
            (config("", &cluster("ttl = \"40s\"")), "cluster.ttl"),
            (
                config("", &cluster("registry_timeout = \"1s\"")),
                "cluster.registry_timeout",
            ),
            (
                config(
                    "",
                    &cluster("").replace("memory", "memcached://127.0.0.1:11211"),
                ),
                "cluster.registry",
            ),
            (
                config(
                    "",
                    &cluster("").replace(
                        "advertise = \"127.0.0.1:7443\"",
                        "advertise = \"127.0.0.2:7443\"",
                    ),
                ),
                "cluster.advertise",
            ),
        ] {
            assert_eq!(key(&base, &new).as_deref(), Some(expected));
        }
        let plain = config("", "");
        assert_eq!(key(&plain, &base).as_deref(), Some("cluster"));
        let e = check(&plain, &base).unwrap_err().to_string();
        assert!(e.contains("turned on"), "{e}");
    }
}
