//! `embed-proxy`: the reverse proxy of `ferry-proxy` inside your own program, with
//! `ferry_app_proxy`: a config (here TOML text; any `ferry-proxy` config file works), the
//! proxy built from it (certificates load here), its listeners bound, then `run` until ctrl-c,
//! which drains the live connections and returns a report.
//!
//! ```text
//! cargo run --example embed-proxy -- LISTEN_ADDR UPSTREAM_ADDR [UPSTREAM_ADDR ...]
//! ```
//!
//! Exit status: 0 after ctrl-c, 2 for a usage or config error, 1 when a listener cannot be
//! bound.

use std::process::ExitCode;

use ferry_app_core::error::error_line;
use ferry_app_proxy::{AppError, Proxy, ProxyConfig};
use tokio::net::TcpListener;

/// Validates the config (round robin over `upstreams`), loads it into a [`Proxy`] and binds
/// its listeners: everything before serving, so errors show before anything runs.
pub(crate) fn start(
    listen: &str,
    upstreams: &[String],
) -> Result<(Proxy, Vec<TcpListener>), AppError> {
    let toml = format!(
        "[[listener]]\nbind = {listen:?}\npool = \"app\"\n\n[pool.app]\nupstreams = {upstreams:?}\n"
    );
    let proxy = Proxy::new(ProxyConfig::from_toml(&toml)?)?;
    let listeners = ferry_app_proxy::bind_all(proxy.config())?;
    Ok((proxy, listeners))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((listen, upstreams)) = args.split_first().filter(|(_, u)| !u.is_empty()) else {
        eprintln!("usage: embed-proxy LISTEN_ADDR UPSTREAM_ADDR [UPSTREAM_ADDR ...]");
        return ExitCode::from(2);
    };
    let (proxy, listeners) = match start(listen, upstreams) {
        Ok(started) => started,
        Err(e @ AppError::Config(_)) => return fail(&e, 2),
        Err(e) => return fail(&e, 1),
    };
    for l in &listeners {
        if let Ok(addr) = l.local_addr() {
            println!("embed-proxy: listening on {addr}; ctrl-c drains and stops");
        }
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match proxy.run(listeners, shutdown).await {
        Ok(report) => {
            println!(
                "embed-proxy: {} connections, {} bytes up, {} bytes down",
                report.accepted, report.client_to_upstream, report.upstream_to_client
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, 1),
    }
}

fn fail(e: &AppError, code: u8) -> ExitCode {
    eprintln!("embed-proxy: {}", error_line(e)); // the error and its sources on one line
    ExitCode::from(code)
}
