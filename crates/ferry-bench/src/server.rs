//! The upstream used by the benchmarks: one TCP server with two modes, chosen by the first byte a
//! client sends.
//!
//! | first byte | mode | behaviour |
//! |---|---|---|
//! | `S` | sink | reads until EOF, then answers the byte count (8 bytes, big endian) and closes |
//! | `E` | echo | writes back everything it reads until EOF, then closes |

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves bench clients on `listener` forever.
pub(crate) async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    let _ = handle(stream).await;
                });
            }
            Err(e) => {
                eprintln!("bench server: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mode = stream.read_u8().await?;
    match mode {
        b'S' => {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total: u64 = 0;
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            stream.write_all(&total.to_be_bytes()).await?;
            stream.shutdown().await
        }
        b'E' => {
            let (mut r, mut w) = stream.split();
            tokio::io::copy(&mut r, &mut w).await?;
            w.shutdown().await
        }
        _ => Ok(()),
    }
}

/// Binds the bench server on an ephemeral loopback port and spawns it.
pub(crate) async fn spawn_local() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener));
    Ok(addr)
}
