//! Destinations and clients on threads, for tests that drive real processes without a
//! runtime.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A threaded echo server: every connection gets back what it sent, then a half-close after
/// the client's.
pub fn echo() -> SocketAddr {
    spawn(None).0
}

/// [`echo`], counting the connections it accepted.
pub fn echo_counting() -> (SocketAddr, Arc<AtomicUsize>) {
    spawn(None)
}

/// A threaded echo server that writes `tag` first on every connection, then echoes.
pub fn tagged_echo(tag: u8) -> SocketAddr {
    spawn(Some(tag)).0
}

fn spawn(tag: Option<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                if let Some(t) = tag
                    && s.write_all(&[t]).is_err()
                {
                    return;
                }
                let Ok(mut r) = s.try_clone() else { return };
                let _ = std::io::copy(&mut r, &mut s);
                let _ = s.shutdown(Shutdown::Write);
            });
        }
    });
    (addr, count)
}

/// A threaded HTTP server: answers every request head `200` with `body`, then closes.
pub fn http_ok(body: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// Calls `f` until it returns a value, for at most 20 s (then panics naming `what`): the one
/// bounded wait for a condition the tests have no event for (a third-party program starting
/// to listen, a metric reaching a value).
#[allow(clippy::disallowed_methods)] // a bounded poll of a condition, not a sleep as synchronisation
pub fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not reached within 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `GET path` over HTTP/1.1 to `addr`; the whole response (head and body) as text. For
/// scraping `/metrics` and `/healthz`.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: ferry\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_and_tagged_echo_half_close() {
        for (addr, want) in [(echo(), &b"abc"[..]), (tagged_echo(b'Z'), &b"Zabc"[..])] {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"abc").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).unwrap();
            assert_eq!(back, want);
        }
        let (addr, count) = echo_counting();
        drop(TcpStream::connect(addr).unwrap());
        let reply = http_get(http_ok("hi"), "/");
        assert!(
            reply.starts_with("HTTP/1.1 200 OK") && reply.ends_with("\r\n\r\nhi"),
            "{reply}"
        );
        // The echo counted the connection before the HTTP exchange ended (same thread order).
        while count.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
    }
}
