//! The soak's datagram side: a UDP echo backend, and a session that sends numbered datagrams
//! through a SOCKS5 UDP association and checks every reply byte for byte.
//!
//! Datagrams may be lost (UDP promises nothing): a datagram without a reply within
//! [`REPLY_WAIT`] is counted as lost and the session goes on. A reply that is not exactly a
//! datagram the session sent is corruption; a session that gets no reply at all fails.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::{Rng, RngCore};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::soak_tcp::{Failure, connect, push_socks_addr, socks5_request, step};

/// How long a datagram's reply is waited for before the datagram counts as lost.
pub(crate) const REPLY_WAIT: Duration = Duration::from_secs(2);

/// The largest payload sent (the chain's records travel in the same datagram).
const MAX_PAYLOAD: usize = 1200;

/// Echoes every datagram on `socket` to its sender, forever.
pub(crate) async fn echo(socket: UdpSocket) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let _ = socket.send_to(&buf[..n], from).await;
            }
            Err(e) => {
                eprintln!("soak udp echo: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Datagram counts of the whole soak.
#[derive(Default)]
pub(crate) struct UdpCounts {
    /// Datagrams sent.
    pub(crate) sent: AtomicU64,
    /// Datagrams whose reply did not come within [`REPLY_WAIT`].
    pub(crate) lost: AtomicU64,
}

/// One association: 5-30 datagrams of 8-1200 bytes, 0-100 ms apart (fewer once `stop` is
/// set); returns the bytes verified.
pub(crate) async fn session(
    socks: SocketAddr,
    echo: SocketAddr,
    counts: &UdpCounts,
    stop: &AtomicBool,
) -> Result<u64, Failure> {
    let (datagrams, sizes, pauses) = {
        let mut rng = rand::rng();
        let n = rng.random_range(5..=30);
        let sizes: Vec<usize> = (0..n).map(|_| rng.random_range(8..=MAX_PAYLOAD)).collect();
        let pauses: Vec<u64> = (0..n).map(|_| rng.random_range(0..=100)).collect();
        (n, sizes, pauses)
    };
    let (control, relay) = step("socks5 udp associate", async {
        let mut control = connect(socks, false).await?;
        let relay = socks5_request(&mut control, 3, SocketAddr::from(([0, 0, 0, 0], 0))).await?;
        Ok::<(TcpStream, SocketAddr), io::Error>((control, relay))
    })
    .await?;
    // A relay bound to the unspecified address is reached at the control connection's address.
    let relay = if relay.ip().is_unspecified() {
        SocketAddr::new(socks.ip(), relay.port())
    } else {
        relay
    };
    let local: SocketAddr = match socks.ip() {
        IpAddr::V4(_) => ([127, 0, 0, 1], 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
    };
    let udp = step("udp bind", async {
        let udp = UdpSocket::bind(local).await?;
        udp.connect(relay).await?;
        Ok(udp)
    })
    .await?;
    let mut header = vec![0, 0, 0];
    push_socks_addr(&mut header, echo);
    let mut sent: Vec<Vec<u8>> = Vec::with_capacity(datagrams);
    let mut verified = 0u64;
    let mut answered = 0usize;
    let mut buf = vec![0u8; 65_536];
    for (seq, (&size, &pause)) in sizes.iter().zip(&pauses).enumerate() {
        if stop.load(Ordering::Relaxed) && seq > 0 {
            break;
        }
        let mut payload = vec![0u8; size];
        payload[..8].copy_from_slice(&(seq as u64).to_be_bytes());
        rand::rng().fill_bytes(&mut payload[8..]);
        let mut datagram = header.clone();
        datagram.extend_from_slice(&payload);
        sent.push(payload);
        step("udp send", udp.send(&datagram)).await?;
        counts.sent.fetch_add(1, Ordering::Relaxed);
        // Replies until this datagram's own (late replies of earlier ones are checked too).
        loop {
            let n = match timeout(REPLY_WAIT, udp.recv(&mut buf)).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(Failure::io("udp receive", e)),
                Err(_elapsed) => {
                    counts.lost.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            };
            let got = reply_payload(&buf[..n])?;
            let Some(seq_back) = got
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
            else {
                return Err(Failure::Corrupt(format!(
                    "a {n}-byte reply without a number"
                )));
            };
            let expected = usize::try_from(seq_back).ok().and_then(|i| sent.get(i));
            if expected.map(Vec::as_slice) != Some(got) {
                return Err(Failure::Corrupt(format!(
                    "datagram {seq_back}: the reply is not the datagram sent"
                )));
            }
            verified += got.len() as u64;
            answered += 1;
            if seq_back == seq as u64 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    drop(control);
    if answered == 0 {
        return Err(Failure::Io(format!(
            "none of {} datagrams came back",
            sent.len()
        )));
    }
    Ok(verified)
}

/// The payload of a SOCKS5 UDP reply (after RSV, FRAG, ATYP, address and port).
fn reply_payload(datagram: &[u8]) -> Result<&[u8], Failure> {
    let addr_len = match datagram.get(3) {
        Some(1) => 4,
        Some(4) => 16,
        Some(3) => datagram.get(4).map_or(0, |&l| 1 + usize::from(l)),
        _ => 0,
    };
    if addr_len == 0 || datagram.get(2) != Some(&0) {
        return Err(Failure::Corrupt(format!(
            "a {}-byte reply without a valid SOCKS5 UDP header",
            datagram.len()
        )));
    }
    datagram.get(4 + addr_len + 2..).ok_or_else(|| {
        Failure::Corrupt(format!("a {}-byte reply cut in its header", datagram.len()))
    })
}
