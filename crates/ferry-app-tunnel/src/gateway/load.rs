//! Start-up loading: certificates, CA files and the registry, with errors naming the file or
//! key at fault.

use std::path::Path;
use std::sync::Arc;

use ferry_app_core::ConfigError;
use ferry_app_core::error::error_line;
use ferry_registry::{MemcachedRegistry, MemoryRegistry, Registry};
use ferry_tls::rustls::pki_types::CertificateDer;
use ferry_tls::rustls::pki_types::pem::PemObject;
use ferry_tls::{
    AcceptorConfig, CertSource, ConnectorConfig, KeyExchange, PemInput, TlsAcceptor, TlsConnector,
    TlsVersion,
};

use crate::config::{CertSpec, ClusterConfig, RegistrySpec};

/// Names a self-signed certificate is generated for: `localhost`, `127.0.0.1`, `::1`.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

fn source(spec: &CertSpec) -> CertSource {
    match spec {
        CertSpec::Files { cert, key } => CertSource::files(cert.clone(), key.clone()),
        CertSpec::SelfSigned => CertSource::self_signed(SELF_SIGNED_NAMES),
    }
}

/// Logs one warning for each problem that would make `clients` (e.g. `agents`) refuse the
/// certificate of `spec` (the config key `key`) at `now_unix` (seconds since the epoch): a CA
/// certificate, an expired or not yet valid one, one without subject alternative name or
/// without `serverAuth`. Nothing for a self-signed certificate or one that cannot be read
/// (loading it reports that). Returns the number of warnings.
pub fn warn_if_refused(key: &str, spec: &CertSpec, clients: &str, now_unix: u64) -> usize {
    let now = ferry_tls::rustls::pki_types::UnixTime::since_unix_epoch(
        std::time::Duration::from_secs(now_unix),
    );
    let warnings = ferry_tls::check_server_certificate(&source(spec), now);
    for warning in &warnings {
        tracing::warn!(key, refused_by = clients, "{warning}");
    }
    warnings.len()
}

/// A TLS acceptor for `spec` accepting the key-exchange groups of `key_exchange`;
/// `tls13_only` for QUIC.
///
/// # Errors
///
/// [`ConfigError::Invalid`] naming `key` and, through the TLS error, the file.
pub fn acceptor(
    key: &str,
    spec: &CertSpec,
    tls13_only: bool,
    key_exchange: KeyExchange,
) -> Result<TlsAcceptor, ConfigError> {
    acceptor_with(key, spec, tls13_only, key_exchange, None)
}

/// [`acceptor`] asking clients for certificates per the policy in force of `clients` (none
/// asked for while it has no policy).
///
/// # Errors
///
/// As [`acceptor`].
pub fn acceptor_with(
    key: &str,
    spec: &CertSpec,
    tls13_only: bool,
    key_exchange: KeyExchange,
    clients: Option<&ferry_tls::SharedClientVerifier>,
) -> Result<TlsAcceptor, ConfigError> {
    let mut config = AcceptorConfig::new(source(spec));
    config.key_exchange(key_exchange);
    if tls13_only {
        config.min_version(TlsVersion::Tls13);
    }
    if let Some(shared) = clients {
        config.client_auth(ferry_tls::ClientAuth::Shared(shared.clone()));
    }
    TlsAcceptor::new(&config).map_err(|e| ConfigError::invalid(key, error_line(&e)))
}

/// A TLS connector trusting the CA certificates in `ca`, offering the key-exchange groups of
/// `key_exchange`.
///
/// # Errors
///
/// [`ConfigError::Invalid`] naming `key` and, through the TLS error, the file.
pub fn connector(
    key: &str,
    ca: &Path,
    key_exchange: KeyExchange,
) -> Result<TlsConnector, ConfigError> {
    let mut config = ConnectorConfig::new();
    config
        .add_ca(PemInput::file(ca.to_path_buf()))
        .key_exchange(key_exchange);
    TlsConnector::new(&config).map_err(|e| ConfigError::invalid(key, error_line(&e)))
}

/// Largest CA file read: 1 MiB.
const MAX_CA_FILE: u64 = 1 << 20;

/// The CA certificates in the PEM file `path`, as a root store.
///
/// # Errors
///
/// [`ConfigError::Read`] when the file cannot be read; [`ConfigError::Invalid`] naming `key`
/// and the file when it is too large, holds a malformed block or no certificate.
pub fn roots(key: &str, path: &Path) -> Result<ferry_tls::rustls::RootCertStore, ConfigError> {
    let invalid = |why: String| ConfigError::invalid(key, format!("{}: {why}", path.display()));
    let read = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read)?.len();
    if len > MAX_CA_FILE {
        return Err(invalid(format!("larger than {MAX_CA_FILE} bytes")));
    }
    let pem = std::fs::read(path).map_err(read)?;
    let mut store = ferry_tls::rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| invalid(format!("bad PEM: {e}")))?;
        store
            .add(cert)
            .map_err(|e| invalid(format!("unusable certificate: {e}")))?;
    }
    if store.is_empty() {
        return Err(invalid("no CERTIFICATE block".to_owned()));
    }
    Ok(store)
}

/// The registry `[cluster]` names, host names resolved by the system resolver.
///
/// # Errors
///
/// As [`registry_with`].
pub fn registry(cluster: &ClusterConfig) -> Result<Arc<dyn Registry>, ConfigError> {
    registry_with(cluster, &ferry_base::resolve::system())
}

/// The registry `[cluster]` names, host names resolved through `resolver`. Nothing is
/// resolved or connected here: the first registry call does that.
///
/// # Errors
///
/// [`ConfigError::Invalid`] naming `cluster.registry` for an empty or repeated server list
/// (which a validated config never holds).
pub fn registry_with(
    cluster: &ClusterConfig,
    resolver: &ferry_base::resolve::SharedResolver,
) -> Result<Arc<dyn Registry>, ConfigError> {
    Ok(match &cluster.registry {
        RegistrySpec::Memcached(servers) => Arc::new(
            MemcachedRegistry::open(servers, cluster.registry_timeout, resolver)
                .map_err(|e| ConfigError::invalid("cluster.registry", e.to_string()))?,
        ),
        RegistrySpec::Memory => Arc::new(MemoryRegistry::new()),
    })
}
