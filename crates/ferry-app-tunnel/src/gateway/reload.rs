//! Reloading a running gateway ([`Reloader`]): the whole config validated first, then swapped
//! in for new connections, agents and tunnels; revoked agents (and, with
//! `auth.revoked_client_tunnels = "cut"`, revoked clients' tunnels) are disconnected.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use ferry_app_core::ConfigError;
use ferry_app_core::error::error_line;
use ferry_app_core::reload::{ReloadError, Reloaded, finish};
use ferry_tunnel::quinn::Endpoint;
use tokio_util::sync::CancellationToken;

use super::loaded::{Loaded, Verifiers, check_cluster, peer_cert, reload_needed};
use super::{GatewayOpener, restart_keys};
use crate::cluster::PeerFront;
use crate::config::{GatewayConfig, GatewayFlags};
use crate::front::{ClientFront, RevokedClientTunnels};
use crate::local::LocalOpener;
use crate::service::Services;
use crate::verify::AgentAuth;

/// The program name reloads are logged and counted under.
const PROGRAM: &str = "ferry-gateway";

/// Reloads a running gateway; get one from [`BoundGateway::reloader`](super::BoundGateway::reloader).
///
/// A reload reads and checks everything first (the file, the token file, every JWT key, both
/// certificates, every allowlist pattern and, with `[cluster]`, the peer credential,
/// certificate and CA) and changes nothing when any of it is wrong or when a setting that
/// needs a restart changed (see [`Reloader::reload`]). Then, for what comes next:
///
/// - client and agent credentials (the token file, the JWT keys, `audience`, `issuer`,
///   `leeway`; `agent_auth` and the agent certificates' `agent_ca`, `agent_crl`,
///   `agent_revoked_serials`): a revoked client gets `407` from its next CONNECT; every
///   connected agent is
///   verified again ([`ferry_tunnel::Gateway::revalidate`]) and the revoked ones are
///   disconnected (QUIC close code 1, reason `credential revoked`) and refused when they come
///   back;
/// - live tunnels of a revoked client run on (`auth.revoked_client_tunnels = "keep"`, the
///   default) or are cut (`"cut"`);
/// - the allowlist, the limits (their state is kept when they are unchanged), the client
///   front's timeouts and `accept_proxy`, each service's settings;
/// - the agent endpoint's certificate (`[tls]`, for new QUIC handshakes) and the client front's
///   (`[client_tls]`); certificate files are read again even when their paths are unchanged, a
///   self-signed certificate that stays self-signed is kept;
/// - the client front's client certificates (`client_ca`, `client_crl`,
///   `client_revoked_serials`, `client_auth`), for new TLS handshakes (a resumed session is
///   checked against them too);
/// - with `[cluster]`: the peer listener's allowlist, timeouts and certificate, and
///   `lookup_timeout`, `forward_connect_timeout`, `peer_server_name`.
///
/// Live tunnels and agent connections are never dropped by a reload, except revoked ones.
/// Cheap to clone; reloads are serialised.
#[derive(Clone)]
pub struct Reloader {
    shared: Arc<Shared>,
}

/// The agent listeners whose certificate a reload swaps: QUIC, and the TCP transport's.
pub(super) struct AgentEndpoints {
    pub(super) quic: Endpoint,
    pub(super) tcp: Option<ferry_tunnel::TcpEndpoint>,
}

struct Shared {
    running: Mutex<GatewayConfig>,
    agent_auth: AgentAuth,
    verifiers: Verifiers,
    front: ClientFront<GatewayOpener>,
    services: Services<GatewayOpener>,
    tunnel: ferry_tunnel::Gateway,
    endpoint: Endpoint,
    tcp_endpoint: Option<ferry_tunnel::TcpEndpoint>,
    peer: Option<PeerFront<LocalOpener>>,
    stopping: CancellationToken,
    metrics_override: Mutex<Option<SocketAddr>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

impl Reloader {
    pub(super) fn new(
        running: GatewayConfig,
        (agent_auth, verifiers): (AgentAuth, Verifiers),
        services: Services<GatewayOpener>,
        tunnel: ferry_tunnel::Gateway,
        endpoints: AgentEndpoints,
        peer: Option<PeerFront<LocalOpener>>,
        stopping: CancellationToken,
    ) -> Self {
        let AgentEndpoints {
            quic: endpoint,
            tcp: tcp_endpoint,
        } = endpoints;
        // The services open tunnels with the client front's opener: one handle gives both.
        let front = services.front().clone();
        Self {
            shared: Arc::new(Shared {
                running: Mutex::new(running),
                agent_auth,
                verifiers,
                front,
                services,
                tunnel,
                endpoint,
                tcp_endpoint,
                peer,
                stopping,
                metrics_override: Mutex::new(None),
            }),
        }
    }

    /// The metrics address given on the command line (`--metrics`), which overrides the one
    /// in every reloaded file as it did at start. Default none.
    #[must_use]
    pub fn metrics_override(self, addr: Option<SocketAddr>) -> Self {
        *self
            .shared
            .metrics_override
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = addr;
        self
    }

    /// Reads, validates and applies the config file `path` ([`Reloader::reload`]).
    ///
    /// # Errors
    ///
    /// As [`Reloader::reload`]; also [`ReloadError::Config`] when the file cannot be read or
    /// is invalid.
    pub fn reload_file(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        match GatewayConfig::from_file(path) {
            Ok(config) => self.reload(config),
            Err(e) => finish(PROGRAM, Err(e.into())),
        }
    }

    /// Validates the command-line form again and applies it ([`Reloader::reload`]): the flags
    /// are the same, the files they name (token file, JWT public keys, certificates) are read
    /// again.
    ///
    /// # Errors
    ///
    /// As [`Reloader::reload`].
    pub fn reload_flags(&self, flags: &GatewayFlags) -> Result<Reloaded, ReloadError> {
        match GatewayConfig::from_flags(flags) {
            Ok(config) => self.reload(config),
            Err(e) => finish(PROGRAM, Err(e.into())),
        }
    }

