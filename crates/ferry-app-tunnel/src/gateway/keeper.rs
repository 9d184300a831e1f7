//! Agent ownership in cluster mode: the tunnel's connect/disconnect events drive a
//! `ferry_registry::Keeper`, in order, on one task; a second task runs its heartbeat.

use std::sync::Arc;

use ferry_app_core::error::error_line;
use ferry_registry::Keeper;
use ferry_tunnel::{AgentEvents, AgentId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

enum Event {
    Connected(AgentId),
    Disconnected(AgentId),
}

/// The tunnel's observer: queues events without blocking (the tunnel calls it with its agent
/// table locked).
pub(super) struct KeeperEvents(mpsc::UnboundedSender<Event>);

impl AgentEvents for KeeperEvents {
    fn connected(&self, agent: &AgentId) {
        let _ = self.0.send(Event::Connected(agent.clone()));
    }

    fn disconnected(&self, agent: &AgentId) {
        let _ = self.0.send(Event::Disconnected(agent.clone()));
    }
}

/// The keeper's two tasks.
pub(super) struct KeeperTasks {
    events: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
    stop_events: CancellationToken,
    stop_heartbeat: CancellationToken,
}

/// Starts the keeper's tasks; returns them and the observer to give the tunnel gateway.
pub(super) fn start(keeper: Keeper) -> (KeeperTasks, KeeperEvents) {
    let keeper = Arc::new(keeper);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop_events = CancellationToken::new();
    let stop_heartbeat = CancellationToken::new();
    let k = Arc::clone(&keeper);
    let stop = stop_events.clone();
    let events = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                event = rx.recv() => match event {
                    Some(event) => apply(&k, event).await,
                    None => break,
                },
                () = stop.cancelled() => {
                    // The tunnel has drained: apply what it reported, then stop.
                    while let Ok(event) = rx.try_recv() {
                        apply(&k, event).await;
                    }
                    break;
                }
            }
        }
    });
    let stop = stop_heartbeat.clone();
    let heartbeat = tokio::spawn(async move { keeper.run(stop.cancelled_owned()).await });
    (
        KeeperTasks {
            events,
            heartbeat,
            stop_events,
            stop_heartbeat,
        },
        KeeperEvents(tx),
    )
}

async fn apply(keeper: &Keeper, event: Event) {
    match event {
        Event::Connected(agent) => {
            if let Err(e) = keeper.connected(agent.as_str()).await {
                tracing::warn!(%agent, error = %error_line(&e), "registry claim failed; retried on the next heartbeat");
            }
        }
        Event::Disconnected(agent) => {
            if let Err(e) = keeper.disconnected(agent.as_str()).await {
                tracing::warn!(%agent, error = %error_line(&e), "registry release failed; the record ends with its TTL");
            }
        }
    }
}

impl KeeperTasks {
    /// After the tunnel gateway has drained: apply the last events, then stop the heartbeat
    /// (which releases the records of agents still known).
    pub(super) async fn stop(self) {
        self.stop_events.cancel();
        let _ = self.events.await;
        self.stop_heartbeat.cancel();
        let _ = self.heartbeat.await;
    }
}
