//! The `AgentEvents` observer: one `connected` and one `disconnected` per authenticated
//! connection, in order, including when a second connection with the same id replaces the
//! first, and never for a connection that failed authentication.

use std::sync::{Arc, Mutex};

use ferry_tunnel::{AgentEvents, AgentId, Gateway};
use tokio::sync::mpsc;

use crate::common::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Up(String),
    Down(String),
}

/// Records events in order and forwards them to a channel (the test waits on it, no polling).
struct Recorder {
    log: Mutex<Vec<Event>>,
    tx: mpsc::UnboundedSender<Event>,
}

impl AgentEvents for Recorder {
    fn connected(&self, agent: &AgentId) {
        let e = Event::Up(agent.to_string());
        self.log.lock().unwrap().push(e.clone());
        let _ = self.tx.send(e);
    }

    fn disconnected(&self, agent: &AgentId) {
        let e = Event::Down(agent.to_string());
        self.log.lock().unwrap().push(e.clone());
        let _ = self.tx.send(e);
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
        .await
        .expect("no agent event in time")
        .expect("event channel closed")
}

fn recording_gateway() -> (Gateway, Arc<Recorder>, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        log: Mutex::new(Vec::new()),
        tx,
    });
    let gateway = Gateway::builder(fast_gateway_config(), verify)
        .events(Arc::clone(&recorder))
        .build();
    (gateway, recorder, rx)
}

both_transports! {
#[tokio::test]
async fn connect_and_disconnect_are_reported_once_each() {
    let pki = Pki::new();
    let (gateway, recorder, mut rx) = recording_gateway();
    let gw = start_gateway_with(&pki, gateway, "127.0.0.1:0".parse().unwrap()).await;

    // A refused agent produces no event at all.
    let mut bad = start_agent(agent_config(&pki, gw.addr, "site-x", "wrong", "127.0.0.1"));
    bad.wait_for(|s| s.rejections >= 1).await;
    bad.stop().await;

    let mut agent = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    agent.wait_for(|s| s.connected).await;
    assert_eq!(next(&mut rx).await, Event::Up("site-1".into()));
    agent.stop().await;
    assert_eq!(next(&mut rx).await, Event::Down("site-1".into()));
    assert!(!gw.gateway.is_connected(&id("site-1")));
    gw.stop().await;
    assert_eq!(
        *recorder.log.lock().unwrap(),
        vec![Event::Up("site-1".into()), Event::Down("site-1".into())]
    );
}
}

both_transports! {
#[tokio::test]
async fn replacement_reports_down_then_up_and_the_old_close_is_not_reported_again() {
    let pki = Pki::new();
    let (gateway, recorder, mut rx) = recording_gateway();
    let gw = start_gateway_with(&pki, gateway, "127.0.0.1:0".parse().unwrap()).await;

    let mut first_config = agent_config(&pki, gw.addr, "site-1", "token-site-1", "127.0.0.1");
    // The replaced agent must not come back and replace the second one during the test.
    first_config.backoff = ferry_tunnel::Backoff::new(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(60),
    );
    let mut first = start_agent(first_config);
    first.wait_for(|s| s.connected).await;
    assert_eq!(next(&mut rx).await, Event::Up("site-1".into()));

    let mut second = start_agent(agent_config(
        &pki,
        gw.addr,
        "site-1",
        "token-site-1",
        "127.0.0.1",
    ));
    second.wait_for(|s| s.connected).await;
    assert_eq!(next(&mut rx).await, Event::Down("site-1".into()));
    assert_eq!(next(&mut rx).await, Event::Up("site-1".into()));
    // The old connection's close (seen by the first agent) adds no event.
    first.wait_for(|s| s.replaced == 1).await;
    assert!(gw.gateway.is_connected(&id("site-1")));

    // The live connection ending is reported.
    second.stop().await;
    assert_eq!(next(&mut rx).await, Event::Down("site-1".into()));
    first.stop().await;
    gw.stop().await;
    assert_eq!(
        *recorder.log.lock().unwrap(),
        vec![
            Event::Up("site-1".into()),
            Event::Down("site-1".into()),
            Event::Up("site-1".into()),
            Event::Down("site-1".into()),
        ],
        "alternating, once per connection"
    );
}
}
