//! Destinations and clients on threads, for tests that drive real processes without a
//! runtime.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};

/// A threaded echo server: every connection gets back what it sent, then a half-close after
/// the client's.
pub fn echo() -> SocketAddr {
    spawn(None)
}

/// A threaded echo server that writes `tag` first on every connection, then echoes.
pub fn tagged_echo(tag: u8) -> SocketAddr {
    spawn(Some(tag))
}

fn spawn(tag: Option<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
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
    addr
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
    }
}
