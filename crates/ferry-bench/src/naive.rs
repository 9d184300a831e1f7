//! The baseline: the proxy most people write first, `tokio::io::copy_bidirectional` per
//! connection with default buffers, no timeouts and no limits.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Runs the naive proxy forever.
pub(crate) async fn run(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (mut client, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            if let Ok(mut up) = TcpStream::connect(upstream).await {
                let _ = up.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            }
        });
    }
}
