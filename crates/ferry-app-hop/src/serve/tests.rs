//! The hop's reloader: validated first, restart-only settings refused, the replay guard and
//! unchanged limiters kept, keys swapped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;

use ferry_allow::Allowlist;
use ferry_app_core::clock::FixedClock;
use ferry_app_core::reload::ReloadError;
use ferry_chain::{Address, Chain, ChainHop, HopKey, KeyId, Keyring, RequestError, SealOptions};

use super::Hop;
use super::conn::ServeCtx;
use super::handshake::{ReadFail, read_request};
use crate::ServeConfig;

const NOW: u64 = 1_700_000_000_000;

fn key(n: u8) -> HopKey {
    HopKey::new(KeyId(u16::from(n)), [n; 32])
}

fn config(keys: &[u8]) -> ServeConfig {
    let ring = Keyring::new(keys.iter().map(|&k| key(k))).unwrap();
    let mut c = ServeConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        ring,
        Allowlist::parse("127.0.0.0/8").unwrap(),
    );
    c.clock = Arc::new(FixedClock(NOW / 1000));
    c
}

/// One hop's record sealed with key `k`.
fn record(k: u8) -> Vec<u8> {
    let chain = Chain::new(vec![ChainHop {
        address: "127.0.0.1:7000".parse::<Address>().unwrap(),
        key: key(k),
    }])
    .unwrap();
    let options = SealOptions {
        now_unix_ms: NOW,
        ..SealOptions::default()
    };
    let dest: Address = "127.0.0.1:9".parse().unwrap();
    chain
        .seal(&dest, &options, &ring::rand::SystemRandom::new())
        .unwrap()
        .bytes
}

async fn open(ctx: &ServeCtx, bytes: &[u8]) -> Result<(), ReadFail> {
    let mut io = bytes;
    read_request(&mut io, &ctx.config.keys, &ctx.guard, &*ctx.config.clock)
        .await
        .map(drop)
}

