//! Row E9: 0-RTT is refused. A real quinn client that holds a resumable session from a first
//! connection to the gateway's endpoint, and asks for 0-RTT on the second, gets no early data
//! accepted, and nothing it sends reaches the gateway before the handshake completes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_tunnel::wire::ALPN;
use ferry_tunnel::{Gateway, GatewayConfig};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::{NamedGroup, client::Tls12ClientSessionValue};
use tokio::sync::watch;

use crate::common::*;

/// The client's session cache, recording the tickets it gets and hands out.
#[derive(Debug)]
struct Tickets {
    cache: ClientSessionMemoryCache,
    /// `max_early_data_size` of every ticket received, in order.
    received: Mutex<Vec<u32>>,
    /// Number of tickets received (to wait on).
    count: watch::Sender<usize>,
    /// Tickets taken for a resumption attempt.
    taken: Mutex<usize>,
}

impl ClientSessionStore for Tickets {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.cache.set_kx_hint(server_name, group);
    }
    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.cache.kx_hint(server_name)
    }
    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.cache.set_tls12_session(server_name, value);
    }
    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.cache.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.cache.remove_tls12_session(server_name);
    }
    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.received
            .lock()
            .unwrap()
            .push(value.max_early_data_size());
        self.cache.insert_tls13_ticket(server_name, value);
        self.count.send_modify(|n| *n += 1);
    }
    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        let ticket = self.cache.take_tls13_ticket(server_name);
        if ticket.is_some() {
            *self.taken.lock().unwrap() += 1;
        }
        ticket
    }
}

/// A client that wants 0-RTT: early data enabled, resumption through `tickets`.
fn eager_client(pki: &Pki, tickets: &Arc<Tickets>) -> quinn::ClientConfig {
    let mut tls = pki.client_tls(ALPN);
    tls.enable_early_data = true;
    tls.resumption = rustls::client::Resumption::store(Arc::clone(tickets) as _);
    quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap(),
    ))
}

#[tokio::test]
async fn zero_rtt_is_refused_and_no_early_stream_data_reaches_the_gateway() {
    let pki = Pki::new();
    // The gateway's endpoint exactly as `Gateway::bind` builds it; the test accepts on it by
    // hand to see when stream data arrives relative to the end of the handshake.
    let gateway = Gateway::new(GatewayConfig::default(), verify);
    let server = gateway
        .bind("127.0.0.1:0".parse().unwrap(), pki.server_tls())
        .unwrap();
    let addr = server.local_addr().unwrap();
    let tickets = Arc::new(Tickets {
        cache: ClientSessionMemoryCache::new(8),
        received: Mutex::new(Vec::new()),
        count: watch::Sender::new(0),
        taken: Mutex::new(0),
    });
    let client_config = eager_client(&pki, &tickets);
    let client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();

    // First connection: a full handshake; the gateway issues session tickets after it.
    let connecting = client
        .connect_with(client_config.clone(), addr, "localhost")
        .unwrap();
    let (first, first_server) = tokio::join!(connecting, async {
        server.accept().await.unwrap().await.unwrap()
    });
    let first = first.unwrap();
    let mut count = tickets.count.subscribe();
    tokio::time::timeout(Duration::from_secs(10), count.wait_for(|n| *n >= 1))
        .await
        .expect("no session ticket from the gateway")
        .unwrap();
    assert!(
        tickets.received.lock().unwrap().iter().all(|&m| m == 0),
        "tickets must not permit early data: {:?}",
        tickets.received.lock().unwrap()
    );
    first.close(0u32.into(), b"");
    first_server.closed().await;

    // Second connection: resumes with a ticket and asks for 0-RTT.
    let connecting = client
        .connect_with(client_config, addr, "localhost")
        .unwrap();
    let incoming = server.accept().await.unwrap();
    let (server_conn, server_handshake) = incoming
        .accept()
        .unwrap()
        .into_0rtt()
        .unwrap_or_else(|_| unreachable!("the server side always converts"));
    let client_side = tokio::spawn(async move {
        let conn = match connecting.into_0rtt() {
            // Expected: the ticket carries no early-data permission, so there are no 0-RTT
            // keys. Finish the handshake and send the same bytes as 1-RTT data.
            Err(connecting) => connecting.await.unwrap(),
            Ok((conn, accepted)) => {
                // Would be 0-RTT data: must not be accepted.
                let (mut send, _recv) = conn.open_bi().await.unwrap();
                send.write_all(b"early").await.unwrap();
                send.finish().unwrap();
                assert!(!accepted.await, "the gateway accepted 0-RTT data");
                return (conn, true);
            }
        };
        let (mut send, _recv) = conn.open_bi().await.unwrap();
        send.write_all(b"early").await.unwrap();
        send.finish().unwrap();
        (conn, false)
    });
    // Whatever the client tried: its stream reaches the gateway only after the handshake.
    tokio::pin!(server_handshake);
    let stream = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            biased;
            _ = &mut server_handshake => {}
            stream = server_conn.accept_bi() => {
                panic!("stream data before the handshake completed: {:?}", stream.map(|s| s.0.id()));
            }
        }
        server_conn.accept_bi().await.unwrap()
    })
    .await
    .expect("no stream in time");
    let (_send, mut recv) = stream;
    assert_eq!(recv.read_to_end(64).await.unwrap(), b"early");
    let (conn, tried_0rtt) = client_side.await.unwrap();
    assert!(
        *tickets.taken.lock().unwrap() >= 1,
        "the second connection did not offer a ticket: the test did not exercise resumption"
    );
    assert!(!tried_0rtt, "0-RTT keys were available to the client");
    conn.close(0u32.into(), b"");
    server_conn.closed().await;
    server.close(0u32.into(), b"");
}
