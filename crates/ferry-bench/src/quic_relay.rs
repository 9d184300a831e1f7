//! The bare-QUIC baseline of `compare-tunnel`: the least a reverse tunnel over quinn can do.
//!
//! Two processes, `ferry-bench quic-relay-public` and `ferry-bench quic-relay-private`, shaped
//! like the gateway and the agent and built on the same parts (quinn with ring, TLS 1.3 with the
//! same certificate, [`ferry_tunnel::transport_config`] and [`ferry_tunnel::bind_endpoint`]
//! with [`QuicSettings::default`], 16 KiB copy buffers as `ferry-bridge`'s default), but with
//! none of the tunnel's features: the private side keeps one QUIC connection to the public
//! side; the public side opens one bidirectional stream per accepted TCP connection and copies
//! bytes both ways (`copy_bidirectional`); the private side dials one fixed upstream per stream
//! and does the same. No CONNECT request, no authentication, no tunnel header, no status, no
//! allowlist, no limits, no metrics, no logs.
//!
//! What this pair costs per connection and per GB is what the QUIC transport itself costs on
//! this machine, the part no tunnel on quinn can avoid by its own code; the difference to
//! `ferry` is what Ferry's features add (its CONNECT exchange and tunnel status cost a round
//! trip each per connection).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use ferry_tunnel::{QuicSettings, bind_endpoint, client_crypto, server_crypto, transport_config};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};

use crate::naive_tls::{load_pem, load_roots, provider};

/// Copy buffer per direction: `ferry-bridge`'s default.
const BUFFER: usize = 16 * 1024;

/// Streams the private side lets the public side open at once: the agent's default cap.
const MAX_STREAMS: u32 = 1024;

/// The public side: a QUIC server on `quic` for one private side, and a TCP listener on
/// `listen` whose connections each get a stream to it. Runs until the QUIC connection ends.
pub(crate) async fn public(
    listen: SocketAddr,
    quic: SocketAddr,
    cert: &Path,
    key: &Path,
) -> io::Result<()> {
    let (certs, key) = load_pem(cert, key)?;
    let endpoint = bind_endpoint(
        quic,
        &QuicSettings::default(),
        Some(server_config(certs, key)?),
    )?;
    serve_public(TcpListener::bind(listen).await?, endpoint).await
}

/// The private side: connects to the public side at `quic` (trusting the certificate in `ca`,
/// named `localhost`) and relays every stream it opens to `upstream`. Runs until the QUIC
/// connection ends.
pub(crate) async fn private(quic: SocketAddr, ca: &Path, upstream: SocketAddr) -> io::Result<()> {
    let roots = load_roots(ca)?;
    let local: SocketAddr = if quic.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let endpoint = bind_endpoint(local, &QuicSettings::default(), None)?;
    serve_private(&endpoint, quic, client_config(roots)?, upstream).await
}

/// The gateway's QUIC server settings: TLS 1.3 on ring, the tunnel's transport config.
fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<quinn::ServerConfig> {
    let tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    let mut server =
        quinn::ServerConfig::with_crypto(server_crypto(tls).map_err(io::Error::other)?);
    server
        .transport_config(transport_config(&QuicSettings::default(), 1).map_err(io::Error::other)?);
    Ok(server)
}

/// The agent's QUIC client settings: verification against `roots`, the tunnel's transport
/// config.
fn client_config(roots: rustls::RootCertStore) -> io::Result<quinn::ClientConfig> {
    let mut client =
        quinn::ClientConfig::new(client_crypto(Arc::new(roots)).map_err(io::Error::other)?);
    client.transport_config(
        transport_config(&QuicSettings::default(), MAX_STREAMS).map_err(io::Error::other)?,
    );
    Ok(client)
}

/// Waits for the private side's connection on `endpoint`, then gives every TCP connection on
/// `listener` its own stream.
async fn serve_public(listener: TcpListener, endpoint: quinn::Endpoint) -> io::Result<()> {
    let incoming = endpoint
        .accept()
        .await
        .ok_or_else(|| io::Error::other("quic endpoint closed"))?;
    let conn = incoming.await.map_err(io::Error::other)?;
    loop {
        let (mut client, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            lost = conn.closed() => return Err(io::Error::other(lost)),
        };
        let conn = conn.clone();
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok((send, recv)) = conn.open_bi().await else {
                return;
            };
            let mut stream = tokio::io::join(recv, send);
            let _ =
                tokio::io::copy_bidirectional_with_sizes(&mut client, &mut stream, BUFFER, BUFFER)
                    .await;
        });
    }
}

/// Connects to the public side at `quic` and relays every stream it opens to `upstream`.
async fn serve_private(
    endpoint: &quinn::Endpoint,
    quic: SocketAddr,
    config: quinn::ClientConfig,
    upstream: SocketAddr,
) -> io::Result<()> {
    let conn = endpoint
        .connect_with(config, quic, "localhost")
        .map_err(io::Error::other)?
        .await
        .map_err(io::Error::other)?;
    loop {
        let (send, recv) = conn.accept_bi().await.map_err(io::Error::other)?;
        tokio::spawn(async move {
            let Ok(mut up) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = up.set_nodelay(true);
            let mut stream = tokio::io::join(recv, send);
            let _ = tokio::io::copy_bidirectional_with_sizes(&mut stream, &mut up, BUFFER, BUFFER)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Bytes cross the baseline tunnel exactly, both ways, and a half-close crosses it too
    /// (the client reads the echo to its end after shutting down its write side).
    #[tokio::test]
    async fn relays_bytes_and_half_close() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = echo.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    tokio::io::copy(&mut r, &mut w).await.unwrap();
                    w.shutdown().await.unwrap();
                });
            }
        });
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = CertificateDer::from(key.cert.der().to_vec());
        let private_key = PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.clone()).unwrap();

        let settings = QuicSettings::default();
        let server = server_config(vec![cert], private_key).unwrap();
        let public_quic =
            bind_endpoint("127.0.0.1:0".parse().unwrap(), &settings, Some(server)).unwrap();
        let quic = public_quic.local_addr().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = listener.local_addr().unwrap();
        tokio::spawn(serve_public(listener, public_quic));
        let private_quic = bind_endpoint("127.0.0.1:0".parse().unwrap(), &settings, None).unwrap();
        let client = client_config(roots).unwrap();
        tokio::spawn(async move { serve_private(&private_quic, quic, client, upstream).await });

        let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut tcp = TcpStream::connect(front).await.unwrap();
        let (mut r, mut w) = tcp.split();
        let write = async {
            w.write_all(&sent).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let mut got = Vec::new();
        let read = r.read_to_end(&mut got);
        let ((), n) =
            tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(write, read) })
                .await
                .expect("the echo did not end within 30 s");
        assert_eq!(n.unwrap(), sent.len());
        assert!(got == sent, "echo differs from what was sent");
    }
}
