//! Helpers: upstreams (plain and TLS), a proxy started from TOML text, TLS clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_app_proxy::ProxyConfig;
use ferry_tls::{
    ClientTlsStream, ConnectorConfig, HandshakeError, HandshakeInfo, PemInput, SelfSigned,
    TlsAcceptor, TlsConnector,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// An upstream that writes its `tag` byte first, then echoes until EOF, then closes.
pub(crate) async fn tagged_echo(tag: u8) -> SocketAddr {
    ferry_test_support::net::tagged_echo(tag).await
}

/// What a TLS upstream saw of one connection.
pub(crate) type UpstreamResult = Result<HandshakeInfo, HandshakeError>;

/// A TLS upstream: runs `acceptor`, reports each handshake, then writes `tag` and echoes.
pub(crate) async fn tls_tagged_echo(
    acceptor: TlsAcceptor,
    tag: u8,
) -> (SocketAddr, mpsc::UnboundedReceiver<UpstreamResult>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match acceptor.accept(s).await {
                    Ok((stream, info)) => {
                        let _ = tx.send(Ok(info));
                        let (mut r, mut w) = tokio::io::split(stream);
                        w.write_all(&[tag]).await.unwrap();
                        w.flush().await.unwrap();
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                        let _ = w.shutdown().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        }
    });
    (addr, rx)
}

pub(crate) use crate::running::Running;

/// Builds a proxy from `config` and runs it.
pub(crate) async fn start(config: ProxyConfig) -> Running {
    crate::running::start_config(config)
}

pub(crate) async fn start_toml(text: &str) -> Running {
    start(ProxyConfig::from_toml(text).unwrap()).await
}

/// A TOML path string (escaped for a basic string).
pub(crate) fn toml_path(p: &Path) -> String {
    format!("{:?}", p.to_str().unwrap())
}

/// A connector trusting the given certificates (self-signed ones act as their own CA), with
/// `sessions` remembered for resumption.
pub(crate) fn connector(trusted: &[&SelfSigned], sessions: usize) -> TlsConnector {
    let mut c = ConnectorConfig::new();
    for cert in trusted {
        c.add_ca(PemInput::memory("test cert", cert.cert_pem()));
    }
    c.session_cache_size(sessions);
    TlsConnector::new(&c).unwrap()
}

/// Connects through the proxy at `addr` asking for `name`, and reads the upstream's tag byte
/// (which also processes TLS 1.3 tickets, sent before it).
pub(crate) async fn tls_connect(
    connector: &TlsConnector,
    addr: SocketAddr,
    name: &str,
) -> (ClientTlsStream<TcpStream>, HandshakeInfo, u8) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut tls, info) = connector.connect(name, tcp).await.unwrap();
    let mut tag = [0u8; 1];
    tls.read_exact(&mut tag).await.unwrap();
    (tls, info, tag[0])
}

/// Writes `msg` and reads it back.
pub(crate) async fn echo<S: AsyncReadExt + AsyncWriteExt + Unpin>(s: &mut S, msg: &[u8]) {
    s.write_all(msg).await.unwrap();
    s.flush().await.unwrap();
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(back, msg);
}

/// A directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ferry-proxy-tls-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Writes `cert`'s certificate and key; returns `(cert path, key path)`.
    pub(crate) fn write_cert(&self, stem: &str, cert: &SelfSigned) -> (PathBuf, PathBuf) {
        (
            self.write(&format!("{stem}.pem"), cert.cert_pem()),
            self.write(&format!("{stem}.key"), cert.key_pem()),
        )
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `[listener.tls]`-style `cert`/`key` pair of lines for files in `dir`.
pub(crate) fn cert_lines(dir: &TempDir, stem: &str, cert: &SelfSigned) -> String {
    let (c, k) = dir.write_cert(stem, cert);
    format!("cert = {}\nkey = {}\n", toml_path(&c), toml_path(&k))
}

/// A certificate for `localhost` and 127.0.0.1.
pub(crate) fn localhost_cert() -> SelfSigned {
    SelfSigned::generate(["localhost", "127.0.0.1"]).unwrap()
}
