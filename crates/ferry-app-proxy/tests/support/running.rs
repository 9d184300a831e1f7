//! A proxy running in the test's runtime, shared by the test binaries (`tests/common`,
//! `tests/upstream`, `tests/tls`); each includes this file with `#[path]`.
// Each binary uses a different part of it.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use ferry_app_proxy::{self as proxy, Proxy, ProxyConfig, Reloader, Report};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running proxy: its listener addresses, a reloader, and a stop switch.
pub struct Running {
    pub addrs: Vec<SocketAddr>,
    pub reloader: Reloader,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Report>,
}

impl Running {
    /// The first listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Stops the proxy (graceful drain) and returns its report.
    pub async fn stop(mut self) -> Report {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap()
    }
}

/// Binds `proxy`'s listeners on their configured addresses (port 0 in tests) and runs it.
pub fn start_proxy(proxy: Proxy) -> Running {
    let reloader = proxy.reloader();
    let listeners = proxy::bind_all(proxy.config()).unwrap();
    let addrs = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        proxy
            .run(listeners, async {
                let _ = rx.await;
            })
            .await
            .unwrap()
    });
    Running {
        addrs,
        reloader,
        stop: Some(tx),
        task,
    }
}

/// Builds a proxy from `config` and runs it.
pub fn start_config(config: ProxyConfig) -> Running {
    start_proxy(Proxy::new(config).unwrap())
}
