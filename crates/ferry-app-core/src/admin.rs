//! The admin endpoint every program can serve with `--metrics ADDR`: Prometheus text at
//! `/metrics` and a liveness/readiness answer at `/healthz`.
//!
//! Metrics are recorded through the [`metrics`] facade by the libraries; [`install_prometheus`]
//! installs the process-wide Prometheus recorder once and [`serve`] answers HTTP/1.1 `GET`
//! requests on a listener the caller bound (tests bind port 0). The server is deliberately tiny:
//! one request per connection, a bounded request head read within a deadline, `Connection: close`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::AppError;
use crate::listen::Acceptor;

/// Gauge set to 1 with the labels `program` and `version` while a program runs.
pub const BUILD_INFO: &str = "ferry_build_info";

/// Largest request head the admin server reads: 8 KiB.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Time a client gets to send its request head: 5 s.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The installed recorder's handle, or `None` when a foreign recorder was there first. Set once:
/// threads racing to install wait for the first one (a plain `get` then `set` would let a loser
/// see the global recorder taken before the winner stored its handle).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The admin endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// Another metrics recorder was installed in this process before Ferry's.
    #[error("a different metrics recorder is already installed")]
    RecorderTaken,
}

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
///
/// # Errors
///
/// [`AdminError::RecorderTaken`] when some other recorder was installed first.
pub fn install_prometheus() -> Result<PrometheusHandle, AdminError> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .clone()
        .ok_or(AdminError::RecorderTaken)
}

/// Whether the program is serving (`/healthz` answers `200 ok`) or draining (`503 draining`).
/// Clones share the state. Starts healthy.
#[derive(Clone, Debug)]
pub struct Health(Arc<AtomicBool>);

impl Default for Health {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl Health {
    /// A healthy state.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the program as draining; `/healthz` answers 503 from now on.
    pub fn set_draining(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// `true` until [`Health::set_draining`] was called.
    #[must_use]
    pub fn is_serving(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A running admin endpoint, from [`start`]: its bound address, the health it reports, and
/// how to stop it.
#[derive(Debug)]
pub struct Admin {
    addr: SocketAddr,
    health: Health,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Admin {
    /// The bound address (the real port when port 0 was asked for).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The health `/healthz` reports; call [`Health::set_draining`] when the program drains.
    #[must_use]
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Stops serving and waits for the answers in progress (at most [`REQUEST_TIMEOUT`]).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Starts the admin endpoint of `program` on `addr`, the same way in every program: installs
/// the Prometheus recorder (a foreign recorder installed first disables `/metrics` with a
/// warning), sets `ferry_build_info{program, version}` to 1, describes the metrics every
/// program shares, binds `addr` and serves `/metrics` and `/healthz` on a task until
/// [`Admin::stop`]. Logs the bound address. Must be called inside a tokio runtime.
///
/// # Errors
///
/// [`AppError::Bind`] when `addr` cannot be bound.
pub fn start(addr: SocketAddr, program: &'static str) -> Result<Admin, AppError> {
    let listener = crate::listen::bind_tcp(addr)?;
    let bound = listener
        .local_addr()
        .map_err(|source| AppError::Bind { addr, source })?;
    let handle = match install_prometheus() {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "metrics disabled");
            None
        }
    };
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; the labels name the program and its version."
    );
    metrics::describe_counter!(
        crate::reload::CONFIG_RELOADS,
        "Config reloads (SIGHUP), by result: ok (applied) or error (refused; the running config stays)."
    );
    metrics::gauge!(BUILD_INFO, "program" => program, "version" => env!("CARGO_PKG_VERSION"))
        .set(1.0);
    tracing::info!(metrics_addr = %bound, "metrics endpoint: /metrics and /healthz");
    let health = Health::new();
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve(
        listener,
        handle,
        health.clone(),
        stop.clone().cancelled_owned(),
    ));
    Ok(Admin {
        addr: bound,
        health,
        stop,
        task,
    })
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` completes.
///
/// `metrics` is the handle from [`install_prometheus`]; without one, `/metrics` answers 404.
pub async fn serve(
    listener: TcpListener,
    metrics: Option<PrometheusHandle>,
    health: Health,
    shutdown: impl Future<Output = ()>,
) {
    let mut acceptor = Acceptor::new();
    let tracker = tokio_util::task::TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            (stream, peer) = acceptor.accept(&listener) => {
                let metrics = metrics.clone();
                let health = health.clone();
                tracker.spawn(async move {
                    if let Err(e) = answer(stream, metrics.as_ref(), &health).await {
                        tracing::debug!(%peer, error = %e, "admin request failed");
                    }
                });
            }
        }
    }
    tracker.close();
    // Answers are small and bounded by REQUEST_TIMEOUT; let the ones in progress finish.
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, tracker.wait()).await;
}

async fn answer(
    mut stream: TcpStream,
    metrics: Option<&PrometheusHandle>,
    health: &Health,
) -> std::io::Result<()> {
    let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return respond(&mut stream, 400, "Bad Request", "bad request\n").await,
        Ok(Err(e)) => return Err(e),
        Err(_elapsed) => return respond(&mut stream, 408, "Request Timeout", "timeout\n").await,
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let (method, path) = match req.parse(&head) {
        Ok(httparse::Status::Complete(_)) => (req.method.unwrap_or(""), req.path.unwrap_or("")),
        _ => return respond(&mut stream, 400, "Bad Request", "bad request\n").await,
    };
    if method != "GET" && method != "HEAD" {
        return respond(&mut stream, 405, "Method Not Allowed", "only GET\n").await;
    }
    let head_only = method == "HEAD";
    let path = path.split('?').next().unwrap_or("");
    let reply = |code, reason, body| Reply {
        code,
        reason,
        content_type: "text/plain",
        body,
        head_only,
    };
    let r = match (path, metrics) {
        ("/healthz", _) if health.is_serving() => reply(200, "OK", "ok\n".to_owned()),
        ("/healthz", _) => reply(503, "Service Unavailable", "draining\n".to_owned()),
        ("/metrics", Some(handle)) => {
            handle.run_upkeep();
            Reply {
                content_type: "text/plain; version=0.0.4",
                ..reply(200, "OK", handle.render())
            }
        }
        _ => reply(404, "Not Found", "not found\n".to_owned()),
    };
    r.send(&mut stream).await
}

/// Reads until the end of the request head; `None` when the peer closed early or the head is
/// larger than [`MAX_REQUEST_HEAD`].
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(Some(buf));
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return Ok(None);
        }
    }
}

struct Reply {
    code: u16,
    reason: &'static str,
    content_type: &'static str,
    body: String,
    head_only: bool,
}

impl Reply {
    async fn send(&self, stream: &mut TcpStream) -> std::io::Result<()> {
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.code,
            self.reason,
            self.content_type,
            self.body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        if !self.head_only {
            stream.write_all(self.body.as_bytes()).await?;
        }
        stream.shutdown().await
    }
}

async fn respond(
    stream: &mut TcpStream,
    code: u16,
    reason: &'static str,
    body: &str,
) -> std::io::Result<()> {
    Reply {
        code,
        reason,
        content_type: "text/plain",
        body: body.to_owned(),
        head_only: false,
    }
    .send(stream)
    .await
}
