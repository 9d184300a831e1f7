//! The `ferry_upstream_*` metrics, through a tiny in-process recorder (one per test binary).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use common::{Server, client, dead_port, pool};
use ferry_pool::PoolConfig;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

#[derive(Default)]
struct Store {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

/// `name{k=v,...}` with labels in the order given.
fn render(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

struct Rec(&'static Store);

impl Recorder for Rec {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut m = self.0.counters.lock().unwrap();
        Counter::from_arc(m.entry(render(key)).or_default().clone())
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut m = self.0.gauges.lock().unwrap();
        Gauge::from_arc(m.entry(render(key)).or_default().clone())
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn store() -> &'static Store {
    static S: OnceLock<&'static Store> = OnceLock::new();
    S.get_or_init(|| {
        let s: &'static Store = Box::leak(Box::default());
        metrics::set_global_recorder(Rec(s)).unwrap();
        s
    })
}

fn counter(name: &str) -> u64 {
    store()
        .counters
        .lock()
        .unwrap()
        .get(name)
        .map_or(0, |v| v.load(Ordering::Relaxed))
}

fn gauge(name: &str) -> f64 {
    store()
        .gauges
        .lock()
        .unwrap()
        .get(name)
        .map_or(f64::NAN, |v| f64::from_bits(v.load(Ordering::Relaxed)))
}

#[tokio::test]
async fn connects_active_and_ejection_are_recorded() {
    store();
    let a = Server::start().await;
    let (_b_sock, b) = dead_port();
    let p = pool(PoolConfig::default(), &[a.addr, b]);
    let la = format!("pool=test,upstream={}", a.addr);
    let lb = format!("pool=test,upstream={}", b);
    assert_eq!(gauge(&format!("ferry_upstream_up{{{lb}}}")), 1.0);
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(p.connect(client(1)).await.unwrap());
    }
    assert_eq!(
        counter(&format!("ferry_upstream_connects_total{{{la},result=ok}}")),
        10
    );
    assert_eq!(
        counter(&format!(
            "ferry_upstream_connects_total{{{lb},result=error}}"
        )),
        5
    );
    assert_eq!(
        counter(&format!("ferry_upstream_ejections_total{{{lb}}}")),
        1
    );
    assert_eq!(gauge(&format!("ferry_upstream_ejected{{{lb}}}")), 1.0);
    assert_eq!(gauge(&format!("ferry_upstream_up{{{lb}}}")), 0.0);
    assert_eq!(
        gauge(&format!("ferry_upstream_active_connections{{{la}}}")),
        10.0
    );
    assert_eq!(
        gauge(&format!("ferry_upstream_active_connections{{{lb}}}")),
        0.0
    );
    assert_eq!(gauge("ferry_upstream_endpoints{pool=test}"), 2.0);
    drop(held);
    assert_eq!(
        gauge(&format!("ferry_upstream_active_connections{{{la}}}")),
        0.0
    );
}