fn temp(name: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ferry-app-hop-unit-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn the_replay_guard_survives_a_reload() {
    let first = ServeCtx::first(config(&[1]));
    let bytes = record(1);
    assert!(open(&first, &bytes).await.is_ok());
    let (next, _) = first.next(config(&[1, 2]));
    assert!(Arc::ptr_eq(&first.guard, &next.guard));
    match open(&next, &bytes).await {
        Err(ReadFail::Refused(RequestError::Replayed { .. })) => {}
        other => panic!("a replay after the reload must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_removed_key_is_refused_and_an_added_one_accepted() {
    let first = ServeCtx::first(config(&[1]));
    assert!(open(&first, &record(2)).await.is_err());
    let (next, report) = first.next(config(&[2]));
    assert!(report.applied.iter().any(|a| a == "keys"), "{report:?}");
    let refused = open(&next, &record(1)).await;
    assert!(matches!(refused, Err(ReadFail::Refused(_))), "{refused:?}");
    assert!(open(&next, &record(2)).await.is_ok());
    // The running generation is untouched: a connection that started with it keeps key 1.
    assert!(open(&first, &record(1)).await.is_ok());
}

#[test]
fn unchanged_limiters_keep_their_counts_and_changed_ones_start_anew() {
    let first = ServeCtx::first(config(&[1]));
    let key = first.keyer.key_for_ip("127.0.0.1".parse().unwrap());
    let _permit = first.conns.try_acquire(key).unwrap();
    let (same, _) = first.next(config(&[1]));
    assert_eq!(same.conns.in_flight(), 1);
    assert!(Arc::ptr_eq(
        first.rate.as_ref().unwrap(),
        same.rate.as_ref().unwrap()
    ));
    let mut changed = config(&[1]);
    changed.per_client_connections = NonZeroU32::new(1).unwrap();
    changed.per_client_rate = NonZeroU32::new(5);
    let (next, report) = same.next(changed);
    assert_eq!(next.conns.in_flight(), 0);
    assert!(!Arc::ptr_eq(
        same.rate.as_ref().unwrap(),
        next.rate.as_ref().unwrap()
    ));
    assert!(
        report
            .applied
            .iter()
            .any(|a| a.contains("per_client_connections"))
    );
    assert!(report.applied.iter().any(|a| a == "per_client_rate"));
}

#[test]
fn a_changed_replay_setting_is_kept_and_reported() {
    let first = ServeCtx::first(config(&[1]));
    let mut c = config(&[1]);
    c.replay.capacity = NonZeroUsize::new(8).unwrap();
    let (next, report) = first.next(c);
    assert_eq!(next.config.replay, first.config.replay);
    assert_eq!(report.needs_restart.len(), 1, "{report:?}");
    assert!(report.needs_restart[0].starts_with("replay_window"));
}

#[test]
fn listen_and_udp_changes_are_refused_and_change_nothing() {
    let hop = Hop::new(config(&[1]));
    let r = hop.reloader();
    let mut c = config(&[2]);
    c.listen = "127.0.0.1:7001".parse().unwrap();
    match r.reload_config(c) {
        Err(ReloadError::NeedsRestart { key, .. }) => assert_eq!(key, "listen"),
        other => panic!("{other:?}"),
    }
    let mut c = config(&[2]);
    c.udp = true;
    match r.reload_config(c) {
        Err(ReloadError::NeedsRestart { key, .. }) => assert_eq!(key, "udp"),
        other => panic!("{other:?}"),
    }
    assert!(hop.config().keys.get(KeyId(1)).is_some());
    assert!(hop.config().keys.get(KeyId(2)).is_none());
}

#[test]
fn a_bad_file_is_refused_before_anything_changes() {
    let keys = temp("keys", &format!("1 {}\n", "01".repeat(32)));
    let good = format!(
        "listen = \"127.0.0.1:0\"\nallow = [\"127.0.0.0/8\"]\n[keys]\nfile = {:?}\n",
        keys.display()
    );
    let hop = Hop::new(ServeConfig::from_toml(&good).unwrap());
    let r = hop.reloader();
    // A valid allowlist, then an invalid pattern: nothing of the file is applied.
    let bad = temp(
        "bad.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nallow = [\"10.0.0.0/8\", \"*.*bad:x\"]\n[keys]\nfile = {:?}\n",
            keys.display()
        ),
    );
    match r.reload_file(&bad) {
        Err(ReloadError::Config(e)) => assert!(e.to_string().contains("allow[1]"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(hop.config().allow.len(), 1);
    let missing = temp(
        "missing.toml",
        "listen = \"127.0.0.1:0\"\n[keys]\nfile = \"/nonexistent/ferry.keys\"\n",
    );
    assert!(matches!(
        r.reload_file(&missing),
        Err(ReloadError::Config(_))
    ));
    // A good file applies.
    let better = temp(
        "good.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nallow = [\"127.0.0.0/8\", \"10.0.0.0/8\"]\n[keys]\nfile = {:?}\n",
            keys.display()
        ),
    );
    let done = r.reload_file(&better).unwrap();
    assert!(done.applied.iter().any(|a| a == "allowlist"), "{done:?}");
    assert_eq!(hop.config().allow.len(), 2);
    for p in [keys, bad, missing, better] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn trusted_senders_are_reloaded_and_the_resolver_is_kept() {
    let first = ServeCtx::first(config(&[1]));
    let peer: std::net::SocketAddr = "10.0.0.9:5000".parse().unwrap();
    let revealed: std::net::SocketAddr = "203.0.113.7:4444".parse().unwrap();
    assert_eq!(
        super::conn::attributed(peer, Some(revealed), &first.config),
        peer
    );
    let mut c = config(&[1]);
    c.trusted_senders = vec!["10.0.0.0/8".parse().unwrap()];
    let (next, report) = first.next(c);
    assert!(
        report.applied.iter().any(|a| a == "trusted_senders"),
        "{report:?}"
    );
    assert_eq!(
        super::conn::attributed(peer, Some(revealed), &next.config),
        revealed
    );
    assert_eq!(super::conn::attributed(peer, None, &next.config), peer);
    assert!(Arc::ptr_eq(&first.config.resolver, &next.config.resolver));
}
