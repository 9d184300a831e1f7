//! A real memcached server for tests (feature `testing`): started on a free loopback port,
//! killed on drop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `memcached` process listening on 127.0.0.1 (or another loopback address). Dropping it kills the process.
#[derive(Debug)]
pub struct Memcached {
    child: Child,
    addr: SocketAddr,
}

impl Memcached {
    /// Starts `memcached` (found on `PATH`) on a free port of 127.0.0.1 and returns once it
    /// listens (it says so on stderr). memcached cannot bind port 0 and report the port, so a
    /// free port is picked first; if another process takes it meanwhile, another one is tried.
    ///
    /// # Errors
    ///
    /// When the binary is missing, or it could not listen after several ports.
    pub async fn start() -> io::Result<Self> {
        Self::start_on(None).await
    }

    /// Starts `memcached` on `port` (e.g. to restart a server where it was), or on a free
    /// port when `None`.
    ///
    /// # Errors
    ///
    /// As [`Memcached::start`]; with a fixed port, when that port is taken.
    pub async fn start_on(port: Option<u16>) -> io::Result<Self> {
        Self::start_at(Ipv4Addr::LOCALHOST.into(), port).await
    }

    /// Starts `memcached` on `ip` (a loopback address such as 127.0.0.2, e.g. to play a server
    /// replaced at a new address with the same port) and `port`, or a free port when `None`.
    ///
    /// # Errors
    ///
    /// As [`Memcached::start_on`].
    pub async fn start_at(ip: IpAddr, port: Option<u16>) -> io::Result<Self> {
        let mut last = io::Error::other("memcached did not start");
        for _ in 0..8 {
            let chosen = match port {
                Some(p) => p,
                None => TcpListener::bind((ip, 0))?.local_addr()?.port(),
            };
            match Self::spawn(ip, chosen).await {
                Ok(server) => return Ok(server),
                Err(e) => last = e,
            }
            if let Some(fixed) = port {
                return Err(io::Error::other(format!(
                    "memcached cannot listen on {fixed}: {last}"
                )));
            }
        }
        Err(last)
    }

    async fn spawn(ip: IpAddr, port: u16) -> io::Result<Self> {
        let mut child = Command::new("memcached")
            .arg("-l")
            .arg(ip.to_string())
            .args(["-U", "0", "-m", "16", "-vv", "-u", "nobody"])
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run memcached: {e}")))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("no stderr"))?;
        let mut lines = BufReader::new(stderr).lines();
        while let Some(line) = lines.next_line().await? {
            if line.contains("server listening") {
                // Keep draining stderr so memcached never blocks writing its log.
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                return Ok(Self {
                    child,
                    addr: SocketAddr::new(ip, port),
                });
            }
        }
        let status = child.wait().await?;
        Err(io::Error::other(format!(
            "memcached exited with {status} before listening on port {port}"
        )))
    }

    /// Where it listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id (`None` once it has exited), for tests that pause it with
    /// `SIGSTOP` to play a server that hangs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills the server and waits for it to exit (its port is free again afterwards).
    ///
    /// # Errors
    ///
    /// When the process cannot be killed or waited for.
    pub async fn stop(mut self) -> io::Result<()> {
        self.child.kill().await
    }
}
