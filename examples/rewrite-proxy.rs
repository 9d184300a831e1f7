//! `rewrite-proxy`: a TCP proxy that filters and rewrites bytes with a `ferry-bridge` hook,
//! written from a library user's point of view.
//!
//! ```text
//! rewrite-proxy LISTEN_ADDR UPSTREAM_ADDR [--block WORD]
//! ```
//!
//! Every accepted connection is bridged to `UPSTREAM_ADDR` with a [`Session`] hook that
//!
//! - **filters** what the client sends: when the bytes contain `WORD` (default `DROP TABLE`),
//!   even split across reads, the session is closed and the read that completes the word is
//!   not forwarded, so the upstream never receives the word whole;
//! - **rewrites** what the upstream sends: ASCII letters are upper-cased.
//!
//! A hook forces the bridge's copy path (splice never shows bytes to user space). Chunks are
//! whatever one read returned, so a matcher must keep state between calls, as
//! [`Filter`] does. Exit status: 0 after Ctrl-C, 2 for a usage error or a bind failure.

use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::BytesMut;
use ferry_bridge::{Bridge, Direction, Inspect, Session, Verdict};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: rewrite-proxy LISTEN_ADDR UPSTREAM_ADDR [--block WORD]";

/// The hook: blocks `word` from the client (A to B), upper-cases the upstream's bytes (B to A).
struct Filter {
    word: Vec<u8>,
    /// How many bytes of `word` the client's stream currently ends with (a partial match that
    /// a later chunk may complete).
    matched: usize,
}

impl Filter {
    fn new(word: &[u8]) -> Self {
        Self {
            word: word.to_vec(),
            matched: 0,
        }
    }

    /// Feeds client bytes to the matcher; true when `word` is complete.
    fn sees_word(&mut self, chunk: &[u8]) -> bool {
        if self.word.is_empty() {
            return false;
        }
        for &b in chunk {
            // Naive fallback on mismatch (restart, or retry this byte as a first byte): fine
            // for words without a repeated prefix; a real filter would use KMP or Aho-Corasick.
            if self.word.get(self.matched) == Some(&b) {
                self.matched += 1;
            } else {
                self.matched = usize::from(self.word.first() == Some(&b));
            }
            if self.matched == self.word.len() {
                return true;
            }
        }
        false
    }
}

impl Inspect for Filter {
    fn on_chunk(&mut self, dir: Direction, chunk: &mut BytesMut) -> Verdict {
        match dir {
            Direction::AToB if self.sees_word(chunk) => Verdict::Close,
            Direction::AToB => Verdict::Forward,
            Direction::BToA => {
                chunk.make_ascii_uppercase();
                Verdict::Forward
            }
        }
    }
}

/// Accepts on `listener` forever, bridging each client to `upstream` with a [`Filter`].
async fn serve(listener: TcpListener, upstream: SocketAddr, word: Vec<u8>) {
    let bridge = Bridge::default();
    loop {
        let Ok((client, peer)) = listener.accept().await else {
            continue;
        };
        let bridge = bridge.clone();
        let word = word.clone();
        tokio::spawn(async move {
            let Ok(up) = TcpStream::connect(upstream).await else {
                eprintln!("{peer}: upstream {upstream} unreachable");
                return;
            };
            let session = Session::new().hook(Box::new(Filter::new(&word)));
            let outcome = bridge.run_tcp(client, up, session).await;
            eprintln!(
                "{peer}: {} bytes up, {} down, end: {}",
                outcome.a_to_b,
                outcome.b_to_a,
                outcome.end.label()
            );
        });
    }
}

fn parse(args: &[String]) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
    match args {
        [listen, upstream] => Some((
            listen.parse().ok()?,
            upstream.parse().ok()?,
            b"DROP TABLE".to_vec(),
        )),
        [listen, upstream, flag, word] if flag == "--block" => Some((
            listen.parse().ok()?,
            upstream.parse().ok()?,
            word.as_bytes().to_vec(),
        )),
        _ => None,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((listen, upstream, word)) = parse(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rewrite-proxy: cannot listen on {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    tokio::select! {
        () = serve(listener, upstream, word) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    use super::*;

    /// An upstream that echoes, and reports everything it received when the client leaves.
    async fn echo() -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        seen.extend_from_slice(&buf[..n]);
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = tx.send(seen);
                });
            }
        });
        (addr, rx)
    }

    async fn proxy(upstream: SocketAddr) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(l, upstream, b"DROP TABLE".to_vec()));
        addr
    }

    #[tokio::test]
    async fn replies_are_rewritten_through_real_sockets() {
        let (up, mut received) = echo().await;
        let mut c = TcpStream::connect(proxy(up).await).await.unwrap();
        c.write_all(b"select * from ferry;").await.unwrap();
        let mut got = [0u8; 20];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"SELECT * FROM FERRY;");
        drop(c);
        assert_eq!(received.recv().await.unwrap(), b"select * from ferry;");
    }

    #[tokio::test]
    async fn a_blocked_word_split_across_writes_never_reaches_the_upstream_whole() {
        let (up, mut received) = echo().await;
        let mut c = TcpStream::connect(proxy(up).await).await.unwrap();
        c.write_all(b"ok; DROP T").await.unwrap();
        // Wait for the echo so that the two halves are two reads at the proxy.
        let mut got = [0u8; 10];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"OK; DROP T");
        c.write_all(b"ABLE users;").await.unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "closed without forwarding: {rest:?}");
        assert_eq!(received.recv().await.unwrap(), b"ok; DROP T");
    }

    #[test]
    fn matcher_keeps_state_across_chunks() {
        let mut f = Filter::new(b"abc");
        assert!(!f.sees_word(b"xxa"));
        assert!(!f.sees_word(b"b"));
        assert!(f.sees_word(b"cz"));
        let mut f = Filter::new(b"abc");
        assert!(!f.sees_word(b"abab"));
        assert!(f.sees_word(b"c"));
        assert!(!Filter::new(b"").sees_word(b"anything"));
    }
}
