//! Test helpers: an rcgen CA, a loopback TLS server around `TlsAcceptor`, rustls clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_tls::{CertSource, HandshakeError, HandshakeInfo, TlsAcceptor};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(crate) type ServerResult = Result<HandshakeInfo, HandshakeError>;
pub(crate) type Client = tokio_rustls::client::TlsStream<TcpStream>;

pub(crate) const GREETING: &[u8] = b"hello\n";

pub(crate) fn provider() -> Arc<CryptoProvider> {
    ferry_tls::provider(ferry_tls::KeyExchange::default())
}

/// A certificate authority made at test time.
pub(crate) struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
#[derive(Clone)]
pub(crate) struct Leaf {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) der: CertificateDer<'static>,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub(crate) fn issuer(&self) -> &rcgen::Issuer<'static, KeyPair> {
        &self.issuer
    }

    pub(crate) fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, KeyPair::generate().unwrap())
    }

    pub(crate) fn leaf_with(&self, names: &[&str], key: KeyPair) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

impl Leaf {
    pub(crate) fn source(&self) -> CertSource {
        CertSource::pem(self.cert_pem.clone(), self.key_pem.clone())
    }

    pub(crate) fn key_der(&self) -> PrivateKeyDer<'static> {
        use rustls::pki_types::pem::PemObject;
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }
}

/// A root store with every certificate in `ca_pems`.
pub(crate) fn roots(ca_pems: &[&str]) -> RootCertStore {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    roots
}

/// A rustls client config trusting `ca_pems`, for the given versions.
pub(crate) fn client_config(
    ca_pems: &[&str],
    versions: &[&'static SupportedProtocolVersion],
) -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots(ca_pems))
        .with_no_client_auth()
}

pub(crate) const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
pub(crate) const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
pub(crate) const ANY: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Connect and handshake; then read the server's greeting (which also processes TLS 1.3
/// tickets, sent before it).
pub(crate) async fn connect(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    name: &str,
) -> std::io::Result<Client> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    let mut greeting = [0u8; GREETING.len()];
    tls.read_exact(&mut greeting).await?;
    assert_eq!(greeting, GREETING);
    Ok(tls)
}

/// The server's end-entity certificate as the client saw it.
pub(crate) fn peer_leaf(client: &Client) -> CertificateDer<'static> {
    client.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// Write `msg` and read it back from the echo server.
pub(crate) async fn echo(client: &mut Client, msg: &[u8]) {
    client.write_all(msg).await.unwrap();
    client.flush().await.unwrap();
    let mut back = vec![0u8; msg.len()];
    client.read_exact(&mut back).await.unwrap();
    assert_eq!(back, msg);
}

/// A loopback server: accepts TCP, runs `TlsAcceptor::accept`, reports each result, then greets
/// and echoes.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) results: mpsc::UnboundedReceiver<ServerResult>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub(crate) async fn start(acceptor: TlsAcceptor) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, results) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok((stream, info)) => {
                            let _ = tx.send(Ok(info));
                            let (mut read, mut write) = tokio::io::split(stream);
                            if write.write_all(GREETING).await.is_ok()
                                && write.flush().await.is_ok()
                            {
                                let _ = tokio::io::copy(&mut read, &mut write).await;
                            }
                        }
                        Err(error) => {
                            let _ = tx.send(Err(error));
                        }
                    }
                });
            }
        });
        Self {
            addr,
            results,
            task,
        }
    }

    /// The next handshake result.
    pub(crate) async fn next(&mut self) -> ServerResult {
        self.results.recv().await.unwrap()
    }

    /// The next handshake result, which must be a success.
    pub(crate) async fn next_ok(&mut self) -> HandshakeInfo {
        self.next().await.unwrap()
    }
}

/// The bytes of a ClientHello (one TLS record) as a rustls client would send them.
pub(crate) fn client_hello(config: ClientConfig, name: &str) -> Vec<u8> {
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// A directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ferry-tls-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Write `contents` to `name` in this directory; return the path.
    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Path of a checked-in fixture.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
