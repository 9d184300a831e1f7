//! Config reload: a bad file (or one that moves a listener) keeps the running config; a good
//! one changes the pool for new connections while an old connection keeps flowing; an
//! unchanged pool is kept with its state.

use std::path::PathBuf;

use ferry_app_proxy::ConfigReloadError;

use crate::common::{Server, config, list, ping, start, tag_held, tag_of};

fn file(tag: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferry-reload-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("proxy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn bad_files_keep_the_running_config() {
    let a = Server::tagged(b'A').await;
    let b = Server::tagged(b'B').await;
    let p = start(&config("", &list(&[a.addr]), "")).await;
    assert_eq!(tag_of(p.addr()).await, b'A');
    let good_but_moved = config("", &list(&[b.addr]), "").replace("127.0.0.1:0", "127.0.0.1:1");
    for (tag, text) in [
        ("syntax", "[[listener]\n".to_owned()),
        ("unknown-key", config("bogus = 1", &list(&[b.addr]), "")),
        (
            "bad-pool",
            config("", &list(&[b.addr]), "policy = \"random\""),
        ),
        (
            "missing-cert",
            config(
                "[listener.tls]\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/c.key\"",
                &list(&[b.addr]),
                "",
            ),
        ),
        ("moved", good_but_moved),
    ] {
        let err = p.reloader.reload_file(&file(tag, &text)).unwrap_err();
        match tag {
            "moved" => assert!(
                matches!(&err, ConfigReloadError::NeedsRestart { key, .. } if key == "listener[0].bind"),
                "{err:?}"
            ),
            _ => assert!(
                matches!(err, ConfigReloadError::Config(_)),
                "{tag}: {err:?}"
            ),
        }
        assert_eq!(tag_of(p.addr()).await, b'A', "{tag}: old config kept");
    }
    let missing = p
        .reloader
        .reload_file(&PathBuf::from("/nonexistent/ferry.toml"))
        .unwrap_err();
    assert!(matches!(missing, ConfigReloadError::Config(_)));
    assert_eq!(tag_of(p.addr()).await, b'A');
    p.stop().await;
}

#[tokio::test]
async fn good_file_switches_new_connections_and_keeps_old_ones() {
    let a = Server::tagged(b'A').await;
    let b = Server::tagged(b'B').await;
    let p = start(&config("", &list(&[a.addr]), "")).await;
    let (tag, mut old) = tag_held(p.addr()).await;
    assert_eq!(tag, b'A');
    ping(&mut old, b"before").await;

    let done = p
        .reloader
        .reload_file(&file("switch", &config("", &list(&[b.addr]), "")))
        .unwrap();
    assert_eq!((done.pools_built, done.pools_stopped), (1, 1));
    for _ in 0..3 {
        assert_eq!(
            tag_of(p.addr()).await,
            b'B',
            "new connections use the new pool"
        );
    }
    ping(&mut old, b"after the reload").await;
    drop(old);

    // Only a timeout changes: the pool is kept, with its state (here: a held connection
    // still counted against B; a rebuilt pool would count none).
    let (tag, held) = tag_held(p.addr()).await;
    assert_eq!(tag, b'B');
    let done = p
        .reloader
        .reload_file(&file(
            "keep",
            &config("idle_timeout = \"5m\"", &list(&[b.addr]), ""),
        ))
        .unwrap();
    assert_eq!((done.pools_kept, done.pools_built), (1, 0));
    let kept = p.reloader.pool("p").unwrap().snapshot();
    assert_eq!((kept.len(), kept[0].active), (1, 1), "{kept:?}");
    drop(held);
    assert_eq!(tag_of(p.addr()).await, b'B');
    let report = p.stop().await;
    assert_eq!(report.upstream_failures, 0);
}

#[tokio::test]
async fn a_new_metrics_address_is_kept_until_a_restart() {
    let a = Server::tagged(b'A').await;
    let p = start(&config("", &list(&[a.addr]), "")).await;
    // `metrics` is a top-level key: put it before the first table.
    let text = format!(
        "metrics = \"127.0.0.1:9\"\n{}",
        config("", &list(&[a.addr]), "")
    );
    let done = p.reloader.reload_file(&file("metrics", &text)).unwrap();
    assert_eq!(
        done.ignored,
        vec!["metrics: 127.0.0.1:9 in the file, off kept".to_owned()]
    );
    assert_eq!(tag_of(p.addr()).await, b'A');
    p.stop().await;
}

#[tokio::test]
async fn a_workers_count_is_kept_until_a_restart() {
    let a = Server::tagged(b'A').await;
    // Started without `server.workers`: connections on this test's runtime.
    let p = start(&config("", &list(&[a.addr]), "")).await;
    let text = format!(
        "[server]\nworkers = 2\n{}",
        config("", &list(&[a.addr]), "")
    );
    let done = p.reloader.reload_file(&file("workers", &text)).unwrap();
    assert_eq!(
        done.ignored,
        vec!["server.workers: 2 in the file, unset kept".to_owned()]
    );
    assert_eq!(tag_of(p.addr()).await, b'A');
    p.stop().await;
}
