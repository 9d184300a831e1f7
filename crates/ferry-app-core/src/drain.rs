//! The graceful drain every program runs on shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Stops accepting and drains: cancels `stop_accepting`, waits for the (closed)
/// `accept_loops` to end, closes `connections` and waits up to `timeout` for them to finish;
/// past it, cancels `cut` (which the connections watch to end at once) and waits for them.
/// Logs the start of the drain and, if it comes to that, the cut.
pub async fn drain(
    stop_accepting: &CancellationToken,
    accept_loops: &TaskTracker,
    connections: &TaskTracker,
    timeout: Duration,
    cut: &CancellationToken,
) {
    tracing::info!(
        drain_timeout = ?timeout,
        live = connections.len(),
        "shutdown: stopped accepting, draining"
    );
    stop_accepting.cancel();
    accept_loops.wait().await;
    drain_connections(connections, timeout, cut).await;
}

/// The second half of [`drain`], for a caller whose accept loop has already ended: closes
/// `connections` and waits up to `timeout` for them to finish; past it, logs, cancels `cut`
/// (which the connections watch to end at once) and waits for them.
pub async fn drain_connections(
    connections: &TaskTracker,
    timeout: Duration,
    cut: &CancellationToken,
) {
    connections.close();
    if tokio::time::timeout(timeout, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            live = connections.len(),
            "drain timeout: cutting live connections"
        );
        cut.cancel();
        connections.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_connections_then_cuts_at_the_timeout() {
        let (stop, cut) = (CancellationToken::new(), CancellationToken::new());
        let (loops, conns) = (TaskTracker::new(), TaskTracker::new());
        let accepting = stop.clone();
        loops.spawn(async move { accepting.cancelled().await });
        loops.close();
        // One connection that finishes by itself, one that only ends when cut.
        conns.spawn(tokio::time::sleep(Duration::from_secs(1)));
        let cut_seen = cut.clone();
        let stubborn = conns.spawn(async move { cut_seen.cancelled().await });
        let start = tokio::time::Instant::now();
        drain(&stop, &loops, &conns, Duration::from_secs(5), &cut).await;
        assert!(stop.is_cancelled() && cut.is_cancelled());
        assert!(stubborn.is_finished());
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn no_cut_when_connections_finish_in_time() {
        let (stop, cut) = (CancellationToken::new(), CancellationToken::new());
        let (loops, conns) = (TaskTracker::new(), TaskTracker::new());
        loops.close();
        conns.spawn(tokio::time::sleep(Duration::from_secs(1)));
        drain(&stop, &loops, &conns, Duration::from_secs(5), &cut).await;
        assert!(!cut.is_cancelled());
        assert!(conns.is_empty());
    }
}
