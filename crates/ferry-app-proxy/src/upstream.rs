//! An upstream pool as connections see it: the pool's TCP connect, then TLS to the upstream
//! when the pool re-encrypts (`[pool.NAME.tls]`).

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

use ferry_tls::{ClientTlsStream, HandshakeError, TlsConfigError, TlsConnector, TlsVersion};
use tokio::net::TcpStream;

use crate::config::{PoolConfig, UpstreamAddr, UpstreamTls};
use crate::pool::{ConnectError, Pool};

/// Why a connection to an upstream could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UpstreamError {
    /// No upstream of the pool accepted a TCP connection.
    #[error("no upstream reachable")]
    Connect(#[source] ConnectError),
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

/// A connected upstream: plain TCP, or TLS over it with the negotiated version (boxed: the
/// rustls state is large and only re-encrypting pools pay for it).
pub(crate) enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<ClientTlsStream<TcpStream>>, TlsVersion),
}

/// Upstream TLS: the settings and the connector built from them (replaced on reload).
struct UpstreamTlsState {
    config: UpstreamTls,
    connector: RwLock<TlsConnector>,
}

/// A pool with its optional TLS connector.
pub(crate) struct Upstream {
    name: String,
    pool: Pool,
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
    /// Builds the pool and, for a re-encrypting pool, its connector (reads the CA and client
    /// certificate files).
    pub(crate) fn new(config: &PoolConfig) -> Result<Self, TlsConfigError> {
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
            pool: Pool::new(config.clone()),
            tls,
        })
    }

    /// The pool's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
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

    /// Connects to an upstream of the pool, then runs the TLS handshake if the pool has TLS.
    ///
    /// The certificate is verified for the configured `server_name`, else for the upstream's
    /// host name, else for its IP address.
    pub(crate) async fn connect(&self) -> Result<(UpstreamStream, SocketAddr), UpstreamError> {
        let (tcp, addr, configured) = self.pool.connect().await.map_err(UpstreamError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok((UpstreamStream::Plain(tcp), addr));
        };
        let name = match configured {
            UpstreamAddr::Host(host, _) => host.clone(),
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
        Ok((UpstreamStream::Tls(Box::new(stream), info.version), addr))
    }
}

/// Every pool by name, shared by listeners and the reloader.
pub(crate) type Upstreams = std::collections::BTreeMap<String, Arc<Upstream>>;