    /// Validates `config` completely and applies it (see the type docs); the outcome is
    /// logged and counted in `ferry_config_reloads_total{result}` by
    /// [`ferry_app_core::reload::finish`].
    ///
    /// # Errors
    ///
    /// [`ReloadError::Config`] naming the file or key that cannot be used;
    /// [`ReloadError::NeedsRestart`] when `config` changes a listen address (`listen`,
    /// `agent_listen`, `metrics`, `cluster.peer_listen`), the registry, turns `[client_tls]`
    /// or `[cluster]` on or off, changes a `[cluster]` setting other than `lookup_timeout`,
    /// `forward_connect_timeout`, `peer_server_name` and `[cluster.peer_tls]`, the agent QUIC timers
    /// (`timeouts.agent_keep_alive`, `timeouts.agent_idle`), the agent receive windows
    /// (`limits.agent_stream_receive_window`, `limits.agent_receive_window`),
    /// `limits.max_tunnels_per_agent` or `limits.max_connections_per_agent`.
    /// The running config stays as it was in both cases.
    pub fn reload(&self, config: GatewayConfig) -> Result<Reloaded, ReloadError> {
        finish(PROGRAM, self.apply(config))
    }

    fn apply(&self, mut new: GatewayConfig) -> Result<Reloaded, ReloadError> {
        let s = &self.shared;
        let mut running = s.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = *s
            .metrics_override
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            new.metrics = Some(m);
        }
        restart_keys::check(&running, &new)?;
        // Everything is read and checked before anything changes.
        let loaded = Loaded::load(&new, &s.verifiers)?;
        let peer_tls = check_cluster(&new)?;
        let agent_server = if reload_needed(&running.agent_tls, &new.agent_tls) {
            let tls = (*loaded.agent_tls.rustls_config()).clone();
            let quic = s
                .tunnel
                .server_config(tls.clone())
                .map_err(|e| ConfigError::invalid("tls", error_line(&e)))?;
            Some((quic, tls))
        } else {
            None
        };
        // Last of the checks: new services' listeners are bound (and closed again if the
        // reload goes no further).
        let services = s.services.prepare(&new.services)?;
        let client_tls = match (&running.client_tls, &new.client_tls) {
            (Some(old), Some(spec)) if !reload_needed(old, spec) => s.front.tls(),
            _ => loaded.client_tls,
        };

        let mut report = Reloaded::new(["credentials", "allowlist", "limits", "timeouts"]);
        restart_keys::kept_by_transport(&running, &new, &mut report);
        if let Some((server, tls)) = agent_server
            && !s.stopping.is_cancelled()
        {
            s.endpoint.set_server_config(Some(server));
            // The TCP transport serves the same certificate.
            if let Some(tcp) = &s.tcp_endpoint {
                tcp.set_server_config(tls);
            }
            report.applied.push("agent certificate".to_owned());
        }
        if let (Some(old), Some(spec)) = (&running.client_tls, &new.client_tls)
            && reload_needed(old, spec)
        {
            report.applied.push("client certificate".to_owned());
        }
        if let (Some(peer), Some(old), Some(c), Some(tls)) =
            (&s.peer, &running.cluster, &new.cluster, peer_tls)
        {
            let tls = if reload_needed(peer_cert(&running, old), peer_cert(&new, c)) {
                tls
            } else {
                peer.tls()
            };
            peer.reload(c.peer_config(&new.front), tls);
            if let GatewayOpener::Routed(routed) = s.front.opener() {
                routed.set_timeouts(c.lookup_timeout, c.forward.clone());
            }
            report.applied.push(
                "peer listener (allowlist, timeouts, certificate), cluster lookup and forwarding timeouts"
                    .to_owned(),
            );
        }
        // The certificate policies, the mode and the credentials before the revalidation below.
        s.verifiers.agents.store(loaded.agent_certs);
        s.verifiers.clients.store(loaded.client_certs);
        s.agent_auth
            .replace_with_mode(loaded.auth.clone(), new.auth.agent_mode);
        if new.auth.agent_certs.is_some() || running.auth.agent_certs.is_some() {
            report.applied.push(format!(
                "agent certificates (agent_auth = \"{}\", CA, CRLs, revoked serials)",
                new.auth.agent_mode
            ));
        }
        if new.client_certs.is_some() || running.client_certs.is_some() {
            report
                .applied
                .push("client certificates (CA, CRLs, revoked serials, client_auth)".to_owned());
        }
        let front = s.front.reload(new.front.clone(), loaded.auth, client_tls);
        if front.limits_kept {
            report.applied.push("limiter state kept".to_owned());
        }
        let svc = s.services.commit(services);
        for (what, names) in [
            ("services added", &svc.added),
            ("services removed (live connections run on)", &svc.removed),
            ("services changed (for new connections)", &svc.changed),
        ] {
            if !names.is_empty() {
                report.applied.push(format!("{what}: {}", names.join(" ")));
            }
        }
        let revalidated = s.tunnel.revalidate();
        if !revalidated.revoked.is_empty() {
            let ids: Vec<&str> = revalidated.revoked.iter().map(|a| a.as_str()).collect();
            report.applied.push(format!(
                "agents disconnected (credential revoked): {}",
                ids.join(" ")
            ));
        }
        if new.front.revoked_client_tunnels == RevokedClientTunnels::Cut {
            report.applied.push(format!(
                "client tunnels cut (credential revoked): {}",
                front.tunnels_cut
            ));
        }
        *running = new;
        Ok(report)
    }
}
