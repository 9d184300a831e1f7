//! TLS workloads: handshake rate (full or resumed), bulk throughput and idle connections, with a
//! rustls client. The upstream behind the terminator is the bench server (`E` echo, `S` sink).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, HandshakeKind, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

use crate::naive_tls::{Kx, load_roots};

/// The name every bench certificate is issued for.
pub(crate) const SERVER_NAME: &str = "localhost";

/// A TLS version to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Tls13,
    Tls12,
}

impl Version {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Tls13 => "TLS 1.3",
            Self::Tls12 => "TLS 1.2",
        }
    }

    fn rustls(self) -> &'static [&'static SupportedProtocolVersion] {
        static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        static TLS12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        match self {
            Self::Tls13 => &TLS13,
            Self::Tls12 => &TLS12,
        }
    }
}

/// A client: its config (and with it the session store) and the server name.
#[derive(Clone)]
pub(crate) struct Client {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl Client {
    /// A client trusting the certificate in `cert_pem`, offering only the key-exchange group
    /// `kx` with TLS 1.3; with TLS 1.2 (which has no hybrid group) X25519, then secp256r1.
    /// `resume` keeps sessions (shared by every clone of this client), otherwise every
    /// handshake is full.
    ///
    /// secp256r1 is listed with TLS 1.2 only for OpenSSL servers (HAProxy, nginx): in TLS 1.2
    /// the client's group list also names the curves it accepts in the server's certificate
    /// (RFC 8422), so OpenSSL refuses an ECDSA P-256 certificate to a client listing only
    /// X25519. Every terminator measured still negotiates X25519 (`compare-tls` prints it).
    pub(crate) fn new(cert_pem: &Path, version: Version, resume: bool, kx: Kx) -> io::Result<Self> {
        use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
        let roots = load_roots(cert_pem)?;
        let provider = if version == Version::Tls12 {
            Arc::new(rustls::crypto::CryptoProvider {
                kx_groups: vec![kx_group::X25519, kx_group::SECP256R1],
                ..default_provider()
            })
        } else {
            kx.client_provider()
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(version.rustls())
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = if resume {
            Resumption::in_memory_sessions(4096)
        } else {
            Resumption::disabled()
        };
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            name: ServerName::try_from(SERVER_NAME).map_err(io::Error::other)?,
        })
    }

    async fn connect(&self, target: SocketAddr) -> io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(target).await?;
        tcp.set_nodelay(true)?;
        self.handshake(tcp).await
    }

    /// The client handshake on an established TCP connection.
    pub(crate) async fn handshake(&self, tcp: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.name.clone(), tcp).await
    }

    /// One connection: handshake, one echoed byte (so the upstream leg exists and TLS 1.3
    /// tickets are read), close. Returns whether the handshake was resumed.
    pub(crate) async fn once(&self, target: SocketAddr) -> io::Result<bool> {
        let mut tls = self.connect(target).await?;
        let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
        echo_and_close(&mut tls).await?;
        Ok(resumed)
    }
}

/// One byte echoed through the upstream, then close, waiting for the other side to close so
/// that the terminator closes first.
async fn echo_and_close<S: AsyncRead + AsyncWrite + Unpin>(tls: &mut S) -> io::Result<()> {
    tls.write_all(b"Ex").await?;
    tls.flush().await?;
    let mut b = [0u8; 1];
    tls.read_exact(&mut b).await?;
    tls.shutdown().await?;
    let _ = tls.read(&mut b).await;
    Ok(())
}

impl Client {
    /// What one full connection negotiates with `target`: the cipher suite and the
    /// key-exchange group, as `SUITE, GROUP`.
    pub(crate) async fn negotiated(&self, target: SocketAddr) -> io::Result<String> {
        let mut tls = self.connect(target).await?;
        let conn = tls.get_ref().1;
        let suite = conn
            .negotiated_cipher_suite()
            .map_or_else(|| "?".to_owned(), |s| format!("{:?}", s.suite()));
        let group = conn
            .negotiated_key_exchange_group()
            .map_or_else(|| "?".to_owned(), |g| format!("{:?}", g.name()));
        echo_and_close(&mut tls).await?;
        Ok(format!("{suite}, {group}"))
    }
}

/// Handshake-rate results.
pub(crate) struct HandshakeRate {
    pub(crate) per_sec: f64,
    pub(crate) count: u64,
    pub(crate) resumed: u64,
}

/// One connection per client: a resuming client's first handshake is full and fills its
/// session store.
pub(crate) async fn warm_up(target: SocketAddr, clients: &[Client]) -> io::Result<()> {
    for client in clients {
        client.once(target).await?;
    }
    Ok(())
}

/// One loop of [`Client::once`] per client, for `duration`. Give each loop its own resuming
/// client (its own session store: one returning user each); a store shared by many concurrent
/// loops runs out of TLS 1.3 tickets, which are single-use.
pub(crate) async fn handshake_rate(
    target: SocketAddr,
    clients: &[Client],
    duration: Duration,
) -> io::Result<HandshakeRate> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let resumed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for client in clients {
        let (stop, done, resumed, client) = (
            Arc::clone(&stop),
            Arc::clone(&done),
            Arc::clone(&resumed),
            client.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if client.once(target).await? {
                    resumed.fetch_add(1, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, io::Error>(())
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.map_err(io::Error::other)??;
    }
    let count = done.load(Ordering::Relaxed);
    Ok(HandshakeRate {
        per_sec: count as f64 / start.elapsed().as_secs_f64(),
        count,
        resumed: resumed.load(Ordering::Relaxed),
    })
}

/// Sends `bytes` through one TLS connection in sink mode; returns bytes/second as confirmed by
/// the sink.
pub(crate) async fn bulk(target: SocketAddr, client: &Client, bytes: u64) -> io::Result<f64> {
    let start = Instant::now();
    let mut s = client.connect(target).await?;
    s.write_all(b"S").await?;
    let buf = vec![0x5au8; 256 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        s.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    s.flush().await?;
    s.shutdown().await?;
    let got = s.read_u64().await?;
    if got != bytes {
        return Err(io::Error::other(format!(
            "sink received {got} bytes, {bytes} were sent"
        )));
    }
    Ok(got as f64 / start.elapsed().as_secs_f64())
}

/// Opens `count` TLS connections, each with one echoed byte so both legs exist, and keeps them
/// open until the returned vector is dropped.
pub(crate) async fn open_idle(
    target: SocketAddr,
    client: &Client,
    count: usize,
) -> io::Result<Vec<TlsStream<TcpStream>>> {
    let mut conns = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(100) {
        let n = (count - chunk * 100).min(100);
        let mut batch = Vec::new();
        for _ in 0..n {
            let client = client.clone();
            batch.push(tokio::spawn(async move {
                let mut s = client.connect(target).await?;
                s.write_all(b"Ex").await?;
                s.flush().await?;
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await?;
                Ok::<_, io::Error>(s)
            }));
        }
        for t in batch {
            conns.push(t.await.map_err(io::Error::other)??);
        }
    }
    Ok(conns)
}
