//! Rough full vs resumed handshake rates on loopback (client and server in one process).
//!
//! ```text
//! cargo run --release -p ferry-tls --example handshake_rate [seconds-per-scenario] [concurrency]
//! ```
//!
//! Each scenario runs `concurrency` client loops (default 4) for the given time (default 2 s);
//! every connection completes a handshake and reads one byte (so TLS 1.3 tickets are received).
//! The server side counts how many handshakes it saw resumed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry_tls::rustls;
use ferry_tls::{
    AcceptorConfig, ConnectorConfig, PemInput, SelfSigned, Tickets, TlsAcceptor, TlsConnector,
    TlsVersion,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

struct Scenario {
    name: &'static str,
    version: TlsVersion,
    tickets: Tickets,
    server_cache: usize,
    client_sessions: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(Ok(2.0), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let run_for = Duration::from_secs_f64(seconds);
    let cert = SelfSigned::generate(["localhost"])?;

    let scenarios = [
        Scenario {
            name: "TLS1.3 full",
            version: TlsVersion::Tls13,
            tickets: Tickets::Off,
            server_cache: 0,
            client_sessions: 0,
        },
        Scenario {
            name: "TLS1.3 resumed (tickets)",
            version: TlsVersion::Tls13,
            tickets: Tickets::PerProcess,
            server_cache: 0,
            client_sessions: 256,
        },
        Scenario {
            name: "TLS1.3 resumed (cache)",
            version: TlsVersion::Tls13,
            tickets: Tickets::Off,
            server_cache: 20_000,
            client_sessions: 256,
        },
        Scenario {
            name: "TLS1.2 full",
            version: TlsVersion::Tls12,
            tickets: Tickets::Off,
            server_cache: 0,
            client_sessions: 0,
        },
        Scenario {
            name: "TLS1.2 resumed (tickets)",
            version: TlsVersion::Tls12,
            tickets: Tickets::PerProcess,
            server_cache: 0,
            client_sessions: 256,
        },
        Scenario {
            name: "TLS1.2 resumed (cache)",
            version: TlsVersion::Tls12,
            tickets: Tickets::Off,
            server_cache: 20_000,
            client_sessions: 256,
        },
    ];
    println!("{concurrency} client loops, {seconds} s per scenario, ECDSA P-256 certificate");
    for scenario in scenarios {
        let mut server_config = AcceptorConfig::new(cert.to_source());
        server_config
            .tickets(scenario.tickets.clone())
            .session_cache_size(scenario.server_cache);
        let acceptor = TlsAcceptor::new(&server_config)?;
        let resumed = Arc::new(AtomicU64::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(serve(listener, acceptor, Arc::clone(&resumed)));

        let mut client_config = ConnectorConfig::new();
        client_config
            .add_ca(PemInput::memory("self-signed", cert.cert_pem()))
            .min_version(scenario.version)
            .session_cache_size(scenario.client_sessions);
        // ConnectorConfig has no maximum version: the TLS 1.2-only client is built by hand.
        let connector = match scenario.version {
            TlsVersion::Tls12 => tls12_connector(&cert, scenario.client_sessions)?,
            _ => TlsConnector::new(&client_config)?,
        };

        let start = Instant::now();
        let mut loops = Vec::new();
        for _ in 0..concurrency {
            let connector = connector.clone();
            loops.push(tokio::spawn(async move {
                let mut done = 0u64;
                while start.elapsed() < run_for {
                    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                    let (mut tls, _) = connector
                        .connect("localhost", tcp)
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut byte = [0u8; 1];
                    tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
                    done += 1;
                }
                Ok::<u64, String>(done)
            }));
        }
        let mut total = 0;
        for handle in loops {
            total += handle.await??;
        }
        let elapsed = start.elapsed().as_secs_f64();
        server.abort();
        #[allow(clippy::cast_precision_loss)]
        let rate = total as f64 / elapsed;
        println!(
            "{:<26} {:>8.0} handshakes/s  ({total} in {elapsed:.2} s, {} resumed on the server)",
            scenario.name,
            rate,
            resumed.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

fn tls12_connector(
    cert: &SelfSigned,
    sessions: usize,
) -> Result<TlsConnector, Box<dyn std::error::Error>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert_der().clone())?;
    let mut config = rustls::ClientConfig::builder_with_provider(ferry_tls::provider(
        ferry_tls::KeyExchange::default(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.resumption = if sessions == 0 {
        rustls::client::Resumption::disabled()
    } else {
        rustls::client::Resumption::in_memory_sessions(sessions)
    };
    Ok(TlsConnector::from_rustls(Arc::new(config)))
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, resumed: Arc<AtomicU64>) {
    while let Ok((tcp, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        let resumed = Arc::clone(&resumed);
        tokio::spawn(async move {
            if let Ok((mut tls, info)) = acceptor.accept(tcp).await {
                if info.resumed {
                    resumed.fetch_add(1, Ordering::Relaxed);
                }
                let _ = tls.write_all(b"!").await;
                let _ = tls.flush().await;
            }
        });
    }
}
