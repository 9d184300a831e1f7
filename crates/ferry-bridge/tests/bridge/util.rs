//! Helpers shared by the test modules.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A guard against hangs in wall-clock tests (never used for synchronisation).
pub(crate) const GUARD: Duration = Duration::from_secs(60);

/// A connected loopback pair: (connecting end, accepted end).
pub(crate) async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (connected, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (connected.unwrap(), accepted.unwrap().0)
}

/// Two loopback pairs for a bridge: (client, a, b, upstream), where the bridge gets `a` and `b`.
pub(crate) async fn tcp_bridge_ends() -> (TcpStream, TcpStream, TcpStream, TcpStream) {
    let (client, a) = tcp_pair().await;
    let (b, upstream) = tcp_pair().await;
    (client, a, b, upstream)
}

/// Writes `len` pseudo-random bytes from `seed`, then shuts the writer down. Returns the hash.
///
/// Fast even unoptimised: a 1 MiB random table is made once, then each 64 KiB chunk is the
/// table slice at a random offset (the sequence of offsets comes from the seeded RNG).
pub(crate) async fn send_random<W: AsyncWrite + Unpin>(mut w: W, seed: u64, len: u64) -> [u8; 32] {
    const TABLE: usize = 1 << 20;
    const CHUNK: usize = 64 * 1024;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut table = vec![0u8; TABLE];
    rng.fill_bytes(&mut table);
    let mut hash = Sha256::new();
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(CHUNK as u64)).unwrap();
        let offset = usize::try_from(rng.next_u64() % (TABLE - CHUNK) as u64).unwrap();
        let chunk = &table[offset..offset + n];
        hash.update(chunk);
        w.write_all(chunk).await.unwrap();
        left -= n as u64;
    }
    w.shutdown().await.unwrap();
    hash.finalize().into()
}

/// Reads to EOF. Returns (byte count, hash).
pub(crate) async fn recv_hash<R: AsyncRead + Unpin>(mut r: R) -> (u64, [u8; 32]) {
    let mut hash = Sha256::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut chunk).await.unwrap();
        if n == 0 {
            return (total, hash.finalize().into());
        }
        hash.update(&chunk[..n]);
        total += n as u64;
    }
}
