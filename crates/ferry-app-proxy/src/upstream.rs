//! An upstream pool as connections see it: the `ferry-pool` connect (policy, retry within the
//! budget, health, ejection), then the PROXY protocol header when the pool sends one, then TLS
//! to the upstream when the pool re-encrypts (`[pool.NAME.tls]`).

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

use ferry_app_core::stream::Stream;
use ferry_pool::{ActiveGuard, ConnectError, Target};
use ferry_tls::{HandshakeError, TlsConfigError, TlsConnector, TlsVersion};
use tokio::io::AsyncWriteExt;

use crate::config::{PoolConfig, UpstreamTls};
use crate::pool::PoolHandle;

/// Why a connection to an upstream could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UpstreamError {
    /// No upstream of the pool accepted a TCP connection.
    #[error("no upstream reachable")]
    Connect(#[source] ConnectError),
    /// The PROXY protocol header could not be written to the upstream.
    #[error("writing the PROXY header to upstream {addr} failed")]
    ProxyHeader {
        /// The upstream's address.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection worked, the TLS handshake with the upstream did not (for example an
    /// upstream certificate that does not chain to the configured CA).
    #[error("tls handshake with upstream {addr} failed")]
    Tls {
        /// The upstream's address.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: HandshakeError,
    },
}

/// A connection to an upstream, with the pool's count of it (released when dropped).
pub(crate) struct UpstreamConn {
    /// Plain TCP, or TLS over it (boxed: the rustls state is large and only re-encrypting
    /// pools pay for it).
    pub(crate) stream: Stream,
    /// The negotiated TLS version of a re-encrypting pool's connection.
    pub(crate) tls_version: Option<TlsVersion>,
    pub(crate) addr: SocketAddr,
    pub(crate) guard: ActiveGuard,
}

/// Upstream TLS: the settings and the connector built from them (replaced on reload).
struct UpstreamTlsState {
    config: UpstreamTls,
    connector: RwLock<TlsConnector>,
}

/// A pool with its PROXY protocol setting and optional TLS connector.
pub(crate) struct Upstream {
    name: String,
    pool: Arc<PoolHandle>,
    config: PoolConfig,
    tls: Option<UpstreamTlsState>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Wraps `pool` (built from `config`, or kept from before a reload) and, for a
    /// re-encrypting pool, builds its connector (reads the CA and client certificate files).
    pub(crate) fn new(config: &PoolConfig, pool: Arc<PoolHandle>) -> Result<Self, TlsConfigError> {
        let tls = match &config.tls {
            Some(tls) => {
                if tls.insecure_skip_verify {
                    tracing::warn!(
                        pool = %config.name,
                        "pool uses insecure_skip_verify: upstream certificates are NOT verified"
                    );
                }
                Some(UpstreamTlsState {
                    connector: RwLock::new(TlsConnector::new(&tls.connector_config())?),
                    config: tls.clone(),
                })
            }
            None => None,
        };
        Ok(Self {
            name: config.name.clone(),
            pool,
            config: config.clone(),
            tls,
        })
    }

    /// The pool's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The pool and its background task.
    pub(crate) fn pool(&self) -> &Arc<PoolHandle> {
        &self.pool
    }

    /// Whether connections to this pool use TLS.
    pub(crate) fn has_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Reads the TLS files again and replaces the connector; on error the old one stays.
    pub(crate) fn reload(&self) -> Result<(), TlsConfigError> {
        let Some(tls) = &self.tls else {
            return Ok(());
        };
        let fresh = TlsConnector::new(&tls.config.connector_config())?;
        *tls.connector
            .write()
            .unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// Connects to an upstream of the pool for `client` (consistent hashing keys on it),
    /// writes the PROXY header announcing `client` -> `destination` if the pool sends one,
    /// then runs the TLS handshake if the pool has TLS.
    ///
    /// The certificate is verified for the configured `server_name`, else for the upstream's
    /// host name, else for its IP address.
    pub(crate) async fn connect(
        &self,
        client: SocketAddr,
        destination: SocketAddr,
    ) -> Result<UpstreamConn, UpstreamError> {
        let connected = self
            .pool
            .pool
            .connect(client)
            .await
            .map_err(UpstreamError::Connect)?;
        let (mut tcp, addr, guard) = (connected.stream, connected.endpoint, connected.guard);
        if let Some(version) = self.config.send_proxy {
            let header = ferry_app_core::proxy_protocol::header_for(version, client, destination);
            tcp.write_all(&header)
                .await
                .map_err(|source| UpstreamError::ProxyHeader { addr, source })?;
        }
        let Some(tls) = &self.tls else {
            return Ok(UpstreamConn {
                stream: Stream::Plain(tcp),
                tls_version: None,
                addr,
                guard,
            });
        };
        let name = match self
            .config
            .upstreams
            .get(connected.upstream)
            .map(|u| &u.target)
        {
            Some(Target::Host { name, .. }) => name.clone(),
            _ => addr.ip().to_string(),
        };
        let connector = tls
            .connector
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Boxed: the handshake future is large, and plain pools should not pay for its space
        // in every connection task.
        let (stream, info) = Box::pin(connector.connect(&name, tcp))
            .await
            .map_err(|source| UpstreamError::Tls { addr, source })?;
        Ok(UpstreamConn {
            stream: Stream::Client(Box::new(stream)),
            tls_version: Some(info.version),
            addr,
            guard,
        })
    }
}

/// Every pool by name, shared by listeners and the reloader.
pub(crate) type Upstreams = std::collections::BTreeMap<String, Arc<Upstream>>;
