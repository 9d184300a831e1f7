//! A listener as connections see it: bridge settings, TLS acceptor and routing, built from a
//! validated [`ListenerConfig`] (certificate files are read here).

use std::sync::Arc;

use ferry_bridge::Bridge;
use ferry_tls::{CertSource, SelfSigned, TlsAcceptor, TlsConfigError};

use crate::config::{ListenerConfig, ListenerTls, SELF_SIGNED_NAMES};
use crate::route::Router;
use crate::upstream::{Upstream, Upstreams};

/// TLS termination of one listener: the acceptor and what is needed to rebuild it on reload.
pub(crate) struct TlsListener {
    /// Listener name, for logs.
    pub(crate) name: String,
    /// The config key errors name (`listener[0].tls`, or the flags).
    pub(crate) key: String,
    pub(crate) acceptor: TlsAcceptor,
    config: ListenerTls,
    /// The generated certificate of a self-signed listener, kept across reloads.
    self_signed: Option<CertSource>,
}

impl TlsListener {
    fn new(name: &str, key: &str, config: &ListenerTls) -> Result<Self, TlsConfigError> {
        let self_signed = if config.is_self_signed() {
            let generated = SelfSigned::generate(SELF_SIGNED_NAMES)?;
            tracing::warn!(
                listener = %name,
                names = ?SELF_SIGNED_NAMES,
                "serving a generated SELF-SIGNED certificate: clients cannot verify it; \
                 for development and demos only"
            );
            Some(generated.to_source())
        } else {
            None
        };
        let acceptor = TlsAcceptor::new(&config.acceptor_config(self_signed.as_ref()))?;
        Ok(Self {
            name: name.to_owned(),
            key: key.to_owned(),
            acceptor,
            config: config.clone(),
            self_signed,
        })
    }

    /// Whether this acceptor was built from `config` for the listener `name` (a config reload
    /// then keeps it, with its session cache and ticket keys).
    pub(crate) fn same_as(&self, name: &str, config: &ListenerTls) -> bool {
        self.name == name && self.config == *config
    }

    /// Reads the certificate files and builds an acceptor from them without using it: the
    /// validation step of a config reload.
    pub(crate) fn check(&self) -> Result<(), TlsConfigError> {
        TlsAcceptor::new(&self.config.acceptor_config(self.self_signed.as_ref())).map(drop)
    }

    /// Reads the certificate files again and swaps them in for new handshakes; on error the
    /// current ones stay. Live connections are untouched.
    pub(crate) fn reload(&self) -> Result<(), TlsConfigError> {
        self.acceptor
            .reload(&self.config.acceptor_config(self.self_signed.as_ref()))
    }
}

/// Where a listener's connections go.
pub(crate) enum Routing {
    /// Every connection to one pool.
    Pool(Arc<Upstream>),
    /// By SNI, with an optional default.
    Sni(Router<Arc<Upstream>>),
}

impl Routing {
    /// The pool for a connection that asked for `sni`; `None`: no route and no default.
    pub(crate) fn select(&self, sni: Option<&str>) -> Option<&Arc<Upstream>> {
        match self {
            Self::Pool(p) => Some(p),
            Self::Sni(router) => router.select(sni),
        }
    }
}

/// A listener's runtime state.
pub(crate) struct ListenerRt {
    pub(crate) name: String,
    pub(crate) bridge: Bridge,
    pub(crate) tls: Option<Arc<TlsListener>>,
    pub(crate) routing: Routing,
    pub(crate) accept_proxy: Option<crate::config::AcceptProxy>,
    /// Limits, access rules and dump.
    pub(crate) rules: Arc<crate::admission::ClientRules>,
    /// Bytes each connection reserves from the memory budget.
    pub(crate) reservation: u64,
    /// The metric handles of this listener's connections.
    pub(crate) metrics: crate::metrics::ListenerMetrics,
}

impl ListenerRt {
    /// Builds the listener, its TLS acceptor and its client rules, or keeps those of `kept`
    /// (the same listener in the previous config, on reload) when they were built from the
    /// same settings: a reload that does not change a listener's limits keeps its limiter
    /// state (rates, open connections per client). A validated config names only pools that
    /// exist; a missing one is still reported rather than trusted.
    pub(crate) fn new(
        config: &ListenerConfig,
        upstreams: &Upstreams,
        kept: Option<&Self>,
    ) -> Result<Self, ListenerBuildError> {
        let kept_tls = kept.and_then(|k| k.tls.as_ref());
        let pool = |name: &str| {
            upstreams
                .get(name)
                .cloned()
                .ok_or_else(|| ListenerBuildError::UnknownPool(name.to_owned()))
        };
        let default = config.pool.as_deref().map(pool).transpose()?;
        let routing = match (default, config.routes.is_empty()) {
            (Some(p), true) => Routing::Pool(p),
            (default, _) => {
                let mut router = Router::new(default);
                for r in &config.routes {
                    // Duplicates were rejected by validation; keep the first if one slips by.
                    let _ = router.add(r.pattern.clone(), pool(&r.pool)?);
                }
                Routing::Sni(router)
            }
        };
        let tls = match (&config.tls, kept_tls) {
            (Some(t), Some(kept)) if kept.same_as(&config.name, t) => {
                kept.check().map_err(ListenerBuildError::Tls)?;
                Some(Arc::clone(kept))
            }
            (Some(t), _) => Some(Arc::new(
                TlsListener::new(&config.name, &config.tls_key, t)
                    .map_err(ListenerBuildError::Tls)?,
            )),
            (None, _) => None,
        };
        let rules = match kept {
            Some(k) if k.rules.same_as(config) => Arc::clone(&k.rules),
            _ => Arc::new(
                crate::admission::ClientRules::new(config, tokio::time::Instant::now().into_std())
                    .map_err(ListenerBuildError::Dump)?,
            ),
        };
        Ok(Self {
            rules,
            reservation: config.memory_reservation,
            name: config.name.clone(),
            bridge: Bridge::new(config.bridge.clone()),
            tls,
            routing,
            accept_proxy: config.accept_proxy.clone(),
            metrics: crate::metrics::ListenerMetrics::default(),
        })
    }
}

/// Why a listener could not be built.
#[derive(Debug)]
pub(crate) enum ListenerBuildError {
    /// A pool the listener names does not exist.
    UnknownPool(String),
    /// Certificates could not be loaded.
    Tls(TlsConfigError),
    /// The dump directory is not usable.
    Dump(String),
}
